"""`cmdbctl gate --base REV [--head REV]`."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from cmdbctl.cli.common import (
    emit,
    format_option,
    now_option,
    quiet_option,
    repo_option,
)
from cmdbctl.cli.completion import complete_revisions
from cmdbctl.findings import Report, exit_code
from cmdbctl.reporters import REPORTERS
from cmdbctl.workspace import find_workspace


@click.command()
@click.option(
    "--base",
    required=True,
    metavar="REV",
    shell_complete=complete_revisions,
    help="The branch this one will be merged into (e.g. origin/main).",
)
@click.option(
    "--head",
    default="HEAD",
    show_default=True,
    metavar="REV",
    shell_complete=complete_revisions,
    help="The branch under review.",
)
@now_option("freezes and review deadlines")
@repo_option
@format_option(tuple(REPORTERS))
@quiet_option
def gate(base: str, head: str, now: datetime | None, repo: str | None, fmt: str) -> None:
    """Refuse a merge that breaks the change rules.

    Every CI changed between the merge base of BASE and HEAD must be a target of a
    change request added or updated on the branch (or named by a `Change-Id:` commit
    trailer), and that change must satisfy the rules of BASE's policies/: approvals
    from the required groups, by people who are neither its requester nor its authors,
    added by their own (signed, where required) commits and not made stale by later
    edits; a rollback plan; a window inside the affected services' maintenance
    windows; no freeze. Edits to policies/ or schemas/ need an approved management
    change. Everything is read from git objects, never the work tree.

    \b
    Examples:
      cmdbctl gate --base origin/main
      cmdbctl gate --base origin/main --format markdown > comment.md
      cmdbctl gate --base origin/main --format github
    """
    from cmdbctl.gate import run_gate  # imported here: start-up pays for one command

    ws = find_workspace(repo)
    result = run_gate(ws.root, base, head, now)
    emit(Report("gate", result.findings, result.summary, result.details()), fmt)
    sys.exit(exit_code(result.findings))
