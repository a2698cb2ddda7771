#!/usr/bin/env python3
"""Docker-ready templates against a cold boot, through the silo CLI (issue 17).

Uses build/silo with its own temporary SILO_DATA_DIR / SILO_RUN_DIR:

  build        `silo template build --name bench` (Docker ready, then the
               snapshot): its wall time, and the size on disk (allocated
               blocks, du) of mem, state, scratch.img and workingset;
  docker info  `silo run -- docker info` cold against `silo run --template
               bench -- docker info`, --runs each (default 5), taking turns,
               median and spread (min-max): the command's wall time, which
               ends with Docker's answer (the issue's "restore to a working
               docker info"), and with the `silo rm -f` after it added (what
               `silo run --rm` costs, but for one more CLI start); then the same split
               into phases, each a CLI step timed from here: `silo create`
               (for a clone: the scratch disk's clone), `silo start` (a boot
               or the state load + restore, to the agent's first reply), `silo
               exec -- docker info` (to Docker answering), `silo rm -f`;
  memory       host memory of 1 and of 3 concurrent clones, Docker answering:
               the sums of Rss and Pss of their silo-vmm processes
               (/proc/PID/smaps_rollup); Pss splits a page shared by n
               clones n ways, so Pss < Rss is the template's pages shared;
  restore      silo-vmm's own restore time, process start to the first
               KVM_RUN (SILO_VMM_TRACE_START=1, its line in `silo logs`).

Goal in the lab: a clone's working `docker info` in <= 10 % of the cold
one's; the ratio is printed. Never asserts on time. Every sandbox and the
template are removed at the end, also on failure. Runs unchanged on a real
KVM host and inside the lab. Prints a table and one JSON line "BENCH ...".
"""
import argparse
import json
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from silo_testlib.cli import sandbox_names, silo_env  # noqa: E402
from silo_testlib.paths import BUILD  # noqa: E402
from silo_testlib.stats import median_interval, verdict  # noqa: E402

SILO = str(BUILD / "silo")
MEMORY = "1G"
TIMEOUT = 900  # a cold Docker boot under TCG takes ~1 min; this bounds a hang
DOCKER_INFO = ["docker", "info", "--format", "{{.ServerVersion}}"]


class Fail(Exception):
    pass


