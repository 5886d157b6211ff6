"""The fast parse (yaml-rs) and the position parse (ruamel.yaml) must agree.

`loading.load` takes the fast path whenever `fast.parse` returns data; the position path
is canonical. Whenever the fast path takes a file, its data must equal the position
path's, and the findings a file gets must not depend on which path read it.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from cmdbctl.checks import check_document
from cmdbctl.document import Document
from cmdbctl.findings import Finding
from cmdbctl.kinds import KindRegistry, builtin_schema_files
from cmdbctl.loading import fast, load, positions
from cmdbctl.loading.source import decode
from cmdbctl.validate.verdicts import judge

CASES = sorted((Path(__file__).parents[1] / "cases").glob("*/*.yaml"))

KNOWN_BUGS: dict[str, str] = {}


def same(a: Any, b: Any) -> bool:
    """Deep equality that tells bool from int, int from float, and NaN equals NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


@pytest.fixture(scope="module")
def kinds() -> KindRegistry:
    return KindRegistry(builtin_schema_files(), "built-in:")


def located(findings: Any) -> set[tuple[str, int | None, int | None]]:
    return {(f.code, f.line, f.column) for f in findings}


def position_path_findings(path: str, raw: bytes, kinds: KindRegistry) -> list[Finding]:
    """What a file's findings are when the position path reads it, never the fast one."""
    text = decode(path, raw)
    if isinstance(text, Finding):
        return [text]
    parsed = positions.parse(path, text)
    if isinstance(parsed, list):
        return parsed
    if not isinstance(parsed.data, dict):
        # Empty file / not a mapping: `load` decides these on the position path too.
        return list(load(path, raw).findings)
    findings = check_document(Document(path, parsed.data), kinds)
    return positions.locate_all(parsed.root, findings)


def _case_param(file: Path) -> Any:
    marks = (
        [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[file.name])]
        if file.name in KNOWN_BUGS
        else []
    )
    return pytest.param(file, id=f"{file.parent.name}/{file.stem}", marks=marks)


@pytest.mark.parametrize("case_file", [_case_param(f) for f in CASES])
def test_case_files_parse_alike(case_file: Path, kinds: KindRegistry) -> None:
    raw = case_file.read_bytes()
    path = f"inventory/{case_file.name}"
    text = decode(path, raw)
    assert isinstance(text, str)
    data = fast.parse(text)
    parsed = positions.parse(path, text)
    if data is not None:
        assert isinstance(parsed, positions.Parsed), parsed
        assert same(data, parsed.data)
    # Whichever path took the file, its findings (with positions) are the same.
    fast_or_not = judge(path, raw, kinds).findings
    assert located(fast_or_not) == located(position_path_findings(path, raw, kinds))


def test_some_case_files_take_the_fast_path() -> None:
    """Otherwise the comparison above compares the position path with itself."""
    taken = [f.name for f in CASES if fast.parse(f.read_text("utf-8-sig")) is not None]
    assert "flow-style.yaml" in taken
    assert "bad-enum-deep.yaml" in taken
    assert "anchors-and-merge.yaml" not in taken  # anchors go to the position path


