"""`cmdbctl rollback`: revert the commits that carried a change out, and record it.

Which commits: those on HEAD's first-parent history that carried the change out. A
merge commit does when the branch it merged holds a commit with the change's
`Change-Id:` trailer (or its own message has one); it is reverted against its mainline
(`git revert -m 1`). A squash or plain commit does when its own trailer names the change.
Only commits that changed `inventory/` (the CIs) count: approvals and reviews, which
touch `changes/` only, are records and stay.

What is refused, changing nothing: a dirty work tree, git in the middle of something,
an unknown change, a change that is not approved or later, no carrying commit (exit 2);
on the merits (exit 1, `RollbackRefused`): a later commit changed one of the same CIs
(reverting would undo it too, or mix the two), a carrying commit that carried another
change as well, a revert that conflicts outside `changes/`, a result `validate` finds
errors in.

How: newest first, `git revert --no-commit` of each; `changes/` as HEAD has it (change
requests are records; a revert of the merge that added one would delete it); the change
request's round-trip edit (`status: rolled-back`, `spec.rollback {by, at, reason,
commits}`: its text before the rollback, plus the record); `validate` of the result;
one commit naming the change and every reverted commit. History is never rewritten.
Whatever fails half way (a conflict, validate, a commit hook, Ctrl-C), `PutBack` puts
back exactly what this run changed: HEAD and the branch, the index, the work tree (file
times too), and the branch `--branch` made.

Here: `rollback` and carrying the plan out; `plan` (which commits, what changes, or why
not).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from cmdbctl import gitio
from cmdbctl.editing import edit
from cmdbctl.findings import Finding
from cmdbctl.putback import PutBack
from cmdbctl.rollback.plan import CIS, RECORDS, Plan, RollbackRefused, make_plan
from cmdbctl.validate import validate
from cmdbctl.workspace import Workspace

__all__ = ["Plan", "RollbackRefused", "RollbackResult", "make_plan", "rollback"]


@dataclass(frozen=True)
class RollbackResult:
    plan: Plan
    commit: str | None  # None: a dry run
    findings: tuple[Finding, ...] = ()  # validate's, of the result (warnings at most)


def rollback(
    root: Path,
    change_id: str,
    reason: str,
    *,
    dry_run: bool = False,
    branch: str | None = None,
    now: datetime | None = None,
) -> RollbackResult:
    """Roll `change_id` back in one commit on HEAD's branch (or on a new `branch`, which
    is then checked out); with `dry_run`, only say what would be done."""
    plan = make_plan(root, change_id, reason, branch=branch, now=now, dry_run=dry_run)
    if dry_run:
        return RollbackResult(plan, None)
    commit, findings = _carry_out(root, plan)
    return RollbackResult(plan, commit, tuple(findings))


def _record(plan: Plan) -> Any:
    """The edit of the change request: status and spec.rollback, comments kept."""

    def change(data: Any) -> None:
        spec = data["spec"]
        spec["status"] = "rolled-back"
        rollback = CommentedMap(plan.record)
        rollback["commits"] = CommentedSeq(plan.record["commits"])
        spec["rollback"] = rollback

    return change


def _carry_out(root: Path, plan: Plan) -> tuple[str, list[Finding]]:
    absolute = root / plan.path
    text = edit(absolute.read_bytes().decode("utf-8"), plan.path, _record(plan))
    undo = PutBack(
        root,
        plan.head,
        plan.current,
        plan.branch,
        {plan.path, *(p for r in plan.reverts for p in r.paths)},
    )
    try:
        if plan.branch is not None:
            gitio.switch_new_branch(root, plan.branch)
        for revert in plan.reverts:
            conflicts = gitio.revert_into_index(root, revert.sha, revert.merge)
            outside = [p for p in conflicts or () if not p.startswith(RECORDS)]
            if outside:
                raise RollbackRefused(
                    f"reverting {revert.sha[:10]} ({revert.subject!r}) conflicts in "
                    f"{', '.join(outside)}: a later commit changed them too",
                    "nothing was changed; roll back by hand on a branch (git revert) "
                    "under a new change request",
                )
            if conflicts:  # only change requests: they are restored from HEAD below
                gitio.restore_paths(root, "HEAD", [RECORDS])
            gitio.end_revert(root)
        gitio.restore_paths(root, "HEAD", [RECORDS])
        _require_restored(root, plan)
        absolute.write_bytes(text.encode("utf-8"))
        gitio.run(root, "add", "--", plan.path)
        findings = validate(Workspace(root)).findings
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            raise RollbackRefused(
                f"the rolled-back CMDB would not validate ({len(errors)} error"
                f"{'s' if len(errors) != 1 else ''}, above); nothing was changed",
                "these are the rolled-back tree's findings: fix first those HEAD has too "
                "(`cmdbctl validate`); for those the rollback causes (references to a CI the "
                "change added), raise a new change request that undoes it by hand",
                findings,
            )
        commit = gitio.commit_index(root, plan.message)
    except BaseException:
        undo.run("the rollback")
        raise
    return commit, findings


def _require_restored(root: Path, plan: Plan) -> None:
    """Every CI the reverts touched is exactly as before the change (the later-change
    check makes it so; this says so before anything is committed)."""
    cis = sorted({p for r in plan.reverts for p in r.paths if p.startswith(CIS)})
    then = gitio.tree_blobs_of(root, plan.before, cis) or {}
    staged = gitio.staged_blobs(root, cis)
    wrong = [p for p in cis if then.get(p) != staged.get(p)]
    if wrong:
        raise RollbackRefused(
            f"after the reverts, {', '.join(wrong)} is not as it was before "
            f"the change (at {plan.before[:10]}); nothing was changed",
            "roll back by hand on a branch under a new change request",
        )
