"""Shared fixtures: a fresh repository written by the real `cmdbctl init`, the real CLI
driven in-process (CliRunner) or as a child process, and small file helpers.

Helpers are handed to tests as fixtures (`run_cli`, `run_cmdbctl`, `write_file`,
`snapshot`) so that no test imports this module.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from click.testing import CliRunner, Result

from cmdbctl.cli.main import cli
from cmdbctl.scaffold import init_repository

# Environment for every CLI run: no colour, no CI-specific behaviour leaking in from the
# machine that runs the tests.
_ENV: dict[str, str | None] = {"NO_COLOR": None, "CI": None, "FORCE_COLOR": None}


class RunCli(Protocol):
    def __call__(
        self, *args: str, repo: Path | None = None, env: Mapping[str, str | None] | None = None
    ) -> Result: ...


class RunCmdbctl(Protocol):
    def __call__(
        self, *args: str, cwd: Path, timeout: float = 20.0, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]: ...


class WriteFile(Protocol):
    def __call__(self, repo: Path, rel: str, content: str | bytes) -> Path: ...


# A rolled-back change without a rollback record: one warning (change.rollback-record-missing).
ROLLED_BACK_CHANGE = """\
apiVersion: cmdb/v1
kind: ChangeRequest
metadata:
  id: CHG-2026-0300
spec:
  type: normal
  category: system
  requester: alice
  reason: Try a new kernel
  targets: [app-01]
  risk: low
  approvals:
    - {by: bob, at: "2026-11-20T10:00:00+08:00", decision: approve}
  status: rolled-back
"""


def run_cli(
    *args: str, repo: Path | None = None, env: Mapping[str, str | None] | None = None
) -> Result:
    """Run `cmdbctl ARGS [--repo REPO]` in-process and check it did not crash."""
    argv = [*args, "--repo", str(repo)] if repo is not None else list(args)
    result = CliRunner().invoke(cli, argv, env={**_ENV, **(env or {})})
    assert_no_crash(result.stderr, result.exception)
    return result


def assert_no_crash(stderr: str, exception: BaseException | None = None) -> None:
    assert "Traceback" not in stderr, stderr
    assert "internal error" not in stderr, stderr
    if exception is not None:
        assert isinstance(exception, SystemExit), repr(exception)


def run_cmdbctl(
    *args: str, cwd: Path, timeout: float = 20.0, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m cmdbctl ARGS` as a child process (hangs and crashes stay out)."""
    full_env = {k: v for k, v in os.environ.items() if k not in _ENV}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "cmdbctl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert_no_crash(proc.stderr)
    return proc


def write_file(repo: Path, rel: str, content: str | bytes) -> Path:
    """Write `content` to `repo/rel`, creating folders; str is written as UTF-8."""
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


# What `validate` may write: its verdict cache inside the git directory (cmdbctl/cache.py).
SNAPSHOT_IGNORES = (".git/cmdbctl",)


def snapshot(root: Path, ignore: tuple[str, ...] = SNAPSHOT_IGNORES) -> dict[str, Any]:
    """Every entry under `root` (symlinks not followed): file bytes, link targets, modes."""
    out: dict[str, Any] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs + files):
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if any(f"/{i}/" in f"/{rel}/" for i in ignore):
                continue
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                readable = os.access(path, os.R_OK) and info.st_mode & 0o444
                out[rel] = (
                    "file",
                    stat.S_IMODE(info.st_mode),
                    info.st_mtime_ns,
                    path.read_bytes() if readable else None,
                )
            elif stat.S_ISDIR(info.st_mode):
                out[rel] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                out[rel] = ("other", stat.S_IFMT(info.st_mode))
    return out


@dataclass(frozen=True)
class Report:
    """The parsed `--format json` output of one run."""

    exit_code: int
    data: dict[str, Any]

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.data["findings"])

    def located(self, path: str | None = None) -> set[tuple[str, int, int]]:
        return {
            (f["code"], f["line"], f["column"])
            for f in self.findings
            if path is None or f["path"] == path
        }


def validate_json(repo: Path, *args: str) -> Report:
    result = run_cli("validate", "--format", "json", *args, repo=repo)
    assert result.exit_code in (0, 1), result.output
    return Report(result.exit_code, json.loads(result.stdout))


@pytest.fixture
def cmdb_repo(tmp_path: Path) -> Path:
    """A fresh repository written by `cmdbctl init` into tmp_path/"repo"."""
    return init_repository(tmp_path / "repo").root


@pytest.fixture(name="run_cli")
def _run_cli_fixture() -> RunCli:
    return run_cli


@pytest.fixture(name="run_cmdbctl")
def _run_cmdbctl_fixture() -> RunCmdbctl:
    return run_cmdbctl


@pytest.fixture(name="write_file")
def _write_file_fixture() -> WriteFile:
    return write_file


@pytest.fixture(name="snapshot")
def _snapshot_fixture() -> Callable[..., dict[str, Any]]:
    return snapshot


@pytest.fixture(name="validate_json")
def _validate_json_fixture() -> Callable[..., Report]:
    return validate_json
