"""The files `diff --write` reads and writes, never through a link out of the repository.

A snapshot is untrusted and so is a work tree (a tracked symlink is a commit away): before
anything changes, every path the run will write is checked with `lstat` from the
repository root down (`problem`): no component a symlink, every folder a folder, a new
file not there as anything, an edited file a regular file. Reading and writing then go
through folder descriptors opened with `O_NOFOLLOW`, new files with `O_CREAT|O_EXCL`, so a
link put there meanwhile is an error, never followed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def problem(root: Path, path: str, *, new: bool) -> str | None:
    """Why `path` (relative, `/`-separated) cannot be written safely, if it cannot: `new`
    for a file the run creates (with any folders it lacks), else one it edits."""
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return f"{path!r} is not a path inside the repository"
    here = root
    for n, part in enumerate(parts):
        here = here / part
        shown = "/".join(parts[: n + 1])
        last = n == len(parts) - 1
        try:
            mode = os.lstat(here).st_mode
        except FileNotFoundError:  # nothing below it either: created, folders and all
            return None if new else f"{shown} is not there"
        if stat.S_ISLNK(mode):
            return f"{shown} is a symlink, which --write never writes through"
        if not last and not stat.S_ISDIR(mode):
            return f"{shown} is {_what(mode)} where a folder is needed"
        if last and new:
            return f"{shown} exists already ({_what(mode)})"
        if last and not stat.S_ISREG(mode):
            return f"{shown} is {_what(mode)}, not a regular file"
    return None


def _what(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a file"
    return "a FIFO, socket or device"


def read(root: Path, path: str) -> bytes:
    """The bytes of a regular file, read without following a link."""
    *folders, name = path.split("/")
    with _folder(root, folders, create=False) as parent:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent)
        with os.fdopen(fd, "rb") as file:
            _require_regular(file.fileno(), path)
            return file.read()


def write(root: Path, path: str, data: bytes, *, new: bool) -> None:
    """Write `data` to `path`: a new file (made with the folders it lacks; never one that
    is there, as anything), or over an existing regular file (its inode and mode kept)."""
    *folders, name = path.split("/")
    with _folder(root, folders, create=new) as parent:
        flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # a FIFO fails, never blocks
        fd = os.open(name, flags | (os.O_CREAT | os.O_EXCL if new else 0), 0o666, dir_fd=parent)
        with os.fdopen(fd, "wb") as file:
            _require_regular(file.fileno(), path)
            file.truncate(0)
            file.write(data)


def _require_regular(fd: int, path: str) -> None:
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        raise OSError(f"{path} is {_what(mode)}, not a regular file")


@contextmanager
def _folder(root: Path, folders: list[str], *, create: bool) -> Iterator[int]:
    """A descriptor of the folder `folders` name below `root`, each opened without
    following a link (and made first when `create` and it is not there)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in folders:
            if create:
                try:
                    os.mkdir(name, dir_fd=fd)
                except FileExistsError:
                    pass
            inner = os.open(name, _FOLDER, dir_fd=fd)
            os.close(fd)
            fd = inner
        yield fd
    finally:
        os.close(fd)