SNIPPETS = {
    "yaml 1.1 booleans": "a: yes\nb: no\nc: on\nd: off\ne: y\nf: n\ng: Yes\nh: OFF\n",
    "yaml 1.2 booleans": "a: true\nb: false\nc: True\nd: FALSE\n",
    "octal-looking": "a: 0755\nb: 0o17\nc: -0o17\nd: 00\n",
    "underscores": "a: 1_000\nb: 1_000.5\n",
    "hex and binary": "a: 0x1F\nb: 0xff\nc: 0b101\n",
    "infinity and nan": "a: .inf\nb: -.inf\nc: +.INF\nd: .nan\ne: .NaN\n",
    "nulls": "a: ~\nb: null\nc: Null\nd:\ne: NULL\n",
    "floats": "a: 1.10\nb: 1e3\nc: 1.5e-3\nd: 6.8523015e+5\ne: -0.0\nf: .5\ng: 1.\n",
    "integers": "a: +12\nb: -7\nc: 0\nd: 9223372036854775808\n",
    "quoted": "a: \"quoted\"\nb: 'single ''quoted'''\nc: \"12\"\nd: 'yes'\ne: \"\"\n",
    "literal block": "a: |\n  line one\n  line two\n\nb: |-\n  stripped\nc: |+\n  kept\n\n",
    "folded block": "a: >\n  folded\n  text\n\n  second paragraph\nb: >-\n  no\n  newline\n",
    "indented block": "a: |2\n    two extra\n  base\n",
    "timestamps": (
        "a: 2026-11-28T22:00:00+08:00\nb: 2026-11-28\n"
        "c: 2001-12-14 21:59:43.10 -5\nd: 2026-11-22T08:00:00Z\n"
        'e: "2026-11-28T22:00:00+08:00"\n'
    ),
    "unicode escapes": 'a: "\\u00e9\\U0001F600\\x41\\t\\n"\nb: caf\u00e9 \u4e2d\u6587\n',
    "sexagesimal": 'a: 190:20:30\nb: 12:30\nc: "09:00"\n',
    "plain oddities": "a: -x\nb: a b  c\nc: 'a: b'\nd: foo#bar\ne: x # comment\n",
    "flow collections": "a: {b: [1, 2.5, {c: d}], e: []}\nf: {}\ng: [~, yes, 0x10]\n",
    "nested block": "a:\n  b:\n    - c: 1\n      d: [x]\n    - - nested\n      - list\n",
    "keys": "\"quoted key\": 1\n'single': 2\n? complex\n: 3\nnull-ish: ~\n",
    "long strings": "a: " + "x" * 5000 + "\n",
    "windows newlines": "a: 1\r\nb: two\r\nc: |\r\n  block\r\n",
    "document markers": "---\na: 1\n...\n",
    "tabs in values": "a: \"tab\\there\"\nb: 'x\ty'\n",
}


@pytest.mark.parametrize("text", list(SNIPPETS.values()), ids=list(SNIPPETS))
def test_snippets_parse_alike(text: str) -> None:
    data = fast.parse(text)
    parsed = positions.parse("x.yaml", text)
    assert isinstance(parsed, positions.Parsed), parsed
    if data is not None:
        assert same(data, parsed.data), (data, parsed.data)


def test_snippets_mostly_take_the_fast_path() -> None:
    taken = [name for name, text in SNIPPETS.items() if fast.parse(text) is not None]
    assert len(taken) >= len(SNIPPETS) - 3, set(SNIPPETS) - set(taken)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: yes\n", "yes"),
        ("a: off\n", "off"),
        ("a: 0o17\n", 15),
        ("a: 0x1F\n", 31),
        ("a: 1.10\n", 1.1),
        ("a: 1e3\n", 1000.0),
        ("a: ~\n", None),
        ("a: .inf\n", math.inf),
        ("a: 2026-11-28T22:00:00+08:00\n", "2026-11-28T22:00:00+08:00"),
        ("a: 2026-11-28\n", "2026-11-28"),
        ('a: "\\u00e9"\n', "\u00e9"),
    ],
)
def test_yaml_12_semantics_on_both_paths(text: str, expected: Any) -> None:
    """YAML 1.2 core schema, with timestamps kept as the text written."""
    parsed = positions.parse("x.yaml", text)
    assert isinstance(parsed, positions.Parsed)
    assert same(parsed.data["a"], expected), parsed.data
    data = fast.parse(text)
    assert data is not None
    assert same(data["a"], expected), data


# Characters YAML does not allow in a document (C0 controls but TAB/LF/CR, DEL, C1
# controls but NEL, U+FFFE, U+FFFF): ruamel refuses them, yaml-rs takes them.
_NOT_PRINTABLE = ["\x01", "\x08", "\x1b", "\x7f", "\x80", "\x9b", "\ufffe", "\uffff"]


@pytest.mark.parametrize("style", ['"x{}y"', "'x{}y'", "x{}y"], ids=["double", "single", "plain"])
def test_control_characters_get_one_verdict(style: str) -> None:
    disagree = []
    for char in _NOT_PRINTABLE:
        text = "a: " + style.format(char) + "\n"
        parsed = positions.parse("x.yaml", text)
        data = fast.parse(text)
        if data is not None and not (
            isinstance(parsed, positions.Parsed) and same(data, parsed.data)
        ):
            disagree.append(char)
    assert disagree == []


