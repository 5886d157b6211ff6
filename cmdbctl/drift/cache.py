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
a CRC-32 of the rest, a JSON header (paths, ids, kinds, statuses and the tables), then
the rows' bytes. Anything unreadable in it (a different format, a broken or hand-edited
file) is as no cache: the run reads everything and writes it again. A file whose name,
id or identifier JSON cannot hold (a name that is not UTF-8) is not kept: read each time.
CMDBCTL_NO_CACHE=1 turns it off, as for `validate`.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zlib
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from cmdbctl import gitio
from cmdbctl.discovery.values import is_text
from cmdbctl.drift.identify import Table, Tables
from cmdbctl.validate.cache import enabled
from cmdbctl.workspace import Folder

_FORMAT = "drift-v1"
_CHECK = 9  # bytes of the checksum line, "%08x\n"
_RACY_NS = 2_000_000_000  # file times lag the clock by a tick; NFS servers by more
Stat = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
Row = tuple[str, str, str, Any, bytes | None]  # desired.Row


def stat_of(path: str) -> Stat | None:
    """The status that says a file is unchanged; None if it is not a regular file."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino


def location(root: Path) -> Path | None:
    """Where the cache of the repository at `root` lives; None when it has none."""
    if not enabled():
        return None
    git_dir = gitio.output(root, "rev-parse", "--absolute-git-dir")
    if git_dir is None:
        return None
    return Path(os.fsdecode(git_dir.strip())) / "cmdbctl" / f"{_FORMAT}.cache"


@dataclass
class DesiredCache:
    reported: dict[str, frozenset[str]]  # kind -> the fields its rows' digests are of
    rules: list[list[Any]]  # the identification rules its tables are of (Run.rules)
    folders: dict[str, Folder]  # the listing of the document folders (Workspace.walk)
    stats: dict[str, Stat]  # path -> its status when read
    rows: dict[str, Row | None]  # path -> its row (None: no CI of a covered kind)
    tables: Tables

    def fresh(self, root: str, path: str) -> bool:
        """Whether the file is as it was when its entry was made."""
        known = self.stats.get(path)
        return known is not None and stat_of(f"{root}/{path}") == known


class Run(NamedTuple):
    """What a run's entries are of, besides the files: the fields reported, the
    identification rules ([kind, [identifier, ...]], sorted), the folders' listing, and
    when it started (time.time_ns(), before any file was read)."""

    reported: Mapping[str, frozenset[str]]
    rules: list[list[Any]]
    folders: Mapping[str, Folder]
    started: int


def load(place: Path | None, key: str) -> DesiredCache | None:
    """The cache at `place` when it was written for `key`; None when there is none or it
    cannot be read as written."""
    if place is None:
        return None
    raw = _read(place)
    if raw is None:
        return None
    # Written whole by `save` after a checksum of the rest (CRC-32: it finds a broken or
    # hand-edited file; the git directory is this user's own, not a branch's).
    if raw[:_CHECK] != b"%08x\n" % zlib.crc32(memoryview(raw)[_CHECK:]):
        return None
    try:
        return _decode(raw, key)
    except (ValueError, KeyError, TypeError, IndexError, OverflowError, AttributeError):
        return None  # of another version, or not as `save` writes: read everything


def _read(place: Path) -> bytes | None:
    """The cache file's bytes, when it is a regular file: never through a link, never
    blocking on a FIFO, never reading a device."""
    try:
        fd = os.open(place, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(os.dup(fd), "rb") as file:
            return file.read()
    except OSError:
        return None
    finally:
        os.close(fd)


def _decode(raw: bytes, key: str) -> DesiredCache | None:
    """The cache from its bytes: columns, turned into rows and statuses by C-level
    loops (zip, slices): 10^5 entries are read in about a third of a second."""
    end = raw.index(b"\n", _CHECK)
    head = orjson.loads(memoryview(raw)[_CHECK:end])
    if not isinstance(head, dict) or head.get("format") != _FORMAT or head.get("key") != key:
        return None
    paths, ids, kinds, empty = head["paths"], head["ids"], head["kinds"], head["empty"]
    n = len(paths)
    stats = array("q", bytes.fromhex(head["stats"]))  # size, mtime, ctime, inode per file
    extra_ends = array("q", bytes.fromhex(head["extras"]))  # offsets past each row's
    digest_ends = array("q", bytes.fromhex(head["digests"]))
    files = [*paths, *empty]
    if (
        not (len(ids) == len(kinds) == len(extra_ends) == len(digest_ends) == n)
        or len(stats) != 4 * len(files)
        or not set(map(type, files)) | set(map(type, ids)) | set(map(type, kinds)) <= {str}
        or (n and (digest_ends[-1] != len(raw) or extra_ends[0] < end + 1))
        or any(map(int.__gt__, extra_ends, digest_ends))
        or any(map(int.__gt__, digest_ends[:-1], extra_ends[1:]))
    ):
        raise ValueError("columns that do not fit together")
    starts = [end + 1, *digest_ends[:-1]]
    extras = [raw[a:b] for a, b in zip(starts, extra_ends)]
    digests = [raw[a:b] for a, b in zip(extra_ends, digest_ends)]
    rows: dict[str, Row | None] = dict(zip(paths, zip(paths, ids, kinds, extras, digests)))
    rows.update(dict.fromkeys(empty))
    status = zip(stats[0::4], stats[1::4], stats[2::4], stats[3::4])
    reported = {k: frozenset(v) for k, v in head["reported"].items()}
    folders = {rel: Folder.from_plain(plain) for rel, plain in head["folders"].items()}
    rules = head["rules"]
    if not isinstance(rules, list):
        raise TypeError("rules")
    tables = _tables(head["tables"], ids)
    return DesiredCache(reported, rules, folders, dict(zip(files, status)), rows, tables)


def _tables(found: Mapping[str, Any], ids: list[str]) -> Tables:
    """The identification tables as `_encoded` wrote them."""
    tables: Tables = {}
    known = set(ids)
    for name, (values, owners, shared) in found.items():
        kind, _, rule = name.partition("\0")
        owned = array("i", bytes.fromhex(owners))
        if len(owned) != len(values) or not set(map(type, values)) <= {str}:
            raise ValueError("table")
        if min(owned, default=0) < 0:
            raise ValueError("table owners")
        claims = list(map(ids.__getitem__, owned))  # IndexError past the end
        table: Table = dict(zip(values, claims))
        for value, claimed in shared.items():
            if not isinstance(claimed, list) or len(claimed) < 2 or not known.issuperset(claimed):
                raise ValueError("a claim by a CI the cache has no row of")
            table[value] = claimed
        tables[(kind, rule)] = table
    return tables


def _encoded(tables: Tables, ids: list[str]) -> dict[str, Any]:
    """The tables in a form read fast: per table its values, the index of the id of
    the CI that holds each (into `ids`), and the values several CIs claim. Only claims
    by the CIs `ids` (the rows kept) are kept: any other CI's file is read next time,
    and its values enter the tables again then."""
    index = {ci: n for n, ci in enumerate(ids)}
    out: dict[str, Any] = {}
    for (kind, rule), table in tables.items():
        values: list[str] = []
        owners = array("i")
        shared: dict[str, list[str]] = {}
        for value, claimed in table.items():
            at = index.get(claimed) if isinstance(claimed, str) else None
            if at is not None:
                values.append(value)
                owners.append(at)
                continue
            kept = [c for c in claimed if c in index] if isinstance(claimed, list) else []
            if len(kept) > 1:
                shared[value] = kept
            elif kept:
                values.append(value)
                owners.append(index[kept[0]])
        out[f"{kind}\0{rule}"] = (values, owners.tobytes().hex(), shared)
    return out


def save(
    place: Path | None,
    key: str,
    run: Run,
    stats: Mapping[str, Stat],
    rows: Mapping[str, Row | None],
    tables: Tables,
) -> None:
    """Write the cache: the entries of `rows` whose file's status is known and settled
    (its ctime older than the run's start by `_RACY_NS`), with the tables' claims by
    them, and what the run's entries are of. Written only when every row has a distinct id (else taking a changed
    file's values out of the tables could take another's). A failure to write is no
    failure of the diff."""
    if place is None:
        return
    claimed = [r[1] for r in rows.values() if r is not None]
    if len(set(claimed)) != len(claimed):
        return
    try:
        rest = _encode(key, run, stats, rows, tables)
    except (TypeError, ValueError, OverflowError):  # what JSON cannot hold (none expected)
        return
    try:
        place.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=place.parent, prefix=".drift-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(b"%08x\n" % zlib.crc32(rest))
                out.write(rest)
            os.replace(temporary, place)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        return


def _encode(
    key: str, run: Run, stats: Mapping[str, Stat], rows: Mapping[str, Row | None], tables: Tables
) -> bytes:
    """The cache file but its checksum line: the rows of settled files, the tables'
    claims by them, and what they are of."""
    settled = run.started - _RACY_NS
    # CIs holding a value JSON cannot (a lone surrogate, from a YAML escape): not kept,
    # so their files are read afresh each time.
    unfit = {
        ci
        for table in tables.values()
        for value, claim in table.items()
        if not is_text(value)
        for ci in ([claim] if isinstance(claim, str) else claim)
    }
    paths: list[str] = []
    ids: list[str] = []
    kinds: list[str] = []
    empty: list[str] = []
    stat_col, empty_stats = array("q"), array("q")
    body: list[bytes] = []
    for path, row in rows.items():
        known = stats.get(path)
        if known is None or known[2] >= settled or not is_text(path):
            continue  # no status, too recent to trust, or a name not UTF-8
        try:
            status = array("q", known)
        except OverflowError:  # a time after 2262, an inode beyond 63 bits
            continue
        if row is None:
            empty.append(path)
            empty_stats.extend(status)
            continue
        extra, digest = row[3], row[4]
        if not isinstance(extra, bytes) or digest is None or row[1] in unfit or not is_text(row[1]):
            continue  # a whole spec (sent before the fields were known), or unfit
        paths.append(path)
        ids.append(row[1])
        kinds.append(row[2])
        stat_col.extend(status)
        body.append(extra)
        body.append(digest)
    stat_col.extend(empty_stats)
    head = {
        "format": _FORMAT,
        "key": key,
        "reported": {k: sorted(v) for k, v in run.reported.items()},
        "rules": run.rules,
        # A folder holding a name JSON cannot (not UTF-8) is listed afresh each time.
        "folders": {
            rel: folder.plain()
            for rel, folder in run.folders.items()
            if all(map(is_text, (rel, *folder.files, *folder.links, *folder.others)))
            and all(map(is_text, (*folder.subfolders, *folder.skipped)))
        },
        "paths": paths,
        "ids": ids,
        "kinds": kinds,
        "empty": empty,
        "stats": stat_col.tobytes().hex(),
        "tables": _encoded(tables, ids),
    }
    # Offsets of the rows' bytes in the file: the header holds them, so it is sized
    # first with placeholders of the same length.
    for name in ("extras", "digests"):
        head[name] = array("q", [0] * len(paths)).tobytes().hex()
    at = _CHECK + len(orjson.dumps(head)) + 1
    extra_ends, digest_ends = array("q"), array("q")
    for extra, digest in zip(body[0::2], body[1::2]):
        at += len(extra)
        extra_ends.append(at)
        at += len(digest)
        digest_ends.append(at)
    head["extras"] = extra_ends.tobytes().hex()
    head["digests"] = digest_ends.tobytes().hex()
    return orjson.dumps(head) + b"\n" + b"".join(body)


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
