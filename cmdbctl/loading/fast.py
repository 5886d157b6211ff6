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

# Where the parsers could read a file differently, the position path decides: tag,
# anchor, alias and complex-key indicators at the start of a token, merge keys,
# directives, tabs, empty keys in flow collections, and characters outside YAML's
# printable set (NEL included, which YAML 1.1 and 1.2 read differently).
_NEEDS_POSITION_PATH = re.compile(
    r"(?:^|[\s\[{,])[!&*?]|<<|^%|\t|[\[{,]\s*:"
    "|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff]",
    re.MULTILINE)


def parse(text: str) -> dict[str, Any] | None:
    """The document as plain data, or None when the position path must decide."""
    if _NEEDS_POSITION_PATH.search(text):
        return None
    try:
        data = yaml_rs.loads(text, parse_datetime=False)
    except Exception:  # any parse problem is reported by the position path
        return None
    return data if isinstance(data, dict) and _string_keys(data) else None


def _string_keys(root: Any) -> bool:
    """JSON documents have string keys; `1: x` is the position path's to report."""
    stack = [root]  # a loop, not recursion: nesting depth is the attacker's choice
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if not all(isinstance(k, str) for k in node):
                return False
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True
