"""Bytes → text, refusing what a YAML document must not be.

Huge files, binary files and non-UTF-8 text become findings with a location, before any
parser sees them.
"""

from __future__ import annotations

import re

from cmdbctl.findings import Finding

# A CI document is a few hundred bytes; a megabyte is a generated blob or an attack.
MAX_FILE_BYTES = 1024 * 1024
_BOM = b"\xef\xbb\xbf"

CODES: dict[str, str] = {
    "file.too-large": "the file is larger than 1 MiB, the most a document may be; it is not read",
    "file.binary": "the file holds a NUL byte: it is binary, not a YAML document; not read",
    "file.encoding": "the file is not valid UTF-8 text; save it as UTF-8",
}


def decode(path: str, raw: bytes) -> str | Finding:
    """Return the text of a document file, or the finding that says why it has none."""
    if len(raw) > MAX_FILE_BYTES:
        return Finding(
            path,
            "file.too-large",
            f"file is larger than {MAX_FILE_BYTES:,} bytes, the most a document may be",
            line=1,
            column=1,
            hint="split the document, or move bulk data out of the CMDB",
        )
    raw = raw.removeprefix(_BOM)  # not part of the text: no column counts it
    if b"\x00" in raw:
        line, column = _line_col(raw, raw.index(b"\x00"))
        return Finding(
            path,
            "file.binary",
            "file is binary (it contains a NUL byte), not a YAML document",
            line=line,
            column=column,
            hint="remove the file or move it out of the CMDB folders",
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _line_col(raw, exc.start)
        return Finding(
            path,
            "file.encoding",
            f"file is not valid UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded",
            line=line,
            column=column,
            hint="save the file as UTF-8",
        )


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    # Columns count characters, as in every YAML finding; what precedes a bad byte may
    # itself be broken UTF-8, each undecodable sequence then counting as one character.
    return position_after(raw[:offset].decode("utf-8", errors="replace"))


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def position_after(before: str) -> tuple[int, int]:
    """Line and column (1-based) of the character that follows `before`, counted as
    ruamel counts its marks: lines end at LF, CRLF or a lone CR; a BOM is no column."""
    lines = _LINE_BREAK.split(before)
    return len(lines), len(lines[-1]) - lines[-1].count("\ufeff") + 1
