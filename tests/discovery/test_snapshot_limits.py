"""What a snapshot may not hold although its reader takes it: integers beyond the signed
64 bits, NaN and infinities, nesting deeper than 128 levels (`values.unfit`, as
`discover` refuses them) and, in JSON, a key given twice in one object. Each is an
error naming the file, the item and the field (or key), never a value read silently
and never a crash later, when a report writes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmdbctl.discovery.snapshot import parse_snapshot, read_snapshot
from cmdbctl.discovery.values import unfit
from cmdbctl.errors import CommandError
from tests.conftest import write_file

HEAD = "source: a\ndiscoveredAt: '2026-11-22T08:00:00Z'\nitems:\n"


def _yaml(attributes: str, identifiers: str = "{serial: CZ1234}") -> bytes:
    return (
        HEAD + f"- kind: Server\n  identifiers: {identifiers}\n  attributes: {attributes}\n"
    ).encode()


def _json(*items: Any) -> bytes:
    data = {"source": "a", "discoveredAt": "2026-11-22T08:00:00Z", "items": list(items)}
    return json.dumps(data).encode()


def _item(attributes: Any, **identifiers: Any) -> dict[str, Any]:
    return {"kind": "Server", "identifiers": identifiers or {"serial": "CZ1234"}, "attributes": attributes}  # fmt: skip


def _refused(raw: bytes, name: str) -> str:
    with pytest.raises(CommandError) as refused:
        parse_snapshot(raw, name)
    assert refused.value.exit_code == 2
    message = refused.value.message
    assert message.startswith(f"snapshot {name}: "), message
    return message


# --- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("1" + "0" * 400, "100000000000... (401 characters) is beyond the signed 64-bit"),
        ("9223372036854775808", "9223372036854775808 is beyond the signed 64-bit"),
        ("-9223372036854775809", "-9223372036854775809 is beyond the signed 64-bit"),
        ("18446744073709551616", "18446744073709551616 is beyond the signed 64-bit"),
        (".nan", "nan is not a number JSON can hold"),
        (".inf", "inf is not a number JSON can hold"),
        ("-.inf", "-inf is not a number JSON can hold"),
    ],
)
def test_a_yaml_number_json_cannot_hold_names_item_and_field(value: str, said: str) -> None:
    message = _refused(_yaml(f"{{os: {{cores: [1, {value}]}}}}"), "s.yaml")
    assert "item 0 (Server CZ1234): field 'attributes.os.cores[1]' " + said in message


@pytest.mark.parametrize("value", ["9223372036854775808", "18446744073709551615"])
def test_a_json_integer_beyond_64_signed_bits_names_item_and_field(value: str) -> None:
    # orjson reads integers up to 2^64-1 as integers: beyond the signed 64 bits all the same
    raw = _json(_item({}, serial="A"), _item({"memoryMb": 1}, serial="B", asset=0)).replace(
        b'"asset": 0', b'"asset": ' + value.encode()
    )
    message = _refused(raw, "s.json")
    assert f"item 1 (Server B): field 'identifiers.asset' {value} is beyond" in message


@pytest.mark.parametrize(
    ("fine", "unfit_value", "said"),
    [
        ("9007199254740993", "9223372036854775808", "9223372036854775808 is beyond"),
        ("null", ".nan", "nan is not a number"),
    ],
    ids=["beyond-53-bits", "null"],
)
def test_the_item_holding_the_misfit_is_named_among_items_that_only_look_alike(
    fine: str, unfit_value: str, said: str
) -> None:
    items = "".join(
        f"- kind: Server\n  identifiers: {{serial: S{n}}}\n  attributes: {{m: {value}}}\n"
        for n, value in enumerate([fine, fine, unfit_value, fine])
    )
    message = _refused((HEAD + items).encode(), "s.yaml")
    assert f"item 2 (Server S2): field 'attributes.m' {said}" in message


def test_numbers_within_64_bits_nulls_and_finite_floats_are_read() -> None:
    big, small = 2**63 - 1, -(2**63)
    attributes = {"a": big, "b": small, "c": 2**53 + 1, "d": None, "e": 0.5, "f": 1e308}
    for raw, name in ((_json(_item(attributes)), "s.json"), (_yaml(json.dumps(attributes)), "s.yaml")):  # fmt: skip
        (item,) = parse_snapshot(raw, name).items
        assert item.attributes == attributes


# --- nesting -----------------------------------------------------------------------------


def _chain(levels: int, inner: Any, container: str) -> Any:
    value = inner
    for _ in range(levels):
        value = [value] if container == "list" else {"a": value}
    return value


@pytest.mark.parametrize("container", ["list", "dict"])
@pytest.mark.parametrize("inner", [1, [], {}], ids=["scalar", "empty-list", "empty-dict"])
def test_nesting_is_refused_exactly_where_discover_refuses_it(container: str, inner: Any) -> None:
    """The reader's quick pass in C and `unfit`, which discover uses, draw the line at
    the same place: one level less is read, one more is refused naming the field."""
    for levels in range(120, 136):
        attributes = {"deep": _chain(levels, inner, container)}
        misfit = unfit({"identifiers": {"serial": "CZ1234"}, "attributes": attributes})
        for raw, name in ((_json(_item(attributes)), "s.json"), (_yaml(json.dumps(attributes)), "s.yaml")):  # fmt: skip
            if misfit is None:
                assert parse_snapshot(raw, name).items[0].attributes == attributes
            else:
                message = _refused(raw, name)
                assert "item 0 (Server CZ1234): field 'attributes.deep" in message
                assert "nests deeper than 128 levels" in message


def test_nesting_beyond_what_json_readers_follow_is_an_error_not_a_crash() -> None:
    deep = b"1"
    for _ in range(1010):  # orjson reads 1024 levels, the standard library's reader fewer
        deep = b"[" + deep + b"]"
    in_attributes = _json(_item({"deep": "@"})).replace(b'"@"', deep)
    in_a_field_no_one_reads = _json({**_item({}), "x": "@"}).replace(b'"@"', deep)
    for raw in (in_attributes, in_a_field_no_one_reads):
        assert "item 0 (Server CZ1234): " in _refused(raw, "s.json")


def test_nesting_in_fields_no_one_reads_is_kept() -> None:
    raw = _json({**_item({}), "comment": _chain(200, "x", "dict")})
    assert parse_snapshot(raw, "s.json").items[0].attributes == {}


# --- repeated keys ---------------------------------------------------------------------------

TWICE = "keep one of the entries: which value is meant cannot be told"


START = '{"source": "a", "discoveredAt": "2026-11-22T08:00:00Z", '


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            '"items": [{"kind": "Server", "identifiers": {"serial": "CZ1234", "serial": "OTHER"}}]}',
            "item 0 (Server OTHER): key 'serial' appears more than once in one object",
        ),
        (
            (
                '"items": [{"kind": "Server", "identifiers": {"serial": "A"}}, {"kind": "Server", '
                '"identifiers": {"serial": "B"}, "attributes": {"os": {"name": "a", "name": "b"}}}]}'
            ),
            "item 1 (Server B): key 'name' appears more than once in one object",
        ),
        (
            (
                '"items": [{"kind": "Server", "identifiers": {"serial": "A"}, "attributes": {}, '
                '"attributes": {"m": 1}}]}'
            ),
            "item 0 (Server A): key 'attributes' appears more than once in one object",
        ),
        (
            '"source": "b", "items": []}',
            "key 'source' appears more than once in one object",
        ),
        (
            '"items": [], "exportedBy": {"tool": "x", "tool": "y"}}',
            "key 'tool' appears more than once in one object",
        ),
        (  # a quote spelt \u0022 makes the file's quotes fewer than orjson's
            (
                '"x": "\\u0022", "items": [{"kind": "Server", "identifiers": {"serial": "\\"", '
                '"serial": "B"}}]}'
            ),
            "item 0 (Server B): key 'serial' appears more than once in one object",
        ),
    ],
    ids=["identifier", "nested-attribute", "item-key", "top-level", "unknown-key", "u0022"],
)
def test_a_json_key_given_twice_names_the_item_and_key(text: str, said: str) -> None:
    with pytest.raises(CommandError) as refused:
        parse_snapshot((START + text).encode(), "s.json")
    assert refused.value.message == f"snapshot s.json: {said}"
    assert refused.value.hint == TWICE


def test_quotes_escaped_every_way_are_no_repeated_key(tmp_path: Path) -> None:
    text = (
        '{"source": "a\\u0022b", "discoveredAt": "2026-11-22T08:00:00Z", "items": [{"kind":'
        ' "Server", "identifiers": {"serial": "\\":\\\\", "hostname": "x\\u0022:"},'
        ' "attributes": {"a\\"": "\\\\\\"", "a\\u0022b": 1, "a\\\\": 2}}]}'
    )
    path = write_file(tmp_path, "s.json", text)
    (item,) = read_snapshot(path).items
    assert item.identifiers == {"serial": '":\\', "hostname": 'x":'}
    assert item.attributes == {'a"': '\\"', 'a"b': 1, "a\\": 2}


_KEYS = st.sampled_from(["a", "b", '"', '":', "\\", "a\\", 'x"y', "é"])
_SCALARS = st.none() | st.booleans() | st.integers(-9, 9) | _KEYS


def _spelt(text: str, quote: str) -> str:
    """`text` as a JSON string, its quotes spelt `quote` (`\\"` or `\\u0022`)."""
    return '"' + "".join(quote if c == '"' else json.dumps(c)[1:-1] for c in text) + '"'


_PAIRS: Any = st.deferred(
    lambda: st.lists(st.tuples(_KEYS, _SCALARS | _PAIRS | st.lists(_SCALARS, max_size=2)), max_size=4)
)  # fmt: skip


def _written(pairs: list[tuple[str, Any]], quote: str) -> str:
    def value(v: Any) -> str:
        if isinstance(v, str):
            return _spelt(v, quote)
        if isinstance(v, list) and v and isinstance(v[0], tuple):
            return _written(v, quote)
        if isinstance(v, list):
            return "[" + ", ".join(value(e) for e in v) + "]"
        return json.dumps(v)

    return "{" + ", ".join(f"{_spelt(k, quote)}: {value(v)}" for k, v in pairs) + "}"


def _repeats(pairs: list[tuple[str, Any]]) -> bool:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        return True
    return any(
        isinstance(v, list) and v and isinstance(v[0], tuple) and _repeats(v) for _, v in pairs
    )


@settings(max_examples=200, deadline=None)
@given(pairs=_PAIRS, quote=st.sampled_from(['\\"', "\\u0022"]))
def test_a_repeated_key_is_found_wherever_it_is_and_however_quotes_are_spelt(
    pairs: list[tuple[str, Any]], quote: str
) -> None:
    attributes = _written(pairs, quote)
    raw = (
        '{"source": "a", "discoveredAt": "2026-11-22T08:00:00Z", "items": [{"kind": "Server", '
        f'"identifiers": {{"serial": "CZ1234"}}, "attributes": {attributes}}}]}}'
    ).encode()
    if _repeats(pairs):
        assert "appears more than once in one object" in _refused(raw, "s.json")
    else:
        assert parse_snapshot(raw, "s.json").items[0].attributes == json.loads(attributes)
