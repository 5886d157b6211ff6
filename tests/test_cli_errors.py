"""How a run ends, decided once in `main()`: exit 2 for what a user can fix, 3 with a
traceback for a bug, 130 when interrupted, and quietly when the reader of its output
goes away (`cmdbctl validate | head -1`)."""

from __future__ import annotations

import gc
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cmdbctl.cli.main import cli, main


@pytest.fixture(autouse=True)
def _keep_gc_thresholds() -> Iterator[None]:
    """main() tunes the cycle collector for a short run; give the test run its own back."""
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["cmdbctl", *args])
    with pytest.raises(SystemExit) as ended:
        main()
    assert isinstance(ended.value.code, int)
    return ended.value.code


def _raise(exc: BaseException) -> object:
    def core(*args: object, **kwargs: object) -> object:
        raise exc

    return core


def test_a_bug_exits_3_saying_so_with_its_traceback(
    cmdb_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("cmdbctl.validate.validate", _raise(RuntimeError("boom")))

    code = _main(monkeypatch, "validate", "--repo", str(cmdb_repo))

    out, err = capsys.readouterr()
    assert code == 3
    assert out == ""
    assert err.startswith("cmdbctl: internal error: this is a bug in cmdbctl; please report it")
    assert "Traceback (most recent call last):" in err
    assert err.endswith("RuntimeError: boom\n")


def test_a_bug_in_a_command_driven_by_click_runner_exits_3(
    cmdb_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cmdbctl.gate.run_gate", _raise(KeyError("oops")))

    result = CliRunner().invoke(cli, ["gate", "--base", "HEAD", "--repo", str(cmdb_repo)])

    assert result.exit_code == 3
    assert "internal error" in result.stderr and "KeyError: 'oops'" in result.stderr


def test_what_a_user_can_fix_exits_2_with_message_and_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _main(monkeypatch, "validate", "--repo", str(tmp_path / "missing"))

    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        f"cmdbctl: error: {tmp_path / 'missing'}: no such directory\n"
        "  hint: pass --repo the folder that holds inventory/ and schemas/\n"
    )


def test_a_usage_error_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _main(monkeypatch, "validate", "--no-such-option")

    assert code == 2
    assert "No such option '--no-such-option'" in capsys.readouterr().err


def test_help_and_version_exit_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(monkeypatch, "--version") == 0
    assert _main(monkeypatch, "--help") == 0
    assert "3 an internal error" in " ".join(capsys.readouterr().out.split())


def test_an_interrupt_exits_130_with_one_short_line(
    cmdb_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("cmdbctl.validate.validate", _raise(KeyboardInterrupt()))

    code = _main(monkeypatch, "validate", "--repo", str(cmdb_repo))

    assert code == 130
    assert capsys.readouterr().err.strip() == "cmdbctl: interrupted"


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_a_git_call_exits_130_and_stops_git(cmdb_repo: Path, tmp_path: Path) -> None:
    """A real SIGINT while the gate waits for a git that hangs: exit 130, no traceback,
    and the git process is stopped rather than waited for."""
    started = tmp_path / "git-started"
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\n: > "{started}"\nexec {shutil.which("sleep")} 60\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": str(fake.parent)}
    child = subprocess.Popen(
        [sys.executable, "-m", "cmdbctl", "gate", "--base", "main"],
        cwd=cmdb_repo,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As a terminal starts a command: a suite run in the background by a shell
        # without job control inherits SIGINT ignored, and so would the child.
        preexec_fn=_sigint_default,  # noqa: PLW1509 - the test starts no threads
    )
    try:
        deadline = time.monotonic() + 20
        while not started.exists():
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()
            time.sleep(0.05)
        begun = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
    finally:
        child.kill()
        child.wait()

    assert child.returncode == 130, err
    assert (out, err.strip()) == ("", "cmdbctl: interrupted")
    assert time.monotonic() - begun < 30  # git was stopped, not waited for


def _many_findings(repo: Path, files: int = 400) -> None:
    refs = ", ".join(f"missing-{n}" for n in range(4))
    for n in range(files):
        (repo / "inventory" / f"web-{n:03}.yaml").write_text(
            f"apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: web-{n:03}\n"
            f"  owner: team-ops\nspec:\n  location: rack-a01\n  dependsOn: [{refs}]\n"
        )


def test_a_reader_that_goes_away_ends_the_run_quietly(cmdb_repo: Path) -> None:
    """`cmdbctl validate | head -1`: as `git log | head -1`, no message, no traceback."""
    _many_findings(cmdb_repo)  # far more output than a pipe holds
    env = {**os.environ, "CMDBCTL_NO_CACHE": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "cmdbctl", "validate"],
        cwd=cmdb_repo,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    try:
        first = child.stdout.readline()
        child.stdout.close()
        err = child.stderr.read()
        child.wait(timeout=60)
    finally:
        child.kill()
        child.wait()
        child.stderr.close()

    assert first.startswith(b"inventory/web-")
    assert err == b""
    assert child.returncode == 128 + signal.SIGPIPE  # what a shell reports for git log
