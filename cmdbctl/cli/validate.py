"""`cmdbctl validate [PATH...]`."""

from __future__ import annotations

import sys

import click

from cmdbctl.cli.common import emit, format_option, progress_bar, quiet_option, repo_option
from cmdbctl.findings import Report, exit_code
from cmdbctl.workspace import find_workspace, resolve_paths


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@repo_option
@format_option()
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes for large estates (default: one per CPU).",
)
@quiet_option
def validate(paths: tuple[str, ...], repo: str | None, fmt: str, jobs: int | None) -> None:
    """Check the repository's documents: schemas, references and sanity.

    \b
    - schema: each document against schemas/<kind>.schema.json, at the exact line
      and column of the offending node, with its JSON pointer;
    - integrity: ids unique, file name = id, every reference (fields marked
      x-cmdb-ref in the schemas) resolves to a document of an allowed kind;
    - sanity: change windows end after they start, SLA targets get stricter
      toward P1, approved changes have their approvals recorded, ...

    With PATHs, only findings in those files or folders are reported (references are
    still resolved against the whole repository).

    \b
    Examples:
      cmdbctl validate
      cmdbctl validate inventory/hardware --format github
      cmdbctl validate --format sarif > cmdb.sarif
    """
    from cmdbctl.validate import (
        validate as run_validate,  # imported here: start-up pays for one command
    )

    ws = find_workspace(repo)
    scope = resolve_paths(ws, paths) if paths else None
    with progress_bar(fmt, "validating") as bar:
        result = run_validate(ws, scope, progress=bar, jobs=jobs)
    emit(Report("validate", result.findings, result.summary), fmt)
    sys.exit(exit_code(result.findings))
