"""`cmdbctl validate`: schema, integrity and sanity checks of the work tree."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cmdbctl import gitio
from cmdbctl.cache import VerdictCache, blob_ids, enabled
from cmdbctl.checks import check_estate
from cmdbctl.document import Entry
from cmdbctl.findings import Finding, summarize
from cmdbctl.kinds import load_registry
from cmdbctl.verdicts import Progress, WorktreeReader, judge_all, relocate
from cmdbctl.workspace import DOCUMENT_DIRS, Workspace


@dataclass(frozen=True)
class ValidationResult:
    findings: list[Finding]
    files: int

    @property
    def summary(self) -> dict[str, int]:
        return summarize(self.findings, self.files)


def validate(ws: Workspace, paths: Sequence[str] | None = None,
             progress: Callable[[int], Progress] | None = None,
             jobs: int | None = None) -> ValidationResult:
    """Validate the repository; with `paths`, report only on files under them.

    Integrity is always judged against the whole estate, so a reference from a given
    file to one elsewhere resolves.
    """
    kinds = load_registry(ws.root)
    with ThreadPoolExecutor(1) as pool:  # git lists the index while Python walks
        index = pool.submit(gitio.index_blobs, ws.root, DOCUMENT_DIRS) if enabled() else None
        names, findings = ws.files()
        cache = VerdictCache(ws.root, kinds.fingerprint)
        blobs = blob_ids(ws.root, names, index.result()) if cache.path and index else {}
    read = WorktreeReader(ws.root)
    known = cache.get(blobs, names)
    todo = [n for n in names if n not in known]
    fresh = dict(zip(todo, judge_all(todo, read, kinds,
                                     progress(len(todo)) if progress else None, jobs)))
    verdicts = [known.get(n) or fresh[n] for n in names]
    entries = [v.entry for v in verdicts if v.entry is not None]
    estate = relocate(check_estate(entries, kinds, _recheck(entries, blobs, cache)), read)
    cache.save(blobs, fresh, {f.path for f in estate},
               {e.id for e in entries if e.id is not None and e.path not in blobs})
    findings.extend(kinds.findings)
    for verdict in verdicts:
        findings.extend(verdict.findings)
    findings.extend(estate)
    if paths is not None:
        findings = [f for f in findings if _under(f.path, paths)]
        names = [n for n in names if _under(n, paths)]
    findings.sort(key=Finding.sort_key)
    return ValidationResult(findings, len(names))


def _recheck(entries: list[Entry], blobs: dict[str, str],
             cache: VerdictCache) -> list[Entry] | None:
    """The entries whose estate findings could differ from the last run's (None: all).

    Those are the files that changed, the ones the last run flagged, and the ones that
    hold or refer to an id that a changed file had or has: every other entry sees the
    same documents behind its id and its references as last time, so it is still clean.
    """
    if not cache.last_files:
        return None
    now = {e.path: e for e in entries}
    changed = {p for p, b in blobs.items() if cache.last_files.get(p) != b}
    changed |= now.keys() - blobs.keys()  # no blob id (symlinks): judged every time
    changed |= cache.last_files.keys() - blobs.keys()  # deleted, or no longer a blob
    ids = {cache.last_id(p) for p in changed} | {now[p].id for p in changed if p in now}
    ids |= cache.last_unblobbed_ids  # their files may be gone: no blob says what they held
    ids.discard(None)
    return [e for e in entries
            if e.path in changed or e.path in cache.last_flagged or e.id in ids
            or not ids.isdisjoint(e.targets())]


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(r in (".", "") or path == r or path.startswith(r.rstrip("/") + "/") for r in roots)
