"""The fast parse: yaml-rs (Rust), for the files that need no position.

yaml-rs rejects duplicate keys and bounds alias expansion itself, and resolves scalars as
YAML 1.2 does, like the position path. Where the two could differ (tags, anchors and
aliases, merge keys, directives) the file is not parsed here: `None` sends it to the
position path, which is canonical. Tests prove both paths give the same data.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import yaml_rs

# Where the parsers could read a file differently, the position path decides: tag,
# anchor, alias and complex-key indicators at the start of a token, merge keys,
# directives, tabs, empty keys in flow collections, and characters outside YAML's
# printable set (NEL included, which YAML 1.1 and 1.2 read differently). Each pattern
# runs only when a plain substring test says it could match: one alternation over the
# whole text costs as much as the parse.
_INDICATOR = re.compile(r"(?:^|[\s\[{,])[!&*?]", re.MULTILINE)
_FLOW_EMPTY_KEY = re.compile(r"[\[{,]\s*:")
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff]")


def needs_position_path(text: str) -> bool:
    if "\t" in text or "<<" in text or text.startswith("%") or "\n%" in text:
        return True
    if ("!" in text or "&" in text or "*" in text or "?" in text) and _INDICATOR.search(text):
        return True
    if ("[" in text or "{" in text) and _FLOW_EMPTY_KEY.search(text):
        return True
    return _UNPRINTABLE.search(text) is not None


def parse(text: str) -> dict[str, Any] | None:
    """The document as plain data, or None when the position path must decide."""
    if needs_position_path(text):
        return None
    try:
        data = yaml_rs.loads(text, parse_datetime=False)
    except Exception:  # noqa: BLE001 - any parse problem is the position path's to report
        return None
    return data if isinstance(data, dict) and _is_json(data) else None


def _is_json(data: dict[str, Any]) -> bool:
    """JSON documents have string keys; `1: x` is the position path's to report.

    orjson walks the document in C and refuses non-string keys, integers past 64 bits
    and lone surrogates (all the position path's to report), and nesting past 255
    levels, which only it refuses: then the walk below decides.
    """
    try:
        orjson.dumps(data)
    except TypeError as exc:
        return "Recursion limit" in str(exc) and _string_keys(data)
    return True


def _string_keys(root: Any) -> bool:
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
