"""A warm `validate`: read only what changed since the run that left the cache.

What may have changed is known without visiting every file:
- folders whose stamp (times, inode) moved are listed again (that is how files
  appear, vanish or are renamed); the others keep the last listing;
- git says which tracked files differ from the current tree (`diff-index`, from the
  index's stat data, as `git status` does) and which paths two trees differ in;
- the last run's `dirty` files (untracked, edited, unreadable) are hashed again.
Symlinks are never read (`Workspace.walk` reports them from the listing), so every
document is a regular file whose bytes a blob id names. A file outside all of these
has the bytes it had in the last run, so its cached verdict stands. The estate checks
then rerun only for the entries an edit could touch (see `checks`), looked up in the
cache's indexes by id and by reference target.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cmdbctl import gitio
from cmdbctl.checks import check_estate, policy
from cmdbctl.document import Entry
from cmdbctl.findings import Finding
from cmdbctl.kinds import KindRegistry
from cmdbctl.loading.source import MAX_FILE_BYTES
from cmdbctl.validate.cache import FileRow, LastRun, VerdictCache, decode, dirty
from cmdbctl.validate.verdicts import (
    PARALLEL_THRESHOLD,
    Judged,
    Progress,
    Verdict,
    WorktreeReader,
    blob_id,
    judge,
    judge_all,
    judge_path,
    relocate,
)
from cmdbctl.workspace import DOCUMENT_DIRS, Listing, Workspace


@dataclass(frozen=True)
class Outcome:
    listing: Listing
    findings: list[Finding]  # the files' own, the listing's and the estate checks'


def revalidate(
    ws: Workspace,
    kinds: KindRegistry,
    cache: VerdictCache,
    progress: Callable[[int], Progress] | None,
    jobs: int | None,
) -> Outcome | None:
    """The findings of the whole estate from what changed since the cached run; None
    when there is no such run to start from. Raises `CacheError` on a broken cache."""
    last = cache.last_run()
    if last is None or not gitio.stat_data_trusted(ws.root, DOCUMENT_DIRS):
        return None
    tree = gitio.head_tree(ws.root)
    if tree is None:
        return None
    with ThreadPoolExecutor(2) as pool:  # git compares while Python lists folders
        differing_f = pool.submit(gitio.differing, ws.root, tree, DOCUMENT_DIRS)
        moved_f = (
            pool.submit(gitio.tree_differences, ws.root, last.tree, tree, DOCUMENT_DIRS)
            if tree != last.tree
            else None
        )
        listing = ws.walk(last.folders)
        differing, moved = differing_f.result(), moved_f.result() if moved_f else set()
    if listing.attributes or differing is None or moved is None:
        return None  # attributes, the last tree gone: judge everything
    present = _Present(listing)
    added, removed = _listing_changes(last, listing)
    suspects = sorted(p for p in differing | moved | last.dirty | added if p in present)
    rows = cache.files([*suspects, *removed])

    read = WorktreeReader(ws.root)
    judged, seen, todo = _judge_changes(suspects, rows, cache, read, kinds, progress, jobs)

    warm = _Warm(cache, kinds, last, rows, present, read, judged, removed)
    estate = _estate(warm) + _policies(warm, listing)
    findings = [*listing.findings, *(f for v, _ in judged.values() for f in v.findings)]
    still = {p for p in last.doc_flagged if p in present and p not in judged}
    for verdict in cache.verdicts_at(still).values():
        findings.extend(verdict.findings)
    findings.extend(estate)

    tree_blobs = gitio.tree_blobs_of(ws.root, tree, suspects)
    if tree_blobs is None:
        return Outcome(listing, findings)  # git failed: the answer stands, no cache
    new_rows: dict[str, FileRow | None] = {p: None for p in removed}
    new_verdicts: dict[str, Verdict] = {}
    judged_now = set(todo)
    for path, (verdict, blob) in judged.items():
        if verdict.unreadable:
            blob = None  # no blob id names what it is: read again next time
        new_rows[path] = (blob, verdict.entry.id if verdict.entry else None)
        if blob is not None and path in judged_now:
            new_verdicts[blob] = verdict
    now_rows: dict[str, FileRow] = {p: (seen.get(p), None) for p in suspects}  # as read
    now_rows.update((p, row) for p, row in new_rows.items() if row is not None)
    run = LastRun(
        tree,
        dirty(now_rows, tree_blobs),
        {f.path for f in estate},
        still | {p for p, (v, _) in judged.items() if v.findings},
        listing.folders,
    )
    cache.update(last, run, new_rows, new_verdicts)
    return Outcome(listing, findings)


def _judge_changes(
    suspects: list[str],
    rows: dict[str, FileRow],
    cache: VerdictCache,
    read: WorktreeReader,
    kinds: KindRegistry,
    progress: Callable[[int], Progress] | None,
    jobs: int | None,
) -> tuple[dict[str, Judged], dict[str, str | None], list[str]]:
    """Read every suspect; judge those whose bytes are new (from the cache when some
    file had these bytes before). Returns path → verdict and blob id for what changed,
    the blob id of every suspect as read, and the paths judged afresh."""
    judged: dict[str, Judged] = {}
    fresh: dict[str, tuple[bytes, str | None]] = {}  # changed bytes, and their blob id
    seen: dict[str, str | None] = {}
    retried: list[str] = []
    for path in suspects:
        try:
            raw = read(path)
        except OSError:
            judged[path] = judge_path(path, read, kinds)  # says what is wrong with it
            retried.append(path)  # (and may have read it after all)
            continue
        blob = seen[path] = blob_id(raw) if len(raw) <= MAX_FILE_BYTES else None
        if blob is None or rows.get(path, (None, None))[0] != blob:
            fresh[path] = raw, blob
    cached = cache.verdicts(b for _, b in fresh.values() if b is not None)
    todo = []
    for path, (raw, blob) in fresh.items():
        if blob in cached:
            judged[path] = decode(cached[blob], path), blob
        else:
            todo.append(path)
    bar = progress(len(todo)) if progress else None
    if len(todo) >= PARALLEL_THRESHOLD:
        judged.update(zip(todo, judge_all(todo, read, kinds, bar, jobs)))
        return judged, seen, todo + retried
    for path in todo:
        raw, blob = fresh[path]
        judged[path] = judge(path, raw, kinds), blob
        if bar:
            bar(1)
    return judged, seen, todo + retried


class _Present:
    """Membership in the current listing, without building the list of 10^5 paths."""

    def __init__(self, listing: Listing) -> None:
        self._folders = listing.folders
        self._sets: dict[str, frozenset[str]] = {}

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        rel, _, name = path.rpartition("/")
        folder = self._folders.get(rel)
        if folder is None:
            return False
        names = self._sets.get(rel)
        if names is None:
            names = self._sets[rel] = frozenset(folder.files)
        return name in names


def _listing_changes(last: LastRun, listing: Listing) -> tuple[set[str], set[str]]:
    """Regular files added and removed between the last listing and this one."""
    added, removed = set(), set()
    for rel, folder in listing.folders.items():
        old = last.folders.get(rel)
        if old is folder:
            continue
        before = set(old.files) if old else set()
        now = set(folder.files)
        added |= {f"{rel}/{n}" for n in now - before}
        removed |= {f"{rel}/{n}" for n in before - now}
    for rel, old in last.folders.items():
        if rel not in listing.folders:
            removed |= {f"{rel}/{n}" for n in old.files}
    return added, removed


@dataclass(frozen=True)
class _Warm:
    """What a warm run knows once it has judged what changed."""

    cache: VerdictCache
    kinds: KindRegistry
    last: LastRun
    rows: dict[str, FileRow]  # the cache's rows of the suspects and the removed files
    present: _Present
    read: WorktreeReader
    judged: dict[str, Judged]  # path → verdict of each file judged afresh
    removed: set[str]

    @property
    def changed(self) -> set[str]:
        return self.judged.keys() | self.removed


def _estate(warm: _Warm) -> list[Finding]:
    """Estate findings of every entry whose findings could differ from the last run's:
    the changed files, the ones the last run flagged, and those that hold or refer to
    an id a changed file had or has. Every other entry still has none."""
    cache, last, rows, present, changed = (
        warm.cache,
        warm.last,
        warm.rows,
        warm.present,
        warm.changed,
    )
    now = {p: v.entry for p, (v, _) in warm.judged.items() if v.entry is not None}
    ids = {i for p in changed if (i := rows.get(p, (None, None))[1]) is not None}
    ids |= {e.id for e in now.values() if e.id is not None}
    around = cache.holders(ids) | cache.referrers(ids) | last.flagged
    recheck = sorted({*now, *(p for p in around if p not in changed and p in present)})
    entries = _entries(cache, recheck, now)
    only = [entries[p] for p in recheck if p in entries]
    needed = {e.id for e in only if e.id is not None} | {t for e in only for t in e.targets()}
    holders = {p for p in cache.holders(needed) if p not in changed and p in present}
    holders |= {p for p, e in now.items() if e.id in needed}
    entries.update(_entries(cache, [p for p in holders if p not in entries], now))

    def all_ids() -> list[str]:
        rest = cache.ids_except(changed)
        return sorted(rest | {e.id for e in now.values() if e.id is not None})

    found = check_estate([entries[p] for p in sorted(entries)], warm.kinds, only, all_ids)
    return relocate(found, warm.read)


def _policies(warm: _Warm, listing: Listing) -> list[Finding]:
    """`checks.policy` over every document under policies/, afresh on every run: a
    whole-estate fact, outside the estate checks' locality (see that module)."""
    entries = [v.entry for v, _ in warm.judged.values() if v.entry is not None]
    rest = [p for p in policy.paths(listing.folders) if p not in warm.judged]
    entries += _entries(warm.cache, rest, {}).values()
    return relocate(policy.check(entries), warm.read)


def _entries(cache: VerdictCache, paths: list[str], now: dict[str, Entry]) -> dict[str, Entry]:
    """Entries of unchanged files from their cached verdicts, and of changed ones."""
    out = {p: now[p] for p in paths if p in now}
    rest = [p for p in paths if p not in now]
    for path, verdict in cache.verdicts_at(rest).items():
        if verdict.entry is not None:
            out[path] = verdict.entry
    return out
