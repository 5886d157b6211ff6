"""The one place git runs.

We drive the `git` executable rather than a binding: the gate needs exactly git's own
behaviour (merge bases, rename detection, `verify-commit` with SSH signatures, shallow
clones), batching through `cat-file --batch` keeps it fast, and nothing else must be
installed. Every failure a user can cause becomes a `CommandError` naming the revision.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cmdbctl.errors import CommandError

_ENV = {"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}


def _env() -> dict[str, str]:
    return {**os.environ, **_ENV}


def run(root: Path, *args: str, input: bytes | None = None, check: bool = True) -> str:
    return run_bytes(root, *args, input=input, check=check).decode("utf-8", "replace")


def run_bytes(root: Path, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=root, input=input, capture_output=True,
                              env=_env())
    except FileNotFoundError as exc:
        raise CommandError("git is not installed or not on PATH",
                           "install git (https://git-scm.com)") from exc
    if check and proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitFailed(f"git {args[0]} failed: {message[-1] if message else proc.returncode}",
                        proc.returncode)
    return proc.stdout


class GitFailed(CommandError):
    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


def is_work_tree(path: Path) -> bool:
    if not path.is_dir():
        return False
    proc = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=path,
                          capture_output=True, env=_env())
    return proc.returncode == 0 and proc.stdout.strip() == b"true"


def init(path: Path) -> None:
    run(path, "init", "--quiet")


def require_work_tree(root: Path) -> None:
    if not is_work_tree(root):
        raise CommandError(f"{root} is not a git work tree; this command reads git history",
                           "run it inside a clone of the CMDB repository")


def resolve(root: Path, rev: str) -> str:
    """The commit id of `rev`, or exit 2 naming it."""
    proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "--end-of-options",
                           f"{rev}^{{commit}}"], cwd=root, capture_output=True, env=_env())
    if proc.returncode != 0:
        hint = "fetch it first (git fetch origin)" if "/" in rev else "check the name with git log"
        raise CommandError(f"revision {rev!r} is not there", hint)
    return proc.stdout.decode().strip()


def ls_tree(root: Path, rev: str, folders: Sequence[str]) -> dict[str, str]:
    """path → blob id of every file under `folders` at `rev`."""
    out = run_bytes(root, "ls-tree", "-r", "-z", "--full-tree", rev, "--", *folders)
    files: dict[str, str] = {}
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, kind, blob = meta.decode().split()
        if kind == "blob":
            files[path.decode("utf-8", "surrogateescape")] = blob
    return files


class BlobReader:
    """Reads many blobs through one `git cat-file --batch` process."""

    def __init__(self, root: Path) -> None:
        self._proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=root,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      env=_env())

    def read(self, blob: str) -> bytes:
        assert self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(blob.encode() + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().split()
        if len(header) < 3 or header[1] != b"blob":
            raise CommandError(f"object {blob} is not in the repository")
        data = self._proc.stdout.read(int(header[2]))
        self._proc.stdout.read(1)  # the newline after the content
        return data

    def read_many(self, blobs: Iterable[str]) -> dict[str, bytes]:
        return {b: self.read(b) for b in blobs}

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    email: str


def current_identity(root: Path) -> Identity:
    """Who `git commit` would record as author: environment first, then config."""
    proc = subprocess.run(["git", "var", "GIT_AUTHOR_IDENT"], cwd=root, capture_output=True,
                          env=_env())
    text = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0 or "<" not in text:
        raise CommandError("no git identity is set",
                           'set one with git config user.name "..." and user.email "..."')
    name, _, rest = text.partition("<")
    return Identity(name.strip(), rest.partition(">")[0].strip())
