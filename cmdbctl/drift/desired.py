"""The desired state: the CIs of the kinds a diff compares, read from the work tree as
`validate` reads it (the same walk, the same loader with its yaml-rs fast path, worker
processes for large estates).

Only what a diff needs comes back from the workers, per run of files:
- a row per CI: path, id, kind, its status, labels and spec as orjson bytes (decoded
  only for the CIs that are missing or differ), and the CI's digest (compare.digest of
  its spec's fields the sources report) once the parent has said which those are;
- the identification tables of the run: per kind and identifier, normalised value ->
  the CI (or CIs) that hold it, merged by the parent in C (dict.update) rather than
  value by value.
The parent reads its snapshots meanwhile, then `share`s the fields each kind's items
report: runs that start after that send digests and leave out kinds no snapshot covers;
earlier ones send whole specs, which the parent digests once it knows the fields
(`_digested`). A file the cache (cache.py) knows unchanged is not read: its row and its
values in the tables are the cache's, and the workers only compare its status (a run
that starts before the fields are known presumes the cache's; if they turn out other,
every file is read again). A file that holds no readable document is named, not guessed
at: the diff reports it, since a CI it cannot read could match a discovered item.
"""

from __future__ import annotations

import bisect
import ctypes
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.sharedctypes import SynchronizedBase
from typing import Any, NamedTuple, Protocol

import orjson

from cmdbctl.drift import cache
from cmdbctl.drift.cache import DesiredCache, Stat, stat_of
from cmdbctl.drift.compare import digest
from cmdbctl.drift.identify import Tables, add_keys, merge_tables
from cmdbctl.drift.policy import DiscoveryPolicy, read_policy
from cmdbctl.kinds import KindRegistry
from cmdbctl.loading import load
from cmdbctl.validate.verdicts import PARALLEL_THRESHOLD, WorktreeReader
from cmdbctl.workspace import Folder, Workspace, file_id

CIS = "inventory/"
_CHUNK = 2000
_SHARED_BYTES = 256 * 1024  # room for the reported fields of every kind, many times over

Reported = Mapping[str, frozenset[str]]  # kind -> the spec fields its items report


class CI(NamedTuple):
    id: str
    kind: str
    path: str
    labels: dict[str, Any]
    spec: dict[str, Any]  # at least the fields the sources report
    status: Any


# One per CI: path, id, kind, (status, labels, spec) as orjson bytes where it can be (as
# it is where orjson refuses its text), and compare.digest of the spec's reported fields
# when known (then spec is None: the digest is those fields, as JSON). A plain tuple: 10^5 of them cross from the workers, and pickle rebuilds a
# named tuple in Python.
Row = tuple[str, str, str, bytes | tuple[Any, Any, Any], bytes | None]


def ci_of(row: Row) -> CI:
    path, ci, kind, extra, found = row
    status, labels, spec = orjson.loads(extra) if isinstance(extra, bytes) else extra
    if spec is None:  # the digest is the spec's reported fields
        spec = orjson.loads(found) if found is not None else {}
    return CI(ci, kind, path, labels, spec, status)


class Desired(NamedTuple):
    rows: list[Row]  # of the wanted kinds (runs read after `share`: of the covered ones)
    tables: Tables  # identification: (kind, identifier) -> normalised value -> CI id(s)
    unread: list[str]  # files under inventory/ that hold no readable document
    paths: list[str]  # every document file, sorted
    cached: int  # files under inventory/ the cache knew unchanged, so not read


class _Ready(Protocol):
    def set(self) -> None: ...
    def is_set(self) -> bool: ...


class Chunk(NamedTuple):
    rows: list[Row]
    unread: list[str]
    tables: Tables
    hits: list[str]  # files the cache knows unchanged (not read)
    read: dict[str, Stat]  # the status of each file read (before it was read)
    empty: list[str]  # files read that gave no row (no CI of a covered kind)


