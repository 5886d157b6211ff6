"""The commits that touched a document's file, each with its diffs, found by git's own path
filtering and followed back through moves (`commits_touching` says why and how)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cmdbctl import gitio
from cmdbctl.history.paths import documents


def commits_touching(
    root: Path, doc_id: str, rev: str, specs: list[str]
) -> tuple[list[gitio.Commit], Iterator[list[gitio.FileChange]]]:
    """The commits that touched the document's file, each with its diff (a merge: one
    per parent), newest first in topological order.

    A wildcard walk over every commit descends into every folder each commit changed and
    matches every entry there: a second over 2 * 10^4 commits. A walk on a literal path does
    not (and with a commit-graph's changed-path Bloom filters, `git commit-graph write
    --reachable --changed-paths`, skips most commits unread). So when the document is in
    `rev`, the walk follows its paths there; the diffs of the commits found reveal the
    paths it had before (a move, a side branch's place for it), and each time they do,
    the history behind the commits that revealed them is walked again with every path
    known: every commit that touched the document at such a path is an ancestor of the
    commit that moved it from there. A document that is not in `rev` (deleted) starts
    from the paths of the newest commit that touched it, which a wildcard walk finds
    (it stops there). Not linked: a document deleted in one commit and written at
    another path in a later one (two lives of one id, of which this finds the last)."""
    known = documents(doc_id, gitio.tree_files(root, rev, specs))
    if not known:  # not in `rev`: start from the paths the last commit that touched it saw
        last = gitio.newest_touching(root, rev, specs)
        if last is None:
            return [], iter(())
        sides = _diffs(root, gitio.read_commits(root, [last]), specs)[last]
        known = sorted(
            set(
                documents(
                    doc_id,
                    (
                        p
                        for records in sides
                        for r in records
                        for p in (r.old_path, r.new_path)
                        if p
                    ),
                )
            )
        )
    # (A newest touch outside the document folders: the wildcard walk, every commit.)
    commits = gitio.log(root, rev, [_literal(p) for p in known] or specs, full_history=True)
    diffs = _diffs(root, commits, specs)
    fresh = commits
    while True:
        found = {
            p
            for c in fresh
            for records in diffs[c.sha]
            for r in records
            for p in documents(doc_id, (r.old_path or "", r.new_path or ""))
        }
        new = sorted(found - set(known))
        starts = sorted({p for c in fresh if _reveals(diffs[c.sha], new) for p in c.parents})
        if not known or not starts:
            break
        known += new
        # Every commit already found that is an ancestor of `starts` is walked again:
        # the ones that are not come first, then this walk's, in its own order.
        walked = gitio.log(root, starts, [_literal(p) for p in known], full_history=True)
        again = {c.sha for c in walked}
        fresh = [c for c in walked if c.sha not in diffs]
        diffs.update(_diffs(root, fresh, specs))
        commits = [c for c in commits if c.sha not in again] + walked
    return commits, (d for c in commits for d in diffs[c.sha])


def _literal(path: str) -> str:
    return f":(literal){path}"


def _reveals(diffs: list[list[gitio.FileChange]], paths: list[str]) -> bool:
    return any(p in paths for records in diffs for r in records for p in (r.old_path, r.new_path))


def _diffs(
    root: Path, commits: list[gitio.Commit], specs: list[str]
) -> dict[str, list[list[gitio.FileChange]]]:
    """Each commit's diffs under `specs`: against its parent, a merge against each."""
    lines: list[tuple[str, ...]] = []
    for commit in commits:
        lines += (
            [(commit.sha, p) for p in commit.parents]
            if len(commit.parents) > 1
            else [(commit.sha,)]
        )
    answers = iter(gitio.diff_each(root, lines, specs))
    return {c.sha: [next(answers) for _ in range(max(len(c.parents), 1))] for c in commits}
