"""Round-trip YAML edits that keep the author's comments, quoting and layout.

Used by the commands that write documents (approve, rollback). Only the edited nodes
change; the indentation style is detected from the file.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.util import load_yaml_guess_indent

from cmdbctl.errors import CommandError


def _mapping_indent(text: str) -> int:
    for line in text.splitlines():
        match = re.match(r"^( +)[^\s#-]", line)
        if match:
            return len(match.group(1))
    return 2


def edit(text: str, path: str, change: Callable[[Any], None]) -> str:
    """Apply `change` to the document's round-trip tree and return the new text."""
    try:
        _, sequence_indent, offset = load_yaml_guess_indent(text)
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = True
        yaml.width = 4096
        yaml.indent(
            mapping=_mapping_indent(text), sequence=sequence_indent or 2, offset=offset or 0
        )
        data = yaml.load(text)
    except Exception as exc:
        raise CommandError(
            f"{path} cannot be edited: it is not valid YAML ({exc})",
            f"fix it first; `cmdbctl validate {path}` shows where",
        ) from exc
    if not isinstance(data, CommentedMap):
        raise CommandError(f"{path} cannot be edited: it is not a document mapping")
    change(data)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def flow_map(**items: Any) -> CommentedMap:
    """A mapping written on one line, `{by: bob, at: ..., decision: approve}`."""
    node = CommentedMap(**{k: v for k, v in items.items() if v is not None})
    node.fa.set_flow_style()
    return node
