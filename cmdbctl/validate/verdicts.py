"""One file's verdict, and the estate's, computed across processes.

A `Verdict` depends only on a file's bytes and the schema set (never on its path), so it
can be cached by git blob id and reused after a rename.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from cmdbctl.checks import check_document
from cmdbctl.document import Document, Entry, UnreadEntry
from cmdbctl.findings import Finding
from cmdbctl.kinds import KindRegistry
from cmdbctl.loading import load, locate
from cmdbctl.loading.source import MAX_FILE_BYTES

# Below this many files, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 2000
_CHUNK = 500
_AHEAD = 3  # runs of _CHUNK paths in flight per worker process
_READ_SIZE = 64 * 1024


class Verdict(NamedTuple):  # a tuple, like Entry: cheap to build by the 10^5
    entry: Entry | None
    findings: tuple[Finding, ...]

    # The plain form is flat, [id, kind, refs, findings] with refs as one list of
    # pointer, target, field triples (None: no entry): a warm run loads 10^5 of them, and
    # every nested list is one more object for the JSON parser to build.
    def encode(self) -> list[Any]:
        """Plain JSON without the path: what workers send back and the cache keeps."""
        entry = self.entry
        findings = [
            [f.code, f.message, f.severity, f.pointer, f.line, f.column, f.hint]
            for f in self.findings
        ]
        if entry is None or isinstance(entry, UnreadEntry):  # its id is its path's
            return [None, None, None, findings]
        return [entry.id, entry.kind, list(entry.refs), findings]

    @property
    def unreadable(self) -> bool:
        """The file could not be read: a fact about the file, not its bytes, so the
        verdict is never cached under a blob id."""
        return any(f.code == "file.unreadable" for f in self.findings)

    @staticmethod
    def decode(data: list[Any], path: str) -> Verdict:
        """The verdict of `encode`'s output, for the file at `path`; raises on junk."""
        doc_id, kind, refs, findings = data
        entry: Entry = Entry.unread(path)  # no document: the id of the path it is at
        if refs is not None:
            if len(refs) % 3:
                raise ValueError("references come in triples")
            entry = _new(Entry, (path, doc_id, kind, tuple(refs)))
        return _new(
            Verdict, (entry, tuple(Finding(path, *f) for f in findings) if findings else ())
        )


# A named tuple's own constructor is a Python-level function; a warm run decodes 10^5
# verdicts, so they are built as tuples in C.
_new = tuple.__new__


def judge(path: str, raw: bytes, kinds: KindRegistry) -> Verdict:
    loaded = load(path, raw)
    if loaded.data is None:
        return Verdict(Entry.unread(path), tuple(loaded.findings))
    doc = Document(path, loaded.data)
    findings = check_document(doc, kinds)
    if findings:
        findings = locate(loaded.text, findings)
    return Verdict(Entry.of(doc, kinds), tuple(findings))


Reader = Callable[[str], bytes]


def blob_id(raw: bytes) -> str:
    """The id git gives these bytes as a blob (`git hash-object`)."""
    digest = hashlib.sha1(b"blob %d\0" % len(raw))
    digest.update(raw)
    return digest.hexdigest()


Judged = tuple[Verdict, str | None]  # and the blob id of the bytes judged (None: none)


def judge_path(path: str, read: Reader, kinds: KindRegistry) -> Judged:
    """The verdict of the file as read now, with the blob id of exactly those bytes, so
    a cache never files a verdict under bytes it did not judge."""
    try:
        raw = read(path)
    except OSError as exc:
        return Verdict(
            Entry.unread(path),
            (
                Finding(
                    path, "file.unreadable", f"cannot read file: {exc.strerror}", line=1, column=1
                ),
            ),
        ), None
    return judge(path, raw, kinds), blob_id(raw) if len(raw) <= MAX_FILE_BYTES else None


CODES: dict[str, str] = {
    "file.unreadable": "the file cannot be read (no permission, or it went away while "
    "being read); it is judged again on the next run",
}


