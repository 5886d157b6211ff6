"""Colour: on a terminal unless NO_COLOR is set (no-color.org); always when FORCE_COLOR
is set (force-color.org), which wins when both are, as that page's example orders the
two checks. "Set" means present and not empty, whatever the value."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cmdbctl

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def finding_repo(cmdb_repo: Path) -> Path:
    """A repository with one finding, so that validate has something to colour."""
    path = cmdb_repo / "inventory" / "app-01.yaml"
    path.write_text(path.read_text().replace("status: active", "status: actve"))
    return cmdb_repo


@pytest.mark.parametrize(
    ("env", "coloured"),
    [
        ({}, False),  # a pipe is no terminal
        ({"FORCE_COLOR": "1"}, True),
        ({"FORCE_COLOR": "0"}, True),  # any value that is not empty
        ({"FORCE_COLOR": ""}, False),  # empty counts as not set
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, True),  # FORCE_COLOR wins
        ({"NO_COLOR": "1"}, False),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else str(v),
)
def test_colour_on_a_pipe(finding_repo: Path, env: dict[str, str], coloured: bool) -> None:
    proc = run_cmdbctl("validate", cwd=finding_repo, env=env)  # stdout is a pipe
    assert proc.returncode == 1
    assert "schema.enum" in proc.stdout
    assert bool(ANSI.search(proc.stdout)) is coloured, proc.stdout
    if coloured:  # the same report, only coloured
        plain = run_cmdbctl("validate", cwd=finding_repo)
        assert ANSI.sub("", proc.stdout) == plain.stdout


def test_machine_formats_are_never_coloured(finding_repo: Path) -> None:
    for fmt in ("json", "sarif", "github"):
        proc = run_cmdbctl("validate", "--format", fmt, cwd=finding_repo, env={"FORCE_COLOR": "1"})
        assert proc.returncode == 1
        assert not ANSI.search(proc.stdout), fmt


def _on_a_terminal(repo: Path, env: dict[str, str]) -> str:
    """What `cmdbctl validate` writes to a pseudo-terminal as its stdout."""
    main, child = os.openpty()
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "CI")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cmdbctl", "validate"],
        stdout=child,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**base, **env},
        cwd=repo,
    )
    os.close(child)
    chunks = []
    try:
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(main)
    _, stderr = proc.communicate(timeout=60)
    assert b"Traceback" not in stderr, stderr
    return b"".join(chunks).decode("utf-8", "replace")


def test_an_empty_no_color_leaves_colour_on_a_terminal(finding_repo: Path) -> None:
    assert ANSI.search(_on_a_terminal(finding_repo, {"NO_COLOR": ""}))
    assert not ANSI.search(_on_a_terminal(finding_repo, {"NO_COLOR": "1"}))
