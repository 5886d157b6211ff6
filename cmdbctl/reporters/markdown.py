"""A Markdown summary fit to post as a pull-request comment.

For the gate it leads with the verdict and a table of change requests (rules, trusted
approvals, verdict); every command's findings follow, grouped by file.
"""

from __future__ import annotations

from typing import Any, TextIO

from cmdbctl.findings import Finding, Report
from cmdbctl.reporters.text import counted

_ICONS = {"error": "❌", "warning": "⚠️", "info": "ℹ️"}


def cell(text: Any) -> str:
    """Text for one Markdown table cell or list item: no pipes, one line."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def finding_line(f: Finding, hint: bool = True) -> str:
    """One finding as a Markdown list item."""
    return (
        f"- {_ICONS[f.severity]} `{f.path}:{f.line or 1}` **{f.code}**: {cell(f.message)}"
        + (f" — _{cell(f.hint)}_" if hint and f.hint else "")
        + "\n"
    )


def render(report: Report, out: TextIO, color: bool) -> None:
    summary = report.summary
    verdict = summary.get("verdict")
    if verdict is not None:
        mark = "✅ passed" if verdict == "passed" else "❌ refused"
        out.write(f"### cmdbctl gate: {mark}\n\n")
    else:
        out.write(
            f"### cmdbctl {report.command}: "
            f"{'❌' if summary.get('errors') else '✅'} "
            f"{counted(summary.get('errors', 0), 'error')}, "
            f"{counted(summary.get('warnings', 0), 'warning')}\n\n"
        )
    changes = report.details.get("changes") or []
    if changes:
        out.write("| change | status | rules | approvals | verdict |\n|---|---|---|---|---|\n")
        for c in changes:
            approvals = (
                ", ".join(f"{a['by']} {'✔' if a['trusted'] else '✘'}" for a in c["approvals"])
                or "none"
            )
            out.write(
                f"| {cell(c['id'])} | {cell(c['status'])} | "
                f"{cell(', '.join(c['rules']) or '—')} | {cell(approvals)} | "
                f"{'✅' if c['verdict'] == 'passes' else '❌'} |\n"
            )
        out.write("\n")
    changed = report.details.get("changeSet") or []
    if changed:
        out.write(f"<details><summary>{counted(len(changed), 'changed document')}</summary>\n\n")
        out.writelines(
            f"- `{d['path']}` {d['status']}"
            + (f" ({counted(len(d['changes']), 'field')})" if d.get("changes") else "")
            + "\n"
            for d in changed
        )
        out.write("\n</details>\n\n")
    if not report.findings:
        out.write("No findings.\n")
        return
    out.writelines(map(finding_line, report.findings))