@dataclass(frozen=True, slots=True)
class WorktreeReader:
    """Reads work-tree files, never more than the size limit (plus one byte to tell)."""

    root: Path

    def __call__(self, path: str) -> bytes:
        # os.open/os.read, not open(): no buffered file object per file, for 10^5 calls;
        # and 64 KiB reads, not one of the limit's size, which would allocate 1 MiB each.
        fd = os.open(f"{self.root}/{path}", os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            parts, size = [], 0
            while size <= MAX_FILE_BYTES:
                chunk = os.read(fd, min(_READ_SIZE, MAX_FILE_BYTES + 1 - size))
                if not chunk:
                    break
                parts.append(chunk)
                size += len(chunk)
            return parts[0] if len(parts) == 1 else b"".join(parts)
        finally:
            os.close(fd)


Progress = Callable[[int], None]


def judge_all(
    paths: Sequence[str],
    read: Reader,
    kinds: KindRegistry,
    progress: Progress | None = None,
    jobs: int | None = None,
) -> list[Judged]:
    """Verdicts of all files (and blob ids of the bytes judged), in order."""
    return [j for _, judged in judge_chunks(paths, read, kinds, progress, jobs) for j in judged]


def judge_chunks(
    paths: Sequence[str],
    read: Reader,
    kinds: KindRegistry,
    progress: Progress | None = None,
    jobs: int | None = None,
) -> Generator[tuple[Sequence[str], list[Judged]], None, None]:
    """Verdicts of all files (and blob ids of the bytes judged), in order, a run of
    paths at a time as they are judged: the caller keeps what it needs of each run, not
    10^6 verdicts. Split across processes for large estates; the workers run ahead of
    the caller by a few runs at most, so what waits for it stays small too."""
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    if jobs <= 1 or len(paths) < PARALLEL_THRESHOLD:
        for start in range(0, len(paths), _CHUNK):
            chunk = paths[start : start + _CHUNK]
            out = []
            for i, path in enumerate(chunk, start):
                out.append(judge_path(path, read, kinds))
                if progress and i % 256 == 255:
                    progress(256)
            yield chunk, out
        if progress:
            progress(len(paths) % 256)
        return
    chunks = (paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK))
    method = "fork" if "fork" in get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(
        jobs, mp_context=get_context(method), initializer=_init, initargs=(kinds, read)
    ) as pool:
        waiting: deque[tuple[Sequence[str], Future[bytes | list[Any]]]] = deque(
            (chunk, pool.submit(_judge_chunk, chunk)) for chunk in islice(chunks, _AHEAD * jobs)
        )
        try:
            while waiting:
                chunk, future = waiting.popleft()
                encoded = future.result()
                for more in islice(chunks, 1):
                    waiting.append((more, pool.submit(_judge_chunk, more)))
                verdicts, blobs = orjson.loads(encoded) if isinstance(encoded, bytes) else encoded
                del encoded
                if progress:
                    progress(len(chunk))
                yield chunk, list(zip(map(Verdict.decode, verdicts, chunk), blobs))
        finally:  # the caller stopped early: runs not started yet are not started
            for _, future in waiting:
                future.cancel()


_worker: tuple[KindRegistry, Reader] | None = None


def _init(kinds: KindRegistry, read: Reader) -> None:
    global _worker
    _worker = (kinds, read)


def _judge_chunk(paths: Iterable[str]) -> bytes | list[Any]:
    # Sent back as JSON bytes: unpickling 10^5 named tuples costs the parent more than
    # the workers save; orjson round-trips the plain form ten times faster.
    assert _worker is not None
    kinds, read = _worker
    judged = [judge_path(p, read, kinds) for p in paths]
    encoded = [[v.encode() for v, _ in judged], [b for _, b in judged]]
    try:
        return orjson.dumps(encoded)
    except TypeError:  # text orjson refuses (a lone surrogate from a "\ud800" escape)
        return encoded  # pickled instead


def relocate(findings: Iterable[Finding], read: Reader) -> list[Finding]:
    """Locate estate-check findings, parsing each affected file once."""
    by_path: dict[str, list[Finding]] = {}
    for f in findings:
        by_path.setdefault(f.path, []).append(f)
    out = []
    for path, group in by_path.items():
        try:
            text: str | None = read(path).decode("utf-8", errors="replace")
        except OSError:
            text = None
        out.extend(locate(text, group))
    return out
