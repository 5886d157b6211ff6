"""`cmdbctl validate`: schema, integrity and sanity checks of the work tree.

A run with no usable cache judges every file (`_judge_everything`) and leaves the cache
for the next; a run with one reads only what changed since (`incremental.revalidate`).
Both give the same findings: tests compare them after random edits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cmdbctl import gitio
from cmdbctl.cache import CacheError, FileRow, LastRun, VerdictCache, dirty
from cmdbctl.checks import check_estate, policy
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
    with ThreadPoolExecutor(1) as pool:  # git lists the tree while Python walks
        view = pool.submit(_git_view, ws) if cache.path is not None else None
        listing = ws.walk()
        names = listing.paths()
        seen = view.result() if view else None  # before forking workers: no thread running
    read = WorktreeReader(ws.root)
    judged = judge_all(names, read, kinds, progress(len(names)) if progress else None, jobs)
    verdicts = [v for v, _ in judged]
    entries = [v.entry for v in verdicts if v.entry is not None]
    # policy.check is a whole-estate fact, outside the estate checks' locality (see there).
    estate = relocate([*check_estate(entries, kinds), *policy.check(entries)], read)
    findings = [*listing.findings, *(f for v in verdicts for f in v.findings), *estate]
    if seen is None or listing.attributes:
        cache.discard()  # what changes now, no later run could tell from its state
    else:
        tree, tree_blobs = seen
        files: dict[str, FileRow] = {}
        kept: dict[str, Verdict] = {}
        for name, (verdict, blob) in zip(names, judged):
            if verdict.unreadable:
                blob = None  # no blob id names what it is: read again next time
            elif blob is not None:
                kept[blob] = verdict
            files[name] = (blob, verdict.entry.id if verdict.entry else None)
        run = LastRun(
            tree, dirty(files, tree_blobs),
            {f.path for f in estate}, {n for n, v in zip(names, verdicts) if v.findings},
            listing.folders)
        cache.rebuild(run, files, kept)
    return Outcome(listing, findings)


def _git_view(ws: Workspace) -> tuple[str, dict[str, str]] | None:
    """The tree a cache is measured against (HEAD's) and its blob ids; None when git's
    stat data cannot tell the next run what changed."""
    if not gitio.stat_data_trusted(ws.root, DOCUMENT_DIRS):
        return None
    tree = gitio.head_tree(ws.root)
    if tree is None:
        return None
    try:
        return tree, gitio.ls_tree(ws.root, tree, DOCUMENT_DIRS)
    except gitio.GitFailed:
        return None


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(r in (".", "") or path == r or path.startswith(r.rstrip("/") + "/") for r in roots)
