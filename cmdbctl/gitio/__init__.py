"""The one place git runs: every git process starts in `process.start`, in an environment
without what a git hook inherits (`environment`); a missing git is `GitMissing` (exit 2)
where a command needs git, and no answer where it only asks (`output`, `is_work_tree`).

We drive the `git` executable rather than a binding: the gate needs exactly git's own
behaviour (merge bases, rename detection, `verify-commit` with SSH and OpenPGP
signatures, shallow clones), batching through `cat-file --batch` keeps it fast, and
nothing else must be installed (gpg only to check OpenPGP-signed approvals). Every
failure a user can cause becomes a `CommandError` naming the revision.

A module a job: `process` (running git), `repository` (work tree, revisions, identity,
branch names), `status` (the work tree against a tree), `trees` (ls-tree, blobs,
`BlobReader`), `grep`, `diffs` (diff-tree, one commit or many), `commits` (commit
objects, trailers, log), `ancestry` (merge bases, shallow clones), `signatures`
(verify-commit, gpg), `worktree` (commits, reverts, branch switches). Callers use the
names below, as `gitio.X`.
"""

from __future__ import annotations

from cmdbctl.gitio.ancestry import (
    deepen,
    history_base,
    index_changed_paths,
    is_ancestor,
    is_shallow,
    merge_base,
    merge_bases,
    remotes,
    require_full_history,
)
from cmdbctl.gitio.commits import (
    Commit,
    first_parent_line,
    last_commit_before,
    log,
    newest_touching,
    parse_commit,
    read_commits,
    trailers,
)
from cmdbctl.gitio.diffs import (
    FileChange,
    changed_paths,
    diff_each,
    diff_tree,
    first_parent_diffs,
    tree_differences,
    tree_files,
    wrote,
)
from cmdbctl.gitio.grep import ESCAPE, grep_words
from cmdbctl.gitio.process import (
    GitFailed,
    GitMissing,
    environment,
    output,
    run,
    run_bytes,
)
from cmdbctl.gitio.repository import (
    Identity,
    current_identity,
    git_directory_holding,
    init,
    is_work_tree,
    new_branch_problem,
    ref_names,
    require_top,
    require_work_tree,
    resolve,
    symbolic_head,
)
from cmdbctl.gitio.signatures import Signature, gpg_home, gpg_import, verify_commit
from cmdbctl.gitio.status import differing, dirty_paths, require_clean, stat_data_trusted
from cmdbctl.gitio.trees import EMPTY_TREE, BlobReader, blob_at, head_tree, ls_tree, tree_blobs_of
from cmdbctl.gitio.worktree import (
    commit_file,
    commit_index,
    delete_branch,
    end_revert,
    operation_in_progress,
    refresh_index,
    reset_index_and_tree,
    restore_paths,
    revert_into_index,
    staged_blobs,
    switch_back,
    switch_new_branch,
    update_ref,
)

__all__ = [
    "EMPTY_TREE",
    "ESCAPE",
    "BlobReader",
    "Commit",
    "FileChange",
    "GitFailed",
    "GitMissing",
    "Identity",
    "Signature",
    "blob_at",
    "changed_paths",
    "commit_file",
    "commit_index",
    "current_identity",
    "deepen",
    "delete_branch",
    "diff_each",
    "diff_tree",
    "differing",
    "dirty_paths",
    "end_revert",
    "environment",
    "first_parent_diffs",
    "first_parent_line",
    "git_directory_holding",
    "gpg_home",
    "gpg_import",
    "grep_words",
    "head_tree",
    "history_base",
    "index_changed_paths",
    "init",
    "is_ancestor",
    "is_shallow",
    "is_work_tree",
    "last_commit_before",
    "log",
    "ls_tree",
    "merge_base",
    "merge_bases",
    "new_branch_problem",
    "newest_touching",
    "operation_in_progress",
    "output",
    "parse_commit",
    "read_commits",
    "ref_names",
    "refresh_index",
    "remotes",
    "require_clean",
    "require_full_history",
    "require_top",
    "require_work_tree",
    "reset_index_and_tree",
    "resolve",
    "restore_paths",
    "revert_into_index",
    "run",
    "run_bytes",
    "staged_blobs",
    "stat_data_trusted",
    "switch_back",
    "switch_new_branch",
    "symbolic_head",
    "trailers",
    "tree_blobs_of",
    "tree_differences",
    "tree_files",
    "update_ref",
    "verify_commit",
    "wrote",
]
