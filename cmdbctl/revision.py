"""The documents of one git revision, read from git objects, never the work tree.

A `Snapshot` costs one `git ls-tree` to know every path and id (file name = id); it
parses only the documents asked for, so the gate's cost grows with the pull request,
not the estate. `referrers` finds documents that refer to given ids with `git grep`
(in C, over the revision's blobs) and confirms each candidate by parsing it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from cmdbctl import gitio
from cmdbctl.document import Document, Entry
from cmdbctl.findings import Finding
from cmdbctl.kinds import KindRegistry
from cmdbctl.loading import load, locate
from cmdbctl.workspace import DOCUMENT_DIRS, YAML_SUFFIXES


class Snapshot:
    def __init__(self, root: Path, rev: str, blobs: gitio.BlobReader,
                 folders: Sequence[str] = DOCUMENT_DIRS) -> None:
        self.root = root
        self.rev = rev
        self._blobs = blobs
        self.paths = {p: b for p, b in gitio.ls_tree(root, rev, folders).items()
                      if p.endswith(YAML_SUFFIXES)}
        self.by_id: dict[str, str] = {}
        for path in self.paths:
            self.by_id.setdefault(PurePosixPath(path).stem, path)
        self._docs: dict[str, Document | None] = {}
        self._texts: dict[str, str | None] = {}

    def document(self, path: str) -> Document | None:
        if path not in self._docs:
            blob = self.paths.get(path)
            if blob is None:
                self._docs[path] = None
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

    def referrers(self, ids: Iterable[str], kinds: KindRegistry) -> dict[str, list[Entry]]:
        """For each id, the entries of documents whose reference fields hold it."""
        wanted = sorted(set(ids))
        found: dict[str, list[Entry]] = {i: [] for i in wanted}
        if not wanted:
            return found
        args = ["git", "grep", "-l", "-F", "-w", "-z"]
        for i in wanted:
            args += ["-e", i]
        proc = subprocess.run([*args, self.rev, "--", "inventory"], cwd=self.root,
                              capture_output=True)
        for item in proc.stdout.split(b"\0"):
            if not item:
                continue
            path = item.decode().split(":", 1)[1]  # "<rev>:<path>"
            doc = self.document(path)
            if doc is None:
                continue
            entry = Entry.of(doc, kinds)
            for ref in entry.refs:
                if ref.target in found:
                    found[ref.target].append(entry)
        return found


def spec_of(doc: Document | None) -> dict[str, Any]:
    return doc.spec if doc is not None else {}
