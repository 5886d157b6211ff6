"""`cmdbctl show ID [--at REV-OR-DATE]`: a document as it stands in the work tree, or as
it stood at a revision or a date (the last first-parent commit at or before it), or why
it did not exist then (its history says when it was added or deleted)."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path

from cmdbctl import gitio
from cmdbctl.errors import CommandError
from cmdbctl.history import (
    Entry,
    check_id,
    describe,
    documents,
    entries_of,
    head,
    pathspecs,
    unknown,
)
from cmdbctl.workspace import DOCUMENT_DIRS, YAML_SUFFIXES


@dataclass(frozen=True)
class Version:
    """The document's file: in the work tree (`commit` None) or at a commit."""

    id: str
    path: str
    content: bytes
    commit: str | None = None
    date: str | None = None  # the committer date of the commit a date resolved to


@dataclass(frozen=True)
class Absent:
    """The document was not there at the time asked: not yet, or no longer."""

    id: str
    message: str
    entries: list[Entry] = field(default_factory=list)


_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
    r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)


def parse_when(text: str) -> int | None:
    """An ISO 8601 date or date-time as seconds since the epoch (None: not written as
    one). A date alone means the end of that day; without an offset, local time, as git
    reads dates."""
    text = text.strip()
    if not _DATE.fullmatch(text):
        return None
    try:
        when = datetime.fromisoformat(text.replace(",", ".").upper())
        if len(text) == 10:
            when = datetime.combine(when.date(), time.max)
        return math.floor((when if when.tzinfo else when.astimezone()).timestamp())
    except (ValueError, OverflowError):
        raise CommandError(
            f"{text!r} is not a valid date",
            "write a date as 2026-11-20 or 2026-11-20T14:30:00+01:00",
        ) from None


def show(root: Path, doc_id: str, at: str | None = None) -> Version | Absent:
    """The document in the work tree, or as it stood at a revision or a date."""
    check_id(doc_id)
    if at is None:
        return _in_work_tree(root, doc_id)
    stamp = parse_when(at)
    if stamp is None:
        head(root)  # a work tree with commits, or exit 2 saying which it is not
        commit, date = gitio.resolve(root, at), None
    else:
        tip = head(root)
        gitio.require_full_history(root)
        found = gitio.last_commit_before(root, tip, stamp) if stamp >= 0 else None
        if found is None:
            return _before_everything(root, doc_id, at, tip)
        commit, date = found
    files = gitio.tree_files(root, commit, pathspecs(doc_id))
    files = {p: files[p] for p in documents(doc_id, files)}
    if not files:
        return _absent_at(root, doc_id, at, commit)
    path = _one(doc_id, sorted(files), f"at {at}")
    with gitio.BlobReader(root) as reader:
        return Version(doc_id, path, reader.read(files[path]), commit, date)


def _one(doc_id: str, paths: list[str], where: str) -> str:
    if len(paths) > 1:
        raise CommandError(
            f"{doc_id} is in {len(paths)} files {where}: {', '.join(paths)}",
            "an id names one file; run cmdbctl validate (id.duplicate), or "
            "read one with git show REV:PATH",
        )
    return paths[0]


def _in_work_tree(root: Path, doc_id: str) -> Version | Absent:
    names = {doc_id + suffix for suffix in YAML_SUFFIXES}
    found = [p for folder in DOCUMENT_DIRS for p in _find(root, folder, names)]
    if found:
        path = _one(doc_id, sorted(found), "in the work tree")
        if (root / path).is_symlink():
            raise CommandError(
                f"{path} is a symbolic link; a document is its own file "
                "(file.symlink), so it is not read",
                "run cmdbctl validate",
            )
        return Version(doc_id, path, (root / path).read_bytes())
    try:
        tip = head(root)
    except CommandError:  # no git, or no commits: nothing to say but that it is not here
        raise CommandError(
            f"no document {doc_id!r} in {root}",
            "an id is a document's file name without .yaml (inventory/app-01.yaml is app-01)",
        ) from None
    gitio.require_full_history(root)
    past = entries_of(root, doc_id, tip)
    if not past:
        raise unknown(root, doc_id, "HEAD")
    last = past[0]
    if last.action in ("deleted", "renamed"):
        return Absent(doc_id, f"{doc_id} is not in the work tree: {describe(last)}", past)
    return Absent(
        doc_id,
        f"{doc_id} is not in the work tree, though HEAD has it as "
        f"{last.file}: deleted and not committed yet? "
        f"`cmdbctl show {doc_id} --at HEAD` shows the committed version",
        past,
    )


def _find(root: Path, folder: str, names: set[str]) -> list[str]:
    """Files named one of `names` below `folder` (links to folders not followed;
    hidden folders skipped, as validate skips them)."""
    found = []
    pending = [folder]
    while pending:
        rel = pending.pop()
        try:
            entries = list(os.scandir(root / rel))
        except OSError:
            continue
        for entry in entries:
            if entry.name in names:
                found.append(f"{rel}/{entry.name}")
            elif not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                pending.append(f"{rel}/{entry.name}")
    return found


def _absent_at(root: Path, doc_id: str, at: str, commit: str) -> Absent:
    where = f"{at} (commit {commit[:10]})"
    gitio.require_full_history(root)
    past = entries_of(root, doc_id, commit)
    if past:
        last = past[0]
        verb = "no longer existed" if last.action in ("deleted", "renamed") else "was not"
        return Absent(doc_id, f"{doc_id} {verb} at {where}: {describe(last)}", past)
    later = entries_of(root, doc_id, head(root))
    if not later:
        raise unknown(root, doc_id, at)
    return Absent(doc_id, f"{doc_id} did not exist yet at {where}: {describe(later[-1])}", later)


def _before_everything(root: Path, doc_id: str, at: str, tip: str) -> Absent:
    later = entries_of(root, doc_id, tip)
    if not later:
        raise unknown(root, doc_id, "HEAD")
    return Absent(
        doc_id,
        f"{doc_id} did not exist yet at {at}, before the first commit of "
        f"this branch: {describe(later[-1])}",
        later,
    )
