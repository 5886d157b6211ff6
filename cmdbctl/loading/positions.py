"""The position-keeping parse: ruamel.yaml round-trip, the one place it reads documents.

It is the canonical parser: every syntax and hostile-input finding comes from here, and
it turns a finding's JSON pointer into a line and column. The fast path (`fast.py`)
sends every file it is not sure of here, so a finding is the same whichever path found it.
Semantics are YAML 1.2 with timestamps left as strings (JSON Schema checks them as text).
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar, merge_attrib
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scanner import RoundTripScanner

from cmdbctl.findings import Finding, pointer, pointer_parts
from cmdbctl.loading.source import position_after

_STANDARD_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "map", "seq", "int", "float", "bool", "null")
)
# Nodes allowed beyond one per character of text: more can only come from aliases
# expanding the same subtree again and again (a "billion laughs" alias bomb).
_NODE_SLACK = 10_000

CODES: dict[str, str] = {
    "yaml.syntax": "the file is not valid YAML (a tab used for indentation, an unclosed "
    "bracket or quote, a character YAML forbids, ...)",
    "yaml.duplicate-key": "a mapping has the same key twice: which value holds would be a guess",
    "yaml.key-type": "a mapping key is a number, boolean or null, not a string; quote it",
    "yaml.tag": "a YAML tag (!!python/object, !custom, ...): documents are plain data, and "
    "cmdbctl never constructs tagged objects",
    "yaml.alias-bomb": "aliases expand the document far beyond its size (a billion-laughs "
    "attack); it is not read",
    "yaml.too-deep": "the document nests too deeply to be read",
    "yaml.value": "a value cannot be read, e.g. an integer of more digits than Python "
    "converts; quote it",
    "yaml.multiple-documents": "the file holds more than one YAML document (a second ---): "
    "one document per file, named <id>.yaml",
}


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that keeps timestamps as the text the user wrote."""


_Constructor.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda self, node: self.construct_scalar(node)
)


class _TooDeep(Exception):
    pass


class _Scanner(RoundTripScanner):
    """Stops at flow nesting no document could be composed at. ruamel's scanner looks
    ahead over every `[` of `a: [[[[...` before the composer recurses (quadratic time:
    seconds for 10,000 levels), and composing one level takes at least two Python
    frames, so past half the recursion limit the composer's RecursionError is certain."""

    def fetch_flow_collection_start(self, *args: Any, **kwargs: Any) -> None:
        if self.flow_level >= sys.getrecursionlimit() // 2:
            raise _TooDeep
        super().fetch_flow_collection_start(*args, **kwargs)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Scanner = _Scanner
    yaml.Constructor = _Constructor
    yaml.allow_duplicate_keys = False
    return yaml


@dataclass(frozen=True, slots=True)
class Parsed:
    """A document parsed with positions: its plain data and the ruamel tree."""

    data: Any
    root: Any


class _TooManyNodes(Exception):
    pass


def parse(path: str, text: str) -> Parsed | list[Finding]:
    """Parse one single-document YAML file; findings when it is not safe plain data."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            documents = _yaml().load_all(text)
            root = next(documents, None)
            if next(documents, None) is not None:
                return [_second_document(path, text)]
    except MarkedYAMLError as exc:
        return [_syntax_finding(path, exc, text)]
    except ReaderError as exc:  # a character YAML forbids; ruamel gives only its offset
        return [_character_finding(path, text, exc)]
    except YAMLError as exc:  # the first line: a finding is one line of text
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [Finding(path, "yaml.syntax", f"invalid YAML: {reason}", line=1, column=1)]
    except (RecursionError, _TooDeep):
        return [_too_deep(path)]
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        return [
            Finding(
                path,
                "yaml.value",
                f"a value cannot be read: {exc}".splitlines()[0],
                line=1,
                column=1,
                hint="quote it, or write a shorter value",
            )
        ]
    problems: list[Finding] = []
    budget = [len(text) + _NODE_SLACK]
    try:
        data = _plain(root, [], path, problems, budget)
    except _TooManyNodes:
        return [
            Finding(
                path,
                "yaml.alias-bomb",
                "aliases expand this document far beyond its size (an alias bomb)",
                line=1,
                column=1,
                hint="write the values out instead of using aliases",
            )
        ]
    except RecursionError:
        return [_too_deep(path)]
    if problems:
        return locate_all(root, problems)
    return Parsed(data, root)


def _too_deep(path: str) -> Finding:
    return Finding(
        path,
        "yaml.too-deep",
        "document nests too deeply to be read",
        line=1,
        column=1,
        hint="flatten the structure",
    )


def _plain(
    node: Any, at: list[str | int], path: str, problems: list[Finding], budget: list[int]
) -> Any:
    """Convert ruamel's objects into dict/list/str/int/float/bool/None."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooManyNodes
    tag = getattr(getattr(node, "tag", None), "value", None)
    if isinstance(node, TaggedScalar):
        if tag == "tag:yaml.org,2002:str":
            return str(node.value)
        problems.append(_tag_finding(path, at, tag))
        return None
    if tag is not None and tag not in _STANDARD_TAGS:
        problems.append(_tag_finding(path, at, tag))
        return None
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if not isinstance(key, str):
                if key in node._ok:  # a merged key is reported where its own mapping is
                    line, column = node.lc.key(key)  # the key itself, not its value
                    problems.append(
                        Finding(
                            path,
                            "yaml.key-type",
                            f"mapping key {key!r} is not a string; quote it",
                            pointer=pointer([*at, str(key)]),
                            line=line + 1,
                            column=column + 1,
                        )
                    )
                continue
            out[key] = _plain(value, [*at, key], path, problems, budget)
        return out
    if isinstance(node, CommentedSeq):
        return [_plain(v, [*at, i], path, problems, budget) for i, v in enumerate(node)]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    problems.append(_tag_finding(path, at, type(node).__name__))
    return None


