"""Changing the index, the work tree and the branches: committing (`approve`, `review`,
`rollback`), reverting into the index, and putting everything back (`cmdbctl rollback`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from cmdbctl.gitio.process import complete, decode_path, failure, output, paths_in, run, run_bytes


def commit_file(root: Path, path: str, message: str, sign: bool) -> str:
    """Commit one file with `message`; return the new commit id."""
    run(root, "add", "--", path)
    return commit_index(root, message, sign, [path])


def commit_index(root: Path, message: str, sign: bool = False, paths: Sequence[str] = ()) -> str:
    """Commit what is staged (of `paths` only, when given) as the current identity,
    hooks and all, signed when asked; the new commit id."""
    only = ["--", *paths] if paths else []
    run(root, "commit", "--quiet", "-m", message, *(["-S"] if sign else []), *only)
    return run(root, "rev-parse", "HEAD").strip()


_IN_PROGRESS = {
    "MERGE_HEAD": "a merge",
    "REVERT_HEAD": "a revert",
    "CHERRY_PICK_HEAD": "a cherry-pick",
    "sequencer": "a revert or cherry-pick",
    "rebase-merge": "a rebase",
    "rebase-apply": "a rebase or `git am`",
    "BISECT_LOG": "a bisect",
}


def operation_in_progress(root: Path) -> str | None:
    """What git is in the middle of (a merge, a revert, a rebase, ...), if anything: a
    clean work tree can still be half way through one."""
    names = list(_IN_PROGRESS)
    out = run(root, "rev-parse", *(arg for n in names for arg in ("--git-path", n)))
    for name, where in zip(names, out.splitlines()):
        if (root / where).exists():
            return _IN_PROGRESS[name]
    return None


def revert_into_index(root: Path, sha: str, mainline: bool) -> list[str] | None:
    """`git revert --no-commit` of one commit (a merge against its first parent): None
    when it applied cleanly, else the paths it left in conflict. Any other failure is
    GitFailed. The revert stays "in progress" until `end_revert`."""
    proc = complete(root, ["revert", "--no-commit", *(["-m", "1"] if mainline else []), sha])
    if proc.returncode == 0:
        return None
    conflicted = sorted(
        paths_in(output(root, "diff", "--name-only", "--diff-filter=U", "-z") or b"")
    )
    if not conflicted:
        raise failure("revert", proc)
    return conflicted


def end_revert(root: Path) -> None:
    """Forget the revert in progress (REVERT_HEAD, MERGE_MSG, the sequencer), keeping the
    index and the work tree as they are."""
    run(root, "revert", "--quit", check=False)


def restore_paths(root: Path, rev: str, pathspecs: Sequence[str]) -> None:
    """The index and work tree of `pathspecs` as `rev` has them (files it lacks removed),
    conflicts there resolved so."""
    run(root, "restore", f"--source={rev}", "--staged", "--worktree", "--", *pathspecs)


def staged_blobs(root: Path, paths: Iterable[str]) -> dict[str, str]:
    """path → blob id in the index (stage 0) of those of `paths` it holds."""
    wanted = [f":(literal){p}" for p in paths]
    if not wanted:
        return {}
    found = {}
    for record in run_bytes(root, "ls-files", "--stage", "-z", "--", *wanted).split(b"\0"):
        meta, _, path = record.partition(b"\t")  # "<mode> <blob> <stage>", the path
        fields = meta.split()
        if len(fields) == 3 and fields[2] == b"0":
            found[decode_path(path)] = fields[1].decode()
    return found


def reset_index_and_tree(root: Path, rev: str) -> None:
    """Index and tracked files exactly as `rev` has them, conflicts dropped, files it does
    not hold removed; no ref moves (unlike `git reset --hard`, not even ORIG_HEAD)."""
    run(root, "read-tree", "--reset", "-u", rev)


def refresh_index(root: Path) -> None:
    """Refresh the index's stat data of files whose times changed but not their bytes."""
    run(root, "update-index", "-q", "--refresh", check=False)


def update_ref(root: Path, ref: str, new: str, old: str) -> None:
    """Point `ref` at `new`, only if it still points at `old`."""
    run(root, "update-ref", ref, new, old)


def switch_new_branch(root: Path, name: str) -> None:
    """Create branch `name` at HEAD and check it out (the files do not change)."""
    run(root, "checkout", "--quiet", "-b", name)


def switch_back(root: Path, ref: str | None, sha: str) -> None:
    """Check out `ref` (refs/heads/...) again, or detach at `sha` when there was none."""
    if ref is not None and ref.startswith("refs/heads/"):
        run(root, "checkout", "--quiet", ref.removeprefix("refs/heads/"), "--")
    else:
        run(root, "checkout", "--quiet", "--detach", sha)


def delete_branch(root: Path, name: str) -> None:
    run(root, "branch", "--quiet", "-D", name)
