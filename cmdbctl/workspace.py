"""The CMDB repository on disk: where it is, which files are documents, safe paths.

A document is a regular file: git stores a symlink as its link text, so the gate (which
reads git objects) and `validate` would judge different content for one CI, and an edit
to the target would change a CI without its own file changing. A symlinked document
(any *.yaml/*.yml entry that is a link, wherever it points) is therefore a finding and
never read; so is a document folder that is a link. Other links are never followed:
those that leave the repository are findings. Paths given on the command line must
lie inside the repository.

Which files are documents, and which files it skips must say so:
- a document is a regular file whose name ends in `.yaml` or `.yml`, exactly so;
- a hidden entry (`.gitkeep`, `.gitattributes`, an editor's `.app-01.yaml.swp`) is never
  one, and never reported;
- a name that ends in another spelling of a document's suffix (`app-08.YAML`,
  `app-08.Yml`, `app-08.json`, `app-08.JSON`) is `file.extension`, an error: whoever
  wrote it meant a document, yet no check reads it and the gate sees no CI in it, so the
  CI would escape every check and change control (JSON is YAML: renamed, it is read);
- a name with such a suffix followed by more (`app-08.yaml~`, `app-08.yaml.bak`,
  `app-08.yml.orig`, `app-08.json.old`) is `file.leftover`, a warning: a copy that an
  editor, a merge or a person left beside the document, which is itself checked;
- any other name (README.md, notes.txt, Makefile) is no document and not reported.
None of these is ever read; their findings come from the folder listing, so a warm run
(which reuses the listings of folders that did not change) reports them as a cold one.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cmdbctl.errors import CommandError
from cmdbctl.findings import Finding

DOCUMENT_DIRS = ("inventory", "changes", "policies")
YAML_SUFFIXES = (".yaml", ".yml")
_RACY_NS = 2_000_000_000  # coarser than any file system's time stamps
# A document's suffix in any spelling, and whatever follows it (see the module's docstring).
_DOCUMENT_LIKE = re.compile(r"\.(?i:ya?ml|json)(?=$|[^A-Za-z0-9])(.*)$")

CODES: dict[str, str] = {
    "file.symlink": "a document, or a document folder, is a symlink: a CI is its own file, "
    "so the link is never read (git would store the link, not the document)",
    "file.symlink-escape": "a symlink in a document folder points outside the repository: "
    "not followed",
    "file.not-regular": "a FIFO, socket or device in a document folder: never read",
    "file.extension": "a file named like a document with another suffix (.YAML, .Yml, "
    ".json): it is never read, so whatever it holds escapes every check",
    "file.leftover": "a leftover copy beside a document (app-01.yaml~, app-01.yaml.bak, "
    ".orig), never read; delete it (a warning)",
}


@dataclass(frozen=True, slots=True)
class Folder:
    """One listed folder: its stamp (None: too recent to trust) and its entries' names:
    regular *.yaml files, symlinks, other *.yaml entries, sub-folders, and the names that
    look like documents but are not read (`skipped`)."""

    stamp: tuple[int, int, str] | None  # modified, changed (ns), inode: as git's index
    files: tuple[str, ...]
    links: tuple[str, ...]
    others: tuple[str, ...]
    subfolders: tuple[str, ...]
    attributes: bool  # holds a .gitattributes (git may convert what it checks out)
    skipped: tuple[str, ...] = ()

    def plain(self) -> list[object]:
        return [
            self.stamp,
            self.files,
            self.links,
            self.others,
            self.subfolders,
            self.attributes,
            self.skipped,
        ]

    @staticmethod
    def from_plain(data: list[object]) -> Folder:
        # A listing of seven parts: one an older cmdbctl wrote (without `skipped`) is
        # refused, so the cache is rebuilt rather than a skipped file forgotten.
        stamp, files, links, others, subfolders, attributes, skipped = data
        if (
            stamp is not None
            and not (
                isinstance(stamp, list)
                and len(stamp) == 3
                and type(stamp[0]) is int
                and type(stamp[1]) is int
                and isinstance(stamp[2], str)
            )
            or not isinstance(attributes, bool)
        ):
            raise ValueError("folder stamp")
        return Folder(
            tuple(stamp) if stamp else None,
            tuple(_names(files)),
            tuple(_names(links)),
            tuple(_names(others)),
            tuple(_names(subfolders)),
            attributes,
            tuple(_names(skipped)),
        )


def _names(data: object) -> list[str]:
    """Entry names as a listing gives them: never a path, so never a way out."""
    if not isinstance(data, list) or not all(
        isinstance(n, str)
        and n not in ("", ".", "..")
        and "/" not in n
        and "\0" not in n
        and os.sep not in n
        for n in data
    ):
        raise ValueError("folder entry names")
    return data


@dataclass
class Listing:
    """A walk of the document folders: folder (repository-relative) → `Folder`, and
    findings (symlinks, FIFOs and devices, names that look like documents but are not:
    none of them read)."""

    folders: dict[str, Folder]
    findings: list[Finding]

    def paths(self) -> list[str]:
        """Every document file, sorted."""
        return sorted(
            f"{rel}/{name}" for rel, folder in self.folders.items() for name in folder.files
        )

    @property
    def attributes(self) -> bool:
        """Some folder holds a .gitattributes."""
        return any(f.attributes for f in self.folders.values())

    def count(self) -> int:
        return sum(len(f.files) for f in self.folders.values())

    def links(self) -> Iterator[str]:
        return (f"{rel}/{name}" for rel, f in self.folders.items() for name in f.links)

    def others(self) -> Iterator[str]:
        return (f"{rel}/{name}" for rel, f in self.folders.items() for name in f.others)

    def skipped(self) -> Iterator[str]:
        return (f"{rel}/{name}" for rel, f in self.folders.items() for name in f.skipped)


@dataclass(frozen=True)
class Workspace:
    root: Path

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def walk(self, last: Mapping[str, Folder] | None = None) -> Listing:
        """What the document folders hold. With `last` (an earlier walk's folders), those
        whose stamp (times and inode) is unchanged are not listed again: adding, removing or
        renaming an entry changes it, editing a file does not. Symlinks are findings or
        skipped, every time from the listing, and never read."""
        listing = Listing({}, [])
        started = time.time_ns()
        for top in DOCUMENT_DIRS:
            start = self.root / top
            if start.is_symlink():
                listing.findings.append(self._folder_link(top))  # never walked
            elif start.is_dir():
                self._walk_folder(top, last, listing, started)
        for path in listing.links():
            found = self._link(path)
            if found is not None:
                listing.findings.append(found)
        for path in listing.others():
            listing.findings.append(
                Finding(
                    path,
                    "file.not-regular",
                    "not a regular file (a FIFO, socket or device): not read",
                    line=1,
                    column=1,
                    hint="replace it with a regular file",
                )
            )
        listing.findings.extend(map(_skipped, listing.skipped()))
        return listing

    def _walk_folder(
        self, top: str, last: Mapping[str, Folder] | None, listing: Listing, started: int
    ) -> None:
        stack = [top]
        while stack:
            rel = stack.pop()
            full = f"{self.root}/{rel}"
            try:
                info = os.stat(full, follow_symlinks=False)
            except OSError:
                continue
            # A rename keeps a folder's modification time; its change time and inode
            # tell (a folder moved to where another was can share the old one's time).
            stamp = (info.st_mtime_ns, info.st_ctime_ns, str(info.st_ino))  # (> 64 bits)
            known = last.get(rel) if last else None
            if known is not None and known.stamp == stamp:
                listing.folders[rel] = known
                stack.extend(f"{rel}/{name}" for name in known.subfolders)
                continue
            files, links, others, subfolders, skipped = [], [], [], [], []
            attributes = False
            # os.scandir is the cheapest listing; folders reached through symlinks are
            # not entered, and hidden entries are skipped.
            with os.scandir(full) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith("."):
                        attributes = attributes or name == ".gitattributes"
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        subfolders.append(name)
                    elif entry.is_symlink():  # a finding, or skipped: never read
                        links.append(name)
                    elif not name.endswith(YAML_SUFFIXES):
                        if _DOCUMENT_LIKE.search(name):
                            skipped.append(name)  # a finding, never read
                        continue
                    elif entry.is_file(follow_symlinks=False):
                        files.append(name)
                    else:  # a FIFO or device: reading it could hang, so it is never read
                        others.append(name)
            # A change within the clock's resolution of this listing might not move the
            # time again: such a folder is listed afresh next time.
            trusted = stamp if stamp[0] < started - _RACY_NS else None
            listing.folders[rel] = Folder(
                trusted,
                tuple(files),
                tuple(links),
                tuple(others),
                tuple(subfolders),
                attributes,
                tuple(skipped),
            )
            stack.extend(f"{rel}/{name}" for name in subfolders)

    def leaves_repository(self, link: Path) -> bool:
        """The link resolves outside the repository (a loop does not: it leads nowhere)."""
        try:
            return not link.resolve().is_relative_to(self.root)
        except (RuntimeError, OSError):  # a loop (Python 3.11 raises RuntimeError)
            return False

    def _folder_link(self, top: str) -> Finding:
        """A document folder that is a symlink: what it holds is not the repository's
        (git stores the link), so it is never walked."""
        link = self.root / top
        target = _target(link)
        if self.leaves_repository(link):
            return _escape(top, target, folder=True)
        return Finding(
            top,
            "file.symlink",
            f"symlinked document folders are not allowed: {top} points to {target}; "
            "a CI is its own file",
            line=1,
            column=1,
            hint="replace the link with the folder itself (git stores the link, not the documents)",
        )

    def _link(self, path: str) -> Finding | None:
        """The finding a symlink in a document folder gets: a *.yaml/*.yml link is a
        symlinked document wherever it points (its target is not read); any other link
        is not followed, and a finding only if it leaves the repository."""
        link = self.root / path
        if path.endswith(YAML_SUFFIXES):
            try:
                target = os.readlink(link)
            except OSError:
                return None  # gone since the listing: a later walk lists its folder again
            return Finding(
                path,
                "file.symlink",
                f"symlinked documents are not allowed: {path} points to {target}; "
                "a CI is its own file",
                line=1,
                column=1,
                hint="replace the link with the file itself (git stores the link, not the "
                "document)",
            )
        if not self.leaves_repository(link):
            return None  # a folder (or other file) inside the repository: not entered
        return _escape(path, _target(link), folder=link.is_dir())


def near_miss(path: str) -> Finding | None:
    """The finding of a file named like a document that is not one (module docstring);
    None for any other name."""
    if not _DOCUMENT_LIKE.search(path[path.rfind("/") + 1 :]):
        return None
    return _skipped(path)


def _skipped(path: str) -> Finding:
    """The finding of a file named like a document that is not one (module docstring)."""
    name = path[path.rfind("/") + 1 :]
    match = _DOCUMENT_LIKE.search(name)  # (None only for a listing a cache made up)
    document = f"{name[: match.start()] if match else file_id(name)}.yaml"
    if match is None or not match[1]:
        return Finding(
            path,
            "file.extension",
            f"{name} looks like a document but is not read: a document's name ends in "
            ".yaml or .yml",
            line=1,
            column=1,
            hint=f"rename it to {document}, or move it out of the document folders",
        )
    return Finding(
        path,
        "file.leftover",
        f"{name} looks like a leftover copy of {document} (an editor backup, a merge "
        "leftover): it is not read",
        severity="warning",
        line=1,
        column=1,
        hint=f"delete it; if it is the document, rename it to {document}",
    )


def _target(link: Path) -> str:
    try:
        return os.readlink(link)
    except OSError:
        return "?"


def _escape(path: str, target: str, folder: bool) -> Finding:
    what = "folder symlink" if folder else "symlink"
    return Finding(
        path,
        "file.symlink-escape",
        f"{what} points outside the repository (to {target}): not followed",
        line=1,
        column=1,
        hint=f"replace the link with the {'folder' if folder else 'file'} itself",
    )


def file_id(path: str) -> str:
    """The id a document's file name gives it: `PurePosixPath(path).stem`, without a
    path object (this runs for every file of an estate)."""
    name = path[path.rfind("/") + 1 :]
    dot = name.rfind(".")
    return name[:dot] if dot > 0 else name


def find_workspace(repo: str | os.PathLike[str] | None) -> Workspace:
    """The repository at `repo`, or the one around the current directory."""
    if repo is not None:
        root = Path(repo).resolve()
        if not root.is_dir():
            raise CommandError(
                f"{repo}: no such directory",
                "pass --repo the folder that holds inventory/ and schemas/",
            )
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
        "or create one with `cmdbctl init DIR`",
    )


def resolve_paths(ws: Workspace, paths: Iterable[str]) -> list[str]:
    """Command-line paths as repository-relative paths; exit 2 for any outside or missing."""
    out = []
    for given in paths:
        path = Path(given)
        absolute = path if path.is_absolute() else Path.cwd() / path
        absolute = Path(os.path.normpath(absolute))
        if not absolute.is_relative_to(ws.root):
            raise CommandError(
                f"{given}: path is outside the repository {ws.root}",
                "give paths inside the repository",
            )
        if not absolute.exists() and not absolute.is_symlink():
            raise CommandError(f"{given}: no such file or directory")
        out.append(ws.relative(absolute))
    return out
