"""`{"formatVersion", "findings": [...], "summary": {...}}`, stable for scripts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

import orjson

from cmdbctl.findings import FORMAT_VERSION, Finding


def render(findings: Sequence[Finding], summary: dict[str, int], out: TextIO,
           color: bool) -> None:
    document = {"formatVersion": FORMAT_VERSION,
                "findings": [f.to_json() for f in findings], "summary": summary}
    out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
