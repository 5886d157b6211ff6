"""What changed: between two trees, what each commit did against a parent (many commits
in one `git diff-tree --stdin`), what each commit wrote itself (a merge: its own edits).
Every `--raw` answer is read by `_changes`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cmdbctl.gitio.commits import Commit
from cmdbctl.gitio.process import GitFailed, decode_path, output, paths_in, run_bytes
from cmdbctl.gitio.trees import EMPTY_TREE


@dataclass(frozen=True, slots=True)
class FileChange:
    status: str  # A added, M modified, D deleted, R renamed (git's letters)
    old_path: str | None
    new_path: str | None
    old_blob: str | None
    new_blob: str | None

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


_NULL = "0" * 40


def _changes(out: bytes) -> list[list[FileChange]]:
    """`git diff-tree -r -z --raw` output as file changes: one list per commit id that
    precedes its records (`--stdin`), or one list when no commit id is printed."""
    found: list[list[FileChange]] = []
    fields = out.split(b"\0")
    i = 0
    while i < len(fields):
        item = fields[i]
        if item.startswith(b":"):  # "<modes> <blobs> <status>", then its one or two paths
            meta = item.decode().lstrip(":").split()
            status = meta[4][0]
            count = 2 if status in "RC" else 1
            names = [decode_path(f) for f in fields[i + 1 : i + 1 + count]]
            if not found:
                found.append([])
            found[-1].append(
                FileChange(
                    status,
                    None if status == "A" else names[0],
                    None if status == "D" else names[-1],
                    None if meta[2] == _NULL else meta[2],
                    None if meta[3] == _NULL else meta[3],
                )
            )
            i += 1 + count
            continue
        if item:  # a commit id: its records follow
            found.append([])
        i += 1
    return found


def _renames(renames: bool) -> str:
    return "-M" if renames else "--no-renames"


def diff_tree(
    root: Path, old: str, new: str, folders: Sequence[str], renames: bool = True
) -> list[FileChange]:
    """Files changed between two revisions under `folders`, renames detected."""
    out = run_bytes(
        root,
        "diff-tree",
        "-r",
        "-z",
        _renames(renames),
        "--no-commit-id",
        "--raw",
        old,
        new,
        "--",
        *folders,
    )
    return next(iter(_changes(out)), [])


def tree_files(root: Path, rev: str, paths: Sequence[str]) -> dict[str, str]:
    """path → blob id of the files of `rev` that match `paths`: ls-tree for pathspecs
    with magic (`:(glob)inventory/**/app-01.yaml`), which ls-tree itself refuses."""
    return {
        c.path: c.new_blob for c in diff_tree(root, EMPTY_TREE, rev, paths, False) if c.new_blob
    }


def diff_each(
    root: Path,
    lines: Sequence[Sequence[str]],
    paths: Sequence[str],
    renames_only: bool = False,
    renames: bool = True,
) -> list[list[FileChange]]:
    """What each line's commit changed under `paths` (pathspecs, magic allowed), renames
    detected unless not `renames`, one list per line in order, in one `git diff-tree
    --stdin`. A line is `(commit,)`, against its parent (a root commit: against the
    empty tree; a merge: nothing), or `(commit, other)`, against `other` (a merge
    against one of its parents). `renames_only`: only the renames (detected among every
    file under `paths`)."""
    if not lines:
        return []
    text = "".join(" ".join(line) + "\n" for line in lines)
    out = run_bytes(
        root,
        "diff-tree",
        "--stdin",
        "--always",
        "-r",
        "-z",
        _renames(renames),
        "--raw",
        "--root",
        *(["--diff-filter=R"] if renames_only else []),
        "--",
        *paths,
        input=text.encode(),
    )
    found = _changes(out)  # --always: every line's commit id, even with no records
    if len(found) != len(lines):
        raise GitFailed(f"git diff-tree answered {len(found)} of {len(lines)} commits", 0)
    return found


def first_parent_diffs(
    root: Path, commits: Sequence[tuple[str, str | None]], folders: Sequence[str]
) -> dict[str, list[FileChange]]:
    """What each (commit, first parent) changed under `folders` against that parent,
    renames as a deletion and an addition (a parent of None: a root commit, against the
    empty tree). A merge's changes are its merged branch's and its own. Commits that
    changed nothing there are left out."""
    lines = [(sha, parent) if parent else (sha,) for sha, parent in commits]
    answers = diff_each(root, lines, folders, renames=False)
    return {sha: changes for (sha, _), changes in zip(commits, answers) if changes}


def changed_paths(root: Path, commit: Commit) -> list[str]:
    """Paths a commit changed against its parent (all of them for a root commit, none for
    a merge), a rename by its new path."""
    return [c.path for c in diff_each(root, [(commit.sha,)], ())[0]]


def wrote(root: Path, shas: Sequence[str], folders: Sequence[str]) -> dict[str, frozenset[str]]:
    """Paths under `folders` each commit wrote itself: differing from its parent, or for a
    merge from every parent (an evil merge's own edits; what it merely takes from one
    side is that side's commits' doing). Commits that wrote nothing there are left out."""
    if not shas:
        return {}
    out = run_bytes(
        root,
        "diff-tree",
        "--stdin",
        "-r",
        "-c",
        "--root",
        "--name-only",
        "-z",
        "--no-renames",
        "--",
        *folders,
        input="".join(f"{s}\n" for s in shas).encode(),
    )
    found: dict[str, set[str]] = {}
    current: set[str] | None = None
    for item in out.split(b"\0"):
        if not item:
            continue
        if b"/" not in item:  # a commit id: every path under `folders` has a slash
            current = found.setdefault(item.decode("ascii", "replace"), set())
        elif current is not None:
            current.add(decode_path(item))
    return {sha: frozenset(paths) for sha, paths in found.items() if paths}


def tree_differences(root: Path, old: str, new: str, folders: Sequence[str]) -> set[str] | None:
    """Paths under `folders` that differ between two trees; None: one is not there."""
    out = output(
        root, "diff-tree", "-r", "--name-only", "--no-renames", "-z", old, new, "--", *folders
    )
    return None if out is None else paths_in(out)
