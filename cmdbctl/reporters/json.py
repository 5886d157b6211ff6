"""`{"formatVersion", "findings": [...], "summary": {...}}`, stable for scripts."""

from __future__ import annotations

import json
from typing import TextIO

import orjson

from cmdbctl.findings import FORMAT_VERSION, Report


def render(report: Report, out: TextIO, color: bool) -> None:
    document = {
        "formatVersion": FORMAT_VERSION,
        **report.details,
        "findings": [f.to_json() for f in report.findings],
        "summary": report.summary,
    }
    try:
        text = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
    except TypeError:  # a lone surrogate (a "\ud800" escape in YAML): json escapes it
        text = json.dumps(document, indent=2)
    out.write(text + "\n")
