"""GitHub Actions workflow commands: `::error file=F,line=L,col=C,title=T::message`.

https://docs.github.com/actions/reference/workflow-commands-for-github-actions
"""

from __future__ import annotations

from typing import TextIO

from cmdbctl.findings import Report

_LEVELS = {"error": "error", "warning": "warning", "info": "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render(report: Report, out: TextIO, color: bool) -> None:
    for f in report.findings:
        message = f.message + (f"\n{f.hint}" if f.hint else "")
        out.write(
            f"::{_LEVELS[f.severity]} file={_property(f.path)},line={f.line or 1},"
            f"col={f.column or 1},title={_property(f.code)}::{_data(message)}\n"
        )
