"""The documents of one git revision, read from git objects, never the work tree.

A `Snapshot` costs one `git ls-tree` to know every path and id (file name = id); it
parses only the documents asked for, so the gate's cost grows with the pull request,
not the estate. `referrers` finds documents that refer to given ids with `git grep`
(in C, over the revision's blobs) and confirms each candidate by parsing it. A snapshot
made `near` another (the merge base near the head) reuses that one's searches and
parsed documents for every file the two share, and reads only the files that differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cmdbctl import gitio
from cmdbctl.document import Document, Entry
from cmdbctl.findings import Finding
from cmdbctl.kinds import KindRegistry
from cmdbctl.loading import load, locate
from cmdbctl.workspace import DOCUMENT_DIRS, YAML_SUFFIXES, file_id

if TYPE_CHECKING:
    from cmdbctl.cache import VerdictCache

# Past this many differing files, searching this revision itself is cheaper.
_MAX_NEAR_DIFFERENCES = 5000
_SEARCHED = "inventory/"  # where the references that make dependencies live


class Snapshot:
    def __init__(self, root: Path, rev: str, blobs: gitio.BlobReader,
                 folders: Sequence[str] = DOCUMENT_DIRS, near: Snapshot | None = None,
                 paths: dict[str, str] | None = None) -> None:
        self.root = root
        self.rev = rev
        self.folders = tuple(folders)
        self._blobs = blobs
        if paths is None:
            paths = {p: b for p, b in gitio.ls_tree(root, rev, folders).items()
                     if p.endswith(YAML_SUFFIXES)}
        self.paths = paths
        self._docs: dict[str, Document | None] = {}
        self._texts: dict[str, str | None] = {}
        self._mentions: dict[str, set[str]] = {}  # id → paths whose text holds the word
        self._index: tuple[dict[str, set[str]], set[str]] | None = None
        self._near = near
        self._differ: set[str] | None = None
        if near is not None:
            differ = {p for p, b in self.paths.items() if near.paths.get(p) != b}
            if len(differ) <= _MAX_NEAR_DIFFERENCES:
                self._differ = differ

    @cached_property
    def by_id(self) -> dict[str, str]:
        """id → path (file name = id; the first path wins), built when first asked."""
        by_id: dict[str, str] = {}
        for path in self.paths:
            by_id.setdefault(file_id(path), path)
        return by_id

    @classmethod
    def before(cls, later: Snapshot, rev: str, changes: Iterable[gitio.FileChange]) -> Snapshot:
        """The snapshot at `rev`, which differs from `later` by `changes` (diff-tree from
        `rev` to `later`): no second ls-tree of the estate, and it is made near `later`."""
        paths = dict(later.paths)
        changes = list(changes)
        for change in changes:
            if change.new_path:
                paths.pop(change.new_path, None)
        for change in changes:
            if change.old_path and change.old_blob and change.old_path.endswith(YAML_SUFFIXES) \
                    and change.old_path.split("/", 1)[0] in later.folders:
                paths[change.old_path] = change.old_blob
        return cls(later.root, rev, later._blobs, later.folders, near=later, paths=paths)

    def use_cache(self, cache: VerdictCache) -> bool:
        """Answer `referrers` from the verdict cache (the entries a `validate` of this
        tree left, by blob id) instead of searching every blob; files the cache lacks
        are read each time. Declined (False) when it lacks so many that searching is
        cheaper. The cache is local (.git/), keyed by content: the branch cannot feed it."""
        if not cache.known:
            return False
        refers, unindexed = cache.reverse_index(
            {p: b for p, b in self.paths.items() if p.startswith(_SEARCHED)})
        if len(unindexed) > _MAX_NEAR_DIFFERENCES:
            return False
        self._index = (refers, set(unindexed))
        return True

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

    def by_identifier(self, doc_id: str) -> Document | None:
        path = self.by_id.get(doc_id)
        return self.document(path) if path else None

    def documents_under(self, folder: str) -> list[Document]:
        prefix = folder.rstrip("/") + "/"
        return [d for p in sorted(self.paths) if p.startswith(prefix)
                if (d := self.document(p)) is not None]

    def locate(self, findings: Iterable[Finding]) -> list[Finding]:
        out = []
        for f in findings:
            if f.line is None and f.path in self.paths:
                self.document(f.path)
                f = locate(self._texts.get(f.path), [f])[0]
            out.append(f)
        return out

    def mentioning(self, ids: set[str]) -> set[str]:
        """Paths under inventory/ whose text holds any of `ids` as a word: every file
        that could refer to one (and some that merely mention it)."""
        if self._near is not None and self._differ is not None:
            shared = {p for p in self._near.mentioning(ids) if self._shared(p)}
            return shared | {p for p in self._differ if p.startswith(_SEARCHED)}
        if self._index is not None:
            refers, unindexed = self._index
            return unindexed.union(*(refers.get(i, ()) for i in ids))
        todo = sorted(ids - self._mentions.keys())
        for i in todo:
            self._mentions[i] = set()
        for path, word in gitio.grep_words(self.root, self.rev, todo, [_SEARCHED]):
            if word in self._mentions:
                self._mentions[word].add(path)
        return set().union(*(self._mentions[i] for i in ids))

    def referrers(self, ids: Iterable[str], kinds: KindRegistry) -> dict[str, list[Entry]]:
        """For each id, the entries of documents whose reference fields hold it."""
        found: dict[str, list[Entry]] = {i: [] for i in sorted(set(ids))}
        for path in sorted(self.mentioning(set(found))):
            doc = self.document(path)
            if doc is None:
                continue
            entry = Entry.of(doc, kinds)
            for ref in entry.references():
                if ref.target in found and entry not in found[ref.target]:
                    found[ref.target].append(entry)
        return found


def spec_of(doc: Document | None) -> dict[str, Any]:
    return doc.spec if doc is not None else {}
