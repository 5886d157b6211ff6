"""What the last `validate` saw, so the next one reads only what changed since.

A verdict depends on a file's bytes, the schema set and the tool version, and on nothing
else, so verdicts are kept by git blob id. Beside them the cache keeps the last run's
view of the estate: each file's blob id and document id, who refers to which id, the
folder listings, the tree it was measured against and the files that differed from it.
It is one SQLite database in the git directory, named by the schema fingerprint (which
includes the tool version): a changed schema or an upgrade starts afresh.

Safety: every read happens inside one transaction; a warm run writes back only if no
other run wrote in between (a lineage and generation number), else it leaves the newer
state alone. A full rebuild (`Rebuild`) goes to a temporary file as the run judges, none
of it held in memory, and is renamed into place under the old file's exclusive lock.
Anything unreadable (a corrupt or hand-edited file, junk rows or fields) raises
`CacheError`, and `validate` then judges everything afresh and rewrites the cache. It
never changes a verdict: tests compare warm and cold runs after random edits,
corruption, concurrent runs and git operations.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, get_args

import orjson

from cmdbctl import gitio
from cmdbctl.findings import Severity
from cmdbctl.validate.verdicts import Verdict
from cmdbctl.workspace import Folder

_FORMAT = "v4"  # of the database; the fingerprint covers schemas and tool version
_TABLES = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE verdicts(blob TEXT PRIMARY KEY, verdict BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE refs(target TEXT NOT NULL, blob TEXT NOT NULL, PRIMARY KEY (target, blob))
    WITHOUT ROWID;
CREATE TABLE files(path TEXT PRIMARY KEY, blob TEXT, id TEXT) WITHOUT ROWID;
"""
_STAGING = """
CREATE TEMP TABLE new_verdicts(blob TEXT NOT NULL, verdict BLOB NOT NULL);
CREATE TEMP TABLE new_refs(target TEXT NOT NULL, blob TEXT NOT NULL);
"""
_INDEXES = ("CREATE INDEX files_id ON files(id)", "CREATE INDEX files_blob ON files(blob)")
_BATCH = 500  # values per IN (...): well under SQLite's limit on parameters
_TIMEOUT = 5.0  # seconds to wait for another run's write


def enabled() -> bool:
    return not os.environ.get("CMDBCTL_NO_CACHE")


class CacheError(Exception):
    """The cache cannot be read as written: judge afresh and rebuild it."""


@dataclass
class LastRun:
    """The state a run leaves for the next: the tree it measured against and what
    differed from it (`dirty`: untracked, edited, or with no cached verdict), the
    paths with findings (`flagged` by estate checks, `doc_flagged` by their own
    verdict), and the folder listings."""

    tree: str
    dirty: set[str]
    flagged: set[str]
    doc_flagged: set[str]
    folders: dict[str, Folder]
    generation: int = 0  # writes since the rebuild named by `lineage`
    lineage: str = ""
    verdict_rows: int = 0

    def plain(self) -> bytes:
        return orjson.dumps(
            {
                "tree": self.tree,
                "dirty": sorted(self.dirty),
                "flagged": sorted(self.flagged),
                "doc_flagged": sorted(self.doc_flagged),
                "folders": {k: f.plain() for k, f in self.folders.items()},
                "generation": self.generation,
                "lineage": self.lineage,
                "verdict_rows": self.verdict_rows,
            }
        )

    @staticmethod
    def from_plain(raw: bytes) -> LastRun:
        data = orjson.loads(raw)
        lists = [data[k] for k in ("dirty", "flagged", "doc_flagged")]
        if (
            not all(isinstance(x, list) and all(isinstance(t, str) for t in x) for x in lists)
            or not isinstance(data["tree"], str)
            or not _OBJECT_ID.fullmatch(data["tree"])
            or not isinstance(data["generation"], int)
            or not isinstance(data["lineage"], str)
            or not isinstance(data["verdict_rows"], int)
        ):
            raise ValueError("junk in the cached state")  # (a tree could be a git option)
        dirty, flagged, doc_flagged = map(set, lists)
        return LastRun(
            data["tree"],
            dirty,
            flagged,
            doc_flagged,
            {k: Folder.from_plain(v) for k, v in data["folders"].items()},
            data["generation"],
            data["lineage"],
            data["verdict_rows"],
        )

    def same_writer(self, other: LastRun) -> bool:
        return (self.lineage, self.generation) == (other.lineage, other.generation)


