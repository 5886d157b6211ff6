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
from cmdbctl.loading.source import MAX_FILE_BYTES
from cmdbctl.verdicts import Verdict, encoded_id, encoded_targets

_FORMAT = "v2"  # of the file's content; the fingerprint covers schemas and tool version


def enabled() -> bool:
    return not os.environ.get("CMDBCTL_NO_CACHE")


def blob_ids(root: Path, paths: Iterable[str], index: dict[str, str] | None) -> dict[str, str]:
    """Blob id of each work-tree file: `index` (`gitio.index_blobs`, the index's ids of
    files unchanged since) where it has one, else hashed here as `git hash-object`
    would; symlinks are skipped. Outside a git work tree (`index` None), nothing is known.
    """
    if index is None:
        return {}
    ids = index  # ours to complete: a fresh listing
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
    return Path(git_dir.decode().strip()) / "cmdbctl" / f"verdicts-{_FORMAT}-{fingerprint}.json"


class VerdictCache:
    """Verdicts by blob id, and what the last run saw: each path's blob and the paths
    the estate checks flagged, so the next run rechecks only what could differ."""

    def __init__(self, root: Path, fingerprint: str) -> None:
        self.path = _location(root, fingerprint) if enabled() else None
        self.known: dict[str, list[Any]] = {}
        self.last_files: dict[str, str] = {}
        self.last_flagged: set[str] = set()
        self.last_unblobbed_ids: set[str] = set()  # ids of entries with no blob id
        if self.path is None:
            return
        try:
            loaded = orjson.loads(self.path.read_bytes())
            known, files, flagged = loaded["verdicts"], loaded["files"], loaded["flagged"]
            unblobbed = loaded["unblobbed"]
            if isinstance(known, dict) and isinstance(files, dict) and isinstance(flagged, list) \
                    and isinstance(unblobbed, list):
                self.known, self.last_flagged = known, set(flagged)
                self.last_unblobbed_ids = {i for i in unblobbed if isinstance(i, str)}
                self.last_files = {p: b for p, b in files.items() if b in known}
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
            pass  # absent or corrupt: start afresh

    def get(self, blobs: Mapping[str, str], paths: Iterable[str]) -> dict[str, Verdict]:
        """path → cached verdict, for the `paths` whose blob id (`blobs`) has one."""
        known = self.known
        found = {}
        for path in paths:
            raw = known.get(blobs.get(path, ""))
            if raw is not None:
                try:
                    found[path] = Verdict.decode(raw, path)
                except (TypeError, ValueError):
                    pass  # junk in a hand-edited or foreign cache: judge the file afresh
        return found

    def last_id(self, path: str) -> str | None:
        """The id the document at `path` had in the last run (None: none, or no file)."""
        return encoded_id(self.known.get(self.last_files.get(path, "")))

    def reverse_index(self, paths: Mapping[str, str]) -> tuple[dict[str, set[str]], list[str]]:
        """For the files `paths` (path → blob id): id → the paths whose cached entries
        refer to it, and the paths without a cached verdict. Read from the plain cached
        form: decoding 10^5 verdicts would cost what the index saves."""
        refers: dict[str, set[str]] = {}
        missing = []
        known = self.known
        for path, blob in paths.items():
            raw = known.get(blob)
            try:
                for target in encoded_targets(raw):
                    refers.setdefault(target, set()).add(path)
            except (TypeError, IndexError, KeyError):  # not cached, or junk: read the file
                missing.append(path)
        return refers, missing

    def save(self, blobs: Mapping[str, str], fresh: Mapping[str, Verdict],
             flagged: Iterable[str], unblobbed_ids: Iterable[str]) -> None:
        """Keep exactly this run's blobs (`blobs`: path → blob id): their cached verdicts
        as they were read, `fresh` (path → verdict) for the ones judged now; the paths
        the estate checks flagged, and the ids of documents without a blob id (symlinks),
        which the next run must recheck around. A run that changed nothing writes
        nothing."""
        if self.path is None:
            return
        flagged, unblobbed = set(flagged), set(unblobbed_ids)
        if not any(p in blobs for p in fresh) and blobs == self.last_files \
                and flagged == self.last_flagged and unblobbed == self.last_unblobbed_ids:
            return
        known = {}
        for path, blob in blobs.items():
            verdict = fresh.get(path)
            if verdict is None:
                known[blob] = self.known[blob]
            elif not any(f.code == "file.unreadable" for f in verdict.findings):
                known[blob] = verdict.encode()  # (unreadable is about the file, not the blob)
        files = {p: b for p, b in blobs.items() if b in known}
        try:
            data = orjson.dumps({"verdicts": known, "files": files, "flagged": sorted(flagged),
                                 "unblobbed": sorted(unblobbed)})
        except TypeError:  # text orjson cannot encode (a lone surrogate): no cache
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".verdicts-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, self.path)
            for stale in self.path.parent.glob("verdicts-*.json"):
                if stale != self.path:
                    stale.unlink(missing_ok=True)
        except OSError:
            return  # a cache that cannot be written only costs speed
