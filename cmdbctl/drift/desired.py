"""The desired state: the CIs of the kinds a diff compares, read from the work tree as
`validate` reads it (the same walk, the same loader with its yaml-rs fast path, worker
processes for large estates).

Only what a diff needs comes back from the workers, per run of files:
- a row per CI: path, id, kind, what its file says (kind, metadata id, labels, spec) as
  JSON (decoded only for the CIs that are missing or differ), and the CI's digest
  (compare.digest of its spec's fields the sources report) once the parent has said
  which those are;
- the identification tables of the run: per kind and identifier, normalised value ->
  the CI (or CIs) that hold it, merged by the parent in C (dict.update) rather than
  value by value.
The parent reads its snapshots meanwhile, then `share`s the fields each kind's items
report: runs that start after that send digests and leave out kinds no snapshot covers;
earlier ones send whole specs, compared the slow way. A file whose very bytes were
parsed before is not parsed again: its JSON comes from the cache of parsed CIs
(cache.py); what was parsed afresh comes back too, and a worker, idle by then, writes it
into the cache while this process compares. A file that holds no readable
document is named, not guessed at: the diff reports it, since a CI it cannot read could
match a discovered item.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.sharedctypes import SynchronizedBase
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import orjson

from cmdbctl.drift import cache
from cmdbctl.drift.compare import digest
from cmdbctl.drift.identify import Tables, add_keys, merge_tables
from cmdbctl.drift.policy import DiscoveryPolicy, read_policy
from cmdbctl.kinds import KindRegistry
from cmdbctl.loading import load
from cmdbctl.validate.verdicts import PARALLEL_THRESHOLD, WorktreeReader
from cmdbctl.workspace import Workspace, file_id

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


# One per CI: path, id, kind, what its file says (cache.Essence: kind, metadata id,
# labels, spec) as the JSON the cache keeps where JSON gives it back exactly (as it is
# where not), and compare.digest of the spec's reported fields when known. A plain
# tuple: 10^5 of them cross from the workers, and pickle rebuilds a named tuple in Python.
Row = tuple[str, str, str, bytes | cache.Essence, bytes | None]


def ci_of(row: Row) -> CI:
    path, ci, kind, found, _ = row
    essence = cache.loads(found) if isinstance(found, bytes) else found
    assert essence is not None
    _, _, labels, spec = essence
    return CI(ci, kind, path, labels, spec, spec.get("status"))


class Desired(NamedTuple):
    rows: list[Row]  # of the wanted kinds (runs read after `share`: of the covered ones)
    tables: Tables  # identification: (kind, identifier) -> normalised value -> CI id(s)
    unread: list[str]  # files under inventory/ that hold no readable document
    ids: frozenset[str]  # every id the file names under inventory/, changes/, policies/ claim
    policies: list[str]  # the files under policies/
    changes: list[str]  # the files under changes/


class _Ready(Protocol):
    def set(self) -> None: ...
    def is_set(self) -> bool: ...


# What the cache is told of a run of files: entries parsed afresh, keys found in it,
# whether SQLite could not read it.
Fill = tuple[list[cache.Entry], list[bytes], bool]
Chunk = tuple[list[Row], list[str], Tables, Fill]


@contextmanager
def reading(
    ws: Workspace, kinds: KindRegistry, wanted: frozenset[str], jobs: int | None = None
) -> Iterator[Reading]:
    """Read the DiscoveryPolicy, then start reading the desired state in worker
    processes, which also work out each CI's identifier values by the policy; the caller
    reads its snapshots meanwhile (on another core), `share`s what they report, then
    takes `result()`. Leaving the block stops the workers, whatever happened."""
    settle()
    listing = ws.walk()
    paths = listing.paths()
    inventory = [p for p in paths if p.startswith(CIS)]
    policy = read_policy(ws.root, [p for p in paths if p.startswith("policies/")], kinds)
    rules = {kind: policy.identifiers(kind) for kind in wanted}
    read = WorktreeReader(ws.root)
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    chunks = [inventory[i : i + _CHUNK] for i in range(0, len(inventory), _CHUNK)]
    kept = cache.location(ws.root) if inventory else None
    fill = kept is not None and cache.writable(kept)
    lookup = cache.Lookup(None if kept is None else str(kept), fill)
    if jobs <= 1 or len(inventory) < PARALLEL_THRESHOLD:
        serial = _Serial(policy, paths, kept, chunks, read, rules, lookup)
        try:
            yield serial
        finally:
            lookup.close()
        return
    context = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
    ready = context.Event()
    shared = context.RawArray(ctypes.c_char, _SHARED_BYTES)
    # Workers start (fork) here, in the caller's thread, before anything else runs.
    pool = ProcessPoolExecutor(
        jobs,
        mp_context=context,
        initializer=_init,
        initargs=(read, rules, ready, shared, lookup),
    )
    futures: list[Future[Chunk]] = []
    try:
        futures += (pool.submit(_chunk, chunk) for chunk in chunks)
        results = (f.result() for f in futures)
        yield _Parallel(policy, paths, kept, lambda: results, ready, shared, pool)
    finally:
        # Not waiting for the workers to exit (a large process takes a while to end):
        # runs not started are cancelled, the interpreter joins the workers at its exit,
        # once a worker has written the cache (`_Parallel._keep`) if it was asked to.
        for future in futures:
            future.cancel()
        pool.shutdown(wait=False)


class Reading:
    def __init__(self, policy: DiscoveryPolicy, paths: list[str], kept: Path | None) -> None:
        self.policy = policy
        self._paths = paths
        self._kept = kept  # the cache of parsed CIs (None: none)
        self._reported: Reported | None = None

    def share(self, reported: Reported) -> None:
        """The spec fields each covered kind's items report (what the workers digest)."""
        self._reported = reported

    def _chunks(self) -> Iterable[Chunk]:
        raise NotImplementedError

    def _keep(self, kept: Path, entries: list[cache.Entry], seen: list[bytes], bad: bool) -> None:
        cache.keep(kept, entries, seen, bad)

    def result(self) -> Desired:
        rows: list[Row] = []
        unread: list[str] = []
        tables: Tables = {}
        entries: list[cache.Entry] = []
        seen: list[bytes] = []
        broken = False
        for found, bad, chunk_tables, (new, hits, unusable) in self._chunks():
            rows.extend(found)
            unread.extend(bad)
            merge_tables(tables, chunk_tables)
            entries += new
            seen += hits
            broken |= unusable
        if self._kept is not None:  # once every file is read: one transaction
            seen += (entry[0] for entry in entries)
            self._keep(self._kept, entries, seen, broken)
        paths = self._paths
        return Desired(
            rows,
            tables,
            unread,
            frozenset(map(file_id, paths)),
            [p for p in paths if p.startswith("policies/")],
            [p for p in paths if p.startswith("changes/")],
        )


