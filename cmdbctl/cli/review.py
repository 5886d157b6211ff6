"""`cmdbctl review CHANGE-ID --outcome successful|failed --notes TEXT [--sign]`."""

from __future__ import annotations

import click

from cmdbctl.cli.common import committed, quiet_option, repo_option, sign_option
from cmdbctl.cli.completion import complete_change_ids
from cmdbctl.workspace import find_workspace

# As cmdbctl.review.OUTCOMES (models.ReviewOutcome); not imported: start-up stays small.
_OUTCOMES = ("successful", "partially-successful", "failed")


@click.command()
@click.argument("change_id", metavar="CHANGE-ID", shell_complete=complete_change_ids)
@click.option("--outcome", required=True, type=click.Choice(_OUTCOMES), help="How the change went.")
@click.option(
    "--notes", "-m", required=True, help="What the review found; kept in the record and the commit."
)
@sign_option
@repo_option
@quiet_option
def review(change_id: str, outcome: str, notes: str, sign: bool, repo: str | None) -> None:
    """Record the post-implementation review of a change as a commit.

    Writes spec.review {by, at, outcome, notes} into an implemented change request,
    keeping the file's comments and layout, sets status: reviewed, and commits just that
    file with Change-Id: and Reviewed-by: trailers. Emergency changes need it within
    their rule's reviewWithin. Who you are is what `git commit` would record
    (GIT_AUTHOR_EMAIL, else user.email); it must be one of your Person's emails, and so
    must the committer's.

    Refuses (exit 2, nothing written) a dirty work tree, a change that is not implemented
    or is reviewed already, a reviewer who requested the change or authored its commits,
    and one outside the reviewers of its rules (a rule's `reviewers`, by default
    change-managers), read from the default branch as the gate reads its base.

    \b
    Examples:
      cmdbctl review CHG-2026-0042 --outcome successful --notes "no incident, SLA met"
      cmdbctl review CHG-2026-0042 --outcome failed -m "rolled forward; see INC-1234"
      cmdbctl review CHG-2026-0042 --outcome successful -m "ok" --sign
    """
    from cmdbctl.review import (
        review as run_review,  # imported here: start-up pays for one command
    )

    ws = find_workspace(repo)
    result = run_review(ws.root, change_id, outcome, notes, sign)
    click.echo(
        f"{result.by} reviewed {result.change_id}: {result.outcome} "
        f"({result.status_before} → {result.status_after}) "
        f"{committed(result.commit, result.signed)}"
    )
