"""Verdicts cached by git blob id, so a warm `validate` only reads what changed.

A verdict depends on a file's bytes, the schema set and the tool version, and on nothing
else (the file name = id check runs every time, over the index). The cache file's name
carries the schema fingerprint, which includes the tool version, so a changed schema or
upgrade starts afresh. Writes are atomic (temp file + rename), so concurrent runs see an
old or a new cache, never half of one; an unreadable cache is ignored and rewritten.
It never changes a verdict: tests compare warm and cold runs after random edits.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from cmdbctl import gitio
from cmdbctl.document import Entry, Reference
from cmdbctl.findings import Finding
from cmdbctl.loading.source import MAX_FILE_BYTES
from cmdbctl.verdicts import Verdict
from cmdbctl.workspace import DOCUMENT_DIRS

def enabled() -> bool:
    return not os.environ.get("CMDBCTL_NO_CACHE")


def blob_ids(root: Path, paths: Iterable[str]) -> dict[str, str]:
    """Blob id of each work-tree file, from the index where the file is unchanged.

    Files changed since the index, untracked files and symlinks are hashed here (as
    `git hash-object` would) or skipped; outside a git work tree, nothing is known.
    """
    ids = gitio.index_blobs(root, DOCUMENT_DIRS)
    if ids is None:
        return {}
    wanted = set(paths)
    for name in wanted - ids.keys():
        full = root / name
        try:
            if full.is_symlink() or not full.is_file() or full.stat().st_size > MAX_FILE_BYTES:
                continue  # the loader reports these; they have no verdict worth caching
        except OSError:
            continue
        try:
            data = full.read_bytes()
        except OSError:
            continue  # the loader reports an unreadable file; it has no verdict to cache
        ids[name] = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return {p: b for p, b in ids.items() if p in wanted}


def _location(root: Path, fingerprint: str) -> Path | None:
    git_dir = gitio.output(root, "rev-parse", "--absolute-git-dir")
    if git_dir is None:
        return None
    return Path(git_dir.decode().strip()) / "cmdbctl" / f"verdicts-{fingerprint}.json"


def _encode(verdict: Verdict) -> list[Any]:
    entry = verdict.entry
    return [
        None if entry is None else [entry.id, entry.kind,
                                    [[r.pointer, r.target, r.field] for r in entry.refs]],
        [[f.code, f.message, f.severity, f.pointer, f.line, f.column, f.hint]
         for f in verdict.findings],
    ]


def _decode(data: list[Any]) -> Verdict:
    entry, findings = data
    return Verdict(
        None if entry is None else Entry("", entry[0], entry[1],
                                         tuple(Reference(*r) for r in entry[2])),
        tuple(Finding("", code, message, severity, pointer, line, column, hint)
              for code, message, severity, pointer, line, column, hint in findings))


class VerdictCache:
    def __init__(self, root: Path, fingerprint: str) -> None:
        self.path = _location(root, fingerprint) if enabled() else None
        self.known: dict[str, list[Any]] = {}
        if self.path is not None:
            try:
                loaded = orjson.loads(self.path.read_bytes())
                if isinstance(loaded, dict):
                    self.known = loaded
            except (OSError, orjson.JSONDecodeError):
                self.known = {}  # absent or corrupt: start afresh

    def get(self, blob: str | None, path: str) -> Verdict | None:
        raw = self.known.get(blob) if blob else None
        if raw is None:
            return None
        try:
            return _decode(raw).moved_to(path)
        except (TypeError, ValueError):
            return None

    def save(self, verdicts: Mapping[str, Verdict]) -> None:
        """Keep exactly the verdicts of this run's blobs (blob id → verdict)."""
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".verdicts-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(orjson.dumps({b: _encode(v) for b, v in verdicts.items()}))
            os.replace(tmp, self.path)
            for stale in self.path.parent.glob("verdicts-*.json"):
                if stale != self.path:
                    stale.unlink(missing_ok=True)
        except OSError:
            return  # a cache that cannot be written only costs speed
