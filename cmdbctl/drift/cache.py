"""What `load` made of a CI file's bytes, kept by those bytes, so a repeated `diff`
parses only what changed.

A file's entry is keyed by the SHA-256 git blob id of the bytes the worker read (sha256
of b"blob <len>\\0" + bytes), and holds what `desired` takes from the parse: the kind,
metadata id, labels and spec (`Essence`), or that the file holds no readable document.
The parse depends on those bytes and on the code and libraries that parse them, nothing
else: the path plays no part (a CI with no metadata id takes its file's name when the
row is made, as on the cold path), and the code's part is in the file name
(`fingerprint`: this package's sources and version, the YAML and JSON libraries, the
Python limits the parser meets). So an entry cannot go stale: an edited file has other
bytes, a renamed one the same.

One SQLite database in the git directory beside `validate`'s (found as it finds its own,
off with CMDBCTL_NO_CACHE=1 and outside a git repository). Workers read it (read-only, a
run of files per query); the parent writes what they parsed afresh, in one transaction
after the last run of files: into a new file renamed into place when there is none, else
into the existing one (SQLite's lock: a concurrent run sees all of it or none of it).

Nothing is trusted but what checks out: an entry is kept only if its JSON gives back the
very value (NaN, infinities, integers past 64 bits and text JSON cannot hold are parsed
again each time), and each row carries a CRC of fingerprint, key and value, so a torn,
hand-edited or misplaced row is a miss. A database SQLite cannot read is replaced; one
locked, unreadable or read-only costs speed, never an answer, and says nothing.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import tempfile
import time
import zlib
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from cmdbctl import __version__
from cmdbctl.validate.cache import _location, enabled

_FORMAT = "v1"  # of the database and of an entry's JSON
_PREFIX = "loaded-"  # validate's sweep removes only its own names (cache-*, .cache-*)
_TABLE = (
    "CREATE TABLE IF NOT EXISTS loaded(key BLOB PRIMARY KEY, value BLOB NOT NULL, "
    "crc INTEGER NOT NULL) WITHOUT ROWID"
)
_BATCH = 500  # keys per IN (...): under SQLite's limit on parameters, old versions too
_READ_TIMEOUT = 1.0  # seconds a worker waits for a writer before doing without
_WRITE_TIMEOUT = 5.0
# The options an entry is encoded with: anything but dict, list, str, int, float, bool
# and None (what `load` gives) is refused, not turned into something else.
_EXACT = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)

# kind (None: not text), metadata id (None: not text), labels, spec (both {} unless a
# mapping); None for a file that holds no readable document.
Essence = tuple[str | None, str | None, dict[str, Any], dict[str, Any]] | None
Entry = tuple[bytes, bytes, int]  # key, value, crc: a row
Hit = tuple[bytes, Essence]  # a row's value, and what it says


def essence(data: dict[str, Any] | None) -> Essence:
    """What `desired` takes from a document (`load`'s data)."""
    if data is None:
        return None
    kind = data.get("kind")
    meta = data.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    doc_id = meta.get("id")
    labels = meta.get("labels")
    spec = data.get("spec")
    return (
        kind if isinstance(kind, str) else None,
        doc_id if isinstance(doc_id, str) else None,
        labels if isinstance(labels, dict) else {},
        spec if isinstance(spec, dict) else {},
    )


def key(raw: bytes) -> bytes:
    """The SHA-256 git blob id of the bytes, as bytes."""
    digest = hashlib.sha256(b"blob %d\0" % len(raw))
    digest.update(raw)
    return digest.digest()


@cache
def fingerprint() -> str:
    """Everything but the bytes that a parse depends on: this package's version and
    sources, the versions of the libraries that parse and encode, Python's version and
    the limits the parser meets (integer digits, recursion)."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(
        "\0".join(
            [
                _FORMAT,
                __version__,
                sys.version,
                str(sys.get_int_max_str_digits()),
                str(sys.getrecursionlimit()),
                *(_version(d) for d in ("yaml-rs", "ruamel.yaml", "orjson")),
            ]
        ).encode()
    )
    for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".json")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"


def location(root: Path) -> Path | None:
    """The cache of the repository at `root` (None: off, or no git repository)."""
    if not enabled():
        return None
    beside = _location(root, fingerprint())  # validate's, in the same folder
    return (
        None if beside is None else beside.with_name(f"{_PREFIX}{_FORMAT}-{fingerprint()}.sqlite")
    )


def writable(path: Path) -> bool:
    """Whether this run could write the cache (else the workers encode nothing)."""
    folder = path.parent if path.parent.exists() else path.parent.parent
    return os.access(folder, os.W_OK)


def exact(found: Essence) -> bytes | None:
    """The JSON of an essence, or None when it would not give back the very value."""
    try:
        value = orjson.dumps(found, option=_EXACT)
    except TypeError:  # text JSON cannot hold, an integer past 64 bits, too deep
        return None
    # orjson writes NaN and infinities as null: where a null is, the value must come back
    if b"null" in value and orjson.loads(value) != (None if found is None else list(found)):
        return None
    # a copy of its own size: orjson's bytes keep the block it wrote into (about 4 KiB)
    return memoryview(value).tobytes()


def entry(key_: bytes, value: bytes) -> Entry:
    """The row of a file's essence (`exact`'s JSON)."""
    return key_, value, zlib.crc32(value, _seed(key_))


def loads(value: bytes) -> Essence:
    """An essence from its JSON (as `exact` wrote it)."""
    found = orjson.loads(value)
    return None if found is None else (found[0], found[1], found[2], found[3])


def _seed(key_: bytes) -> int:
    """A row's CRC covers the fingerprint and its key: a row read into another file, or
    moved to another key, does not check out."""
    return zlib.crc32(key_, _fingerprint_crc())


@cache
def _fingerprint_crc() -> int:
    return zlib.crc32(fingerprint().encode())


def _checked(key_: Any, value: Any, crc: Any) -> Hit | None:
    """A row's value and essence if it is a row this code wrote (its CRC holds, its
    value is an essence), else None."""
    if not (isinstance(key_, bytes) and isinstance(value, bytes) and isinstance(crc, int)):
        return None
    if zlib.crc32(value, _seed(key_)) != crc:
        return None
    try:
        found = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if found is None:
        return value, None
    if (
        isinstance(found, list)
        and len(found) == 4
        and (found[0] is None or isinstance(found[0], str))
        and (found[1] is None or isinstance(found[1], str))
        and isinstance(found[2], dict)
        and isinstance(found[3], dict)
    ):
        return value, (found[0], found[1], found[2], found[3])
    return None


class Lookup:
    """A reader of the cache at `path` (None: no cache); opened on the first look-up, in
    the process that looks (a worker, after it started). `broken`: SQLite cannot read it,
    so the parent replaces it; `fill`: whether to encode what is parsed afresh."""

    def __init__(self, path: str | None, fill: bool) -> None:
        self.path = path
        self.fill = fill and path is not None
        self.broken = False
        self._db: sqlite3.Connection | None = None
        self._off = path is None

    def __call__(self, keys: Sequence[bytes]) -> dict[bytes, Hit]:
        """What the cache holds of `keys`: the rows that check out."""
        if self._off:
            return {}
        rows: list[tuple[Any, ...]] = []
        try:
            if self._db is None:
                assert self.path is not None
                if not os.path.exists(self.path):
                    return {}
                uri = Path(self.path).absolute().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(
                    uri, uri=True, timeout=_READ_TIMEOUT, isolation_level=None
                )
            for i in range(0, len(keys), _BATCH):
                batch = keys[i : i + _BATCH]
                rows += self._db.execute(
                    "SELECT key, value, crc FROM loaded WHERE key IN "
                    f"({','.join('?' * len(batch))})",
                    batch,
                ).fetchall()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                self._off = True  # unreadable (a hot journal, permissions): not this run
                self.close()
            return {}  # busy: parsed afresh, this time
        except sqlite3.DatabaseError:  # not a database, malformed
            self._off = self.broken = True
            self.close()
            return {}
        except (sqlite3.Error, OSError, ValueError):
            self._off = True
            self.close()
            return {}
        found = {}
        for row in rows:
            hit = _checked(*row)
            if hit is not None:
                found[row[0]] = hit
        return found

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def keep(path: Path, entries: list[Entry], seen: Iterable[bytes], broken: bool) -> None:
    """Write what this run parsed afresh (`entries`); drop the entries of files no
    longer there when they have come to outnumber those `seen` twice over. Replaces a
    cache SQLite could not read (`broken`). Never raises: a cache that cannot be written
    only costs speed."""
    try:
        if broken:
            _remove(path)
        if not path.exists():
            if entries:
                _create(path, entries)
            return
        if not entries:
            return
        db = sqlite3.connect(path, timeout=_WRITE_TIMEOUT, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            # REPLACE: a row that did not check out is written anew
            db.executemany("INSERT OR REPLACE INTO loaded VALUES (?, ?, ?)", sorted(entries))
            live = set(seen)
            (rows,) = db.execute("SELECT count(*) FROM loaded").fetchone()
            if rows > 2 * len(live) + 1000:
                db.execute("CREATE TEMP TABLE live(key BLOB PRIMARY KEY) WITHOUT ROWID")
                db.executemany("INSERT INTO live VALUES (?)", ((k,) for k in sorted(live)))
                db.execute("DELETE FROM loaded WHERE key NOT IN (SELECT key FROM live)")
            db.execute("COMMIT")
        finally:
            db.close()
    except (OSError, sqlite3.Error):
        return


def _create(path: Path, entries: list[Entry]) -> None:
    """A new cache of `entries`, written aside and put in place only if there is still
    none: a concurrent run's is never replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{_PREFIX}", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = OFF")  # a private file: the link is the commit
            db.execute("PRAGMA synchronous = OFF")
            db.execute(_TABLE)
            db.execute("BEGIN")
            # in key order: appending to the b-tree, not inserting all over it
            db.executemany("INSERT OR IGNORE INTO loaded VALUES (?, ?, ?)", sorted(entries))
            db.execute("COMMIT")
        finally:
            db.close()
        # a journal of a writer that crashed on a file since removed must not be played
        # back into this one
        path.with_name(path.name + "-journal").unlink(missing_ok=True)
        try:
            os.link(tmp, path)  # fails if another run put its cache there meanwhile
        except FileExistsError:
            return
        except OSError:  # no hard links here
            if path.exists():
                return
            os.replace(tmp, path)
        _sweep(path)
    finally:
        tmp.unlink(missing_ok=True)


def _remove(path: Path) -> None:
    """Remove a cache SQLite cannot read (a reader keeps its open file)."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + "-journal").unlink(missing_ok=True)


def _sweep(path: Path) -> None:
    """Remove the caches of other fingerprints (another version of the code: never read
    again) and temporary files a crash left."""
    abandoned = time.time() - 3600
    for stale in path.parent.glob(f"*{_PREFIX}*"):
        try:
            if (
                stale.name.startswith(_PREFIX)
                and not stale.name.startswith(path.name)
                or stale.name.startswith(f".{_PREFIX}")
                and stale.stat().st_mtime < abandoned
            ):
                stale.unlink()
        except OSError:
            continue
