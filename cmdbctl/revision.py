"""The documents of one git revision, read from git objects, never the work tree.

A `Snapshot` costs one `git ls-tree` to know every path and id (file name = id); it
parses only the documents asked for, so the gate's cost grows with the pull request,
not the estate. `referrers` finds documents that refer to given ids with `git grep`
(in C, over the revision's blobs, one process per core) and confirms each candidate by
parsing it; the files that differ from a snapshot made `before` it are read whatever
their text. A snapshot made `near` another (the merge base near the head) reuses that
one's searches, ids and parsed documents for every file the two share, and reads only
the files that differ.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from cmdbctl import gitio
from cmdbctl.document import Document, Entry
from cmdbctl.findings import Finding
from cmdbctl.kinds import KindRegistry
from cmdbctl.loading import load, locate
from cmdbctl.validate.cache import CacheError
from cmdbctl.workspace import DOCUMENT_DIRS, YAML_SUFFIXES, file_id

# Past this many differing files, searching this revision itself is cheaper.
_MAX_NEAR_DIFFERENCES = 5000
_SEARCHED = "inventory/"  # where the references that make dependencies live
# Below this many files, one git process searches them sooner than several.
_SPLIT_FROM = 4000
# path → id, for every path a snapshot of this process has mapped: the revisions a run
# reads (the gate's two, the audit's hundreds) share nearly every path.
_IDS: dict[str, str] = {}


class References(Protocol):
    """What `referrers` may be answered from instead of a search: the references of
    every blob it has read, by blob id (the verdict cache, or a `ReferenceIndex`)."""

    def blobs(self) -> AbstractSet[str]: ...

    def referring_blobs(self, ids: Iterable[str]) -> set[str]: ...


class ReferenceIndex:
    """The ids each blob refers to under one kind registry, read once and kept in
    memory. `audit` judges hundreds of revisions of one estate, which share nearly every
    blob: each would otherwise search its whole text again."""

    def __init__(self) -> None:
        self._targets: dict[str, tuple[str, ...]] = {}
        self._referring: dict[str, set[str]] = {}

    def blobs(self) -> AbstractSet[str]:
        return self._targets.keys()

    def referring_blobs(self, ids: Iterable[str]) -> set[str]:
        return set().union(*(self._referring.get(i, ()) for i in ids))

    def add(self, blob: str, targets: Sequence[str]) -> None:
        self._targets[blob] = tuple(targets)
        for target in targets:
            self._referring.setdefault(target, set()).add(blob)


class Snapshot:
    def __init__(
        self,
        root: Path,
        rev: str,
        blobs: gitio.BlobReader,
        folders: Sequence[str] = DOCUMENT_DIRS,
        near: Snapshot | None = None,
        paths: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.rev = rev
        self.folders = tuple(folders)
        self._blobs = blobs
        self.links: set[str] = set()  # symbolic links among the files (not `before`'s)
        self.gitlinks: set[str] = set()  # submodules among them (not `before`'s)
        if paths is None:
            paths = {
                p: b
                for p, b in gitio.ls_tree(root, rev, folders, self.links, self.gitlinks).items()
                if p.endswith(YAML_SUFFIXES)
            }
        self.paths = paths
        self._docs: dict[str, Document | None] = {}
        self._texts: dict[str, str | None] = {}
        self._mentions: dict[str, set[str]] = {}  # id → paths whose text holds the word
        self._escaping: set[str] | None = None  # paths holding a backslash, once searched
        # With a cache: it, each searched blob's paths, and the paths it has no verdict of.
        self._index: tuple[References, dict[str, list[str]], set[str]] | None = None
        self._near = near
        self._differ: set[str] | None = None
        # Made by `before`: the later snapshot, the paths of it left out, the paths added.
        self._derived: tuple[Snapshot, set[str], list[str]] | None = None
        self._repeated: set[str] | None = None  # ids more than one path gives
        # Paths the branch under review wrote, set by whoever knows (the gate, from its
        # diff): `referrers` reads them whatever their text (see there).
        self.written: frozenset[str] = frozenset()
        if near is not None:
            differ = {p for p, b in self.paths.items() if near.paths.get(p) != b}
            if len(differ) <= _MAX_NEAR_DIFFERENCES:
                self._differ = differ

    @cached_property
    def by_id(self) -> dict[str, str]:
        """id → path (file name = id; the first path in `paths` wins), built when first
        asked; for a snapshot made `before` another, from that one's and the changes."""
        if self._derived is not None:
            later, removed, added = self._derived
            touched = {file_id(p) for p in (*removed, *added)}
            later_ids = later.by_id
            # An id with another path in `later` could fall back to that one: rare, and
            # then the whole map is built.
            if later._repeated is not None and not touched & later._repeated:
                by_id = dict(later_ids)
                for i in touched:
                    if by_id.get(i) in removed:
                        del by_id[i]
                self._repeated = set(later._repeated)
                for path in added:  # after every path of `later` in `paths`
                    if by_id.setdefault(file_id(path), path) != path:
                        self._repeated.add(file_id(path))
                return by_id
        paths = list(self.paths)[::-1]
        ids = [_IDS.get(p) or _IDS.setdefault(p, file_id(p)) for p in paths]
        by_id = dict(zip(ids, paths))  # the last one stored wins: the first in `paths`
        self._repeated = (
            set() if len(by_id) == len(ids) else {i for i, n in Counter(ids).items() if n > 1}
        )
        return by_id

    @classmethod
    def before(cls, later: Snapshot, rev: str, changes: Iterable[gitio.FileChange]) -> Snapshot:
        """The snapshot at `rev`, which differs from `later` by `changes` (diff-tree from
        `rev` to `later`): no second ls-tree of the estate, and it is made near `later`."""
        paths = dict(later.paths)
        changes = list(changes)
        removed = {c.new_path for c in changes if c.new_path and paths.pop(c.new_path, None)}
        added = []
        for change in changes:
            if (
                change.old_path
                and change.old_blob
                and change.old_path.endswith(YAML_SUFFIXES)
                and change.old_path.split("/", 1)[0] in later.folders
            ):
                paths[change.old_path] = change.old_blob
                added.append(change.old_path)
        snap = cls(later.root, rev, later._blobs, later.folders, near=later, paths=paths)
        snap._derived = (later, removed, added)
        return snap

    def use_cache(self, cache: References) -> bool:
        """Answer `referrers` from the verdict cache (the references of every blob a
        `validate` judged, of any tree) instead of searching every blob; files the
        cache lacks are read each time. Declined (False) when it lacks so many that
        searching is cheaper. The cache is local (.git/), keyed by content: the branch
        cannot feed it."""
        try:
            cached = cache.blobs()
        except CacheError:
            return False
        by_blob: dict[str, list[str]] = {}
        unindexed = set()
        for path, blob in self.paths.items():
            if path.startswith(_SEARCHED):
                by_blob.setdefault(blob, []).append(path)
                if blob not in cached:
                    unindexed.add(path)
        if not cached or len(unindexed) > _MAX_NEAR_DIFFERENCES:
            return False
        self._index = (cache, by_blob, unindexed)
        return True

    def use_index(self, index: ReferenceIndex, kinds: KindRegistry) -> None:
        """Answer `referrers` from `index`, after reading into it the files it lacks."""
        known = index.blobs()
        by_blob: dict[str, list[str]] = {}
        for path, blob in self.paths.items():
            if path.startswith(_SEARCHED):
                by_blob.setdefault(blob, []).append(path)
                if blob not in known:
                    doc = self.document(path)
                    index.add(blob, Entry.of(doc, kinds).targets() if doc is not None else ())
        self._index = (index, by_blob, set())

    def _shared(self, path: str) -> bool:
        """The file is the same blob in the `near` snapshot."""
        return self._differ is not None and path in self.paths and path not in self._differ

    def document(self, path: str) -> Document | None:
        if path not in self._docs:
            blob = self.paths.get(path)
            if blob is None:
                self._docs[path] = None
            elif self._near is not None and self._shared(path):
                self._docs[path] = self._near.document(path)
                self._texts[path] = self._near._texts.get(path)
            else:
                loaded = load(path, self._blobs.read(blob))
                self._texts[path] = loaded.text
                self._docs[path] = Document(path, loaded.data) if loaded.data else None
        return self._docs[path]

    def paths_of(self, doc_id: str) -> list[str]:
        """Every path whose file name gives `doc_id` (one, unless the id is repeated)."""
        first = self.by_id.get(doc_id)
        if first is None:
            return []
        if self._repeated is not None and doc_id not in self._repeated:
            return [first]
        return [p for p in self.paths if file_id(p) == doc_id]

    def by_identifier(self, doc_id: str) -> Document | None:
        path = self.by_id.get(doc_id)
        return self.document(path) if path else None

    def documents_under(self, folder: str) -> list[Document]:
        prefix = folder.rstrip("/") + "/"
        return [
            d
            for p in sorted(self.paths)
            if p.startswith(prefix)
            if (d := self.document(p)) is not None
        ]

    def locate(self, findings: Iterable[Finding]) -> list[Finding]:
        out = []
        for f in findings:
            if f.line is None and f.path in self.paths:
                self.document(f.path)
                f = locate(self._texts.get(f.path), [f])[0]
            out.append(f)
        return out

    def mentioning(self, ids: set[str]) -> set[str]:
        """Paths under inventory/ whose text holds any of `ids` as a word, or an escape
        that could spell one: every file that could refer to one (and some that merely
        mention it)."""
        if self._near is not None and self._differ is not None:
            shared = {p for p in self._near.mentioning(ids) if self._shared(p)}
            return shared | {p for p in self._differ if p.startswith(_SEARCHED)}
        if self._index is not None:
            cache, by_blob, unindexed = self._index
            try:
                blobs = cache.referring_blobs(ids)
            except CacheError:
                self._index = None  # unreadable after all: search instead
                return self.mentioning(ids)
            return unindexed.union(*(by_blob.get(b, ()) for b in blobs))
        todo = sorted(ids - self._mentions.keys())
        for i in todo:
            self._mentions[i] = set()
        if todo:
            # A double-quoted YAML scalar can spell an id with escapes ("app\\x2d01" is
            # app-01) that no search for the word finds: the first search also names the
            # files holding a backslash, which are then read whatever their text. (The
            # one other way to spell a string, line folding, adds a space: no id
            # survives it.)
            first = self._escaping is None
            self._escaping = self._escaping or set()
            for path, word in gitio.grep_words(
                self.root,
                self.rev,
                todo,
                *self._searches,
                escapes=[f":(literal){_SEARCHED}"] if first else None,
            ):
                if word == gitio.ESCAPE:
                    self._escaping.add(path)
                if word in self._mentions:
                    self._mentions[word].add(path)
        return (self._escaping or set()).union(*(self._mentions[i] for i in ids))

    @cached_property
    def _searches(self) -> list[list[str]]:
        """The pathspecs of the git processes that search `_SEARCHED`, one per core."""
        cores = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )
        return split_folders(
            [p for p in self.paths if p.startswith(_SEARCHED)], _SEARCHED, min(cores, 8)
        )

    def referrers(self, ids: Iterable[str], kinds: KindRegistry) -> dict[str, list[Entry]]:
        """For each id, the entries of documents whose reference fields hold it."""
        found: dict[str, list[Entry]] = {i: [] for i in sorted(set(ids))}
        # The files the branch wrote are read whatever git finds in them: a reference can
        # be written so that no search sees it ("srv\x2d01"), and the branch under review
        # is the one place that could do so on purpose.
        changed = {p for p in self.written if p.startswith(_SEARCHED)}
        for path in sorted(self.mentioning(set(found)) | changed):
            doc = self.document(path)
            if doc is None:
                continue
            entry = Entry.of(doc, kinds)
            for ref in entry.references():
                if ref.target in found and entry not in found[ref.target]:
                    found[ref.target].append(entry)
        return found