@contextmanager
def reading(
    ws: Workspace, kinds: KindRegistry, wanted: frozenset[str], jobs: int | None = None
) -> Iterator[Reading]:
    """Read the DiscoveryPolicy, then start reading the desired state in worker
    processes, which also work out each CI's identifier values by the policy; the caller
    reads its snapshots meanwhile (on another core), `share`s what they report, then
    takes `result()`. Files the cache (cache.py) knows unchanged are not read. Leaving
    the block stops the workers, whatever happened."""
    started = time.time_ns()  # before any file is read: what the cache's entries date from
    place = cache.location(ws.root)
    key = _cache_key(kinds, wanted)
    known = cache.load(place, key)
    listing = ws.walk(known.folders if known is not None else None)  # unchanged: not listed
    paths = listing.paths()
    inventory = under(paths, CIS)
    policy = read_policy(ws.root, under(paths, "policies/"), kinds)
    rules = {kind: policy.identifiers(kind) for kind in wanted}
    plain_rules = sorted([kind, list(found)] for kind, found in rules.items())
    if known is not None and known.rules != plain_rules:
        known = None  # identification changed: every file's values are worked out again
    read = WorktreeReader(ws.root)
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    chunks = [inventory[i : i + _CHUNK] for i in range(0, len(inventory), _CHUNK)]
    saving = _Saving(place, key, started, known, listing.folders, plain_rules)
    if jobs <= 1 or len(inventory) < PARALLEL_THRESHOLD:
        yield _Serial(policy, paths, chunks, read, rules, saving)
        return
    context = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
    ready = context.Event()
    shared = context.RawArray(ctypes.c_char, _SHARED_BYTES)
    # Workers start (fork) here, in the caller's thread, before anything else runs.
    pool = ProcessPoolExecutor(
        jobs,
        mp_context=context,
        initializer=_init,
        initargs=(read, rules, ready, shared, known),
    )
    try:
        futures = [pool.submit(_chunk, chunk, True) for chunk in chunks]

        def more(todo: list[list[str]]) -> Iterable[Chunk]:
            return [f.result() for f in [pool.submit(_chunk, c, False) for c in todo]]

        yield _Parallel(
            policy, paths, lambda: (f.result() for f in futures), more, ready, shared, saving
        )
    finally:
        # Not waiting for the workers to exit (a large process takes a while to end):
        # runs not started are cancelled, the interpreter joins the workers at its exit.
        pool.shutdown(wait=False, cancel_futures=True)


def under(paths: list[str], folder: str) -> list[str]:
    """The sorted `paths` below `folder` ("inventory/"): a slice, found by bisection."""
    start = bisect.bisect_left(paths, folder)
    return paths[start : bisect.bisect_left(paths, folder[:-1] + chr(ord("/") + 1), start)]


def _cache_key(kinds: KindRegistry, wanted: frozenset[str]) -> str:
    """What a cached entry depends on besides the file, the identification rules and
    the reported fields (which the cache records): the schemas and tool version (the
    registry's fingerprint) and the kinds read."""
    return hashlib.sha256(orjson.dumps([kinds.fingerprint, sorted(wanted)])).hexdigest()[:32]


class _Saving(NamedTuple):
    place: Any  # Path | None: where the cache lives
    key: str
    started: int  # time.time_ns() before the first file was read
    known: DesiredCache | None  # the cache as this run found it
    folders: dict[str, Folder]  # the listing of the document folders
    rules: list[list[Any]]  # the identification rules: [kind, [identifier, ...]], sorted


