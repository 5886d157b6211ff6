"""How revisions relate: ancestors, merge bases, and the history a shallow clone lacks
(deepened until the merge base is there, or fetched whole)."""

from __future__ import annotations

from pathlib import Path

from cmdbctl.errors import CommandError
from cmdbctl.gitio.process import GitFailed, complete, output, run


def is_shallow(root: Path) -> bool:
    return run(root, "rev-parse", "--is-shallow-repository").strip() == "true"


def remotes(root: Path) -> list[str]:
    return run(root, "remote").split()


def is_ancestor(root: Path, ancestor: str, descendant: str) -> bool:
    return complete(root, ["merge-base", "--is-ancestor", ancestor, descendant]).returncode == 0


def merge_bases(root: Path, base: str, head: str) -> list[str]:
    """Every best common ancestor: more than one after criss-cross merges."""
    return (output(root, "merge-base", "--all", base, head) or b"").decode().split()


def merge_base(root: Path, base: str, head: str) -> str | None:
    found = output(root, "merge-base", base, head)
    return found.decode().strip() if found is not None else None


def deepen(root: Path, remote: str, depth: int) -> None:
    run(root, "fetch", "--quiet", f"--deepen={depth}", remote)


def history_base(root: Path, base: str, head: str) -> str:
    """The merge base of `base` and `head`, deepening a shallow clone until it is there.

    Never guesses: without the merge base, a verdict could miss commits.
    """
    found = merge_base(root, base, head)
    if found:
        return found
    if not is_shallow(root):
        raise CommandError(
            f"{base!r} and {head!r} share no history",
            "pass --base the branch this one will be merged into",
        )
    remote = next(iter(remotes(root)), None)
    if remote is None:
        raise CommandError(
            f"this clone is shallow and the merge base of {base!r} and {head!r} is not in it",
            "fetch the history first: git fetch --unshallow (or --deepen=100) origin",
        )
    depth = 50
    while is_shallow(root):
        deepen(root, remote, depth)
        found = merge_base(root, base, head)
        if found:
            return found
        depth *= 2
    found = merge_base(root, base, head)
    if not found:
        raise CommandError(f"{base!r} and {head!r} share no history")
    return found


def require_full_history(root: Path) -> None:
    """In a shallow clone, fetch the rest of the history from the first remote, or exit 2
    with the `git fetch` that gets it: judging a commit reads every earlier commit of the
    change requests it touches (who added each approval), and a clone cut short would
    show the cut as their author. Never a verdict from missing history."""
    if not is_shallow(root):
        return
    remote = next(iter(remotes(root)), None)
    hint = f"fetch the whole history first: git fetch --unshallow {remote or 'origin'}"
    if remote is None:
        raise CommandError("this clone is shallow: the history to audit is not all in it", hint)
    try:
        run(root, "fetch", "--quiet", "--unshallow", remote)
    except GitFailed as exc:
        raise CommandError(
            f"this clone is shallow and fetching its history from {remote} failed ({exc.message})",
            hint,
        ) from exc
    if is_shallow(root):
        raise CommandError("this clone is still shallow after fetching its history", hint)


def index_changed_paths(root: Path) -> None:
    """Bring git's commit-graph up to date with changed-path Bloom filters, as `git
    maintenance` does: a walk limited to a path (who wrote this change request, over
    the whole history) then skips, in C, every commit that cannot have touched it,
    several times faster. Only an index git keeps for itself: a repository that will not
    take it (read-only, `core.commitGraph=false`) is walked as it is."""
    complete(root, ["commit-graph", "write", "--reachable", "--changed-paths"])