def split_folders(paths: Sequence[str], prefix: str, parts: int) -> list[list[str]]:
    """Pathspecs that share the files under `prefix` (a folder, "/" at the end) among
    about `parts` git processes. Each takes a run of neighbouring folders, which git reads
    from its pack together (shared file by file, two processes were no faster than
    one); the last takes what the others leave, so every file under `prefix` is searched
    exactly once, `paths` (those under `prefix`, in tree order) only deciding the shares.
    `literal`: a folder named `[a-z]*` is no pattern."""
    rest = [f":(literal){prefix}"]
    if parts < 2 or len(paths) < _SPLIT_FROM:
        return [rest]
    counts = Counter(p[: p.rfind("/") + 1] for p in paths)  # folder → its own files
    children: dict[str, list[str]] = {}
    below: dict[str, set[int]] = {prefix: set()}  # folder → shares of the files under it
    for folder in counts:
        while folder not in below:
            below[folder] = set()
            children.setdefault(_parent(folder), []).append(folder)
            folder = _parent(folder)
    seen = 0
    for folder, count in counts.items():
        if folder in children:  # only whole folders are given out: its files stay in the rest
            share = parts - 1
        else:
            share = seen * parts // len(paths)
            seen += count
        while True:
            below[folder].add(share)
            if folder == prefix:
                break
            folder = _parent(folder)
    groups: list[list[str]] = [[] for _ in range(parts - 1)]
    todo = [prefix]
    while todo:
        folder = todo.pop()
        if folder != prefix and len(below[folder]) == 1:
            (share,) = below[folder]
            if share < parts - 1:
                groups[share].append(f":(literal){folder}")
                rest.append(f":(exclude,literal){folder}")
            continue
        todo += children.get(folder, [])
    return [g for g in groups if g] + [rest]


def _parent(folder: str) -> str:
    return folder[: folder.rfind("/", 0, -1) + 1]


def spec_of(doc: Document | None) -> dict[str, Any]:
    return doc.spec if doc is not None else {}
