"""One document's past, read from git: every commit that touched it (`history`) and the
document as it stood at a revision or a date (`show`).

A document is its file: its id is the file's name (`<id>.yaml` or `<id>.yml`, in any
folder under inventory/, changes/ or policies/). A move to another folder keeps the
id; a rename gives another document, so the history of the old id ends there (and the
entry says so). The commits are found by git's own path filtering over the history of
HEAD without history simplification (a merge's sides both count): on the document's
literal paths, followed back through moves (`walk.commits_touching` says why and how),
and by its name in every folder where no path is known. Then one `git diff-tree` says
what each commit did to the file, one `git cat-file` reads the versions, and each entry
holds the field-level differences of what its commit wrote itself. `git log --follow`
is no help: it follows one path by content similarity, not a name across folders, and
loses side branches.

Here: the command (`history`, `entries_of`, `describe`); `paths` (ids and the files a
document may be), `walk` (the commits), `entries` (what one commit did to the document),
`annotate` (renames to and from other ids, the change each commit carried out).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from cmdbctl import gitio
from cmdbctl.errors import CommandError
from cmdbctl.findings import pointer, pointer_parts
from cmdbctl.history.annotate import with_change_ids, with_renames
from cmdbctl.history.entries import Entry, Versions, concerning, entry_of, narrowed
from cmdbctl.history.paths import check_id, documents, pathspecs
from cmdbctl.history.walk import commits_touching
from cmdbctl.workspace import DOCUMENT_DIRS, YAML_SUFFIXES, file_id

__all__ = [
    "Entry",
    "History",
    "check_id",
    "describe",
    "documents",
    "dotted",
    "entries_of",
    "field_pointer",
    "head",
    "history",
    "pathspecs",
    "unknown",
]


@dataclass(frozen=True)
class History:
    id: str
    entries: list[Entry]  # newest first, in topological order
    field: str | None = None  # the JSON pointer the entries were narrowed to

    def to_json(self) -> dict[str, Any]:
        return {"formatVersion": 1, "id": self.id, "entries": [e.to_json() for e in self.entries]}


def field_pointer(path: str) -> str:
    """A dotted field path (spec.disks.0.sizeGb) or a JSON pointer, as a JSON pointer."""
    if path.startswith("/"):
        return path
    parts = path.split(".")
    if not path.strip() or any(not p.strip() for p in parts):
        raise CommandError(
            f"{path!r} is not a field path",
            "write it dotted from the top of the document, as in "
            "spec.memoryMb or spec.disks.0.sizeGb",
        )
    return pointer(parts)


def dotted(ptr: str) -> str:
    return ".".join(pointer_parts(ptr)) or "(the document)"


def head(root: Path) -> str:
    gitio.require_work_tree(root)
    try:
        return gitio.resolve(root, "HEAD")
    except CommandError:
        raise CommandError(
            f"{root} has no commits yet, so no history", "commit the documents first"
        ) from None


def history(root: Path, doc_id: str, field_path: str | None = None) -> History:
    """Every commit of HEAD's history that changed `doc_id`, newest first; with
    `field_path`, those that changed that field or a field below it."""
    check_id(doc_id)
    wanted = field_pointer(field_path) if field_path is not None else None
    tip = head(root)
    gitio.require_full_history(root)
    entries = entries_of(root, doc_id, tip)
    if not entries:
        raise unknown(root, doc_id, "HEAD")
    if wanted is not None:
        entries = [n for n in (narrowed(e, wanted) for e in entries) if n is not None]
    return History(doc_id, entries, wanted)


def unknown(root: Path, doc_id: str, where: str) -> CommandError:
    ids = (
        sorted(
            {
                file_id(p)
                for p in gitio.ls_tree(root, "HEAD", DOCUMENT_DIRS)
                if p.endswith(YAML_SUFFIXES)
            }
        )
        if gitio.is_work_tree(root)
        else []
    )
    close = difflib.get_close_matches(doc_id, ids, n=3)
    return CommandError(
        f"no document {doc_id!r} in the history of {where}",
        f"did you mean {' or '.join(close)}?"
        if close
        else "an id is a document's file name without .yaml (inventory/app-01.yaml is app-01); "
        "git ls-files inventory changes policies lists them",
    )


def entries_of(root: Path, doc_id: str, rev: str) -> list[Entry]:
    """What every commit of `rev`'s history did to `doc_id`, newest first."""
    specs = pathspecs(doc_id)
    commits, diffs = commits_touching(root, doc_id, rev, specs)
    per_commit = [
        [
            [r for r in map(partial(concerning, doc_id), next(diffs)) if r]
            for _ in range(max(len(commit.parents), 1))
        ]
        for commit in commits
    ]
    versions = Versions(root, [r for pairs in per_commit for rs in pairs for r in rs])
    built = [(c, entry_of(c, pairs, versions)) for c, pairs in zip(commits, per_commit)]
    found = [(c, e) for c, e in built if e is not None]
    found = with_renames(root, doc_id, found)
    return with_change_ids(root, doc_id, found)


def describe(entry: Entry) -> str:
    """ "deleted on 2026-11-20T10:00:00+01:00 in commit 3f2a9c1d0e by Bob Example
    (CHG-2026-0042)"."""
    what = {
        "renamed": f"renamed to {file_id(entry.file)}",
        "moved": "moved",
        "merged": "changed in a merge",
    }.get(entry.action, entry.action)
    if entry.action == "added" and entry.previous_file:
        what = f"added (renamed from {file_id(entry.previous_file)})"
    change = f" ({entry.change_id})" if entry.change_id else ""
    return f"{what} on {entry.date} in commit {entry.commit[:10]} by {entry.author}{change}"
