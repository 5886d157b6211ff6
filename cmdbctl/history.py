"""One document's past, read from git: every commit that touched it (`history`) and the
document as it stood at a revision or a date (`show`).

A document is its file: its id is the file's name (`<id>.yaml` or `<id>.yml`, in any
folder under inventory/, changes/ or policies/). A move to another folder keeps the
id; a rename gives another document, so the history of the old id ends there (and the
entry says so). The commits are found by git's own path filtering over the history of
HEAD without history simplification (a merge's sides both count): on the document's
literal paths, followed back through moves (`_commits` says why and how), and by its
name in every folder where no path is known. Then one `git diff-tree` says what each
commit did to the file, one `git cat-file` reads the versions, and each entry holds the
field-level differences of what its commit wrote itself. `git log --follow` is no help:
it follows one path by content similarity, not a name across folders, and loses side
branches.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from cmdbctl import gitio
from cmdbctl.errors import CommandError
from cmdbctl.fielddiff import FieldChange, diff
from cmdbctl.findings import pointer, pointer_parts
from cmdbctl.loading import load
from cmdbctl.workspace import DOCUMENT_DIRS, YAML_SUFFIXES, file_id

_MISSING: Any = object()
_GLOB_SPECIAL = re.compile(r"[*?\[\\]")


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


@dataclass(frozen=True)
class History:
    id: str
    entries: list[Entry]  # newest first, in topological order
    field: str | None = None  # the JSON pointer the entries were narrowed to

    def to_json(self) -> dict[str, Any]:
        return {"formatVersion": 1, "id": self.id, "entries": [e.to_json() for e in self.entries]}


def check_id(doc_id: str) -> None:
    """Exit 2 for what cannot be a document's id (a file name)."""
    if doc_id.endswith(YAML_SUFFIXES) or "/" in doc_id:
        name = file_id(doc_id.rstrip("/"))
        raise CommandError(
            f"{doc_id!r} is not an id",
            f"give the document's id, its file name without .yaml: {name}",
        )
    if not doc_id.strip() or doc_id in (".", "..") or "\0" in doc_id:
        raise CommandError(
            f"{doc_id!r} is not an id",
            "give the document's id, its file name without .yaml: app-01",
        )


def pathspecs(doc_id: str) -> list[str]:
    """Every file the document may be, as git pathspecs: any path ending in
    /<id>.yaml or /<id>.yml (`*/app-01.yaml`: one leading star, which git matches as a
    suffix, the cheapest wildcard it has); `documents` keeps those in the document
    folders. An id holding wildcard characters is matched literally (`:(glob)`)."""
    if _GLOB_SPECIAL.search(doc_id):
        name = _GLOB_SPECIAL.sub(r"\\\g<0>", doc_id)
        return [f":(glob)**/{name}{suffix}" for suffix in YAML_SUFFIXES]
    return [f"*/{doc_id}{suffix}" for suffix in YAML_SUFFIXES]


def documents(doc_id: str, paths: Iterable[str]) -> list[str]:
    """Those of `paths` that are the document's file: <id>.yaml or .yml, in a folder
    under inventory/, changes/ or policies/."""
    names = {doc_id + suffix for suffix in YAML_SUFFIXES}
    return [
        p for p in paths if p[p.rfind("/") + 1 :] in names and p.partition("/")[0] in DOCUMENT_DIRS
    ]


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
        entries = [n for n in (_narrowed(e, wanted) for e in entries) if n is not None]
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


# -- reading the commits ---------------------------------------------------------------


def entries_of(root: Path, doc_id: str, rev: str) -> list[Entry]:
    """What every commit of `rev`'s history did to `doc_id`, newest first."""
    specs = pathspecs(doc_id)
    commits, diffs = _commits(root, doc_id, rev, specs)
    per_commit = [
        [
            [r for r in map(partial(_ours, doc_id), next(diffs)) if r]
            for _ in range(max(len(commit.parents), 1))
        ]
        for commit in commits
    ]
    versions = _Versions(root, [r for pairs in per_commit for rs in pairs for r in rs])
    built = [(c, _entry(c, pairs, versions)) for c, pairs in zip(commits, per_commit)]
    found = [(c, e) for c, e in built if e is not None]
    found = _renames(root, doc_id, found)
    return _with_change_ids(root, doc_id, found)


