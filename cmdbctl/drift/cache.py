"""What the last `diff` made of each inventory file, so that the next reads only the files
that changed since: at 10^5 CIs, parsing the YAML is most of a diff's work.

A file's entry is what a worker sends back for it (its row, or that it holds no CI of a
covered kind) and the identification tables of all of them; it depends on the file's
bytes and on the run's key (the kind registry's fingerprint, tool version included; the
identification rules) and on the fields the snapshots report, which the cache records
(`reported`): a run whose snapshots report other fields reads every file afresh.

A file is known unchanged by its status (size, mtime, ctime, inode), taken before its bytes
were read, as git's index does. Whoever changes a file's bytes changes its ctime, and no
one can set that back; an entry is kept only when the file's ctime is older than the run
that read it by `_RACY_NS`, so that a change in the same clock tick as the read (file
times are coarse) cannot go unseen.

The cache is one file in the git directory, replaced whole (a temporary file renamed):
a JSON header (paths, ids, kinds, statuses and the tables) then the rows' bytes. Anything
unreadable in it (a different format, a broken or hand-edited file) is as no cache: the
run reads everything and writes it again. CMDBCTL_NO_CACHE=1 turns it off, as for
`validate`.
"""

from __future__ import annotations

import os
import tempfile
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cmdbctl.drift.identify import Tables

_FORMAT = "drift-v1"
_RACY_NS = 2_000_000_000  # file times lag the clock by a tick; NFS servers by more
Stat = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
Row = tuple[str, str, str, Any, bytes | None]  # desired.Row