@pytest.mark.parametrize(
    "text", ['a: "x\x85y"\n', "a: 'x\x85y'\n", "a: x\x85y\n"], ids=["double", "single", "plain"]
)
def test_next_line_character_reads_alike(text: str) -> None:
    parsed = positions.parse("x.yaml", text)
    data = fast.parse(text)
    assert data is None or (isinstance(parsed, positions.Parsed) and same(data, parsed.data))


@pytest.mark.parametrize(
    "text",
    ["a: [?x]\n", "{?A: null}\n", "{:0: null}\n", "a: x\ty\n"],
    ids=["question-in-flow-seq", "question-in-flow-map", "colon-in-flow-map", "tab-in-plain"],
)
def test_valid_yaml_12_gets_one_verdict(text: str) -> None:
    parsed = positions.parse("x.yaml", text)
    data = fast.parse(text)
    assert data is None or (isinstance(parsed, positions.Parsed) and same(data, parsed.data))


# ---------------------------------------------------------------------------------------
# Property: any nested mapping of plain scalars, written by ruamel's round-trip dumper,
# reads back the same on both paths.

# Safe text: printable letters, digits, spaces and punctuation, not starting with an
# indicator (ruamel's dumper writes some indicator-led keys, such as `?a` or `:0` in flow
# style, in a form its own parser reads back otherwise).
_safe = st.characters(
    codec="utf-8", categories=("L", "N", "Zs", "P", "S"), exclude_characters="\u2028\u2029\x85"
)
_INDICATORS = tuple("?:-,[]{}#&*!|>'\"%@`")
_keys = st.text(_safe, min_size=1, max_size=12).filter(lambda s: not s.startswith(_INDICATORS))
_text = st.text(_safe, max_size=30).filter(lambda s: not s.startswith(_INDICATORS))
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=True)
    | _text
    | st.sampled_from(
        [
            "yes",
            "no",
            "on",
            "off",
            "0755",
            "0o17",
            "1_000",
            "~",
            "1.10",
            "0x1F",
            "1e3",
            ".inf",
            "null",
            "2026-11-28T22:00:00+08:00",
            "2026-11-28",
            "12:30",
            "- x",
            "a: b",
            "#x",
            "&a",
            "*a",
            "!t",
            "<<",
            "%YAML",
            "'",
            '"',
            "|",
            ">",
            "",
            " lead",
            "trail ",
        ]
    )
)
_documents = st.dictionaries(
    _keys,
    st.recursive(
        _scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
        max_leaves=12,
    ),
    max_size=6,
)


def _dump(data: dict[str, Any], flow: bool) -> str:
    yaml = YAML(typ="rt")
    yaml.default_flow_style = flow
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


@settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=_documents, flow=st.booleans())
def test_generated_documents_parse_alike(data: dict[str, Any], flow: bool) -> None:
    text = _dump(data, flow)
    parsed = positions.parse("x.yaml", text)
    assert isinstance(parsed, positions.Parsed), (text, parsed)
    assert same(parsed.data, data), text  # the position path round-trips the dumper
    fast_data = fast.parse(text)
    if fast_data is not None:
        assert same(fast_data, parsed.data), text


# Any text at all, control characters and indicators included: whatever the dumper writes,
# the fast path either defers to the position path or reads exactly what it reads.
_any_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
_any_documents = st.dictionaries(
    _any_text,
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | _any_text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_any_text, inner, max_size=3),
        max_leaves=8,
    ),
    max_size=5,
)


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=_any_documents, flow=st.booleans())
def test_fast_path_never_disagrees(data: dict[str, Any], flow: bool) -> None:
    text = _dump(data, flow)
    fast_data = fast.parse(text)
    if fast_data is not None:
        parsed = positions.parse("x.yaml", text)
        assert isinstance(parsed, positions.Parsed), (text, parsed)
        assert same(fast_data, parsed.data), text
