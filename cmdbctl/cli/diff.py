"""`cmdbctl diff --discovered SNAPSHOT... [--format text|json|markdown] [--exit-code]
[--explain] [--write [--branch NAME] [--add-unmanaged]]`."""

from __future__ import annotations

import io
import sys
from datetime import datetime
from pathlib import Path

import click

from cmdbctl.cli.common import (
    Process,
    format_option,
    inform,
    now_option,
    quiet_option,
    repo_option,
    use_color,
)
from cmdbctl.errors import CommandError
from cmdbctl.findings import Report, summarize
from cmdbctl.reporters.text import render
from cmdbctl.workspace import find_workspace


@click.command()
@click.option(
    "--discovered",
    "-d",
    "snapshots",
    multiple=True,
    required=True,
    metavar="SNAPSHOT",
    help="A snapshot file (JSON or YAML, as `cmdbctl discover` writes). Repeat it for "
    "several sources; the DiscoveryPolicy's precedence says which to trust per attribute.",
)
@format_option(
    ("text", "json", "markdown"),
    "text for people; json for scripts; markdown for a pull-request comment.",
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything drifted (see below).")
@click.option("--explain", is_flag=True, help="Say for each item which rule matched which CI.")
@click.option(
    "--write",
    is_flag=True,
    help="Turn the drift into a branch: drifted CIs updated with the discovered values "
    "(comments and layout kept), a draft change request, one commit.",
)
@click.option(
    "--branch",
    metavar="NAME",
    default=None,
    help="With --write: the new branch (default drift/<date>-<digest>).",
)
@click.option(
    "--add-unmanaged",
    is_flag=True,
    help="With --write: also add a CI (inventory/discovered/<hostname>.yaml) for each "
    "unmanaged item.",
)
@now_option("the expiry of ignore rules")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    metavar="FILE",
    help="Write the report to FILE instead of stdout.",
)
@repo_option
@quiet_option
def diff(
    snapshots: tuple[str, ...],
    fmt: str,
    exit_code: bool,
    explain: bool,
    write: bool,
    branch: str | None,
    add_unmanaged: bool,
    now: datetime | None,
    output: str | None,
    repo: str | None,
) -> None:
    """Compare the repository (desired) with discovery snapshots (discovered).

    Each discovered item is identified as a CI by the DiscoveryPolicy in policies/ (by
    default serial, then fqdn, then hostname, then any MAC; MACs, host names and sizes
    normalised). Reports missing CIs (in the repository, not discovered; only kinds the
    snapshots cover, and never retired, planned or ordered ones), unmanaged items
    (discovered, no CI) and drifted CIs, field by field, comparing only the fields the
    sources report. Ambiguous matches (two CIs claiming one serial, rules that disagree,
    two items on one CI) are reported, never guessed. Ignore rules in the policy hide
    drift until their expiry date; an expired rule is a finding.

    With --write, the drift becomes a reviewable change: a new branch (checked out;
    the current branch stays as it is) where the drifted CIs take the discovered values,
    a draft change request in changes/ targets them and names the snapshots' digests,
    in one commit as you. Push it and open a pull request: the gate judges it like any
    other. Refuses a dirty work tree; any failure puts everything back.

    \b
    Exit status:
      0  the diff ran (without --exit-code, whatever it found)
      1  with --exit-code: something is missing, unmanaged, drifted or ambiguous, or an
         ignore rule expired; with --write: the result would not validate
      2  it could not run: a snapshot unreadable or malformed (the file, item and field
         are named), an invalid DiscoveryPolicy, a dirty work tree for --write, ...

    \b
    Examples:
      cmdbctl diff --discovered ansible.json
      cmdbctl diff -d ansible.json -d asset-register.json --explain
      cmdbctl diff -d ansible.json --format markdown -o drift.md
      cmdbctl diff -d ansible.json --exit-code --format json
      cmdbctl diff -d ansible.json --write --branch drift/db-memory
    """
    from cmdbctl.drift import no_cycle_collection, run_diff
    from cmdbctl.drift.report import RENDERERS, summary_line

    if (branch or add_unmanaged) and not write:
        raise click.UsageError("--branch and --add-unmanaged go with --write")
    ws = find_workspace(repo)
    moment = now or datetime.now().astimezone()
    # A process that ends with a read-only diff ends without freeing its 10^6 objects
    # (main.py), and the cycle collector never walks them (see no_cycle_collection).
    quick = Process.console_script and not write
    with no_cycle_collection(freeze=quick):
        result = run_diff(ws, snapshots, moment)
        buffer = io.StringIO()
        RENDERERS[fmt](result, buffer, explain)
    if quick:
        Process.end_quickly, Process.kept = True, result
    _emit(buffer.getvalue(), output)
    inform(summary_line(result))
    if write:
        from cmdbctl.drift.write import WriteRefused, write_drift

        try:
            written = write_drift(
                ws.root, result, branch=branch, add_unmanaged=add_unmanaged, now=moment
            )
        except WriteRefused as refused:  # validate's findings of the result say why
            render(
                Report("diff", refused.findings, summarize(refused.findings, 0)),
                sys.stderr,
                use_color(sys.stderr),
            )
            raise
        inform(written.describe())
    if exit_code and result.found_drift:
        sys.exit(1)


def _emit(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot write {output}: {exc.strerror or exc}") from exc