def stat_of(path: str) -> Stat | None:
    """The status that says a file is unchanged; None if it is not a regular file."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    if (info.st_mode & 0o170000) != 0o100000:
        return None
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino


def location(root: Path) -> Path | None:
    """Where the cache of the repository at `root` lives; None when it has none."""
    from cmdbctl import gitio
    from cmdbctl.validate.cache import enabled

    if not enabled():
        return None
    git_dir = gitio.output(root, "rev-parse", "--absolute-git-dir")
    if git_dir is None:
        return None
    return Path(os.fsdecode(git_dir.strip())) / "cmdbctl" / f"{_FORMAT}.cache"


@dataclass
class DesiredCache:
    reported: dict[str, frozenset[str]]  # kind -> the fields its rows' digests are of
    stats: dict[str, Stat]  # path -> its status when read
    rows: dict[str, Row | None]  # path -> its row (None: no CI of a covered kind)
    tables: Tables

    def fresh(self, root: str, path: str) -> bool:
        """Whether the file is as it was when its entry was made."""
        known = self.stats.get(path)
        return known is not None and stat_of(f"{root}/{path}") == known


def load(place: Path | None, key: str) -> DesiredCache | None:
    """The cache at `place` when it was written for `key`; None when there is none or it
    cannot be read as written."""
    if place is None:
        return None
    try:
        raw = place.read_bytes()
    except OSError:
        return None
    try:
        return _decode(raw, key)
    except (ValueError, KeyError, TypeError, IndexError, OverflowError):
        return None  # broken, hand-edited or of another version: read everything


def _decode(raw: bytes, key: str) -> DesiredCache | None:
    end = raw.index(b"\n")
    head = orjson.loads(raw[:end])
    if head.get("format") != _FORMAT or head.get("key") != key:
        return None
    paths, ids, kinds = head["paths"], head["ids"], head["kinds"]
    stats = array("q", bytes.fromhex(head["stats"]))
    sizes = array("q", bytes.fromhex(head["sizes"]))
    n = len(paths)
    if not (len(ids) == len(kinds) == n and len(stats) == 4 * n and len(sizes) == 2 * n):
        raise ValueError("columns of unequal length")
    if not all(isinstance(p, str) for p in paths) or len(set(paths)) != n:
        raise ValueError("paths")
    body = memoryview(raw)[end + 1 :]
    if sum(s for s in sizes if s > 0) != len(body) or min(sizes, default=0) < -1:
        raise ValueError("payload")
    rows: dict[str, Row | None] = {}
    at = 0
    for i, path in enumerate(paths):
        extra_size, digest_size = sizes[2 * i], sizes[2 * i + 1]
        if extra_size < 0:
            rows[path] = None
            continue
        doc_id, kind = ids[i], kinds[i]
        if not isinstance(doc_id, str) or not isinstance(kind, str):
            raise TypeError("row")
        extra = body[at : at + extra_size].tobytes()
        at += extra_size
        digest = body[at : at + digest_size].tobytes() if digest_size >= 0 else None
        at += max(digest_size, 0)
        rows[path] = (path, doc_id, kind, extra, digest)
    reported = {k: frozenset(v) for k, v in head["reported"].items()}
    tables = _tables(head["tables"])
    return DesiredCache(
        reported,
        {
            p: (stats[4 * i], stats[4 * i + 1], stats[4 * i + 2], stats[4 * i + 3])
            for i, p in enumerate(paths)
        },
        rows,
        tables,
    )


def _tables(found: Mapping[str, Any]) -> Tables:
    tables: Tables = {}
    for name, table in found.items():
        kind, _, rule = name.partition("\0")
        if not isinstance(table, dict) or not all(
            isinstance(v, str) or (isinstance(v, list) and all(isinstance(c, str) for c in v))
            for v in table.values()
        ):
            raise TypeError("table")
        tables[(kind, rule)] = table
    return tables


def save(
    place: Path | None,
    key: str,
    reported: Mapping[str, frozenset[str]],
    stats: Mapping[str, Stat],
    rows: Mapping[str, Row | None],
    tables: Tables,
    started_ns: int,
) -> None:
    """Write the cache: the entries of `rows` whose file's status is known and settled
    (its ctime older than the run's start, `started_ns`, by `_RACY_NS`), with the tables
    of all of them. Written only when every row has a distinct id (else taking a changed
    file's values out of the tables could take another's) and no row was sent whole.
    A failure to write is no failure of the diff."""
    if place is None:
        return
    ids = [r[1] for r in rows.values() if r is not None]
    if len(set(ids)) != len(ids):
        return
    settled = started_ns - _RACY_NS
    left_out: set[str] = set()  # ids of rows not kept: their values leave the tables
    paths: list[str] = []
    kinds: list[str | None] = []
    out_ids: list[str | None] = []
    stat_col, sizes = array("q"), array("q")
    body: list[bytes] = []
    for path, row in rows.items():
        known = stats.get(path)
        if (
            known is None
            or known[2] >= settled
            or (row is not None and (not isinstance(row[3], bytes) or row[4] is None))
        ):  # no status, too recent, or a whole spec (sent before the fields were known)
            if row is not None:
                left_out.add(row[1])
            continue
        paths.append(path)
        stat_col.extend(known)
        if row is None:
            out_ids.append(None)
            kinds.append(None)
            sizes.extend((-1, -1))
            continue
        out_ids.append(row[1])
        kinds.append(row[2])
        sizes.extend((len(row[3]), len(row[4]) if row[4] is not None else -1))
        body.append(row[3])
        if row[4] is not None:
            body.append(row[4])
    if left_out:
        tables = {name: dict(table) for name, table in tables.items()}
        without(tables, left_out)
    head = orjson.dumps(
        {
            "format": _FORMAT,
            "key": key,
            "reported": {k: sorted(v) for k, v in reported.items()},
            "paths": paths,
            "ids": out_ids,
            "kinds": kinds,
            "stats": stat_col.tobytes().hex(),
            "sizes": sizes.tobytes().hex(),
            "tables": {f"{k}\0{r}": t for (k, r), t in tables.items()},
        }
    )
    try:
        place.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=place.parent, prefix=".drift-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(head)
                out.write(b"\n")
                out.writelines(body)
            os.replace(temporary, place)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        return


def without(tables: Tables, ids: Iterable[str]) -> None:
    """Take the values of the CIs `ids` out of the tables (their files changed or went)."""
    gone = set(ids)
    if not gone:
        return
    for table in tables.values():
        for value, claimed in list(table.items()):
            if isinstance(claimed, str):
                if claimed in gone:
                    del table[value]
            else:
                kept = [c for c in claimed if c not in gone]
                if len(kept) != len(claimed):
                    if not kept:
                        del table[value]
                    else:
                        table[value] = kept[0] if len(kept) == 1 else kept
