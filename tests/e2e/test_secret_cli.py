"""`silo secret set|ls|rm` (docs/secrets.md) without a sandbox: where a
secret is kept and with which mode, what `ls` shows (never the value), the
built-in ones, and every bad input as one line and exit 125 with nothing
written. What a sandbox does with them is test_netd_secrets.py (the broker)
and test_network.py (a real guest)."""
import os
import pathlib
import stat

import pytest

from test_cli import one_error_line, silo

KEY = "sk-cli-0123456789"


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, SILO_DATA_DIR=str(tmp_path / "data"), SILO_RUN_DIR=str(tmp_path / "run"))


def secret_file(env, name):
    return pathlib.Path(env["SILO_DATA_DIR"]) / "secrets" / name


def test_set_ls_rm(env):
    r = silo(env, "secret", "set", "anthropic", input=f"{KEY}\n".encode(), check=0)
    assert r.stdout == b"anthropic\n" and KEY.encode() not in r.stderr
    f = secret_file(env, "anthropic")
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE(f.parent.stat().st_mode) == 0o700
    text = f.read_text()
    assert f"value {KEY}\n" in text and "host api.anthropic.com\n" in text
    assert "header x-api-key\n" in text and "env ANTHROPIC_API_KEY\n" in text
    # a secret of one's own: hosts normalised and each once, Bearer by default
    silo(env, "secret", "set", "gh", "--host", "API.GitHub.com.", "--host", "api.github.com",
         "--host", "uploads.github.com", "--env", "GH_TOKEN", input=b"ghp_x\n", check=0)
    text = secret_file(env, "gh").read_text()
    assert text.count("host ") == 2 and "header authorization\nformat Bearer {}\n" in text
    out = silo(env, "secret", "ls", check=0).stdout.decode()
    assert KEY not in out and "ghp_x" not in out
    rows = [ln.split() for ln in out.splitlines()]
    assert rows[0] == ["NAME", "HEADER", "ENV", "HOSTS"]
    assert rows[1] == ["anthropic", "x-api-key", "ANTHROPIC_API_KEY", "api.anthropic.com"]
    assert rows[2] == ["gh", "authorization", "GH_TOKEN", "api.github.com,uploads.github.com"]
    # set again: replaced
    silo(env, "secret", "set", "anthropic", input=b"sk-new\n", check=0)
    assert "value sk-new\n" in secret_file(env, "anthropic").read_text()
    assert silo(env, "secret", "rm", "anthropic", "gh", check=0).stdout == b"anthropic\ngh\n"
    assert list(secret_file(env, "x").parent.iterdir()) == []
    assert "no secret gone" in one_error_line(silo(env, "secret", "rm", "gone"))


@pytest.mark.parametrize("args,stdin,why", [
    (["set", "anthropic"], b"", "no value on stdin"),
    (["set", "anthropic"], b"has space\n", "space or a control byte"),
    (["set", "anthropic"], b"\n", "no value"),
    (["set", "mine"], b"k\n", "which host"),
    (["set", "mine", "--host", "x y"], b"k\n", "invalid --host"),
    (["set", "mine", "--host", "localhost"], b"k\n", "invalid --host"),
    (["set", "mine", "--host", "a.com", "--header", "Host"], b"k\n", "invalid --header"),
    (["set", "mine", "--host", "a.com", "--header", "content-length"], b"k\n", "invalid --header"),
    (["set", "mine", "--host", "a.com", "--header", "bad name"], b"k\n", "invalid --header"),
    (["set", "mine", "--host", "a.com", "--format", "no placeholder"], b"k\n", "--format"),
    (["set", "mine", "--host", "a.com", "--format", "{} {}"], b"k\n", "--format"),
    (["set", "mine", "--host", "a.com", "--env", "1X"], b"k\n", "--env"),
    (["set", "../x", "--host", "a.com"], b"k\n", "invalid secret name"),
    (["set"], b"k\n", "usage"),
    (["set", "a", "b"], b"k\n", "usage"),
    (["set", "a", "--bogus"], b"k\n", "usage"),
    (["nope"], b"", "usage"),
])
def test_bad_input_one_line_nothing_written(env, args, stdin, why):
    line = one_error_line(silo(env, "secret", *args, input=stdin))
    assert why in line, line
    assert "k\n" not in line
    d = pathlib.Path(env["SILO_DATA_DIR"]) / "secrets"
    assert not d.exists() or list(d.iterdir()) == []


def test_damaged_file_is_named(env):
    silo(env, "secret", "set", "openai", input=b"sk-o\n", check=0)
    f = secret_file(env, "openai")
    f.write_text("host api.openai.com\nbogus line\n")
    line = one_error_line(silo(env, "secret", "ls"))
    assert "openai" in line and "damaged" in line and "silo secret set openai" in line
