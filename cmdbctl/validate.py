"""`cmdbctl validate`: schema, integrity and sanity checks of the work tree.

A run with no usable cache judges every file (`_judge_everything`) and leaves the cache
for the next; a run with one reads only what changed since (`incremental.revalidate`).
Both give the same findings: tests compare them after random edits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from cmdbctl import gitio
from cmdbctl.cache import CacheError, FileRow, LastRun, VerdictCache
from cmdbctl.checks import check_estate
from cmdbctl.findings import Finding, summarize
from cmdbctl.incremental import Outcome, revalidate
from cmdbctl.kinds import KindRegistry, load_registry
from cmdbctl.verdicts import Progress, Verdict, WorktreeReader, judge_all, relocate
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
    cache = VerdictCache(ws.root, kinds.fingerprint)
    outcome = None
    if cache.path is not None:
        try:
            outcome = revalidate(ws, kinds, cache, progress, jobs)
        except CacheError:
            outcome = None  # unreadable: judged afresh below, and rewritten
        finally:
            cache.finish()
    if outcome is None:
        outcome = _judge_everything(ws, kinds, cache, progress, jobs)
    findings = [*kinds.findings, *outcome.findings]
    count = outcome.listing.count()
    if paths is not None:
        findings = [f for f in findings if _under(f.path, paths)]
        count = sum(1 for n in outcome.listing.paths() if _under(n, paths))
    findings.sort(key=Finding.sort_key)
    return ValidationResult(findings, count)


def _judge_everything(ws: Workspace, kinds: KindRegistry, cache: VerdictCache,
                      progress: Callable[[int], Progress] | None,
                      jobs: int | None) -> Outcome:
    with ThreadPoolExecutor(2) as pool:  # git looks at the index while Python walks
        view = pool.submit(_git_view, ws, pool) if cache.path is not None else None
        listing = ws.walk()
        names = listing.paths()
        seen = view.result() if view else None  # before forking workers: no thread running
    read = WorktreeReader(ws.root)
    judged = judge_all(names, read, kinds, progress(len(names)) if progress else None, jobs)
    verdicts = [v for v, _ in judged]
    entries = [v.entry for v in verdicts if v.entry is not None]
    estate = relocate(check_estate(entries, kinds), read)
    findings = [*listing.findings, *(f for v in verdicts for f in v.findings), *estate]
    if seen is not None:
        tree, differing, index = seen
        linked = set(listing.linked)
        files: dict[str, FileRow] = {}
        kept: dict[str, Verdict] = {}
        for name, (verdict, blob) in zip(names, judged):
            if name in linked or blob is None or verdict.unreadable:
                blob = None
            else:
                kept[blob] = verdict
            files[name] = (blob, verdict.entry.id if verdict.entry else None)
        # Dirty: what git calls changed, and what was read as other bytes than the
        # index holds (untracked, or edited while git looked: stat data cannot say).
        run = LastRun(
            tree, {n for n in names if n in differing or files[n][0] != index.get(n)},
            {f.path for f in estate}, {n for n, v in zip(names, verdicts) if v.findings},
            {i for n in linked if (i := files[n][1]) is not None}, listing.folders)
        cache.rebuild(run, files, kept)
    return Outcome(listing, findings)


def _git_view(ws: Workspace,
              pool: ThreadPoolExecutor) -> tuple[str, set[str], dict[str, str]] | None:
    """The tree a cache is measured against, the files that differ from it, and the
    index's blob ids; None when the work tree cannot have a cache."""
    index: Future[dict[str, str] | None] = pool.submit(gitio.index_blobs, ws.root,
                                                       DOCUMENT_DIRS)
    tree = gitio.head_tree(ws.root) if gitio.caches_blobs(ws.root) else None
    differing = gitio.differing(ws.root, tree, DOCUMENT_DIRS) if tree else None
    blobs = index.result()
    if tree is None or differing is None or blobs is None:
        return None
    return tree, differing, blobs


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(r in (".", "") or path == r or path.startswith(r.rstrip("/") + "/") for r in roots)
