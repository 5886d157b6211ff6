"""The work tree against a tree: whether git's stat data can be trusted to say a file is
unchanged (the verdict cache's question), the paths that differ, uncommitted changes."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from cmdbctl.errors import CommandError
from cmdbctl.gitio.process import decode_path, output, paths_in, run

# `ls-files -v` tags: lower case is "assume unchanged", S is "skip worktree"
_UNWATCHED = re.compile(rb"\0[hsmrckS] ")
_ATTRIBUTES = re.compile(rb"[ /]\.gitattributes\0")


_FALSE = {b"", b"false", b"no", b"off", b"0"}


# Settings under which stat data says less than git status needs, or the file's bytes
# need not be what the tree's blob holds once git calls it clean (content conversion).
_UNSAFE = {
    b"core.ignorestat": lambda v: v not in _FALSE,
    b"core.fsmonitor": lambda v: v not in _FALSE,
    b"core.usebuiltinfsmonitor": lambda v: v not in _FALSE,
    b"core.trustctime": lambda v: v in _FALSE,
    b"core.checkstat": lambda v: v == b"minimal",
    b"core.autocrlf": lambda v: v not in _FALSE,
    b"core.attributesfile": lambda v: True,
}


def stat_data_trusted(root: Path, folders: Sequence[str]) -> bool:
    """Whether a file git calls unchanged against a tree (`differing`) holds exactly
    that tree's blob: `root` is the top of a work tree (paths git prints are then
    `root`'s); git looks at every file's stat data in full (no assume-unchanged or
    skip-worktree marks, fsmonitor, ignoreStat, trustctime off, checkStat minimal);
    and git converts no content (autocrlf, attributes: a file it re-checks out could
    then hold other bytes for the same blob). Untracked .gitattributes inside the
    document folders are the walk's to find (`Listing.attributes`)."""
    where = output(
        root, "rev-parse", "--is-inside-work-tree", "--show-prefix", "--absolute-git-dir"
    )
    if where is None or not where.startswith(b"true\n\n"):
        return False
    settings = output(root, "config", "-z", "--get-regexp", r"^core\.") or b""
    for item in settings.split(b"\0"):
        key, _, value = item.partition(b"\n")
        if key.lower() in _UNSAFE and _UNSAFE[key.lower()](value.strip().lower()):
            return False
    git_dir = Path(decode_path(where[6:].strip()))
    user_attributes = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    if (
        (root / ".gitattributes").exists()
        or (git_dir / "info" / "attributes").exists()
        or (user_attributes / "git" / "attributes").exists()
    ):
        return False
    flags = output(root, "ls-files", "-v", "-z", "--", *folders)
    return (
        flags is not None and not _UNWATCHED.search(b"\0" + flags) and not _ATTRIBUTES.search(flags)
    )


def differing(root: Path, tree: str, folders: Sequence[str]) -> set[str] | None:
    """Paths under `folders` whose work-tree file (judged by the index's stat data, as
    `git status` does) is not `tree`'s blob: edited, added, staged or deleted. Untracked
    files are not among them. None: `tree` is not there."""
    out = output(root, "diff-index", "--name-only", "--no-renames", "-z", tree, "--", *folders)
    return None if out is None else paths_in(out)


def dirty_paths(root: Path) -> list[str]:
    """Uncommitted changes (staged, unstaged or untracked) in the work tree."""
    out = run(root, "status", "--porcelain", "--untracked-files=normal")
    return [line[3:] for line in out.splitlines() if line.strip()]


def require_clean(root: Path) -> None:
    dirty = dirty_paths(root)
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise CommandError(
            f"the work tree has uncommitted changes: {shown}",
            "commit or stash them first; this command commits its own edit",
        )