class Reading:
    def __init__(self, policy: DiscoveryPolicy, paths: list[str], saving: _Saving) -> None:
        self.policy = policy
        self._paths = paths
        self._reported: Reported | None = None
        self._saving = saving

    def share(self, reported: Reported) -> None:
        """The spec fields each covered kind's items report (what the workers digest)."""
        self._reported = reported

    def _chunks(self) -> Iterable[Chunk]:
        raise NotImplementedError

    def _more(self, todo: list[list[str]]) -> Iterable[Chunk]:
        """Read these files, whatever the cache says."""
        raise NotImplementedError

    def result(self) -> Desired:
        chunks = list(self._chunks())
        known = self._saving.known
        if known is not None and known.reported != self._reported:
            # The cache's digests, and those of files read before the fields were
            # known, are of other fields: every file is read again.
            todo = under(self._paths, CIS)
            chunks = list(self._more([todo[i : i + _CHUNK] for i in range(0, len(todo), _CHUNK)]))
            known = None
        rows = [r for c in chunks for r in c.rows]
        unread = [p for c in chunks for p in c.unread]
        hits = [p for c in chunks for p in c.hits]
        stats = {p: s for c in chunks for p, s in c.read.items()}
        empty = [p for c in chunks for p in c.empty]
        tables: Tables = {}
        if known is not None:
            tables = known.tables
            if len(hits) != len(known.rows):  # files changed or went: their values go
                hit = set(hits)
                gone = {r[1] for p, r in known.rows.items() if r is not None and p not in hit}
                cache.without(tables, gone)
        for chunk in chunks:
            merge_tables(tables, chunk.tables)
        if self._reported is not None:
            rows = _digested(rows, self._reported, empty)
        if known is not None:
            cached = known.rows
            rows.extend(r for r in map(cached.__getitem__, hits) if r is not None)
        if known is None or stats or len(hits) != len(known.rows):
            self._save(known, rows, hits, stats, empty, tables)
        return Desired(rows, tables, unread, self._paths, len(hits))

    def _save(
        self,
        known: DesiredCache | None,
        rows: list[Row],
        hits: list[str],
        stats: dict[str, Stat],
        empty: list[str],
        tables: Tables,
    ) -> None:
        if self._reported is None:
            return  # nothing to date the digests by
        entries: dict[str, Row | None] = {p: None for p in empty}
        entries.update((r[0], r) for r in rows)
        if known is not None:  # the hits, those with no row included
            entries.update((p, known.rows[p]) for p in hits)
            stats = {**{p: known.stats[p] for p in hits}, **stats}
        save = self._saving
        cache.save(
            save.place,
            save.key,
            cache.Run(self._reported, save.rules, save.folders, save.started),
            stats,
            entries,
            tables,
        )


def _digested(rows: list[Row], reported: Reported, empty: list[str]) -> list[Row]:
    """The rows sent whole before the reported fields were known, as they would have
    been sent after: digested (compared cheaply, and kept by the cache), or, for a kind
    no snapshot covers, no row (its file named in `empty`)."""
    if all(row[4] is not None for row in rows):
        return rows
    out = []
    for row in rows:
        path, doc_id, kind, extra, found = row
        if found is None and isinstance(extra, bytes):
            fields = reported.get(kind)
            if fields is None:
                empty.append(path)
                continue
            status, labels, spec = orjson.loads(extra)
            if spec is not None:
                spec = {k: v for k, v in spec.items() if k in fields}
                found = digest(spec)
                row = (
                    path,
                    doc_id,
                    kind,
                    orjson.dumps((status, labels, None if found else spec)),
                    found,
                )
        out.append(row)
    return out


class _Serial(Reading):
    def __init__(
        self,
        policy: DiscoveryPolicy,
        paths: list[str],
        chunks: list[list[str]],
        read: WorktreeReader,
        rules: Mapping[str, Sequence[str]],
        saving: _Saving,
    ) -> None:
        super().__init__(policy, paths, saving)
        self._todo, self._read, self._rules = chunks, read, rules

    def _chunks(self) -> Iterable[Chunk]:
        known = self._saving.known
        return (_rows(c, self._read, self._rules, self._reported, known) for c in self._todo)

    def _more(self, todo: list[list[str]]) -> Iterable[Chunk]:
        return (_rows(c, self._read, self._rules, self._reported, None) for c in todo)


