"""The benchmarks' interval for a median of per-round ratios
(tests/silo_testlib/stats.py), on the host: no VM."""
import pytest

from silo_testlib.stats import median_interval, verdict


def test_interval_holds_the_median_and_lies_within_the_rounds():
    rounds = [0.116, 0.100, 0.092, 0.122, 0.098, 0.096, 0.091]
    med, lo, hi = median_interval(rounds)
    assert med == pytest.approx(0.098)
    assert min(rounds) <= lo <= med <= hi <= max(rounds)
    # the two outliers above 0.11 widen it upwards, not down
    assert hi - med > med - lo


def test_same_rounds_same_interval():
    rounds = [1.02, 1.10, 0.98, 1.05, 1.07, 1.01, 1.04, 1.12]
    assert median_interval(rounds) == median_interval(list(reversed(rounds)))


def test_equal_rounds_leave_no_doubt():
    assert median_interval([1.05] * 9) == (1.05, 1.05, 1.05)


def test_more_rounds_narrow_it():
    few = [1.0, 1.1, 0.9, 1.05, 0.95]
    _, lo5, hi5 = median_interval(few)
    _, lo40, hi40 = median_interval(few * 8)
    assert hi40 - lo40 < hi5 - lo5


def test_no_rounds_is_an_error():
    with pytest.raises(ValueError):
        median_interval([])


def test_verdict_needs_the_whole_interval():
    # bench/template.py once printed "met with confidence" beside 9.4-10.9 %
    assert verdict(0.094, 0.109, 0.10) == "goal neither met nor missed with confidence"
    assert verdict(0.091, 0.099, 0.10) == "goal met with confidence"
    assert verdict(1.02, 1.06, 1.05) == "goal neither met nor missed with confidence"
    assert verdict(1.06, 1.09, 1.05) == "goal missed with confidence"
    assert verdict(1.05, 1.05, 1.05) == "goal met with confidence"