def _commits(
    root: Path, doc_id: str, rev: str, specs: list[str]
) -> tuple[list[gitio.Commit], Iterator[list[gitio.FileChange]]]:
    """The commits that touched the document's file, each with its diff (a merge: one
    per parent), newest first in topological order.

    A wildcard walk over every commit descends into every folder each commit changed and
    matches every entry there: a second over 2 * 10^4 commits. A walk on a literal path does
    not (and with a commit-graph's changed-path Bloom filters, `git commit-graph write
    --reachable --changed-paths`, skips most commits unread). So when the document is in
    `rev`, the walk follows its paths there; the diffs of the commits found reveal the
    paths it had before (a move, a side branch's place for it), and each time they do,
    the history behind the commits that revealed them is walked again with every path
    known: every commit that touched the document at such a path is an ancestor of the
    commit that moved it from there. A document that is not in `rev` (deleted) starts
    from the paths of the newest commit that touched it, which a wildcard walk finds
    (it stops there). Not linked: a document deleted in one commit and written at
    another path in a later one (two lives of one id, of which this finds the last)."""
    known = documents(doc_id, gitio.tree_files(root, rev, specs))
    if not known:  # not in `rev`: start from the paths the last commit that touched it saw
        last = gitio.newest_touching(root, rev, specs)
        if last is None:
            return [], iter(())
        sides = _diffs(root, gitio.read_commits(root, [last]), specs)[last]
        known = sorted(
            set(
                documents(
                    doc_id,
                    (
                        p
                        for records in sides
                        for r in records
                        for p in (r.old_path, r.new_path)
                        if p
                    ),
                )
            )
        )
    # (A newest touch outside the document folders: the wildcard walk, every commit.)
    commits = gitio.log(root, rev, [_literal(p) for p in known] or specs, full_history=True)
    diffs = _diffs(root, commits, specs)
    fresh = commits
    while True:
        found = {
            p
            for c in fresh
            for records in diffs[c.sha]
            for r in records
            for p in documents(doc_id, (r.old_path or "", r.new_path or ""))
        }
        new = sorted(found - set(known))
        starts = sorted({p for c in fresh if _reveals(diffs[c.sha], new) for p in c.parents})
        if not known or not starts:
            break
        known += new
        # Every commit already found that is an ancestor of `starts` is walked again:
        # the ones that are not come first, then this walk's, in its own order.
        walked = gitio.log(root, starts, [_literal(p) for p in known], full_history=True)
        again = {c.sha for c in walked}
        fresh = [c for c in walked if c.sha not in diffs]
        diffs.update(_diffs(root, fresh, specs))
        commits = [c for c in commits if c.sha not in again] + walked
    return commits, (d for c in commits for d in diffs[c.sha])


def _literal(path: str) -> str:
    return f":(literal){path}"


def _reveals(diffs: list[list[gitio.FileChange]], paths: list[str]) -> bool:
    return any(p in paths for records in diffs for r in records for p in (r.old_path, r.new_path))


def _diffs(
    root: Path, commits: list[gitio.Commit], specs: list[str]
) -> dict[str, list[list[gitio.FileChange]]]:
    """Each commit's diffs under `specs`: against its parent, a merge against each."""
    lines: list[tuple[str, ...]] = []
    for commit in commits:
        lines += (
            [(commit.sha, p) for p in commit.parents]
            if len(commit.parents) > 1
            else [(commit.sha,)]
        )
    answers = iter(gitio.diff_each(root, lines, specs))
    return {c.sha: [next(answers) for _ in range(max(len(c.parents), 1))] for c in commits}


def _ours(doc_id: str, record: gitio.FileChange) -> gitio.FileChange | None:
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


class _Versions:
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


