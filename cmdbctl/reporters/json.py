"""`{"formatVersion", "findings": [...], "summary": {...}}`, stable for scripts."""

from __future__ import annotations

from typing import TextIO

import orjson

from cmdbctl.findings import FORMAT_VERSION, Report


def render(report: Report, out: TextIO, color: bool) -> None:
    document = {"formatVersion": FORMAT_VERSION, **report.details,
                "findings": [f.to_json() for f in report.findings], "summary": report.summary}
    out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
