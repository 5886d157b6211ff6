"""Bytes → plain data, on the fast path where possible, with positions on demand.

`load` is the one entry every command uses, for work-tree files and git blobs alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cmdbctl.findings import Finding
from cmdbctl.loading import fast, positions
from cmdbctl.loading.source import decode

CODES: dict[str, str] = {
    "document.empty": "the file holds no YAML document (it is empty, or only comments)",
    "document.not-mapping": "the file's document is a list or a single value, not a mapping "
    "of apiVersion, kind, metadata and spec",
}


@dataclass(slots=True)
class Loaded:
    """One file: its data when it is a readable mapping, else the findings why not."""

    path: str
    text: str | None
    data: dict[str, Any] | None
    findings: list[Finding] = field(default_factory=list)


def load(path: str, raw: bytes) -> Loaded:
    text = decode(path, raw)
    if isinstance(text, Finding):
        return Loaded(path, None, None, [text])
    data = fast.parse(text)
    if data is not None:
        return Loaded(path, text, data)
    parsed = positions.parse(path, text)
    if isinstance(parsed, list):
        return Loaded(path, text, None, parsed)
    if parsed.data is None:
        return _refused(
            path,
            text,
            "document.empty",
            "file holds no document",
            "write a document (apiVersion, kind, metadata, spec) or remove the file",
        )
    if not isinstance(parsed.data, dict):
        return _refused(
            path,
            text,
            "document.not-mapping",
            "a document must be a mapping (apiVersion, kind, metadata, spec), "
            f"not a {type(parsed.data).__name__}",
        )
    return Loaded(path, text, parsed.data)


def _refused(path: str, text: str, code: str, message: str, hint: str | None = None) -> Loaded:
    """A file read but holding no document: one finding, at its first line."""
    return Loaded(path, text, None, [Finding(path, code, message, line=1, column=1, hint=hint)])


def locate(text: str | None, findings: Sequence[Finding]) -> list[Finding]:
    """Fill in line and column of findings that carry only a pointer."""
    if all(f.line is not None for f in findings):
        return list(findings)
    root = None
    if text is not None:
        parsed = positions.parse(findings[0].path, text)
        root = parsed.root if isinstance(parsed, positions.Parsed) else None
    return positions.locate_all(root, findings)