class _Parallel(Reading):
    def __init__(
        self,
        policy: DiscoveryPolicy,
        paths: list[str],
        results: Callable[[], Iterable[Chunk]],
        more: Callable[[list[list[str]]], Iterable[Chunk]],
        ready: _Ready,
        shared: ctypes.Array[ctypes.c_char],
        saving: _Saving,
    ) -> None:
        super().__init__(policy, paths, saving)
        self._results, self._more_of, self._ready, self._shared = results, more, ready, shared

    def share(self, reported: Reported) -> None:
        super().share(reported)
        encoded = orjson.dumps({kind: sorted(fields) for kind, fields in reported.items()})
        if len(encoded) < _SHARED_BYTES:  # else the workers send whole specs to the end
            self._shared.raw = encoded + b"\0" * (_SHARED_BYTES - len(encoded))
            self._ready.set()

    def _chunks(self) -> Iterable[Chunk]:
        return self._results()

    def _more(self, todo: list[list[str]]) -> Iterable[Chunk]:
        return self._more_of(todo)


def _rows(
    paths: Sequence[str],
    read: WorktreeReader,
    rules: Mapping[str, Sequence[str]],
    reported: Reported | None,
    known: DesiredCache | None,
) -> Chunk:
    """The rows of each document of a wanted kind (those `rules` has identifiers for;
    of those, once `reported` is known, the kinds it names), the files with no readable
    document, and the identification tables of the documents. A file `known` (the cache)
    says is unchanged is not read (a hit); until `reported` is known, the cache's fields
    are presumed to be those reported."""
    rows: list[Row] = []
    unread: list[str] = []
    tables: Tables = {}
    hits: list[str] = []
    stats: dict[str, Stat] = {}
    empty: list[str] = []
    names = {kind: kind for kind in rules}  # one string per kind: pickled once per run
    if known is not None:
        if reported is None:
            reported = known.reported  # presumed; the parent reads again if it is not so
        elif known.reported != reported:
            known = None
    root = str(read.root)
    for path in paths:
        if known is not None and known.fresh(root, path):
            hits.append(path)
            continue
        status = stat_of(f"{root}/{path}")  # before the bytes: a later change shows
        try:
            data = load(path, read(path)).data
        except OSError:
            data = None
        if data is None:
            unread.append(path)
            continue
        if status is not None:
            stats[path] = status
        kind = data.get("kind")
        if not isinstance(kind, str) or kind not in rules:
            empty.append(path)
            continue
        kind = names[kind]
        if reported is not None and kind not in reported:
            empty.append(path)
            continue  # no snapshot covers the kind
        meta = data.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        doc_id = meta.get("id")
        doc_id = doc_id if isinstance(doc_id, str) else file_id(path)
        labels = meta.get("labels")
        spec = data.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        add_keys(tables, kind, doc_id, spec, rules[kind])
        state = spec.get("status")
        found = None
        if reported is not None:
            fields = reported[kind]
            spec = {k: v for k, v in spec.items() if k in fields}
            found = digest(spec)
        # The digest is canonical JSON of the spec's reported fields: not sent twice.
        extra = (state, labels if isinstance(labels, dict) else {}, None if found else spec)
        try:
            encoded: bytes | tuple[Any, Any, Any] = orjson.dumps(extra)
        except TypeError:  # text orjson refuses (a lone surrogate): sent as it is
            encoded = extra
        rows.append((path, doc_id, kind, encoded, found))
    return Chunk(rows, unread, tables, hits, stats, empty)


_worker: (
    tuple[WorktreeReader, Mapping[str, Sequence[str]], _Ready, Any, DesiredCache | None] | None
) = None
_reported: Reported | None = None


def _init(
    read: WorktreeReader,
    rules: Mapping[str, Sequence[str]],
    ready: _Ready,
    shared: SynchronizedBase | ctypes.Array[ctypes.c_char],
    known: DesiredCache | None,
) -> None:
    global _worker
    _worker = (read, rules, ready, shared, known)


def _chunk(paths: Sequence[str], use_cache: bool) -> Chunk:
    global _reported
    assert _worker is not None
    read, rules, ready, shared, known = _worker
    if _reported is None and ready.is_set():
        _reported = {k: frozenset(v) for k, v in orjson.loads(shared.value).items()}
    return _rows(paths, read, rules, _reported, known if use_cache else None)
