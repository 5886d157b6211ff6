"""What one commit did to a document: the file before and after (`_sides`), its action,
the field-level differences of the versions, and for a merge only what it wrote itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cmdbctl import gitio
from cmdbctl.fielddiff import FieldChange, diff
from cmdbctl.findings import pointer_parts
from cmdbctl.history.paths import documents
from cmdbctl.loading import load

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Entry:
    """One commit that changed the document: what it did to the file (`action`: added,
    modified, moved, deleted, renamed, merged) and to its fields."""

    commit: str
    author: str
    email: str
    date: str  # the author date, ISO 8601 with its offset
    subject: str
    change_id: str | None
    action: str
    file: str  # the file after the commit (before it, for deleted)
    previous_file: str | None  # the file before, when it had another path
    changes: tuple[FieldChange, ...]
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "author": self.author,
            "email": self.email,
            "date": self.date,
            "changeId": self.change_id,
            "changes": [c.to_json() for c in self.changes],
            "subject": self.subject,
            "action": self.action,
            "file": self.file,
            "previousFile": self.previous_file,
            "note": self.note,
        }


def concerning(doc_id: str, record: gitio.FileChange) -> gitio.FileChange | None:
    """`record` as it concerns the document: a side outside the document folders is
    no side of it (a move out of inventory/ ends its history)."""
    old = record.old_path if record.old_path and documents(doc_id, [record.old_path]) else None
    new = record.new_path if record.new_path and documents(doc_id, [record.new_path]) else None
    if old is None and new is None:
        return None
    if old == record.old_path and new == record.new_path:
        return record
    return gitio.FileChange(
        "A" if old is None else "D",
        old,
        new,
        record.old_blob if old else None,
        record.new_blob if new else None,
    )


class Versions:
    """The document's data in each blob the diffs name, read through one cat-file."""

    def __init__(self, root: Path, records: Sequence[gitio.FileChange]) -> None:
        paths = {r.old_blob: r.old_path for r in records if r.old_blob and r.old_path}
        paths.update({r.new_blob: r.new_path for r in records if r.new_blob and r.new_path})
        self.data: dict[str, dict[str, Any] | None] = {}
        if paths:
            with gitio.BlobReader(root) as reader:
                for blob, path in paths.items():
                    raw = reader.read_optional(blob)
                    self.data[blob] = load(path, raw).data if raw is not None else None


@dataclass(frozen=True, slots=True)
class _Side:
    path: str
    blob: str


def _sides(records: Sequence[gitio.FileChange]) -> tuple[_Side | None, _Side | None]:
    """The file before and after, from one diff's records: a rename or an edit first,
    else a deletion and an addition (a move git could not pair: same name, so same id)."""
    ranked = sorted(records, key=lambda r: r.status not in "RMT")
    old = next((_Side(r.old_path, r.old_blob) for r in ranked if r.old_path and r.old_blob), None)
    new = next((_Side(r.new_path, r.new_blob) for r in ranked if r.new_path and r.new_blob), None)
    return old, new


def entry_of(
    commit: gitio.Commit, diffs: list[list[gitio.FileChange]], versions: Versions
) -> Entry | None:
    if len(diffs) > 1:
        return _merge_entry(commit, diffs, versions)
    old, new = _sides(diffs[0])
    if old is None and new is None:
        return None
    action = (
        "added"
        if old is None
        else "deleted"
        if new is None
        else "moved"
        if old.path != new.path
        else "modified"
    )
    changes, note = _field_changes(old, new, versions)
    return _make(commit, action, old, new, changes, note)


def _make(
    commit: gitio.Commit,
    action: str,
    old: _Side | None,
    new: _Side | None,
    changes: Sequence[FieldChange],
    note: str | None,
) -> Entry:
    now = new or old
    assert now is not None
    previous = old.path if old is not None and new is not None and old.path != new.path else None
    return Entry(
        commit.sha,
        commit.author_name,
        commit.author_email,
        commit.date,
        commit.subject,
        None,
        action,
        now.path,
        previous,
        tuple(changes),
        note,
    )


def _field_changes(
    old: _Side | None, new: _Side | None, versions: Versions
) -> tuple[list[FieldChange], str | None]:
    before = versions.data.get(old.blob) if old else {}
    after = versions.data.get(new.blob) if new else {}
    if before is None or after is None:
        which = old.path if before is None and old else new.path if new else "?"
        return [], f"{which} could not be read as a YAML document there; no field changes"
    return diff(before, after), None


def _merge_entry(
    commit: gitio.Commit, diffs: list[list[gitio.FileChange]], versions: Versions
) -> Entry | None:
    """A merge's entry holds only what it wrote itself (an evil merge, a resolved
    conflict): fields whose value differs from every parent's. What it took from one
    side is that side's commits' doing, and they have entries of their own."""
    if any(not records for records in diffs):  # the file as one parent had it
        return None
    sides = [_sides(records) for records in diffs]
    new = sides[0][1]
    after = versions.data.get(new.blob) if new else {}
    parents = [versions.data.get(old.blob) if old else {} for old, _ in sides]
    if after is None or any(p is None for p in parents):  # unreadable: compare the files
        if new is None or any(old is not None and old.blob == new.blob for old, _ in sides):
            return None
        own: list[FieldChange] = []
        note = (
            f"{new.path} could not be read as a YAML document on one side or the "
            "other; no field changes"
        )
    else:
        own = [
            c
            for c in diff(parents[0], after)
            if all(not _same(_at(p, c.path), _at(after, c.path)) for p in parents[1:])
        ]
        if not own:
            return None
        note = "a merge: only the fields it set itself, differing from every parent"
    return _make(commit, "merged", sides[0][0], new, own, note)


def _at(data: Any, ptr: str) -> Any:
    return _get(data, pointer_parts(ptr))


def _get(data: Any, parts: Sequence[str]) -> Any:
    for part in parts:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def _same(a: Any, b: Any) -> bool:
    return a is b or (a is not _MISSING and b is not _MISSING and type(a) is type(b) and a == b)


def narrowed(entry: Entry, wanted: str) -> Entry | None:
    """The entry's changes to the field at `wanted` or below it; a change above it (a
    whole mapping added or removed) is narrowed to the field's own values."""
    parts = pointer_parts(wanted)
    kept = []
    for change in entry.changes:
        at = pointer_parts(change.path)
        if at[: len(parts)] == parts:
            kept.append(change)
        elif parts[: len(at)] == at:
            rest = parts[len(at) :]
            old = _get(change.old, rest) if change.old is not None else _MISSING
            new = _get(change.new, rest) if change.new is not None else _MISSING
            if not _same(old, new):
                kept.append(
                    FieldChange(
                        wanted, None if old is _MISSING else old, None if new is _MISSING else new
                    )
                )
    return replace(entry, changes=tuple(kept)) if kept else None
