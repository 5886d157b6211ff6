"""Running git: every process of this package starts in `start`, in an environment
without what a git hook inherits (`environment`); a missing git is `GitMissing` (exit 2)
where a command needs git, and no answer where it only asks (`output`)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmdbctl.errors import CommandError

# Ours: messages we parse are git's own words, git never waits for a password, and a
# read-only command never takes the index lock from a `git commit` running beside it.
_ENV = {"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}


# What a git hook inherits points git at the repository and index of the command that
# runs the hook (GIT_DIR, GIT_INDEX_FILE, GIT_WORK_TREE, GIT_PREFIX, GIT_OBJECT_DIRECTORY,
# GIT_CONFIG_PARAMETERS, ...). So every GIT_* variable is dropped, as pre-commit's
# `no_git_env` drops them (pre-commit/pre-commit#300), except those it keeps (how to
# reach a remote, configuration given as GIT_CONFIG_KEY_*) and two sets it does not:
# the identity `git commit` records (GIT_AUTHOR_*, GIT_COMMITTER_*; CI sets identities
# that way), and GIT_CONFIG_GLOBAL/SYSTEM/NOSYSTEM, which choose the configuration files
# as GIT_CONFIG_KEY_* adds to them: a user's (or a test suite's) choice, never a hook's.
_KEPT = frozenset(
    {
        "GIT_EXEC_PATH",
        "GIT_CONFIG_COUNT",
        "GIT_HTTP_PROXY_AUTHMETHOD",
        "GIT_ALLOW_PROTOCOL",
        "GIT_ASKPASS",
        "GIT_CONFIG_GLOBAL",
        "GIT_CONFIG_SYSTEM",
        "GIT_CONFIG_NOSYSTEM",
    }
)
_KEPT_PREFIXES = (
    "GIT_CONFIG_KEY_",
    "GIT_CONFIG_VALUE_",
    "GIT_SSH",
    "GIT_SSL_",
    "GIT_AUTHOR_",
    "GIT_COMMITTER_",
)


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every process started here runs in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GIT_") or k in _KEPT or k.startswith(_KEPT_PREFIXES)
    }
    return {**env, **_ENV, **(extra or {})}


class GitMissing(CommandError):
    """No git to run: every command that reads history needs it (exit 2)."""

    def __init__(self) -> None:
        super().__init__(
            "git is not installed or not on PATH",
            "install git (https://git-scm.com) or add the folder that holds it to PATH",
        )


class GitFailed(CommandError):
    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


def start(
    root: Path | None,
    args: Sequence[str],
    program: str = "git",
    env: Mapping[str, str] | None = None,
    **streams: Any,
) -> subprocess.Popen[bytes]:
    """Every process this package runs starts here: `program ARGS` in `root`, in
    `environment(env)`. A missing git is `GitMissing`; a missing other program (gpg)
    is the caller's FileNotFoundError."""
    try:
        return subprocess.Popen([program, *args], cwd=root, env=environment(env), **streams)
    except FileNotFoundError as exc:
        if program == "git" and exc.filename == program:  # not a missing `root`
            raise GitMissing() from exc
        raise


@dataclass(frozen=True, slots=True)
class Completed:
    returncode: int
    stdout: bytes
    stderr: bytes


def complete(
    root: Path | None,
    args: Sequence[str],
    input: bytes | None = None,
    program: str = "git",
    env: Mapping[str, str] | None = None,
) -> Completed:
    """Run to the end, as subprocess.run: output captured, stdin `input` or nothing. On
    any exception here (Ctrl-C) the process is killed, never waited for."""
    stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
    with start(
        root, args, program, env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        try:
            out, err = proc.communicate(input)
        except BaseException:
            proc.kill()
            raise
    return Completed(proc.returncode, out, err)


def run(root: Path, *args: str, input: bytes | None = None, check: bool = True) -> str:
    return run_bytes(root, *args, input=input, check=check).decode("utf-8", "replace")


def run_bytes(root: Path, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
    proc = complete(root, args, input)
    if check and proc.returncode != 0:
        raise failure(args[0], proc)
    return proc.stdout


def failure(command: str, proc: Completed) -> GitFailed:
    """`git COMMAND failed: ` and the last line git said about it."""
    message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return GitFailed(
        f"git {command} failed: {message[-1] if message else proc.returncode}", proc.returncode
    )


def output(root: Path, *args: str, input: bytes | None = None) -> bytes | None:
    """What a git command printed, or None when it failed (not a repository, ...) or
    there is no git: the caller only asks, and does without the answer."""
    try:
        proc = complete(root, args, input)
    except GitMissing:
        return None
    return proc.stdout if proc.returncode == 0 else None


def decode_path(raw: bytes) -> str:
    # as os.fsdecode does: a file name that is no UTF-8 still round-trips
    return raw.decode("utf-8", "surrogateescape")


def paths_in(out: bytes) -> set[str]:
    return {decode_path(p) for p in out.split(b"\0") if p}
