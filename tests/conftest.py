"""Shared fixtures: a fresh repository written by the real `cmdbctl init`, the real CLI
driven in-process (CliRunner) or as a child process, and small file helpers.

Helpers are handed to tests as fixtures (`run_cli`, `run_cmdbctl`, `write_file`,
`snapshot`). The tests of history-reading commands (history, show, audit, rollback, the
gate) share one kit for the git repositories they build: `isolated_git` (no user or
system git configuration, identity or date leaks in) and `GitRepo` (git as a named
person at a given moment, commits of whole files, the real CLI), which each such module
imports and extends with its own steps.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

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


# What `validate` may write: its verdict cache inside the git directory (cmdbctl/validate/cache.py).
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


def identity(who: str) -> dict[str, str]:
    """What `git commit` and cmdbctl take as the current identity: `bob` is
    "Bob Example <bob@example.com>"."""
    name = who.capitalize() + " Example"
    email = f"{who}@example.com"
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


def dated(when: int | str | None) -> dict[str, str]:
    """The author and committer date of what git commits: seconds since the epoch (UTC),
    or a date git reads (2026-11-20T10:00:00Z); nothing for None (now)."""
    if when is None:
        return {}
    stamp = f"{when} +0000" if isinstance(when, int) else when
    return {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}


@dataclass
class GitRepo:
    """A CMDB git repository in tmp_path, driven as its users drive it: git run as a
    named person (`as_`) at a given moment (`when`), whole files committed, the real CLI
    in-process."""

    path: Path

    @classmethod
    def scaffold(cls, path: Path, **commit: Any) -> Self:
        """`cmdbctl init` in `path` on branch main, committed as "cmdbctl init" by alice
        (`commit`: other arguments of `commit`, as `as_` and `when`)."""
        init_repository(path)
        repo = cls(path)
        repo.git("symbolic-ref", "HEAD", "refs/heads/main")
        repo.git("add", "-A")
        repo.commit(message="cmdbctl init", **commit)
        return repo

    def git(
        self,
        *args: str,
        as_: str = "alice",
        when: int | str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> str:
        """`git ARGS`'s stdout; a failure fails the test unless not `check`."""
        proc = subprocess.run(
            ["git", *args],
            cwd=self.path,
            capture_output=True,
            text=True,
            env={**os.environ, **identity(as_), **dated(when), **(env or {})},
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed:\n{proc.stderr}{proc.stdout}")
        return proc.stdout

    def head(self, rev: str = "HEAD") -> str:
        return self.git("rev-parse", rev).strip()

    def branch(self, name: str, start: str = "HEAD") -> None:
        self.git("checkout", "--quiet", "-b", name, start)

    def checkout(self, name: str) -> None:
        self.git("checkout", "--quiet", name)

    def write(self, rel: str, text: str) -> Path:
        return write_file(self.path, rel, text)

    def read(self, rel: str) -> str:
        return (self.path / rel).read_text(encoding="utf-8")

    def edit(self, rel: str, old: str, new: str) -> str:
        """The text of `rel` with `old` replaced once (it must be there)."""
        text = self.read(rel)
        assert old in text, f"{old!r} not in {rel}"
        return text.replace(old, new, 1)

    def commit(
        self,
        as_: str = "alice",
        message: str = "edit",
        files: Mapping[str, str | None] | None = None,
        *,
        moves: Mapping[str, str] | None = None,
        when: int | str | None = None,
        config: Mapping[str, str] | None = None,
        sign: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> str:
        """Move `moves` (old → new), write `files` (None deletes), stage them and commit
        as `as_` at `when`, with `git -c` `config`, signed when `sign`; the commit id."""
        for old, new in (moves or {}).items():
            (self.path / new).parent.mkdir(parents=True, exist_ok=True)
            self.git("mv", "--", old, new)
        for rel, text in (files or {}).items():
            if text is None:
                self.git("rm", "--quiet", "--", rel)
            else:
                self.write(rel, text)
                self.git("add", "--", rel)
        options = [o for key, value in (config or {}).items() for o in ("-c", f"{key}={value}")]
        self.git(
            *options,
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            message,
            *(["-S"] if sign else []),
            as_=as_,
            when=when,
            env=env,
        )
        return self.head()

    def cli(
        self,
        *args: str,
        as_: str = "alice",
        when: int | str | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> Result:
        """`cmdbctl ARGS --repo PATH` as `as_` (what it commits, at `when`)."""
        return run_cli(*args, repo=self.path, env={**identity(as_), **dated(when), **(env or {})})


# What a test's git must not inherit from the machine running the suite.
_GIT_LEAKS: Sequence[str] = (
    *identity("x"),
    *dated(0),
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_CONFIG_COUNT",
    "EMAIL",
    "CMDBCTL_NO_CACHE",
)


@pytest.fixture
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user or system git config (signing, hooks, identities, dates) leaks into a
    test: new repositories start on main, and git gives no advice on detached HEADs."""
    home = tmp_path_factory.mktemp("home")
    (home / "gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in _GIT_LEAKS:
        monkeypatch.delenv(name, raising=False)


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
