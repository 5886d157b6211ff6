"""One file's verdict, and the estate's, computed across processes.

A `Verdict` depends only on a file's bytes and the schema set (never on its path), so it
can be cached by git blob id and reused after a rename.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

from cmdbctl.checks import check_document
from cmdbctl.document import Document, Entry
from cmdbctl.findings import Finding
from cmdbctl.kinds import KindRegistry
from cmdbctl.loading import load, locate
from cmdbctl.loading.source import MAX_FILE_BYTES

# Below this many files, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 2000
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Verdict:
    entry: Entry | None
    findings: tuple[Finding, ...]

    def moved_to(self, path: str) -> Verdict:
        return Verdict(self.entry.moved_to(path) if self.entry else None,
                       tuple(f.moved_to(path) for f in self.findings))


def judge(path: str, raw: bytes, kinds: KindRegistry) -> Verdict:
    loaded = load(path, raw)
    if loaded.data is None:
        return Verdict(None, tuple(loaded.findings))
    doc = Document(path, loaded.data)
    findings = check_document(doc, kinds)
    if findings:
        findings = locate(loaded.text, findings)
    return Verdict(Entry.of(doc, kinds), tuple(findings))


Reader = Callable[[str], bytes]


def judge_path(path: str, read: Reader, kinds: KindRegistry) -> Verdict:
    try:
        raw = read(path)
    except OSError as exc:
        return Verdict(None, (Finding(path, "file.unreadable", f"cannot read file: {exc.strerror}",
                                      line=1, column=1),))
    return judge(path, raw, kinds)


@dataclass(frozen=True, slots=True)
class WorktreeReader:
    """Reads work-tree files, never more than the size limit (plus one byte to tell)."""

    root: Path

    def __call__(self, path: str) -> bytes:
        with open(f"{self.root}/{path}", "rb") as handle:  # no pathlib: 10^5 calls
            return handle.read(MAX_FILE_BYTES + 1)
Progress = Callable[[int], None]


def judge_all(paths: Sequence[str], read: Reader, kinds: KindRegistry,
              progress: Progress | None = None, jobs: int | None = None) -> list[Verdict]:
    """Verdicts of all files, in order; split across processes for large estates."""
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    if jobs <= 1 or len(paths) < PARALLEL_THRESHOLD:
        out = []
        for i, path in enumerate(paths):
            out.append(judge_path(path, read, kinds))
            if progress and i % 256 == 255:
                progress(256)
        if progress:
            progress(len(paths) % 256)
        return out
    chunks = [paths[i:i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    method = "fork" if "fork" in get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(jobs, mp_context=get_context(method), initializer=_init,
                             initargs=(kinds, read)) as pool:
        results = []
        for chunk_verdicts in pool.map(_judge_chunk, chunks):
            results.extend(chunk_verdicts)
            if progress:
                progress(len(chunk_verdicts))
    return results


_worker: tuple[KindRegistry, Reader] | None = None


def _init(kinds: KindRegistry, read: Reader) -> None:
    global _worker
    _worker = (kinds, read)


def _judge_chunk(paths: Iterable[str]) -> list[Verdict]:
    assert _worker is not None
    kinds, read = _worker
    return [judge_path(p, read, kinds) for p in paths]


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

