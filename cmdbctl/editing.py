"""Round-trip YAML edits that keep the author's comments, quoting and layout.

Used by the commands that write documents (approve, review, rollback, diff --write).
Only the edited nodes change; the indentation style is detected from the file.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.util import load_yaml_guess_indent

from cmdbctl.errors import CommandError

# Characters YAML 1.1 reads as line breaks (NEL, LS, PS) but the emitter writes raw in a
# plain, single-quoted or block scalar, where a reader folds or normalises them (NEL came
# back as a space): a string holding one is written double-quoted, where they are escapes
# (\N, \L, \P) every reader turns back into the character written.
_FOLDED = re.compile("[\x85\u2028\u2029]")
_STR = "tag:yaml.org,2002:str"


class _Representer(RoundTripRepresenter):
    """Round-trip representation, but a string with a line break only escapes keep is
    double-quoted whatever style it had (discovered values, a comment typed by a user)."""

    def represent_scalar(
        self, tag: Any, value: Any, style: Any = None, anchor: Any = None
    ) -> ScalarNode:
        if tag == _STR and isinstance(value, str) and _FOLDED.search(value):
            style = '"'
        return super().represent_scalar(tag, value, style, anchor)


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
        yaml.Representer = _Representer
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
