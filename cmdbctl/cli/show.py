"""`cmdbctl show ID [--at REV-OR-DATE]`."""

from __future__ import annotations

import sys

import click

from cmdbctl.cli.common import inform, quiet_option, repo_option
from cmdbctl.cli.completion import complete_document_ids, complete_revisions
from cmdbctl.workspace import find_workspace


@click.command(short_help="Print a document as it stands, or as it stood.")
@click.argument("doc_id", metavar="ID", shell_complete=complete_document_ids)
@click.option(
    "--at",
    "at",
    metavar="REV-OR-DATE",
    default=None,
    shell_complete=complete_revisions,
    help="A git revision (a commit, tag, branch, HEAD~3), or an ISO 8601 date "
    "(2026-11-20) or date-time (2026-11-20T14:30:00+01:00).",
)
@repo_option
@quiet_option
def show(doc_id: str, at: str | None, repo: str | None) -> None:
    """Print a document's YAML as it stands in the work tree, or as it stood.

    Without --at, the file in the work tree, as it is now (committed or not). With
    --at REV, the file in that revision. With --at DATE, the file in the last commit of
    the current branch (the first-parent line of HEAD) committed at or before it; a date
    alone means the end of that day, and a time without an offset is local time. A tag
    named like a date is a date here: write refs/tags/NAME.

    The file is printed byte for byte, comments included; where it came from goes to
    stderr (not with -q), so `cmdbctl show app-01 --at 2026-11-01 > old.yaml` keeps
    only the YAML.

    Exit 1 when the document did not exist yet at that time, or no longer did (the
    message says when it was added, or deleted, in which commit, by whom); exit 2 for
    an id that is in no commit, a revision that is not there, or a malformed date.

    \b
    Examples:
      cmdbctl show app-01
      cmdbctl show app-01 --at 2026-11-20
      cmdbctl show app-01 --at 2026-11-20T14:30:00+01:00
      cmdbctl show CHG-2026-0042 --at HEAD~3
      cmdbctl show app-01 --at v1.4 | diff - inventory/app-01.yaml
    """
    from cmdbctl.show import Absent  # imported here: start-up pays for one command
    from cmdbctl.show import show as read_show

    ws = find_workspace(repo)
    found = read_show(ws.root, doc_id, at)
    if isinstance(found, Absent):
        click.echo(f"cmdbctl: {found.message}", err=True)
        sys.exit(1)
    where = "the work tree" if found.commit is None else f"commit {found.commit[:10]}"
    if found.date:
        where += f" (committed {found.date})"
    inform(f"# {found.path} in {where}")
    click.echo(found.content, nl=False)
