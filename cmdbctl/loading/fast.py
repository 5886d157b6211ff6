"""The fast parse: yaml-rs (Rust), for the files that need no position.

yaml-rs rejects duplicate keys and bounds alias expansion itself, and resolves scalars as
YAML 1.2 does, like the position path. Where the two could differ (tags, anchors and
aliases, merge keys, directives) the file is not parsed here: `None` sends it to the
position path, which is canonical. Tests prove both paths give the same data.
"""

from __future__ import annotations

import re
from typing import Any

import yaml_rs

# Tag, anchor or alias indicators at the start of a token, merge keys, and directives.
_NEEDS_POSITION_PATH = re.compile(r"(?:^|[\s\[{,])[!&*]|<<|^%", re.MULTILINE)


def parse(text: str) -> dict[str, Any] | None:
    """The document as plain data, or None when the position path must decide."""
    if _NEEDS_POSITION_PATH.search(text):
        return None
    try:
        data = yaml_rs.loads(text, parse_datetime=False)
    except Exception:  # any parse problem is reported by the position path
        return None
    return data if isinstance(data, dict) else None
