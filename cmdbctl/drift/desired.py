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
earlier ones send whole specs, compared the slow way. A file that holds no readable
document is named, not guessed at: the diff reports it, since a CI it cannot read could
match a discovered item.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.sharedctypes import SynchronizedBase
from typing import Any, NamedTuple, Protocol

import orjson

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
    ids: frozenset[str]  # every id the file names under inventory/, changes/, policies/ claim
    policies: list[str]  # the files under policies/
    changes: list[str]  # the files under changes/


class _Ready(Protocol):
    def set(self) -> None: ...
    def is_set(self) -> bool: ...


Chunk = tuple[list[Row], list[str], Tables]


@contextmanager
def reading(
    ws: Workspace, kinds: KindRegistry, wanted: frozenset[str], jobs: int | None = None
) -> Iterator[Reading]:
    """Read the DiscoveryPolicy, then start reading the desired state in worker
    processes, which also work out each CI's identifier values by the policy; the caller
    reads its snapshots meanwhile (on another core), `share`s what they report, then
    takes `result()`. Leaving the block stops the workers, whatever happened."""
    listing = ws.walk()
    paths = listing.paths()
    inventory = [p for p in paths if p.startswith(CIS)]
    policy = read_policy(ws.root, [p for p in paths if p.startswith("policies/")], kinds)
    rules = {kind: policy.identifiers(kind) for kind in wanted}
    read = WorktreeReader(ws.root)
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    chunks = [inventory[i : i + _CHUNK] for i in range(0, len(inventory), _CHUNK)]
    if jobs <= 1 or len(inventory) < PARALLEL_THRESHOLD:
        yield _Serial(policy, paths, chunks, read, rules)
        return
    context = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
    ready = context.Event()
    shared = context.RawArray(ctypes.c_char, _SHARED_BYTES)
    # Workers start (fork) here, in the caller's thread, before anything else runs.
    pool = ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_init, initargs=(read, rules, ready, shared)
    )
    try:
        futures = [pool.submit(_chunk, chunk) for chunk in chunks]
        yield _Parallel(policy, paths, lambda: (f.result() for f in futures), ready, shared)
    finally:
        # Not waiting for the workers to exit (a large process takes a while to end):
        # runs not started are cancelled, the interpreter joins the workers at its exit.
        pool.shutdown(wait=False, cancel_futures=True)


class Reading:
    def __init__(self, policy: DiscoveryPolicy, paths: list[str]) -> None:
        self.policy = policy
        self._paths = paths
        self._reported: Reported | None = None

    def share(self, reported: Reported) -> None:
        """The spec fields each covered kind's items report (what the workers digest)."""
        self._reported = reported

    def _chunks(self) -> Iterable[Chunk]:
        raise NotImplementedError

    def result(self) -> Desired:
        rows: list[Row] = []
        unread: list[str] = []
        tables: Tables = {}
        for found, bad, chunk_tables in self._chunks():
            rows.extend(found)
            unread.extend(bad)
            merge_tables(tables, chunk_tables)
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
        chunks: list[list[str]],
        read: WorktreeReader,
        rules: Mapping[str, Sequence[str]],
    ) -> None:
        super().__init__(policy, paths)
        self._todo, self._read, self._rules = chunks, read, rules

    def _chunks(self) -> Iterable[Chunk]:
        return (_rows(c, self._read, self._rules, self._reported) for c in self._todo)


class _Parallel(Reading):
    def __init__(
        self,
        policy: DiscoveryPolicy,
        paths: list[str],
        results: Callable[[], Iterable[Chunk]],
        ready: _Ready,
        shared: ctypes.Array[ctypes.c_char],
    ) -> None:
        super().__init__(policy, paths)
        self._results, self._ready, self._shared = results, ready, shared

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
) -> Chunk:
    """The rows of each document of a wanted kind (those `rules` has identifiers for;
    of those, once `reported` is known, the kinds it names), the files with no readable
    document, and the identification tables of the documents."""
    rows: list[Row] = []
    unread: list[str] = []
    tables: Tables = {}
    names = {kind: kind for kind in rules}  # one string per kind: pickled once per run
    for path in paths:
        try:
            data = load(path, read(path)).data
        except OSError:
            data = None
        if data is None:
            unread.append(path)
            continue
        kind = data.get("kind")
        if not isinstance(kind, str) or kind not in rules:
            continue
        kind = names[kind]
        if reported is not None and kind not in reported:
            continue  # no snapshot covers the kind
        meta = data.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        doc_id = meta.get("id")
        doc_id = doc_id if isinstance(doc_id, str) else file_id(path)
        labels = meta.get("labels")
        spec = data.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        add_keys(tables, kind, doc_id, spec, rules[kind])
        status = spec.get("status")
        found = None
        if reported is not None:
            fields = reported[kind]
            spec = {k: v for k, v in spec.items() if k in fields}
            found = digest(spec)
        # The digest is canonical JSON of the spec's reported fields: not sent twice.
        extra = (status, labels if isinstance(labels, dict) else {}, None if found else spec)
        try:
            encoded: bytes | tuple[Any, Any, Any] = orjson.dumps(extra)
        except TypeError:  # text orjson refuses (a lone surrogate): sent as it is
            encoded = extra
        rows.append((path, doc_id, kind, encoded, found))
    return rows, unread, tables


_worker: tuple[WorktreeReader, Mapping[str, Sequence[str]], _Ready, Any] | None = None
_reported: Reported | None = None


def _init(
    read: WorktreeReader,
    rules: Mapping[str, Sequence[str]],
    ready: _Ready,
    shared: SynchronizedBase | ctypes.Array[ctypes.c_char],
) -> None:
    global _worker
    _worker = (read, rules, ready, shared)


def _chunk(paths: Sequence[str]) -> Chunk:
    global _reported
    assert _worker is not None
    read, rules, ready, shared = _worker
    if _reported is None and ready.is_set():
        _reported = {k: frozenset(v) for k, v in orjson.loads(shared.value).items()}
    return _rows(paths, read, rules, _reported)
