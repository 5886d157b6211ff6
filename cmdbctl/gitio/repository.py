"""Where a command runs: a git work tree, the commit a revision names, the identity
`git commit` would record, the branch HEAD is on and the names a new one may take, the
names revisions go by."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cmdbctl.errors import CommandError
from cmdbctl.gitio.process import GitMissing, complete, output, run


def is_work_tree(path: Path) -> bool:
    """Whether `path` is in a git work tree; False also when there is no git."""
    try:
        return _in_work_tree(path)
    except GitMissing:
        return False


def _in_work_tree(path: Path) -> bool:
    if not path.is_dir():
        return False
    proc = complete(path, ["rev-parse", "--is-inside-work-tree"])
    return proc.returncode == 0 and proc.stdout.strip() == b"true"


def init(path: Path) -> None:
    run(path, "init", "--quiet")


def require_work_tree(root: Path) -> None:
    """Exit 2 unless `root` is in a git work tree, saying so when git is missing."""
    if not _in_work_tree(root):
        raise CommandError(
            f"{root} is not a git work tree; this command reads git history",
            "run it inside a clone of the CMDB repository",
        )


def require_top(root: Path, command: str) -> None:
    """Exit 2 unless `root` is the top of its git work tree: `command` commits there, and
    its paths are the repository's."""
    require_work_tree(root)
    if (output(root, "rev-parse", "--show-prefix") or b"").strip():
        raise CommandError(
            f"{root} is below the top of its git repository",
            f"{command} needs the CMDB at the top of its own repository",
        )


def resolve(root: Path, rev: str) -> str:
    """The commit id of `rev`, or exit 2 naming it."""
    proc = complete(
        root, ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"]
    )
    if proc.returncode != 0:
        hint = "fetch it first (git fetch origin)" if "/" in rev else "check the name with git log"
        raise CommandError(f"revision {rev!r} is not there", hint)
    return proc.stdout.decode().strip()


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    email: str


def current_identity(root: Path) -> Identity:
    """Who `git commit` would record as author: environment first, then config."""
    proc = complete(root, ["var", "GIT_AUTHOR_IDENT"])
    text = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0 or "<" not in text:
        raise CommandError(
            "no git identity is set", 'set one with git config user.name "..." and user.email "..."'
        )
    name, _, rest = text.partition("<")
    return Identity(name.strip(), rest.partition(">")[0].strip())


def symbolic_head(root: Path) -> str | None:
    """The ref HEAD points to (refs/heads/main); None when HEAD is detached."""
    out = output(root, "symbolic-ref", "--quiet", "HEAD")
    return out.decode("utf-8", "surrogateescape").strip() if out else None


def new_branch_problem(root: Path, name: str) -> str | None:
    """Why `name` cannot be made a new branch (not a valid name, taken, or one git would
    read as another revision), if it cannot.

    A valid name is one `git check-ref-format --branch` takes as it is (it expands
    `@{-1}` and `@` to other branches); not a full ref name (`refs/heads/main` would make
    `refs/heads/refs/heads/main`, which `git push` and `checkout` read as main) and not
    one that already names a revision (`@` is HEAD, `v1` a tag, `origin/main`, an
    abbreviated commit id): every command that takes the name would act on that instead."""
    expanded = output(root, "check-ref-format", "--branch", name)
    if (
        expanded is None
        or expanded.decode("utf-8", "surrogateescape").removesuffix("\n") != name
        or name.startswith(("-", "refs/"))
        or "@{" in name
    ):
        return f"{name!r} is not a valid branch name"
    if output(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}") is not None:
        return f"branch {name!r} exists already"
    if output(root, "rev-parse", "--verify", "--quiet", "--end-of-options", name) is not None:
        return f"{name!r} names a revision already; git would read the branch's name as that"
    return None


def ref_names(root: Path) -> list[str]:
    """The short names of the repository's branches, remote-tracking branches and tags
    (main, origin/main, v2026.11), for shell completion; none when git is missing or
    `root` is in no repository."""
    out = output(
        root, "for-each-ref", "--format=%(refname:short)", "refs/heads", "refs/remotes", "refs/tags"
    )
    return out.decode("utf-8", "surrogateescape").split() if out else []


def git_directory_holding(path: Path) -> Path | None:
    """The git directory a file written at `path` would be in, else None: a `.git`
    anywhere in the path, as given or with the links of its folders followed (a linked
    work tree's `.git` file included; the file itself is replaced, not followed), or a
    git directory of another name (bare, `--separate-git-dir`), as `git rev-parse
    --absolute-git-dir` finds it from the nearest folder that exists."""
    given = Path(os.getcwd(), path)  # `..` kept: after a link it leads where the link does
    folder = given.parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    real_folder = Path(os.path.realpath(folder))  # links followed, as a write would
    real = real_folder / given.relative_to(folder)
    for candidate in (given, real):
        parts = [part.lower() for part in candidate.parts]  # .GIT on a folded file system
        if ".git" in parts:
            return Path(*candidate.parts[: parts.index(".git") + 1])
    found = output(real_folder, "rev-parse", "--absolute-git-dir")
    if found is None:
        return None
    git_dir = Path(os.path.realpath(os.fsdecode(found.rstrip(b"\n"))))
    return git_dir if real.is_relative_to(git_dir) else None