class _Serial(Reading):
    def __init__(
        self,
        policy: DiscoveryPolicy,
        paths: list[str],
        kept: Path | None,
        chunks: list[list[str]],
        read: WorktreeReader,
        rules: Mapping[str, Sequence[str]],
        lookup: cache.Lookup,
    ) -> None:
        super().__init__(policy, paths, kept)
        self._todo, self._read, self._rules, self._lookup = chunks, read, rules, lookup

    def _chunks(self) -> Iterable[Chunk]:
        return (_rows(c, self._read, self._rules, self._reported, self._lookup) for c in self._todo)


class _Parallel(Reading):
    def __init__(
        self,
        policy: DiscoveryPolicy,
        paths: list[str],
        kept: Path | None,
        results: Callable[[], Iterable[Chunk]],
        ready: _Ready,
        shared: ctypes.Array[ctypes.c_char],
        pool: ProcessPoolExecutor,
    ) -> None:
        super().__init__(policy, paths, kept)
        self._results, self._ready, self._shared, self._pool = results, ready, shared, pool

    def _keep(self, kept: Path, entries: list[cache.Entry], seen: list[bytes], bad: bool) -> None:
        """Written by a worker, idle by now, while this process identifies and compares:
        the cost of filling the cache is not on the way to the report."""
        global _writing
        if entries or bad:
            try:
                _writing = self._pool.submit(cache.keep, kept, entries, seen, bad)
            except RuntimeError:  # the pool is broken or shut: only speed is lost
                pass

    def share(self, reported: Reported) -> None:
        super().share(reported)
        encoded = orjson.dumps({kind: sorted(fields) for kind, fields in reported.items()})
        if len(encoded) < _SHARED_BYTES:  # else the workers send whole specs to the end
            self._shared.raw = encoded + b"\0" * (_SHARED_BYTES - len(encoded))
            self._ready.set()

    def _chunks(self) -> Iterable[Chunk]:
        return self._results()


