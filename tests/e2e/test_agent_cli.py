"""`silo agent ls|pull` and the --agent flags without a sandbox: what
fetching an agent's package does when npm is missing, fails or installs
something else (one line, exit 125, nothing left in <data>/agents), and
that a package already there is used without npm (how the lab works
offline). The agents in a guest: test_agents.py."""
import os
import pathlib

import pytest

from test_cli import one_error_line, silo

PAYLOAD = "node_modules/@anthropic-ai/claude-code-linux-x64/claude"


@pytest.fixture
def env(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    return dict(os.environ, SILO_DATA_DIR=str(tmp_path / "data"),
                SILO_RUN_DIR=str(tmp_path / "run"),
                PATH=f"{bin_dir}:/usr/bin:/bin")


def fake_npm(env, script):
    npm = pathlib.Path(env["PATH"].split(":")[0]) / "npm"
    npm.write_text("#!/bin/sh\n" + script)
    npm.chmod(0o755)


def agents_dir(env):
    return pathlib.Path(env["SILO_DATA_DIR"]) / "agents"


def test_ls_names_versions_and_state(env):
    out = silo(env, "agent", "ls", check=0).stdout.decode().splitlines()
    assert out[0].split() == ["NAME", "PACKAGE", "VERSION", "PULLED", "TEMPLATE"]
    assert out[1].split() == ["claude", "@anthropic-ai/claude-code", "2.1.332", "no", "-"]
    assert out[2].split() == ["codex", "@openai/codex", "0.171.0", "no", "-"]


@pytest.mark.parametrize("script,why", [
    (None, "cannot run npm"),
    ("echo progress; echo npm ERR! network ETIMEDOUT >&2; exit 1\n",
     "npm install @anthropic-ai/claude-code@2.1.332 failed (exit 1: npm ERR! network ETIMEDOUT)"),
    # installs, but not the package silo knows
    ('while [ "$1" != --prefix ]; do shift; done; mkdir -p "$2/node_modules/x"\n',
     "without node_modules/@anthropic-ai/claude-code-linux-x64/claude"),
])
def test_pull_failures_leave_nothing(env, script, why):
    if script is not None:
        fake_npm(env, script)
    else:
        env = dict(env, PATH=env["PATH"].split(":")[0])   # no npm anywhere
    line = one_error_line(silo(env, "agent", "pull", "claude"))
    assert why in line, line
    d = agents_dir(env)
    assert not d.exists() or list(d.iterdir()) == []


def test_pull_with_what_npm_gives_and_then_without_npm(env):
    # npm's arguments: the guest's platform, no scripts, the pinned version
    fake_npm(env, 'echo "$@" > "$(dirname "$0")/args"\n'
                  'while [ "$1" != --prefix ]; do shift; done\n'
                  f'mkdir -p "$2/$(dirname {PAYLOAD})" && echo bin > "$2/{PAYLOAD}"\n')
    assert silo(env, "agent", "pull", "claude", check=0).stdout == b"claude 2.1.332\n"
    args = (pathlib.Path(env["PATH"].split(":")[0]) / "args").read_text().split()
    for a in ("--ignore-scripts", "--os=linux", "--cpu=x64", "@anthropic-ai/claude-code@2.1.332"):
        assert a in args, args
    assert (agents_dir(env) / "claude-2.1.332" / PAYLOAD).read_text() == "bin\n"
    assert [p.name for p in agents_dir(env).iterdir()] == ["claude-2.1.332"]
    # there now: no npm needed (none on PATH at all)
    fake_npm(env, "exit 99\n")
    assert silo(env, "agent", "pull", "claude", check=0).stdout == b"claude 2.1.332\n"
    assert silo(env, "agent", "ls", check=0).stdout.decode().splitlines()[1].split()[3] == "yes"


@pytest.mark.parametrize("args,why", [
    (["agent", "pull", "nope"], "unknown agent 'nope': silo knows claude, codex"),
    (["agent", "pull"], "usage"),
    (["agent"], "usage"),
    (["run", "--agent", "nope"], "unknown agent 'nope'"),
    (["create", "--agent", "claude"], "create takes no --agent"),
    (["template", "build", "--agent", "nope"], "unknown agent"),
    (["run", "--agent", "claude"], "no template agent-claude yet: build it once with "
                                   "'silo template build --agent claude'"),
])
def test_bad_flags(env, args, why):
    assert why in one_error_line(silo(env, *args))
    assert not (pathlib.Path(env["SILO_DATA_DIR"]) / "sandboxes").exists() or \
        list((pathlib.Path(env["SILO_DATA_DIR"]) / "sandboxes").iterdir()) == []
