"""The desired state: the CIs of the kinds a diff compares, read from the work tree as
`validate` reads it (the same walk, the same loader with its yaml-rs fast path, worker
processes for large estates).

Only what a diff needs comes back from the workers: id, kind, labels and spec of each
document of a wanted kind, as orjson bytes (the cheapest form to send 10^5 of). A file
that holds no readable document is named, not guessed at: the diff reports it, since a
CI it cannot read could match a discovered item.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_all_start_methods, get_context
from typing import Any, NamedTuple

import orjson

from cmdbctl.drift.identify import keys_of
from cmdbctl.drift.policy import DiscoveryPolicy, read_policy
from cmdbctl.kinds import KindRegistry
from cmdbctl.loading import load
from cmdbctl.validate.verdicts import PARALLEL_THRESHOLD, WorktreeReader
from cmdbctl.workspace import Workspace, file_id

CIS = "inventory/"
_CHUNK = 2000


class CI(NamedTuple):
    id: str
    kind: str
    path: str
    labels: dict[str, Any]
    spec: dict[str, Any]
    keys: dict[str, list[str]]  # identifier -> the normalised values it holds (identify.py)

    @property
    def status(self) -> Any:
        return self.spec.get("status")


class Desired(NamedTuple):
    cis: list[CI]  # of the wanted kinds
    unread: list[str]  # files under inventory/ that hold no readable document
    ids: frozenset[str]  # every id the file names under inventory/, changes/, policies/ claim
    policies: list[str]  # the files under policies/
    changes: list[str]  # the files under changes/


@contextmanager
def reading(
    ws: Workspace, kinds: KindRegistry, wanted: frozenset[str], jobs: int | None = None
) -> Iterator[Reading]:
    """Read the DiscoveryPolicy, then start reading the desired state in worker
    processes, which also work out each CI's identifier values by the policy; the caller
    reads its snapshots meanwhile (on another core), then takes `result()`. Leaving the
    block stops the workers, whatever happened."""
    listing = ws.walk()
    paths = listing.paths()
    inventory = [p for p in paths if p.startswith(CIS)]
    policy = read_policy(ws.root, [p for p in paths if p.startswith("policies/")], kinds)
    rules = {kind: policy.identifiers(kind) for kind in wanted}
    read = WorktreeReader(ws.root)
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    chunks = [inventory[i : i + _CHUNK] for i in range(0, len(inventory), _CHUNK)]
    if jobs <= 1 or len(inventory) < PARALLEL_THRESHOLD:
        yield Reading(policy, paths, lambda: (_rows(chunk, read, rules) for chunk in chunks))
        return
    method = "fork" if "fork" in get_all_start_methods() else "spawn"
    # Workers start (fork) here, in the caller's thread, before anything else runs.
    pool = ProcessPoolExecutor(
        jobs, mp_context=get_context(method), initializer=_init, initargs=(read, rules)
    )
    try:
        futures = [pool.submit(_encoded_rows, chunk) for chunk in chunks]
        yield Reading(policy, paths, lambda: (orjson.loads(f.result()) for f in futures))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class Reading:
    def __init__(
        self,
        policy: DiscoveryPolicy,
        paths: list[str],
        rows: Callable[[], Iterable[list[list[Any]]]],
    ) -> None:
        self.policy = policy
        self._paths, self._rows = paths, rows

    def result(self) -> Desired:
        cis: list[CI] = []
        unread: list[str] = []
        for rows in self._rows():
            for row in rows:
                if row[1] is None:
                    unread.append(row[0])
                else:
                    cis.append(_new(CI, (row[1], row[2], row[0], row[3], row[4], row[5])))
        paths = self._paths
        return Desired(
            cis,
            unread,
            frozenset(map(file_id, paths)),
            [p for p in paths if p.startswith("policies/")],
            [p for p in paths if p.startswith("changes/")],
        )


def _rows(
    paths: Sequence[str], read: WorktreeReader, rules: Mapping[str, Sequence[str]]
) -> list[list[Any]]:
    """[path, id, kind, labels, spec, keys] of each document of a wanted kind (those
    `rules` has identifiers for); [path, None] of each file with no readable document."""
    rows: list[list[Any]] = []
    for path in paths:
        try:
            data = load(path, read(path)).data
        except OSError:
            data = None
        if data is None:
            rows.append([path, None])
            continue
        kind = data.get("kind")
        if not isinstance(kind, str) or kind not in rules:
            continue
        meta = data.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        doc_id = meta.get("id")
        labels = meta.get("labels")
        spec = data.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        rows.append(
            [
                path,
                doc_id if isinstance(doc_id, str) else file_id(path),
                kind,
                labels if isinstance(labels, dict) else {},
                spec,
                keys_of(spec, rules[kind]),
            ]
        )
    return rows


_worker: tuple[WorktreeReader, Mapping[str, Sequence[str]]] | None = None
_new = tuple.__new__  # builds the named tuple in C: 10^5 of them


def _init(read: WorktreeReader, rules: Mapping[str, Sequence[str]]) -> None:
    global _worker
    _worker = (read, rules)


def _encoded_rows(paths: Sequence[str]) -> bytes:
    assert _worker is not None
    rows = _rows(paths, *_worker)
    try:
        return orjson.dumps(rows)
    except TypeError:  # text orjson refuses (a lone surrogate): a file diff cannot compare
        return orjson.dumps([_plain(row) for row in rows])


def _plain(row: list[Any]) -> list[Any]:
    try:
        orjson.dumps(row)
    except TypeError:
        return [row[0], None]
    return row