def _rows(
    paths: Sequence[str],
    read: WorktreeReader,
    rules: Mapping[str, Sequence[str]],
    reported: Reported | None,
    cached: cache.Lookup,
) -> Chunk:
    """The rows of each document of a wanted kind (those `rules` has identifiers for;
    of those, once `reported` is known, the kinds it names), the files with no readable
    document, the identification tables of the documents, and for the cache: the entries
    of the files parsed afresh, the keys of those found in it, whether it is broken."""
    rows: list[Row] = []
    unread: list[str] = []
    tables: Tables = {}
    new: list[cache.Entry] = []
    names = {kind: kind for kind in rules}  # one string per kind: pickled once per run
    raws: list[bytes | None] = []
    for path in paths:
        try:
            raws.append(read(path))
        except OSError:
            raws.append(None)
    keys: list[bytes | None] = [None] * len(raws)
    if cached.path is not None:
        keys = [None if raw is None else cache.key(raw) for raw in raws]
    found = cached([k for k in keys if k is not None])
    for path, raw, key in zip(paths, raws, keys):
        if raw is None:
            unread.append(path)
            continue
        hit = found.get(key) if key is not None else None
        value: bytes | None
        if hit is not None:
            value, essence = hit
        else:
            essence = cache.essence(load(path, raw).data)
            value = cache.exact(essence)
            if value is not None and key is not None and cached.fill:
                new.append(cache.entry(key, value))
        if essence is None:
            unread.append(path)
            continue
        kind, doc_id, _, spec = essence
        if kind is None or kind not in rules:
            continue
        kind = names[kind]
        if reported is not None and kind not in reported:
            continue  # no snapshot covers the kind
        doc_id = doc_id if doc_id is not None else file_id(path)
        add_keys(tables, kind, doc_id, spec, rules[kind])
        digested = None
        if reported is not None:
            fields = reported[kind]
            digested = digest({k: v for k, v in spec.items() if k in fields})
        rows.append((path, doc_id, kind, value if value is not None else essence, digested))
    return rows, unread, tables, (new, list(found), cached.broken)


_writing: Future[None] | None = None  # the last run's write of the cache, by a worker


def settle() -> None:
    """Wait for this process's last write of the cache (a run reads what it wrote)."""
    global _writing
    if _writing is not None:
        futures_wait([_writing])
        _writing = None


_worker: tuple[WorktreeReader, Mapping[str, Sequence[str]], _Ready, Any, cache.Lookup] | None = None
_reported: Reported | None = None


def _init(
    read: WorktreeReader,
    rules: Mapping[str, Sequence[str]],
    ready: _Ready,
    shared: SynchronizedBase | ctypes.Array[ctypes.c_char],
    lookup: cache.Lookup,
) -> None:
    global _worker
    _worker = (read, rules, ready, shared, lookup)  # the lookup opens in the worker


def _chunk(paths: Sequence[str]) -> Chunk:
    global _reported
    assert _worker is not None
    read, rules, ready, shared, lookup = _worker
    if _reported is None and ready.is_set():
        _reported = {k: frozenset(v) for k, v in orjson.loads(shared.value).items()}
    return _rows(paths, read, rules, _reported, lookup)
