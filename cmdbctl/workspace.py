"""The CMDB repository on disk: where it is, which files are documents, safe paths.

A path never leads out of the repository: symlinks that leave it are findings, and
paths given on the command line must lie inside it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cmdbctl.errors import CommandError
from cmdbctl.findings import Finding

DOCUMENT_DIRS = ("inventory", "changes", "policies")
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Workspace:
    root: Path

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def files(self, only: Iterable[str] | None = None) -> tuple[list[str], list[Finding]]:
        """Document files (repository-relative, POSIX, sorted), and findings for files
        that may not be read."""
        files: list[str] = []
        findings: list[Finding] = []
        starts = [self.root / d for d in DOCUMENT_DIRS] if only is None else [
            self.root / p for p in only]
        prefix = len(str(self.root)) + 1
        for start in starts:
            if start.is_symlink() and start.is_dir() and not self._inside(start, findings):
                continue  # a folder link out of the repository is never entered
            if start.is_file() or start.is_symlink() and not start.is_dir():
                self._take(start, files, findings)
            elif start.is_dir():
                for entry in _walk(start):
                    if not entry.name.endswith(YAML_SUFFIXES) and not entry.is_symlink():
                        continue
                    if entry.is_file(follow_symlinks=False):  # the common case, kept cheap
                        files.append(_posix(entry.path[prefix:]))
                    elif entry.is_symlink():
                        self._take(Path(entry.path), files, findings)
                    else:  # a FIFO or device: reading it could hang, so it is never read
                        findings.append(Finding(
                            _posix(entry.path[prefix:]), "file.not-regular",
                            "not a regular file (a FIFO, socket or device): not read",
                            line=1, column=1, hint="replace it with a regular file"))
        files.sort()
        return files, findings

    def _inside(self, link: Path, findings: list[Finding]) -> bool:
        """A linked folder to walk: it must resolve inside the repository."""
        try:
            inside = link.resolve().is_relative_to(self.root)
        except (RuntimeError, OSError):
            inside = False
        if not inside:
            findings.append(Finding(
                self.relative(link), "file.symlink-escape",
                f"folder symlink points outside the repository (to {os.readlink(link)})",
                line=1, column=1, hint="replace the link with the folder itself"))
        return inside

    def _take(self, path: Path, files: list[str], findings: list[Finding]) -> None:
        rel = self.relative(path)
        if path.is_symlink():
            try:
                target = path.resolve()
            except (RuntimeError, OSError):  # a link loop (Python 3.11 raises RuntimeError)
                findings.append(Finding(rel, "file.broken-symlink",
                                        "symlink loops back on itself", line=1, column=1))
                return
            if not target.is_relative_to(self.root):
                findings.append(Finding(
                    rel, "file.symlink-escape",
                    f"symlink points outside the repository (to {os.readlink(path)})",
                    line=1, column=1, hint="replace the link with the file itself"))
                return
            if not target.is_file():
                if target.is_dir() or not path.name.endswith(YAML_SUFFIXES):
                    return  # links to folders are not followed
                findings.append(Finding(rel, "file.broken-symlink",
                                        "symlink points at nothing", line=1, column=1))
                return
        files.append(rel)


def file_id(path: str) -> str:
    """The id a document's file name gives it: `PurePosixPath(path).stem`, without a
    path object (this runs for every file of an estate)."""
    name = path[path.rfind("/") + 1:]
    dot = name.rfind(".")
    return name[:dot] if dot > 0 else name


def _posix(path: str) -> str:
    return path if os.sep == "/" else path.replace(os.sep, "/")


def _walk(folder: Path) -> Iterator[os.DirEntry[str]]:
    # os.scandir is the cheapest walk; folders reached through symlinks are not entered.
    stack: list[str | Path] = [folder]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    yield entry


def find_workspace(repo: str | os.PathLike[str] | None) -> Workspace:
    """The repository at `repo`, or the one around the current directory."""
    if repo is not None:
        root = Path(repo).resolve()
        if not root.is_dir():
            raise CommandError(f"{repo}: no such directory",
                               "pass --repo the folder that holds inventory/ and schemas/")
        if not _is_cmdb(root):
            raise _not_a_repository(root)
        return Workspace(root)
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if _is_cmdb(candidate):
            return Workspace(candidate)
    raise _not_a_repository(here)


def _is_cmdb(folder: Path) -> bool:
    return any((folder / d).is_dir() for d in DOCUMENT_DIRS)


def _not_a_repository(folder: Path) -> CommandError:
    return CommandError(
        f"{folder} is not a CMDB repository: it has none of "
        f"{', '.join(d + '/' for d in DOCUMENT_DIRS)}",
        "run cmdbctl in the repository's folder, pass --repo DIR, "
        "or create one with `cmdbctl init DIR`")


def resolve_paths(ws: Workspace, paths: Iterable[str]) -> list[str]:
    """Command-line paths as repository-relative paths; exit 2 for any outside or missing."""
    out = []
    for given in paths:
        path = Path(given)
        absolute = (path if path.is_absolute() else Path.cwd() / path)
        absolute = Path(os.path.normpath(absolute))
        if not absolute.is_relative_to(ws.root):
            raise CommandError(f"{given}: path is outside the repository {ws.root}",
                               "give paths inside the repository")
        if not absolute.exists() and not absolute.is_symlink():
            raise CommandError(f"{given}: no such file or directory")
        out.append(ws.relative(absolute))
    return out
