"""One module per output format, all rendering the same findings.

A reporter is `render(report, out, color) -> None`; `REPORTERS` is the
literal registry the CLI offers as `--format` choices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from cmdbctl.findings import Report
from cmdbctl.reporters import codequality, github, json, markdown, sarif, text

Reporter = Callable[[Report, TextIO, bool], None]

REPORTERS: dict[str, Reporter] = {
    "text": text.render,
    "json": json.render,
    "github": github.render,
    "sarif": sarif.render,
    "markdown": markdown.render,
    "codequality": codequality.render,
}
