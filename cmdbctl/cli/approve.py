"""`cmdbctl approve CHANGE-ID [--reject] [--comment TEXT] [--sign]`."""

from __future__ import annotations

import click

from cmdbctl.cli.common import committed, inform, quiet_option, repo_option, sign_option
from cmdbctl.cli.completion import complete_change_ids
from cmdbctl.workspace import find_workspace


@click.command()
@click.argument("change_id", metavar="CHANGE-ID", shell_complete=complete_change_ids)
@click.option("--reject", is_flag=True, help="Record a rejection instead of an approval.")
@click.option("--comment", "-m", default=None, help="Why; kept in the record and the commit.")
@sign_option
@repo_option
@quiet_option
def approve(
    change_id: str, reject: bool, comment: str | None, sign: bool, repo: str | None
) -> None:
    """Record your decision on a change request as a commit.

    Appends {by, at, decision, comment} to the change's approvals, keeping the file's
    comments and layout, sets status: approved once the approvals the gate would trust
    meet the policy of the default branch (rejected with --reject), and commits just
    that file with Change-Id: and Approved-by: trailers. Who you are is what `git commit`
    would record (GIT_AUTHOR_EMAIL, else user.email); it must be one of your Person's
    emails, and so must the committer's (GIT_COMMITTER_EMAIL, else user.email).

    Refuses (exit 2, nothing written) a dirty work tree, an approval of your own change,
    and an approval the gate would not count: from someone in none of the groups (or
    owners) the matching rules ask for, or from someone without signingKeys where
    signatures are required. A rejection by any person is recorded; a note says when it
    will not count.

    \b
    Examples:
      cmdbctl approve CHG-2026-0042 -m "ok for Saturday"
      cmdbctl approve CHG-2026-0042 --reject -m "no rollback tested"
      cmdbctl approve CHG-2026-0042 --sign
    """
    from cmdbctl.approve import (
        approve as run_approve,  # imported here: start-up pays for one command
    )

    ws = find_workspace(repo)
    result = run_approve(ws.root, change_id, reject, comment, sign)
    click.echo(
        f"{result.by} {'rejected' if result.decision == 'reject' else 'approved'} "
        f"{result.change_id} ({result.status_before} → {result.status_after}) "
        f"{committed(result.commit, result.signed)}"
    )
    for note in result.notes:
        inform(f"cmdbctl: note: {note}")
