#!/usr/bin/env python3
"""Coding agents (docs/agents.md): how long until the agent answers.

  template   `silo run --agent claude --rm -- --version`: a sandbox restored
             from template agent-claude, the agent started in it and
             answering (its --version: the prompt needs a terminal);
  cold       what it takes without the template: a sandbox booted
             (`silo run --no-docker`), the agent's program copied in (the
             package `make agents` pulled) and `claude --version` run;

--runs of each, taking turns; medians and the ratio cold / template. The
template is built once first (not timed; `silo template build --agent
claude --no-docker`). Uses build/silo with data and run directories of its
own, removed at the end; the agent's package from build/agents (no npm).
Never asserts on time; runs unchanged on a real KVM host and in the lab.
Prints a table and one JSON line "BENCH ...".
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

TOP = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests"))
from silo_testlib.cli import sandbox_names, silo_env  # noqa: E402
from silo_testlib.paths import BUILD  # noqa: E402

SILO = str(BUILD / "silo")
AGENTS = TOP / "build" / "agents"
VERSION = "2.1.332"
PAYLOAD = f"claude-{VERSION}/node_modules/@anthropic-ai/claude-code-linux-x64"


def silo(env, *args, timeout=1800):
    r = subprocess.run([SILO, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"silo {' '.join(args)}: {r.stderr.decode(errors='replace')[-800:]}")
    return r.stdout.decode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if not (AGENTS / PAYLOAD).exists():
        sys.exit(f"{AGENTS / PAYLOAD} missing: make agents")
    res = {"bench": "coding_agent", "agent": f"claude {VERSION}"}
    with tempfile.TemporaryDirectory(prefix="silo-bench-agent-") as d:
        env = silo_env(d)
        data = pathlib.Path(env["SILO_DATA_DIR"])
        (data / "agents").mkdir(parents=True, exist_ok=True)
        os.chmod(data, 0o700)
        (data / "agents" / f"claude-{VERSION}").symlink_to((AGENTS / f"claude-{VERSION}").resolve())
        tmpl, cold = [], []
        try:
            silo(env, "template", "build", "--agent", "claude", "--no-docker", "--memory", "1G")
            for i in range(a.runs):
                t = time.perf_counter()
                out = silo(env, "run", "--agent", "claude", "--rm", "-q", "--", "--version")
                tmpl.append(time.perf_counter() - t)
                assert VERSION in out, out
                t = time.perf_counter()
                name = f"cold{i}"
                silo(env, "run", "--no-docker", "--memory", "1G", "--name", name, "-q", "--",
                     "true")
                silo(env, "cp", str(AGENTS / PAYLOAD), f"{name}:/tmp/claude-pkg")
                out = silo(env, "exec", name, "--", "/tmp/claude-pkg/claude", "--version")
                cold.append(time.perf_counter() - t)
                assert VERSION in out, out
                silo(env, "rm", "-f", name)
        finally:
            for n in sandbox_names(env):
                subprocess.run([SILO, "rm", "-f", n], env=env, capture_output=True, timeout=300)
            subprocess.run([SILO, "template", "rm", "agent-claude"], env=env, capture_output=True,
                           timeout=300)
    m_t, m_c = statistics.median(tmpl), statistics.median(cold)
    res.update(template_s=m_t, cold_s=m_c, ratio=m_c / m_t, template_runs_s=tmpl, cold_runs_s=cold)
    print(f"coding agent (claude {VERSION}) until it answers, median of {a.runs}")
    print(f"  silo run --agent claude (template)   {m_t:8.1f} s")
    print(f"  cold boot + copy the agent in + run  {m_c:8.1f} s   ({m_c / m_t:.1f}x)")
    print("BENCH " + json.dumps(res))


if __name__ == "__main__":
    main()
