#!/usr/bin/env python3
"""silo-runtime's overhead (docs/containerd.md): the same command's first line
of output through silo itself and through containerd.

  silo run    `silo run --rm -q -- echo hi`
  ctr run     `ctr run --rm --runc-binary silo-runtime IMAGE ID echo hi`
              (containerd's runc v2 shim -> silo-runtime create/start)
  CRI pod     RunPodSandbox (handler silo) + CreateContainer + StartContainer,
              until "hi" is in the container's CRI log (what kubelet does)

each cold (a boot) and from a template (`silo template build`, restored
instead of booted; the annotation dev.silo.template on the container for
ctr, on the pod for the CRI). --runs rounds of all six, each round in a
different order; medians, and the median of each round's ratio to silo run
with its 90 % interval (goal: <= 1.10). Debian's containerd with a throwaway configuration
(tests/silo_testlib/containerd.py); data and run directories of its own,
removed at the end. Never asserts on time; runs unchanged on a real KVM host
and in the lab. Prints a table and one JSON line "BENCH ...".
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

TOP = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests"))
from silo_testlib.cli import sandbox_names, silo_env  # noqa: E402
from silo_testlib.containerd import CRI_NS, Containerd, cri  # noqa: E402
from silo_testlib.paths import BUILD  # noqa: E402
from silo_testlib.stats import median_interval, verdict  # noqa: E402

SILO = str(BUILD / "silo")
RUNTIME = str((BUILD / "silo-runtime").resolve())
TEMPLATE = "bench-oci"


def first_line(argv, env):
    """Seconds until argv prints its first line; then it runs to its end."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    line = p.stdout.readline()
    dt = time.perf_counter() - t
    out, err = p.communicate(timeout=600)
    if p.returncode != 0 or line != b"hi\n":
        raise RuntimeError(f"{argv[:3]}: {p.returncode} {line!r} {err.decode()[-800:]}")
    return dt


def cri_first_output(c, logdir, i, image, template=None):
    t = time.perf_counter()
    cfg = c.pod_config(f"bench{i}", logdir,
                       {"dev.silo.template": template} if template else None)
    pod = c.run_pod(cfg, handler="silo")
    name = f"one{i}{'t' if template else ''}"
    cid = c.create_container(pod, cfg, "one", image, ["echo", "hi"], f"{name}.log")
    c.start_container(cid)
    log = pathlib.Path(logdir) / f"{name}.log"
    while not (log.exists() and " stdout F hi" in log.read_text()):
        if time.perf_counter() - t > 600:
            raise RuntimeError("no output in the CRI log")
        time.sleep(0.02)
    dt = time.perf_counter() - t
    c.wait_exited(cid, timeout=120)
    c.remove_container(cid)
    c.stop_pod(pod)
    c.remove_pod(pod)
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=6)
    a = ap.parse_args()
    res = {"bench": "oci"}
    times = {k: [] for k in ("silo", "ctr", "cri", "silo_tmpl", "ctr_tmpl", "cri_tmpl")}
    with tempfile.TemporaryDirectory(prefix="silo-bench-oci-") as d:
        env = silo_env(d)
        env["SILO_RUN_DIR"] = tempfile.mkdtemp(prefix="oci-", dir="/tmp")
        try:
            r = subprocess.run([SILO, "template", "build", "--name", TEMPLATE], env=env,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=1800)
            if r.returncode != 0:
                raise RuntimeError(f"silo template build: {r.stderr.strip()[-800:]}")
            with Containerd(pathlib.Path(d) / "ctd", RUNTIME, env) as ctd, cri(ctd.sock) as c:
                image = ctd.import_image()
                ctd.import_image(ns=CRI_NS)
                ctr = ["ctr", "--address", str(ctd.sock), "--namespace", "silo-test", "run",
                       "--rm", "--runc-binary", RUNTIME]
                logdir = pathlib.Path(d) / "logs"
                logdir.mkdir()
                for i in range(a.runs):
                    ways = {
                        "silo": lambda: first_line([SILO, "run", "--rm", "-q", "--", "echo",
                                                    "hi"], env),
                        "ctr": lambda: first_line([*ctr, image, f"b{i}", "echo", "hi"], env),
                        "cri": lambda: cri_first_output(c, logdir, i, image),
                        "silo_tmpl": lambda: first_line(
                            [SILO, "run", "--rm", "-q", "--template", TEMPLATE, "--", "echo",
                             "hi"], env),
                        "ctr_tmpl": lambda: first_line(
                            [*ctr, "--annotation", f"dev.silo.template={TEMPLATE}", image,
                             f"t{i}", "echo", "hi"], env),
                        "cri_tmpl": lambda: cri_first_output(c, logdir, i, image, TEMPLATE)}
                    # each first in turn: none always follows the same one's teardown
                    order = list(ways)
                    for k in order[i % 6:] + order[:i % 6]:
                        times[k].append(ways[k]())
        finally:
            for n in sandbox_names(env):
                subprocess.run([SILO, "rm", "-f", n], env=env, capture_output=True, timeout=300)
            subprocess.run([SILO, "template", "rm", TEMPLATE], env=env, capture_output=True,
                           timeout=300)
            subprocess.run(["rm", "-rf", env["SILO_RUN_DIR"]], check=False)
    med = {k: statistics.median(v) for k, v in times.items()}

    def ratio(k, peer):
        """(median, low, high) of each round's own ratio, low-high its 90 %
        interval: the lab drifts between rounds more than the goal is wide."""
        return median_interval([a / b for a, b in zip(times[k], times[peer])])

    r = {k: ratio(k, "silo_tmpl" if k.endswith("_tmpl") else "silo")
         for k in ("ctr", "cri", "ctr_tmpl", "cri_tmpl")}
    res.update({f"{k}_s": v for k, v in med.items()}, runs=times,
               **{f"{k}_ratio": v[0] for k, v in r.items()},
               **{f"{k}_ratio_90": [v[1], v[2]] for k, v in r.items()})
    print(f"create -> first output of `echo hi`, median of {a.runs} rounds; (ratio: the median"
          f" of each round's own, goal <= 1.10)")
    print(f"  {'path':40} {'cold':>8} {'template':>9}")
    print(f"  {'silo run --rm':40} {med['silo']:7.2f}s {med['silo_tmpl']:8.2f}s")
    x = {k: f"{v[0]:.2f}x [{v[1]:.2f}-{v[2]:.2f}]" for k, v in r.items()}
    res["verdicts"] = {k: verdict(v[1], v[2], 1.10) for k, v in r.items()}
    print(f"  {'ctr run --runc-binary silo-runtime':40} {med['ctr']:7.2f}s "
          f"{med['ctr_tmpl']:8.2f}s   ({x['ctr']}, {x['ctr_tmpl']})")
    print(f"  {'CRI pod + container (handler silo)':40} {med['cri']:7.2f}s "
          f"{med['cri_tmpl']:8.2f}s   ({x['cri']}, {x['cri_tmpl']})")
    print("  [low-high]: 90 % bootstrap interval of the rounds' median ratio "
          "(tests/silo_testlib/stats.py)")
    for k, label in (("ctr", "ctr run"), ("cri", "CRI"), ("ctr_tmpl", "ctr run, template"),
                     ("cri_tmpl", "CRI, template")):
        print(f"  {label}: {res['verdicts'][k]}")
    print("BENCH " + json.dumps(res))


if __name__ == "__main__":
    main()
