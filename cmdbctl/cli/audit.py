"""`cmdbctl audit [--since REV] [--now INSTANT]`, and its text and Markdown reports (the
JSON is the shared reporter's: `commits` beside `findings`, the reviews at HEAD)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

import click

from cmdbctl.cli.common import (
    emit,
    format_option,
    inform,
    now_option,
    progress_bar,
    quiet_option,
    repo_option,
    use_color,
)
from cmdbctl.cli.completion import complete_revisions
from cmdbctl.findings import Finding, Report
from cmdbctl.reporters.markdown import cell, finding_line
from cmdbctl.reporters.text import counted
from cmdbctl.workspace import find_workspace

if TYPE_CHECKING:
    from cmdbctl.audit import AuditedCommit, AuditResult

_KINDS = {"merge": "merge", "squash": "squash merge", "direct": "direct push"}


@click.command()
@click.option(
    "--since",
    default=None,
    metavar="REV",
    shell_complete=complete_revisions,
    help="Audit the commits after REV (REV..HEAD, first parent); default: all.",
)
@now_option("post-implementation review deadlines")
@repo_option
@format_option(
    ("text", "json", "markdown"), "text for people; json for scripts; markdown for a report."
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes judging commits (default: one per CPU).",
)
@quiet_option
def audit(
    since: str | None, now: datetime | None, repo: str | None, fmt: str, jobs: int | None
) -> None:
    """Trace every commit on the branch to an approved change.

    Walks the first-parent history of HEAD and judges each commit that changed
    inventory/, changes/, policies/, schemas/ or the CI wiring as the gate would
    have judged it when it landed: under the rules of its first parent, at its
    committer date. A merge commit is judged with its merged branch; a squash merge
    with its approvals counted as recorded (their provenance is not in history: a
    warning); any other commit as a direct push. The root commit is the import, the
    baseline, and is not judged. Then every change request at HEAD that a rule asks to
    review is checked: a post-implementation review overdue as of --now is reported.

    Exit 1 when a commit is refused or a review is overdue. Verdicts are kept in
    .git/cmdbctl/ by commit id: a re-run judges only new commits.

    \b
    Examples:
      cmdbctl audit
      cmdbctl audit --since v2026.11 --format markdown > audit.md
      cmdbctl audit --format json | jq '.commits[] | select(.verdict == "refused")'
    """
    from cmdbctl.audit import run_audit  # imported here: start-up pays for one command

    ws = find_workspace(repo)
    with progress_bar(fmt, "auditing") as bar:
        result = run_audit(ws.root, since, now, progress=bar, jobs=jobs)
    refused = result.summary["verdict"] == "refused"
    if fmt == "json":
        at_head = result.reviews + result.history
        emit(Report("audit", at_head, result.summary, result.details()), fmt)
    else:
        out = sys.stdout
        (render_markdown if fmt == "markdown" else render_text)(result, out, use_color(out))
        out.flush()
        if fmt == "text":
            inform(summary_line(result))
    sys.exit(1 if refused else 0)


def summary_line(result: AuditResult) -> str:
    s = result.summary
    return (
        f"{s['verdict']}: {counted(s['audited'], 'commit')} audited of "
        f"{s['walked']} on the first-parent line, {s['refused']} refused, "
        f"{counted(s['reviewsOverdue'], 'review')} overdue "
        f"({s['judged']} judged, {s['cached']} from the cache)"
    )


def _finding_lines(findings: list[Finding], color: bool, indent: str = "  ") -> list[str]:
    lines = []
    for f in findings:
        severity = (
            click.style(
                f.severity,
                fg={"error": "red", "warning": "yellow"}.get(f.severity, "blue"),
                bold=True,
            )
            if color
            else f.severity
        )
        lines.append(
            f"{indent}{f.path}:{f.line or 1}:{f.column or 1}: {severity} {f.code}: {f.message}"
        )
        if f.hint:
            lines.append(f"{indent}    hint: {f.hint}")
    return lines


def render_text(result: AuditResult, out: TextIO, color: bool) -> None:
    """One block per refused commit, and per passed commit with warnings (a squash
    merge's unproven provenance); then the reviews at HEAD."""
    for commit in result.commits:
        shown = [f for f in commit.findings if f.severity != "info"]
        if commit.verdict == "passed" and not shown:
            continue
        head = f"commit {commit.sha}"
        label = "REFUSED" if commit.verdict == "refused" else "passed with warnings"
        if color:
            head = click.style(head, fg="yellow")
            label = click.style(
                label, fg="red" if commit.verdict == "refused" else "yellow", bold=True
            )
        out.write(
            f"{head} {label} ({_KINDS[commit.kind]})\n"
            f"  author:  {commit.author} <{commit.email}>\n"
            f"  date:    {commit.date}\n"
            f"  subject: {commit.subject}\n"
        )
        out.writelines(line + "\n" for line in _finding_lines(shown, color))
        out.write("\n")
    if result.reviews:
        out.write(f"post-implementation reviews at HEAD, as of {result.now.isoformat()}:\n")
        out.writelines(line + "\n" for line in _finding_lines(result.reviews, color))
    if result.history:
        out.write("the branch's history:\n")
        out.writelines(line + "\n" for line in _finding_lines(result.history, color))
    if result.baseline is not None:
        out.write(
            f"root commit {result.baseline.sha[:10]} ({result.baseline.subject}) is "
            "the import: the baseline, not judged\n"
        )


def _missing(commit: AuditedCommit) -> str:
    errors = [f for f in commit.findings if f.severity == "error"]
    return "; ".join(f"**{f.code}** {f.message}" for f in errors[:3]) + (
        f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    )


def render_markdown(result: AuditResult, out: TextIO, color: bool) -> None:
    """A report: the verdict, a table of refused commits with what each lacks, every
    finding by commit, the reviews at HEAD."""
    s = result.summary
    mark = "✅ passed" if s["verdict"] == "passed" else "❌ refused"
    out.write(
        f"### cmdbctl audit: {mark}\n\n"
        f"{counted(s['audited'], 'commit')} audited "
        f"({s['kinds']['merge']} merges, {s['kinds']['squash']} squash merges, "
        f"{s['kinds']['direct']} direct pushes) of {s['walked']} on the first-parent "
        f"line of `{result.head[:10]}`"
        + (f" since `{result.since[:10]}`" if result.since else "")
        + f"; {s['refused']} refused; {counted(s['reviewsOverdue'], 'review')} "
        f"overdue as of {result.now.isoformat()}.\n\n"
    )
    if result.refused:
        out.write(
            "| commit | kind | landed | author | subject | what is missing |\n"
            "|---|---|---|---|---|---|\n"
        )
        out.writelines(
            f"| `{c.sha[:10]}` | {_KINDS[c.kind]} | {cell(c.date)} | "
            f"{cell(c.author)} &lt;{cell(c.email)}&gt; | {cell(c.subject)} | "
            f"{cell(_missing(c))} |\n"
            for c in result.refused
        )
        out.write("\n")
    for c in result.commits:
        shown = [f for f in c.findings if f.severity != "info"]
        if not shown:
            continue
        out.write(
            f"<details><summary><code>{c.sha[:10]}</code> {cell(c.subject)}: "
            f"{c.verdict}</summary>\n\n"
        )
        out.writelines(finding_line(f, hint=False) for f in shown)
        out.write("\n</details>\n\n")
    for title, findings in (
        ("Post-implementation reviews at HEAD", result.reviews),
        ("The branch's history", result.history),
    ):
        if findings:
            out.write(f"#### {title}\n\n")
            out.writelines(finding_line(f, hint=False) for f in findings)
            out.write("\n")
    if result.baseline is not None:
        out.write(
            f"The root commit `{result.baseline.sha[:10]}` "
            f"({cell(result.baseline.subject)}) is the import: the baseline, not "
            "judged.\n"
        )
