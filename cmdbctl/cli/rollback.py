"""`cmdbctl rollback CHANGE-ID --reason TEXT [--dry-run] [--branch NAME]`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from cmdbctl.cli.common import quiet, quiet_option, repo_option, use_color
from cmdbctl.cli.completion import complete_change_ids
from cmdbctl.findings import Report, summarize
from cmdbctl.reporters.text import render
from cmdbctl.workspace import find_workspace

if TYPE_CHECKING:
    from cmdbctl.rollback import Plan, RollbackResult


@click.command()
@click.argument("change_id", metavar="CHANGE-ID", shell_complete=complete_change_ids)
@click.option(
    "--reason",
    "-m",
    required=True,
    help="Why the change is rolled back; kept in the record and the commit.",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan (commits, files, record) and change nothing."
)
@click.option(
    "--branch",
    metavar="NAME",
    default=None,
    help="Make the rollback on a new branch NAME from HEAD, and check it out "
    "(for a pull request); the current branch stays as it is.",
)
@repo_option
@quiet_option
def rollback(
    change_id: str, reason: str, dry_run: bool, branch: str | None, repo: str | None
) -> None:
    """Roll a change back: revert its commits and record it, in one commit.

    Reverts, newest first, the commits on HEAD's first-parent history that carried the
    change out and changed inventory/: merge commits whose merged branch (or own
    message) has a `Change-Id: CHANGE-ID` trailer, reverted against their first parent,
    and squash or plain commits with that trailer. Approvals and reviews stay. The
    change request keeps its text and gets status: rolled-back and spec.rollback {by,
    at, reason, commits}; the one commit names the change (Change-Id:) and each reverted
    commit (Reverts:). The result is validated before it is committed. History is never
    rewritten. Who you are is what `git commit` would record; it must be a Person in
    policies/.

    Refuses, and leaves the repository exactly as it was (HEAD, branches, index, work
    tree): exit 2 for a dirty work tree, an unknown change, a change that is not
    approved, implemented, reviewed or closed, or no commit that carried it out; exit 1
    when a later change touched the same CIs (named), a commit carried another change
    too, a revert would conflict, or the result would not validate (its findings are
    printed; nothing is committed). A failure half way, Ctrl-C included, puts
    everything back, and deletes the branch --branch made.

    Re-merging the original branch later brings nothing back (git sees it as merged):
    to carry the change out again, raise a new change request and revert the rollback
    commit's reverts on its branch.

    \b
    Examples:
      cmdbctl rollback CHG-2026-0042 --reason "p99 latency doubled" --dry-run
      cmdbctl rollback CHG-2026-0042 --reason "p99 latency doubled"
      cmdbctl rollback CHG-2026-0042 -m "p99 latency doubled" --branch rollback-0042
    """
    from cmdbctl.rollback import (  # imported here: start-up pays for one command
        RollbackRefused,
    )
    from cmdbctl.rollback import (
        rollback as run_rollback,
    )

    ws = find_workspace(repo)
    try:
        result = run_rollback(ws.root, change_id, reason, dry_run=dry_run, branch=branch)
    except RollbackRefused as refused:
        if refused.findings:
            render(
                Report("rollback", refused.findings, summarize(refused.findings, 0)),
                sys.stdout,
                use_color(sys.stdout),
            )
        raise
    _show(result)


def _show(result: RollbackResult) -> None:
    plan = result.plan
    echo = click.echo
    echo(
        f"{'Would roll back' if result.commit is None else 'Rolled back'} {plan.change_id}"
        + (f": {plan.name}" if plan.name else "")
        + f" ({plan.status} → rolled-back)"
    )
    echo("Commits reverted, newest first:")
    for revert in plan.reverts:
        kind = "merge, against its first parent" if revert.merge else "commit"
        echo(f"  {revert.sha[:10]}  {revert.subject}  ({kind})")
    echo(f"Files put back as they were at {plan.before[:10]}:")
    for outcome in plan.files:
        why = {"removed": "  (the change added it)", "re-created": "  (the change deleted it)"}.get(
            outcome.action, ""
        )
        echo(f"  {outcome.action:<10}  {outcome.path}{why}")
    if not plan.files:
        echo("  (none: the reverted commits' changes cancel out)")
    record = plan.record
    echo(
        f"Record in {plan.path}:\n  status: rolled-back\n  rollback:\n"
        f"    by: {record['by']}\n    at: {record['at']}\n    reason: {record['reason']}\n"
        "    commits:"
    )
    for sha in record["commits"]:
        echo(f"    - {sha}")
    target = plan.branch or (plan.current or "").removeprefix("refs/heads/")
    if result.commit is None:
        echo(
            "Dry run: nothing was changed. A revert that conflicts shows only when the reverts run."
        )
        if plan.dirty:
            echo(
                f"The work tree has uncommitted changes ({', '.join(plan.dirty[:5])}"
                f"{' ...' if len(plan.dirty) > 5 else ''}): commit or stash them first."
            )
    else:
        echo(
            f"Committed {result.commit[:10]} on {target}; cmdbctl validate: "
            f"{_errors_and_warnings(result)}."
        )
        if result.findings:
            render(
                Report("rollback", result.findings, summarize(result.findings, 0)),
                sys.stdout,
                use_color(sys.stdout),
            )
        if plan.branch:
            origin = (plan.current or "HEAD").removeprefix("refs/heads/")
            echo(
                f"Branch {plan.branch} (from {origin}, which is unchanged) is checked out: "
                f"push it and open a pull request: git push -u origin {plan.branch}"
            )
    if not quiet():
        _warn_pitfall(plan)


def _errors_and_warnings(result: RollbackResult) -> str:
    warnings = sum(1 for f in result.findings if f.severity == "warning")
    return f"no errors, {warnings} warning{'s' if warnings != 1 else ''}" if warnings else "clean"


def _warn_pitfall(plan: Plan) -> None:
    merges = [r.sha[:10] for r in plan.reverts if r.merge]
    click.echo(
        "Note: a revert undoes the content, not the history. Git still counts the reverted "
        "commits as merged, so merging or cherry-picking the original branch again brings "
        "nothing back"
        + (f" (merge {', '.join(merges)}; see git's howto/revert-a-faulty-merge)" if merges else "")
        + f". {plan.change_id} is rolled back for good: to carry the change out again, raise "
        "a new change request and, on its branch, revert this rollback commit's reverts "
        "(git revert --no-commit <rollback commit>; then git restore --source=HEAD "
        f"--staged --worktree changes/ to keep {plan.change_id}'s record) and commit with "
        "the new change's Change-Id: trailer."
    )
