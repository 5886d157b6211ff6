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
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_all_start_methods, get_context
from typing import Any, NamedTuple

import orjson

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

    @property
    def status(self) -> Any:
        return self.spec.get("status")


class Desired(NamedTuple):
    cis: list[CI]  # of the wanted kinds
    unread: list[str]  # files under inventory/ that hold no readable document
    ids: frozenset[str]  # every id the file names under inventory/, changes/, policies/ claim
    policies: list[str]  # the files under policies/
    changes: list[str]  # the files under changes/


def read_desired(ws: Workspace, wanted: frozenset[str], jobs: int | None = None) -> Desired:
    listing = ws.walk()
    paths = listing.paths()
    inventory = [p for p in paths if p.startswith(CIS)]
    cis: list[CI] = []
    unread: list[str] = []
    for rows in _read_all(ws, inventory, wanted, jobs):
        for row in rows:
            if row[1] is None:
                unread.append(row[0])
            else:
                cis.append(CI(row[1], row[2], row[0], row[3], row[4]))
    return Desired(
        cis,
        unread,
        frozenset(map(file_id, paths)),
        [p for p in paths if p.startswith("policies/")],
        [p for p in paths if p.startswith("changes/")],
    )


def _read_all(
    ws: Workspace, paths: Sequence[str], wanted: frozenset[str], jobs: int | None
) -> Iterator[list[list[Any]]]:
    read = WorktreeReader(ws.root)
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    if jobs <= 1 or len(paths) < PARALLEL_THRESHOLD:
        for chunk in chunks:
            yield _rows(chunk, read, wanted)
        return
    method = "fork" if "fork" in get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(
        jobs, mp_context=get_context(method), initializer=_init, initargs=(read, wanted)
    ) as pool:
        for encoded in pool.map(_encoded_rows, chunks):
            yield orjson.loads(encoded)


def _rows(paths: Sequence[str], read: WorktreeReader, wanted: frozenset[str]) -> list[list[Any]]:
    """[path, id, kind, labels, spec] of each document of a wanted kind; [path, None] of
    each file with no readable document."""
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
        if kind not in wanted:
            continue
        meta = data.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        doc_id = meta.get("id")
        labels = meta.get("labels")
        spec = data.get("spec")
        rows.append(
            [
                path,
                doc_id if isinstance(doc_id, str) else file_id(path),
                kind,
                labels if isinstance(labels, dict) else {},
                spec if isinstance(spec, dict) else {},
            ]
        )
    return rows


_worker: tuple[WorktreeReader, frozenset[str]] | None = None


def _init(read: WorktreeReader, wanted: frozenset[str]) -> None:
    global _worker
    _worker = (read, wanted)


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
