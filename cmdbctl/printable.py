"""What cmdbctl shows a person of text it did not write (documents, snapshots, file names,
git's messages): what a terminal or an editor would act on is written as an escape."""

from __future__ import annotations

import re

# What a terminal or an editor acts on rather than shows: C0 (tabs and line breaks too),
# DEL, C1, the line and paragraph separators, and the bidirectional controls that
# reorder what is shown (CVE-2021-42574).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def printable(text: str) -> str:
    """`text` with what a terminal acts on written as an escape (`\\x1b`, `\\u202e`):
    what a snapshot (or a document) says, shown to a person, never moves the cursor,
    retitles the window or reorders the line."""
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable_lines(text: str) -> str:
    """`printable`, keeping the message's own line breaks."""
    return "\n".join(printable(line) for line in text.split("\n"))
