"""`path:line:col: severity code: message`, the form editors and CI logs link."""

from __future__ import annotations

from typing import TextIO

import click

from cmdbctl.findings import Report
from cmdbctl.printable import printable

_COLOURS = {"error": "red", "warning": "yellow", "info": "blue"}


def render(report: Report, out: TextIO, color: bool) -> None:
    # A message quotes documents and file names: a hostile branch's bytes, shown escaped.
    for f in report.findings:
        where = f"{printable(f.path)}:{f.line or 1}:{f.column or 1}:"
        severity = (
            click.style(f.severity, fg=_COLOURS[f.severity], bold=True) if color else f.severity
        )
        code = click.style(f.code, dim=True) if color else f.code
        out.write(
            f"{click.style(where, bold=True) if color else where} {severity} {code}: "
            f"{printable(f.message)}\n"
        )
        if f.hint:
            out.write(f"    hint: {printable(f.hint)}\n")


def counted(number: int, noun: str) -> str:
    """`1 error`, `2 errors`, `0 change requests`: the noun is plural unless one."""
    return f"{number} {noun}{'s' if number != 1 else ''}"


def summary_line(summary: dict[str, int]) -> str:
    parts = [counted(summary[k], k[:-1]) for k in ("errors", "warnings", "infos") if summary.get(k)]
    checked = counted(summary["files"], "file")
    if "verdict" in summary:  # the gate
        return (
            f"{summary['verdict']}: {', '.join(parts) or 'no findings'} "
            f"({checked} changed, {counted(summary['changes'], 'change request')})"
        )
    return f"{', '.join(parts)} in {checked}" if parts else f"{checked} valid"