def _entry(
    commit: gitio.Commit, diffs: list[list[gitio.FileChange]], versions: _Versions
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
    old: _Side | None, new: _Side | None, versions: _Versions
) -> tuple[list[FieldChange], str | None]:
    before = versions.data.get(old.blob) if old else {}
    after = versions.data.get(new.blob) if new else {}
    if before is None or after is None:
        which = old.path if before is None and old else new.path if new else "?"
        return [], f"{which} could not be read as a YAML document there; no field changes"
    return diff(before, after), None


def _merge_entry(
    commit: gitio.Commit, diffs: list[list[gitio.FileChange]], versions: _Versions
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
        return _make(
            commit,
            "merged",
            sides[0][0],
            new,
            [],
            f"{new.path} could not be read as a YAML document on one side or the "
            "other; no field changes",
        )
    own = [
        c
        for c in diff(parents[0], after)
        if all(not _same(_at(p, c.path), _at(after, c.path)) for p in parents[1:])
    ]
    if not own:
        return None
    return _make(
        commit,
        "merged",
        sides[0][0],
        new,
        own,
        "a merge: only the fields it set itself, differing from every parent",
    )


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


def _renames(
    root: Path, doc_id: str, found: list[tuple[gitio.Commit, Entry]]
) -> list[tuple[gitio.Commit, Entry]]:
    """A deletion that was a rename to another id ends this id's history there; an
    addition that was a rename from another id begins it. Said in the entry."""
    asked = [(c, e) for c, e in found if e.action in ("added", "deleted")]
    if not asked:
        return found
    diffs = gitio.diff_each(root, [(c.sha,) for c, _ in asked], DOCUMENT_DIRS, renames_only=True)
    renamed: dict[str, Entry] = {}
    for (commit, entry), records in zip(asked, diffs):
        for record in records:
            if entry.action == "deleted" and record.old_path == entry.file and record.new_path:
                other = file_id(record.new_path)
                renamed[commit.sha] = replace(
                    entry,
                    action="renamed",
                    file=record.new_path,
                    previous_file=entry.file,
                    note=f"renamed to {other}: a document's id is its file name, so {other} "
                    f"is another document; the history of {doc_id} ends here",
                )
            elif entry.action == "added" and record.new_path == entry.file and record.old_path:
                other = file_id(record.old_path)
                renamed[commit.sha] = replace(
                    entry,
                    previous_file=record.old_path,
                    note=f"renamed from {other}, another document (its id was its file "
                    f"name); the history of {doc_id} begins here",
                )
    return [(c, renamed.get(c.sha, e)) for c, e in found]


def _with_change_ids(
    root: Path, doc_id: str, found: list[tuple[gitio.Commit, Entry]]
) -> list[Entry]:
    """The change each commit carried out: its `Change-Id:` trailer, else a change
    request the same commit changed that targets the document (as the gate counts
    coverage: a change request beside it about other CIs carried out nothing here); a
    change request's own commits carry out itself."""
    out: dict[str, str | None] = {}
    asked = []
    for commit, entry in found:
        named = commit.trailers.get("change-id")
        if named:
            out[commit.sha] = named[0]
        elif entry.file.startswith("changes/"):
            out[commit.sha] = doc_id
        else:
            asked.append(commit.sha)
    wrote = gitio.wrote(root, asked, ["changes"])
    if wrote:
        with gitio.BlobReader(root) as reader:
            for sha, paths in wrote.items():
                out[sha] = _targeting(root, reader, sha, doc_id, paths)
    return [replace(e, change_id=out.get(c.sha)) for c, e in found]


def _targeting(
    root: Path, reader: gitio.BlobReader, sha: str, doc_id: str, paths: frozenset[str]
) -> str | None:
    """Of the change requests a commit changed, the first that targets `doc_id`."""
    wanted = sorted(p for p in paths if p.endswith(YAML_SUFFIXES))
    for path, blob in sorted((gitio.tree_blobs_of(root, sha, wanted) or {}).items()):
        data = load(path, reader.read(blob)).data or {}
        spec = data.get("spec")
        targets = spec.get("targets") if isinstance(spec, dict) else None
        if isinstance(targets, list) and doc_id in targets:
            return file_id(path)
    return None


def _narrowed(entry: Entry, wanted: str) -> Entry | None:
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