def _tag_finding(path: str, at: list[str | int], tag: str | None) -> Finding:
    shown = (tag or "?").replace("tag:yaml.org,2002:", "!!")
    return Finding(
        path,
        "yaml.tag",
        f"tag {shown} is not allowed; documents are plain data",
        pointer=pointer(at),
        hint="remove the tag; cmdbctl never constructs tagged objects",
    )


def _syntax_finding(path: str, exc: MarkedYAMLError, text: str) -> Finding:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or "invalid YAML"
    if "duplicate key" in problem:
        key = re.search(r'duplicate key "(.*?)"', problem)
        name = key.group(1) if key else "?"
        return Finding(
            path,
            "yaml.duplicate-key",
            f'key "{name}" appears more than once',
            line=line,
            column=column,
            hint="keep one of the entries",
        )
    context = f" ({exc.context})" if exc.context else ""
    return Finding(
        path,
        "yaml.syntax",
        f"invalid YAML: {problem}{context}",
        line=line,
        column=column,
        hint=_tab_hint(text, mark),
    )


def _tab_hint(text: str, mark: Any) -> str | None:
    """The hint for a tab where YAML reads none (ruamel: "found character '\\t' that
    cannot start any token", at the tab): most often a line indented with a tab."""
    index = getattr(mark, "index", None)
    if not isinstance(index, int) or not 0 <= index < len(text) or text[index] != "\t":
        return None
    start = max(text.rfind("\n", 0, index), text.rfind("\r", 0, index)) + 1
    if text[start:index].strip(" \t"):  # after something on its line
        return "replace the tab with a space (YAML forbids tabs for indentation too)"
    return "YAML forbids tabs for indentation: indent with spaces"


def _character_finding(path: str, text: str, exc: ReaderError) -> Finding:
    line, column = position_after(text[: exc.position])
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return Finding(
        path,
        "yaml.syntax",
        f"invalid YAML: character U+{code:04X} is not allowed in a YAML document",
        line=line,
        column=column,
        hint=f'remove it, or write it as the escape "\\u{code:04x}" inside a double-quoted string',
    )


_DOC_START = re.compile(r"^---(\s|$)", re.MULTILINE)


def _second_document(path: str, text: str) -> Finding:
    starts = [m.start() for m in _DOC_START.finditer(text)]
    line = 1
    if starts:
        # A first `---` after nothing but comments opens the first document, not the second.
        leading = all(
            not ln.strip() or ln.lstrip().startswith("#") for ln in text[: starts[0]].splitlines()
        )
        second = starts[1] if leading and len(starts) > 1 else starts[0]
        line = text.count("\n", 0, second) + 1
    return Finding(
        path,
        "yaml.multiple-documents",
        "file holds more than one YAML document; keep one document per file",
        line=line,
        column=1,
        hint="split it into one file per document, named <id>.yaml",
    )


def locate(root: Any, ptr: str) -> tuple[int, int]:
    """Line and column (1-based) of the node a pointer names, or of its nearest ancestor.

    A scalar value is located at the value; a mapping or sequence at its key or dash.
    """
    line, column = (root.lc.line + 1, root.lc.col + 1) if hasattr(root, "lc") else (1, 1)
    node = root
    for token in pointer_parts(ptr):
        if isinstance(node, CommentedMap) and token not in node:
            # a key YAML read as a number or boolean (`1: x`) is named by its text
            token = next((k for k in node if not isinstance(k, str) and str(k) == token), token)
        if isinstance(node, CommentedMap) and token in node:
            holder = _writer(node, token)
            if token not in holder._ok:  # no mapping writes it: keep the parent's place
                break
            child = holder[token]
            kl, kc = holder.lc.key(token)
            if isinstance(child, (CommentedMap, CommentedSeq)):
                line, column = kl + 1, kc + 1
            else:
                vl, vc = holder.lc.value(token)
                line, column = vl + 1, vc + 1
            node = child
        elif isinstance(node, CommentedSeq) and token.isdigit() and int(token) < len(node):
            il, ic = node.lc.item(int(token))
            line, column = il + 1, ic + 1
            node = node[int(token)]
        else:
            break
    return line, column


def _writer(node: CommentedMap, key: Any) -> CommentedMap:
    """The mapping where `key` is written: `node`, or the one a merge key (`<<: *x`) took
    it from. ruamel keeps positions only for a mapping's own keys; a merged key is found
    where the anchored mapping writes it, which is where a user would fix its value."""
    seen = {id(node)}
    while key not in node._ok:  # not an own key
        # the first merged mapping that has the key wins, as in YAML's merge rules
        merged = next((m for m in getattr(node, merge_attrib, ()) if key in m), None)
        if merged is None or id(merged) in seen:
            break
        seen.add(id(merged))
        node = merged
    return node


def locate_all(root: Any, findings: Iterable[Finding]) -> list[Finding]:
    """Give every finding without a position the position of its pointer."""
    out = []
    for f in findings:
        if f.line is None:
            line, column = locate(root, f.pointer) if root is not None else (1, 1)
            f = f.at(line, column)
        out.append(f)
    return out
