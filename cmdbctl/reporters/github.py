"""GitHub Actions workflow commands: `::error file=F,line=L,col=C,title=T::message`,
then the summary line `text` prints (`2 errors in 15 files`, `15 files valid`).

The summary is a plain log line, not a `::notice::`: a clean run still says what it
checked in the step's log, without an annotation on every run's summary page (the
workflow's Markdown job summary is the place for a verdict, and a step's annotations
are capped at ten of each level).

https://docs.github.com/actions/reference/workflow-commands-for-github-actions
"""

from __future__ import annotations

from typing import TextIO

from cmdbctl.findings import Report
from cmdbctl.reporters.text import summary_line

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
    out.write(summary_line(report.summary) + "\n")