_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

# What a file row holds: its blob id (None: no cached verdict) and document id.
FileRow = tuple[str | None, str | None]


def dirty(rows: Mapping[str, FileRow], tree: Mapping[str, str]) -> set[str]:
    """The files the next run must read again: those whose bytes, as this run read
    them, are not `tree`'s blob (path → blob id): untracked, edited, or not read.
    Every other file is one git vouches for against that tree."""
    return {p for p, (blob, _) in rows.items() if blob is None or blob != tree.get(p)}


def _location(root: Path, fingerprint: str) -> Path | None:
    git_dir = gitio.output(root, "rev-parse", "--absolute-git-dir")
    if git_dir is None:
        return None
    return Path(os.fsdecode(git_dir.strip())) / "cmdbctl" / f"cache-{_FORMAT}-{fingerprint}.sqlite"


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    values = list(values)
    for i in range(0, len(values), _BATCH):
        yield values[i : i + _BATCH]


def _marks(values: list[str]) -> str:
    return ",".join("?" * len(values))


class VerdictCache:
    """The cache of one repository and schema set; `path` is None when there is none
    (turned off, or not in a git repository). Reading methods raise `CacheError`."""

    def __init__(self, root: Path, fingerprint: str) -> None:
        self.path = _location(root, fingerprint) if enabled() else None
        self._db: sqlite3.Connection | None = None

    # -- reading ---------------------------------------------------------------------

    def last_run(self) -> LastRun | None:
        """Open the cache for one consistent read (kept until `finish`); None: empty."""
        if self.path is None or not self.path.exists():
            return None
        try:
            self._db = sqlite3.connect(self.path, timeout=_TIMEOUT, isolation_level=None)
            self._db.execute("BEGIN")
            row = self._db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
            return LastRun.from_plain(row[0]) if row else None
        except (
            sqlite3.Error,
            orjson.JSONDecodeError,
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
        ) as exc:
            raise CacheError(str(exc)) from exc

    def _query(
        self, sql: str, values: Iterable[str], verdict_last: bool = False
    ) -> list[tuple[Any, ...]]:
        if self._db is None:
            raise CacheError("the cache is not open")
        rows: list[tuple[Any, ...]] = []
        try:
            for chunk in _chunks(values):
                rows += self._db.execute(sql.format(_marks(chunk)), chunk).fetchall()
        except (sqlite3.Error, UnicodeEncodeError) as exc:
            raise CacheError(str(exc)) from exc
        return _checked(rows, verdict_last)

    def files(self, paths: Iterable[str]) -> dict[str, FileRow]:
        """The last run's row of each of `paths` that it saw."""
        return {
            p: (b, i)
            for p, b, i in self._query("SELECT path, blob, id FROM files WHERE path IN ({})", paths)
        }

    def verdicts(self, blobs: Iterable[str]) -> dict[str, bytes]:
        """blob id → its cached verdict, as stored (`decode` it for a path)."""
        return dict(
            self._query(
                "SELECT blob, verdict FROM verdicts WHERE blob IN ({})", blobs, verdict_last=True
            )
        )

    def verdicts_at(self, paths: Iterable[str]) -> dict[str, Verdict]:
        """path → the verdict the last run kept for its file; every one must be there."""
        paths = set(paths)
        found = {
            p: decode(raw, p)
            for p, raw in self._query(
                "SELECT f.path, v.verdict FROM files f JOIN verdicts v ON v.blob = f.blob "
                "WHERE f.path IN ({})",
                paths,
                verdict_last=True,
            )
        }
        if len(found) != len(paths):
            raise CacheError("a file the last run judged has no cached verdict")
        return found

    def holders(self, ids: Iterable[str]) -> set[str]:
        """Paths whose document had one of `ids` in the last run."""
        return {p for (p,) in self._query("SELECT path FROM files WHERE id IN ({})", ids)}

    def referrers(self, ids: Iterable[str]) -> set[str]:
        """Paths whose document referred to one of `ids` in the last run."""
        return {
            p
            for (p,) in self._query(
                "SELECT f.path FROM refs r JOIN files f ON f.blob = r.blob WHERE r.target IN ({})",
                ids,
            )
        }

    def referring_blobs(self, ids: Iterable[str]) -> set[str]:
        """Blob ids of cached documents that refer to one of `ids` (any revision)."""
        return {b for (b,) in self._query("SELECT blob FROM refs WHERE target IN ({})", ids)}

    def ids_except(self, paths: set[str]) -> set[str]:
        """Every document id of the last run but those of `paths`."""
        return {
            i
            for p, i in self._all("SELECT path, id FROM files WHERE id IS NOT NULL")
            if p not in paths
        }

    def blobs(self) -> set[str]:
        """Every blob id with a cached verdict."""
        return {b for (b,) in self._all("SELECT blob FROM verdicts")}

    def _all(self, sql: str) -> list[tuple[Any, ...]]:
        if self._db is None and self.path is not None and self.path.exists():
            try:  # one read transaction until `finish`: every answer from one state
                self._db = sqlite3.connect(self.path, timeout=_TIMEOUT, isolation_level=None)
                self._db.execute("BEGIN")
            except sqlite3.Error as exc:
                raise CacheError(str(exc)) from exc
        if self._db is None:
            raise CacheError("no cache")
        try:
            return _checked(self._db.execute(sql).fetchall())
        except sqlite3.Error as exc:
            raise CacheError(str(exc)) from exc

    def finish(self) -> None:
        """End the read (and the connection)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- writing ---------------------------------------------------------------------

    def rebuilding(self) -> Rebuild:
        """A new cache for this run's whole view, written as its verdicts come in and
        put in place of this one by `Rebuild.commit` (use it as a context manager)."""
        self.finish()
        return Rebuild(self)

    def _sweep(self) -> None:
        """Remove what a rebuild leaves behind it: the caches of other fingerprints (a
        schema edit or another tool version: never read again, each as large as ours)
        and a rebuild's temporary files left by a crash."""
        assert self.path is not None
        abandoned = time.time() - 3600
        for stale in self.path.parent.glob("*"):
            if (
                stale.name.startswith("cache-")
                and not stale.name.startswith(self.path.name)
                or stale.name.startswith(".cache-")
                and stale.stat().st_mtime < abandoned
            ):
                stale.unlink(missing_ok=True)  # other fingerprints', never our journal

    def discard(self) -> None:
        """Remove the cache: its state was measured under conditions a run cannot
        check against any more (`validate` judged without it meanwhile)."""
        self.finish()
        if self.path is None or not self.path.exists():
            return
        try:
            self._replace_with(None)
        except (OSError, sqlite3.Error):
            pass  # in use: the next run that can lock it will

    def _replace_with(self, new: Path | None) -> None:
        """Rename `new` over the cache (None: remove it) while holding its write lock:
        no run is then writing it, whose journal (named after the path) could later be
        played back into the new file; readers keep reading the old file. A cache too
        broken to lock is replaced all the same; one locked past the timeout is left."""
        assert self.path is not None
        journal = self.path.with_name(self.path.name + "-journal")
        if not self.path.exists():
            journal.unlink(missing_ok=True)  # a crashed writer's, of a file now gone
            if new is not None:
                os.replace(new, self.path)
            return
        old = sqlite3.connect(self.path, timeout=_TIMEOUT, isolation_level=None)
        try:
            try:
                old.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise  # in use past the timeout: the caller drops `new`
            except sqlite3.DatabaseError:
                pass  # not a database any more: nothing to protect
            if os.name == "nt":
                old.close()  # Windows renames no file that is open
            if new is None:
                self.path.unlink()
            else:
                os.replace(new, self.path)
        finally:
            old.close()

    def update(
        self,
        last: LastRun,
        run: LastRun,
        files: Mapping[str, FileRow | None],
        verdicts: Mapping[str, Verdict],
    ) -> None:
        """Write this run's changes over `last` (the state it read): `files` (None:
        gone), new `verdicts` by blob id. Skipped when another run wrote meanwhile."""
        self.finish()
        if self.path is None:
            return
        try:
            db = sqlite3.connect(self.path, timeout=_TIMEOUT, isolation_level=None)
            try:
                db.execute("BEGIN IMMEDIATE")
                row = db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
                if row is None or not LastRun.from_plain(row[0]).same_writer(last):
                    db.execute("ROLLBACK")
                    return
                for chunk in _chunks(files):
                    db.execute(f"DELETE FROM files WHERE path IN ({_marks(chunk)})", chunk)
                present = {p: r for p, r in files.items() if r is not None}
                run.generation, run.lineage = last.generation + 1, last.lineage
                run.verdict_rows = last.verdict_rows + _insert(db, run, present, verdicts)
                if run.verdict_rows > 1000 + 2 * sum(len(f.files) for f in run.folders.values()):
                    _collect_garbage(db)
                    run.verdict_rows = db.execute("SELECT count(*) FROM verdicts").fetchone()[0]
                db.execute("UPDATE meta SET value = ? WHERE key = 'state'", (run.plain(),))
                db.execute("COMMIT")
            finally:
                db.close()
        except (
            OSError,
            sqlite3.Error,
            TypeError,
            ValueError,
            KeyError,
            AttributeError,
            orjson.JSONDecodeError,
            UnicodeEncodeError,
        ):
            return  # a cache that cannot be written only costs speed


