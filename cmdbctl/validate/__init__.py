"""`cmdbctl validate`: schema, integrity and sanity checks of the work tree.

A run with no usable cache judges every file (`_judge_everything`) and leaves the cache
for the next; a run with one reads only what changed since (`incremental.revalidate`).
Both give the same findings: tests compare them after random edits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, nullcontext
from dataclasses import dataclass
from typing import Any

from cmdbctl import gitio
from cmdbctl.checks import check_estate, policy
from cmdbctl.document import Entry
from cmdbctl.errors import CommandError
from cmdbctl.findings import Finding, summarize
from cmdbctl.kinds import KindRegistry, load_registry
from cmdbctl.validate.cache import CacheError, LastRun, VerdictCache
from cmdbctl.validate.incremental import Outcome, revalidate
from cmdbctl.validate.verdicts import Progress, WorktreeReader, judge_chunks, relocate
from cmdbctl.workspace import DOCUMENT_DIRS, Listing, Workspace


@dataclass(frozen=True)
class ValidationResult:
    findings: list[Finding]
    files: int

    @property
    def summary(self) -> dict[str, int]:
        return summarize(self.findings, self.files)


def validate(
    ws: Workspace,
    paths: Sequence[str] | None = None,
    progress: Callable[[int], Progress] | None = None,
    jobs: int | None = None,
) -> ValidationResult:
    """Validate the repository; with `paths` (repository-relative), report only on files
    under them.

    Integrity is always judged against the whole estate, so a reference from a given
    file to one elsewhere resolves. A path that is no document and holds none (README.md,
    schemas/, an empty folder) is a `CommandError`: a report on it would say nothing.
    """
    if paths is not None:
        _refuse(
            ws,
            [p for p in paths if p not in (".", "") and p.partition("/")[0] not in DOCUMENT_DIRS],
        )  # before any work
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
        _refuse(ws, [p for p in paths if not _holds_documents(outcome.listing, p)])
        findings = [f for f in findings if _under(f.path, paths)]
        count = sum(1 for n in outcome.listing.paths() if _under(n, paths))
    findings.sort(key=Finding.sort_key)
    return ValidationResult(findings, count)


def _judge_everything(
    ws: Workspace,
    kinds: KindRegistry,
    cache: VerdictCache,
    progress: Callable[[int], Progress] | None,
    jobs: int | None,
) -> Outcome:
    """Judge every file, and leave a cache of it all when git can vouch for the state.

    Verdicts stream: each run of files the workers return goes into the new cache at
    once, and only what the rest of the run needs stays in memory: the small entries
    of the estate check and the findings to print. At 10^6 documents the verdicts
    themselves would not fit (see bench/README.md, "Memory")."""
    # git lists the tree while Python walks; the listing is parsed here, not in the
    # thread, whose allocator would keep what the parse frees from the rest of the run.
    with ThreadPoolExecutor(1) as pool:  # no thread running after: workers fork below
        walk = pool.submit(ws.walk)
        seen = _git_view(ws) if cache.path is not None else None
        listing = walk.result()
    names = listing.paths()
    tree, in_tree = "", None  # None: git cannot vouch for the state, no cache is left
    if seen is not None and not listing.attributes:
        tree, in_tree = seen[0], _TreeBlobs(names, seen[1])
    del seen  # a map of every path: packed, and gone before the workers fork
    read = WorktreeReader(ws.root)
    findings: list[Finding] = [*listing.findings]
    entries: list[Entry] = []
    doc_flagged: set[str] = set()
    stale: set[str] = set()  # what the next run must read again (LastRun.dirty)
    same = _Interner()
    judged = judge_chunks(names, read, kinds, progress(len(names)) if progress else None, jobs)
    at = 0  # index in `names` of the file at hand
    with closing(judged), cache.rebuilding() if in_tree is not None else nullcontext() as build:
        for chunk, verdicts in judged:
            rows = []
            for path, (verdict, blob) in zip(chunk, verdicts):
                if verdict.entry is not None:
                    entries.append(same.entry(verdict.entry))
                if verdict.findings:
                    findings += verdict.findings
                    doc_flagged.add(path)
                if in_tree is not None:
                    if verdict.unreadable:
                        blob = None  # no blob id names what it is: read again next time
                    if blob is None or not in_tree.holds(at, blob):
                        stale.add(path)  # not the tree's blob: untracked, edited, not read
                    rows.append((path, blob, verdict))
                at += 1
            if build is not None:
                stale.update(build.add(rows))
        del names, in_tree, same  # before the estate check's own indexes
        # policy.check is a whole-estate fact, outside the estate checks' locality (see there).
        estate = relocate([*check_estate(entries, kinds), *policy.check(entries)], read)
        findings += estate
        if build is not None:
            build.commit(
                LastRun(tree, stale, {f.path for f in estate}, doc_flagged, listing.folders)
            )
    if build is None:
        cache.discard()  # what changes now, no later run could tell from its state
    return Outcome(listing, findings)


class _TreeBlobs:
    """The tree's blob id of each of `names`, by index, packed: a few bytes a file,
    where the map `gitio.ls_tree` gives holds two strings and a slot for each."""

    def __init__(self, names: Sequence[str], tree: Mapping[str, str]) -> None:
        self._size = len(next(iter(tree.values()), "")) // 2 or 20  # SHA-1 or SHA-256
        none = "00" * self._size  # no object has this id
        packed = bytearray()
        for start in range(0, len(names), 4096):
            packed += bytes.fromhex(
                "".join([tree.get(n, none) for n in names[start : start + 4096]])
            )
        self._packed = bytes(packed)

    def holds(self, index: int, blob: str) -> bool:
        """Whether the tree holds `blob` at the path `names[index]`."""
        size = self._size
        return self._packed[index * size : (index + 1) * size].hex() == blob


class _Interner:
    """One string object for each distinct id, kind, pointer and target: 10^6 entries
    repeat a few hundred kinds and pointers, and refer to ids other entries hold."""

    def __init__(self) -> None:
        self._same: dict[object, Any] = {}

    def entry(self, entry: Entry) -> Entry:
        same = self._same.setdefault
        return _new(
            type(entry),
            (
                entry.path,
                same(entry.id, entry.id),
                same(entry.kind, entry.kind),
                tuple(map(same, entry.refs, entry.refs)),
            ),
        )


_new = tuple.__new__  # builds the named tuple (of the entry's own class) in C


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


def _holds_documents(listing: Listing, path: str) -> bool:
    """Whether `path` is a document of the listing, or a folder holding one, or holds
    what the walk reported (a symlinked document, a FIFO, a linked document folder)."""
    for rel, folder in listing.folders.items():
        if (
            folder.files
            and _under(rel, (path,))
            or path.startswith(rel + "/")
            and path[len(rel) + 1 :] in folder.files
        ):
            return True
    return any(_under(f.path, (path,)) for f in listing.findings)


def _refuse(ws: Workspace, paths: Sequence[str]) -> None:
    """Exit 2 for paths that hold no document: a report on them would say nothing."""
    if paths:
        what = "; ".join(
            f"{p} holds no document" if (ws.root / p).is_dir() else f"{p} is not a document"
            for p in paths
        )
        raise CommandError(
            f"{what}: validate checks the *.yaml and *.yml files under "
            f"{', '.join(d + '/' for d in DOCUMENT_DIRS[:-1])} and {DOCUMENT_DIRS[-1]}/ "
            "(hidden ones are skipped)",
            "give documents or folders holding them, or no path to check the whole repository",
        )


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(r in (".", "") or path == r or path.startswith(r.rstrip("/") + "/") for r in roots)
