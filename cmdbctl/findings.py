"""The `Finding`: what every check produces and every reporter renders.

A finding names its file, line and column, the JSON pointer inside the document, a
stable code (`schema.enum`, `ref.dangling`, ...), a severity, a sentence a person
understands and a hint. Checks give the pointer; the loader fills in line and column
(see `loading.positions`), so no check deals with positions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

# Bumped when the JSON shape of findings or summaries changes incompatibly.
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Finding:
    path: str  # relative to the repository, POSIX separators
    code: str
    message: str
    severity: Severity = "error"
    pointer: str = ""  # RFC 6901 JSON pointer into the document; "" is the whole file
    line: int | None = None  # 1-based; None until located
    column: int | None = None
    hint: str | None = None

    def at(self, line: int, column: int) -> Finding:
        return replace(self, line=line, column=column)

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.line or 0, self.column or 0, self.code, self.pointer)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def pointer(parts: Iterable[str | int]) -> str:
    """Build an RFC 6901 JSON pointer from keys and indexes."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def pointer_parts(ptr: str) -> list[str]:
    """Split an RFC 6901 pointer into its unescaped tokens (indexes stay strings)."""
    if not ptr:
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in ptr.split("/")[1:]]


@dataclass(frozen=True)
class Report:
    """What a command hands its reporter: findings, a summary, and command-specific data.

    `details` holds what a command adds to its JSON beside findings and summary (the
    gate's change verdicts, for example); every reporter may use or ignore it.
    """

    command: str
    findings: Sequence[Finding]
    summary: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)


def summarize(findings: Sequence[Finding], files: int) -> dict[str, int]:
    counts = Counter(f.severity for f in findings)
    return {"files": files, **{f"{s}s": counts.get(s, 0) for s in SEVERITIES}}


def exit_code(findings: Iterable[Finding]) -> int:
    """0 clean (warnings alone are clean), 1 when any error was found."""
    return 1 if any(f.severity == "error" for f in findings) else 0