class Rebuild:
    """A full rebuild of the cache, streamed: `add` writes each run of files as the run
    judges them (nothing of theirs is kept in memory), `commit` writes the state and
    renames the new file over the cache. The new file is private until then: a new
    lineage, generation 0, renamed into place under the old file's lock (see
    `VerdictCache._replace_with`); a run that fails, or leaves the `with` block without
    committing, leaves the cache as it was. A rebuild that cannot be written only costs
    speed: it stops writing and the cache stays as it was."""

    def __init__(self, cache: VerdictCache) -> None:
        self._cache = cache
        self._db: sqlite3.Connection | None = None
        self._tmp: Path | None = None
        self._failed = cache.path is None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _open(self) -> sqlite3.Connection:
        # Opened on the first write, not before: worker processes forked by then never
        # hold the connection.
        if self._db is None:
            assert self._cache.path is not None
            self._cache.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._cache.path.parent, prefix=".cache-", suffix=".tmp")
            os.close(fd)
            self._tmp = Path(tmp)
            self._db = db = sqlite3.connect(tmp, isolation_level=None)
            db.execute("PRAGMA journal_mode = OFF")  # a fresh file: rename is the commit
            db.execute("PRAGMA synchronous = OFF")
            db.execute("PRAGMA temp_store = FILE")  # the staging tables below: on disk
            db.executescript(_TABLES)
            # Verdicts and references arrive in path order, their keys (blob ids) at
            # random: staged here, they go into their tables sorted, appending to the
            # b-trees instead of inserting all over them.
            db.executescript(_STAGING)
            db.execute("BEGIN")
        return self._db

    def add(self, files: Iterable[tuple[str, str | None, Verdict]]) -> list[str]:
        """Write (path, blob id, verdict) of each file (blob id None: no verdict kept,
        as for a file that could not be read); the paths whose verdict JSON cannot hold
        (a lone surrogate): their rows keep no blob id, and they belong to `dirty`."""
        if self._failed:
            return []
        rows: list[tuple[str, str | None, str | None]] = []
        verdicts: list[tuple[str, bytes]] = []
        refs: list[tuple[str, str]] = []
        lost: list[str] = []
        for path, blob, verdict in files:
            entry = verdict.entry
            if blob is not None:
                try:
                    verdicts.append((blob, orjson.dumps(verdict.encode())))
                except TypeError:
                    lost.append(path)
                    blob = None
                else:
                    if entry is not None:
                        refs += ((target, blob) for target in entry.targets())
            rows.append((path, blob, entry.id if entry is not None else None))
        try:
            db = self._open()
            db.executemany("INSERT INTO files VALUES (?, ?, ?)", rows)
            db.executemany("INSERT INTO new_verdicts VALUES (?, ?)", verdicts)
            db.executemany("INSERT INTO new_refs VALUES (?, ?)", refs)
        except (OSError, sqlite3.Error, UnicodeEncodeError):
            self._fail()
        return lost

    def commit(self, run: LastRun) -> None:
        """Finish the file with `run`'s state and put it in place of the cache."""
        if self._failed:
            return
        try:
            db = self._open()
            # a new lineage: a run that read the replaced cache must not write here
            run.generation, run.lineage = 0, secrets.token_hex(8)
            run.verdict_rows = db.execute(
                "INSERT OR IGNORE INTO verdicts SELECT blob, verdict FROM new_verdicts "
                "ORDER BY blob"
            ).rowcount
            db.execute(
                "INSERT OR IGNORE INTO refs SELECT target, blob FROM new_refs ORDER BY target, blob"
            )
            for index in _INDEXES:  # after the rows: one sort instead of 10^5 inserts
                db.execute(index)
            db.execute("INSERT INTO meta VALUES ('state', ?)", (run.plain(),))
            db.execute("COMMIT")
            db.close()
            self._db = None
            assert self._tmp is not None and self._cache.path is not None
            self._cache._replace_with(self._tmp)
            self._tmp = None
            self._cache._sweep()
        except (OSError, sqlite3.Error, TypeError, UnicodeEncodeError):
            self._fail()  # a cache that cannot be written only costs speed

    def _fail(self) -> None:
        self._failed = True
        self._close()

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None


