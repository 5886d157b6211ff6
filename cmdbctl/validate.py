"""`cmdbctl validate`: schema, integrity and sanity checks of the work tree."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cmdbctl.cache import VerdictCache, blob_ids
from cmdbctl.checks import check_estate
from cmdbctl.findings import Finding, summarize
from cmdbctl.kinds import load_registry
from cmdbctl.verdicts import Progress, WorktreeReader, judge_all, relocate
from cmdbctl.workspace import Workspace


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
    files, findings = ws.files()
    read = WorktreeReader(ws.root)
    names = [f.path for f in files]
    cache = VerdictCache(ws.root, kinds.fingerprint)
    blobs = blob_ids(ws.root, names) if cache.path else {}
    known = {n: v for n in names if (v := cache.get(blobs.get(n), n)) is not None}
    todo = [n for n in names if n not in known]
    fresh = dict(zip(todo, judge_all(todo, read, kinds,
                                     progress(len(todo)) if progress else None, jobs)))
    verdicts = [known.get(n) or fresh[n] for n in names]
    cache.save({blobs[n]: v for n, v in zip(names, verdicts) if n in blobs})
    entries = [v.entry for v in verdicts if v.entry is not None]
    findings.extend(kinds.findings)
    for verdict in verdicts:
        findings.extend(verdict.findings)
    findings.extend(relocate(check_estate(entries, kinds), read))
    if paths is not None:
        findings = [f for f in findings if _under(f.path, paths)]
        names = [n for n in names if _under(n, paths)]
    findings.sort(key=Finding.sort_key)
    return ValidationResult(findings, len(names))


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(r in (".", "") or path == r or path.startswith(r.rstrip("/") + "/") for r in roots)