def silo(env, *args, check=True):
    t = time.monotonic()
    r = subprocess.run([SILO, *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TIMEOUT)
    took = time.monotonic() - t
    if check and r.returncode != 0:
        raise Fail(f"silo {' '.join(args)}: exit {r.returncode}: "
                   f"{r.stderr.decode(errors='replace')[-500:]}")
    return took, r


def rss_pss_kib(pid):
    vals = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        k, _, rest = line.partition(":")
        if k in ("Rss", "Pss"):
            vals[k] = int(rest.split()[0])
    return vals["Rss"], vals["Pss"]


def vmm_pid(env, name):
    _, r = silo(env, "inspect", name)
    return json.loads(r.stdout)["vmm_pid"]


def du_mib(path):
    return path.stat().st_blocks * 512 / (1 << 20)


def spread(xs):
    return f"{statistics.median(xs):7.2f} s  ({min(xs):.2f}-{max(xs):.2f})"


def phases(env, name, tmpl):
    """create / start / docker info / rm, each timed: a dict of seconds."""
    extra = ["--template", tmpl] if tmpl else []
    out = {}
    out["create"], _ = silo(env, "create", "--name", name, "--memory", MEMORY, *extra)
    out["start"], _ = silo(env, "start", name)
    out["docker info"], r = silo(env, "exec", name, "--", *DOCKER_INFO)
    if not r.stdout.strip():
        raise Fail(f"{name}: docker info said nothing")
    out["rm"], _ = silo(env, "rm", "-f", name)
    return out


def memory(env, n):
    """Rss and Pss sums (MiB) of n concurrent clones with Docker answering."""
    names = [f"m{n}-{i}" for i in range(n)]
    procs = [subprocess.Popen([SILO, "run", "--name", x, "--template", "bench", "--", *DOCKER_INFO],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for x in names]
    for x, p in zip(names, procs):
        _, err = p.communicate(timeout=TIMEOUT)
        if p.returncode != 0:
            raise Fail(f"{x}: {err.decode(errors='replace')[-300:]}")
    rss = pss = 0
    for x in names:
        a, b = rss_pss_kib(vmm_pid(env, x))
        rss, pss = rss + a, pss + b
    for x in names:
        silo(env, "rm", "-f", x)
    return rss / 1024, pss / 1024


def restore_trace(env):
    """silo-vmm's start -> first KVM_RUN line of a restore, or None."""
    env = dict(env, SILO_VMM_TRACE_START="1")
    silo(env, "create", "--name", "tr", "--template", "bench")
    try:
        silo(env, "start", "tr")
        _, r = silo(env, "logs", "tr", check=False)
        text = (r.stdout + r.stderr).decode(errors="replace")
        return next((l.strip() for l in text.splitlines() if "first KVM_RUN" in l), None)
    finally:
        silo(env, "rm", "-f", "tr", check=False)


def bench(env, runs, res):
    t = time.monotonic()
    silo(env, "template", "build", "--name", "bench", "--memory", MEMORY)
    res["build_s"] = time.monotonic() - t
    d = pathlib.Path(env["SILO_DATA_DIR"]) / "templates" / "bench"
    res["du_mib"] = {f: round(du_mib(d / f), 1) for f in ("mem", "state", "scratch.img", "workingset")
                     if (d / f).exists()}
    cold, warm, cold_rm, warm_rm = [], [], [], []
    for i in range(runs):  # taking turns, so drift in the host hits both
        for name, extra, to, to_rm in ((f"c{i}", ["--memory", MEMORY], cold, cold_rm),
                                       (f"t{i}", ["--template", "bench"], warm, warm_rm)):
            took, _ = silo(env, "run", "--name", name, *extra, "--", *DOCKER_INFO)
            rm, _ = silo(env, "rm", "-f", name)
            to.append(took)
            to_rm.append(took + rm)
    res["cold_s"], res["template_s"] = cold, warm
    res["cold_rm_s"], res["template_rm_s"] = cold_rm, warm_rm
    res["phases_cold"] = phases(env, "pc", None)
    res["phases_template"] = phases(env, "pt", "bench")
    res["mem_1"] = memory(env, 1)
    res["mem_3"] = memory(env, 3)
    res["restore_trace"] = restore_trace(env)


def report(res):
    print(f"template build (Docker ready + snapshot): {res['build_s']:.1f} s; on disk (du): " +
          ", ".join(f"{k} {v} MiB" for k, v in res["du_mib"].items()))
    if "cold_s" not in res:
        return
    c, w = statistics.median(res["cold_s"]), statistics.median(res["template_s"])
    print(f"silo run -- docker info, {len(res['cold_s'])} runs each, median (min-max):")
    print(f"  cold boot       {spread(res['cold_s'])}")
    print(f"  --template      {spread(res['template_s'])}")
    res["ratio"] = w / c
    print(f"  template / cold = {100 * w / c:.1f} % (goal <= 10 %)")
    # each round's own ratio: its cold and template runs, back to back,
    # share the lab's drift of that minute
    med, lo, hi = median_interval([t / c for c, t in zip(res["cold_s"], res["template_s"])])
    res["ratio_rounds"], res["ratio_rounds_90"] = med, [lo, hi]
    print(f"  the rounds' own ratios: median {100 * med:.1f} %, 90 % interval "
          f"{100 * lo:.1f}-{100 * hi:.1f} %: {verdict(lo, hi, 0.10)}")
    c, w = statistics.median(res["cold_rm_s"]), statistics.median(res["template_rm_s"])
    print("the same, then silo rm -f:")
    print(f"  cold boot       {spread(res['cold_rm_s'])}")
    print(f"  --template      {spread(res['template_rm_s'])}")
    res["ratio_rm"] = w / c
    print(f"  template / cold = {100 * w / c:.1f} %")
    if "phases_cold" in res:
        print(f"phases (s)        {'cold':>8} {'template':>9}")
        for k in res["phases_cold"]:
            print(f"  {k:<15} {res['phases_cold'][k]:8.2f} {res['phases_template'][k]:9.2f}")
    for n in (1, 3):
        if f"mem_{n}" in res:
            rss, pss = res[f"mem_{n}"]
            print(f"{n} clone(s), Docker answering: Rss sum {rss:.0f} MiB, Pss sum {pss:.0f} MiB")
    if "restore_trace" in res:
        print(f"silo-vmm restore, start -> first KVM_RUN: {res['restore_trace'] or 'no trace line'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="silo-bench-tmpl-"))
    env = silo_env(tmp)
    res, rc = {"bench": "template"}, 0
    try:
        bench(env, a.runs, res)
    except (Fail, subprocess.TimeoutExpired, OSError) as e:
        print(f"bench/template.py: {e}", file=sys.stderr)
        rc = 1
    finally:
        for n in sandbox_names(env, hidden=False):
            silo(env, "rm", "-f", n, check=False)
        silo(env, "template", "rm", "bench", check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    if "build_s" in res:
        report(res)
    print("BENCH " + json.dumps(res))
    return rc


if __name__ == "__main__":
    sys.exit(main())