def decode(raw: bytes, path: str) -> Verdict:
    """A stored verdict, for the file at `path`; its every field is checked, since the
    file is not ours alone."""
    try:
        verdict = Verdict.decode(orjson.loads(raw), path)
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise CacheError(f"junk verdict: {exc}") from exc
    entry = verdict.entry
    if entry is not None and not (
        _optional(entry.id, str)
        and _optional(entry.kind, str)
        and all(isinstance(r, str) for r in entry.refs[0::3] + entry.refs[1::3])
        and all(_optional(r, int) and r is not None for r in entry.refs[2::3])
    ):
        raise CacheError("junk entry in a cached verdict")
    for f in verdict.findings:
        if not (
            isinstance(f.code, str)
            and isinstance(f.message, str)
            and f.severity in get_args(Severity)
            and isinstance(f.pointer, str)
            and _optional(f.line, int)
            and _optional(f.column, int)
            and _optional(f.hint, str)
        ):
            raise CacheError("junk finding in a cached verdict")
    return verdict


def _optional(value: object, kind: type) -> bool:
    return value is None or isinstance(value, kind) and not isinstance(value, bool)


def _checked(rows: list[tuple[Any, ...]], verdict_last: bool = False) -> list[tuple[Any, ...]]:
    """Rows as written: text or NULL, and a verdict's JSON in the last column if asked
    for (orjson reads bytes and text alike)."""
    texts = slice(None, -1) if verdict_last else slice(None)
    for row in rows:
        if (
            not all(v is None or isinstance(v, str) for v in row[texts])
            or verdict_last
            and not isinstance(row[-1], (str, bytes))
        ):
            raise CacheError("junk in a cached row")
    return rows


