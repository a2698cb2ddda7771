"""How sure a benchmark's ratio is (bench/).

The lab (a TCG-emulated KVM host, docs/lab.md) drifts between minutes by
more than some goals are wide (issue 17: 10 %, issue 18: 5 %), so one median
says little on its own. The benchmarks take turns, one run of each kind per
round; a round's own ratio shares that round's drift, and the median of the
rounds' ratios comes with a bootstrap percentile interval (Efron and
Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13): the rounds
resampled with replacement, the median of each resample, the middle LEVEL of
those medians. A goal is met with confidence only when the whole interval is
inside it.
"""
import random
import statistics


def median_interval(xs, level=0.90, resamples=4000, seed=1):
    """(median, low, high) of xs: low..high is the bootstrap percentile
    interval at level. A fixed seed: the same rounds give the same interval."""
    xs = list(xs)
    if not xs:
        raise ValueError("no rounds")
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(resamples))
    tail = (1 - level) / 2
    lo = meds[int(tail * (resamples - 1))]
    hi = meds[int((1 - tail) * (resamples - 1))]
    return statistics.median(xs), lo, hi


def verdict(lo, hi, goal):
    """What an interval says about a goal of at most `goal`: met with
    confidence only when all of it is inside, missed only when none is."""
    if hi <= goal:
        return "goal met with confidence"
    if lo > goal:
        return "goal missed with confidence"
    return "goal neither met nor missed with confidence"