def _insert(
    db: sqlite3.Connection,
    run: LastRun,
    files: Mapping[str, FileRow],
    verdicts: Mapping[str, Verdict],
) -> int:
    """Insert file rows and verdicts (with their references); the verdicts added. A
    verdict JSON cannot hold (a lone surrogate) is not kept: its files go to `dirty`."""
    encoded = {}
    for key, verdict in verdicts.items():
        try:
            # copied: orjson hands back each small result in a 4 KiB block, which
            # would make 10^5 verdicts cost 400 MiB
            encoded[key] = memoryview(orjson.dumps(verdict.encode())).tobytes()
        except TypeError:
            pass
    rows: list[tuple[str, str | None, str | None]] = []
    for path, (blob, doc_id) in files.items():
        if blob is not None and blob in verdicts and blob not in encoded:
            run.dirty.add(path)
            blob = None
        rows.append((path, blob, doc_id))
    db.executemany("INSERT INTO files VALUES (?, ?, ?)", rows)
    # in key order: appending to the b-trees is cheaper than inserting all over them
    db.executemany("INSERT OR IGNORE INTO verdicts VALUES (?, ?)", sorted(encoded.items()))
    db.executemany(
        "INSERT OR IGNORE INTO refs VALUES (?, ?)",
        sorted(
            (t, b)
            for b, v in verdicts.items()
            if b in encoded and v.entry
            for t in v.entry.targets()
        ),
    )
    return len(encoded)


def _collect_garbage(db: sqlite3.Connection) -> None:
    """Drop verdicts no file holds any more (old versions pile up as files change)."""
    db.execute(
        "DELETE FROM verdicts WHERE blob NOT IN (SELECT blob FROM files WHERE blob IS NOT NULL)"
    )
    db.execute("DELETE FROM refs WHERE blob NOT IN (SELECT blob FROM verdicts)")
