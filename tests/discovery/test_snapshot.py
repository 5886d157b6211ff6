"""The snapshot format (FORMATS.md, "Discovery snapshot"): what reads, what is refused
(exit 2 naming the file, the item and the field), YAML read safely, and the canonical
bytes `discover` writes read back to the same snapshot."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmdbctl.discovery.output import render
from cmdbctl.discovery.snapshot import (
    Item,
    Snapshot,
    digest_of,
    parse_snapshot,
    read_snapshot,
    snapshot_bytes,
)
from cmdbctl.errors import CommandError
from tests.conftest import write_file

DB_01 = {
    "kind": "Server",
    "identifiers": {
        "serial": "CZ1234",
        "fqdn": "db-01.example.net",
        "hostname": "db-01",
        "macs": ["00:1a:2b:3c:4d:5e"],
    },
    "attributes": {"os": {"name": "Debian", "version": "12"}, "memoryMb": 131072},
}


def _snapshot(*items: Any, **top: Any) -> dict[str, Any]:
    return {
        "source": "ansible",
        "discoveredAt": "2026-11-22T08:00:00Z",
        "items": list(items),
        **top,
    }


def test_the_format_s_example_reads_as_written(tmp_path: Path) -> None:
    raw = json.dumps(
        _snapshot(DB_01, {"kind": "Server", "identifiers": {"macs": ["aa-bb-cc-dd-ee-ff"]}})
    )
    path = write_file(tmp_path, "s.json", raw)
    snapshot = read_snapshot(path)
    assert snapshot.source == "ansible"
    assert snapshot.discovered_at == datetime(2026, 11, 22, 8, tzinfo=UTC)
    assert snapshot.path == str(path)
    assert snapshot.digest == digest_of(raw.encode())
    first, second = snapshot.items
    assert (first.kind, first.position, first.identifiers, first.attributes) == (
        "Server",
        0,
        DB_01["identifiers"],
        DB_01["attributes"],
    )
    assert first.label() == "item 0 (Server db-01)"
    assert second.attributes == {}  # attributes may be left out
    assert second.label() == "item 1 (Server aa-bb-cc-dd-ee-ff)"


def test_yaml_snapshots_and_unknown_keys_are_accepted(tmp_path: Path) -> None:
    path = write_file(
        tmp_path,
        "s.yaml",
        "source: asset-register\n"
        "discoveredAt: 2026-11-22T16:00:00+08:00   # unquoted: still text, never a date object\n"
        "exportedBy: {tool: glpi, version: '10.0'}\n"
        "items:\n"
        "  - kind: Server\n"
        "    identifiers: {serial: CZ1234, assetTag: 4711}\n"
        "    attributes: {memoryMb: 131072}\n"
        "    comment: extra keys are the tool's own\n",
    )
    snapshot = read_snapshot(path)
    assert snapshot.discovered_at == datetime(2026, 11, 22, 8, tzinfo=UTC)
    assert snapshot.discovered_at.utcoffset() == timedelta(hours=8)
    assert snapshot.items[0].identifiers == {"serial": "CZ1234", "assetTag": 4711}


MALFORMED: list[tuple[str, Any, str]] = [
    ("not a mapping", [DB_01], "is a list, not a mapping of source, discoveredAt, items"),
    ("no source", {"discoveredAt": "2026-11-22T08:00:00Z", "items": []}, "field 'source' is missing"),
    ("source not text", _snapshot(source=7), "field 'source' must be a non-empty string, not a number (7)"),
    ("empty source", _snapshot(source=" "), "field 'source' must be a non-empty string"),
    ("no discoveredAt", {"source": "a", "items": []}, "field 'discoveredAt' is missing"),
    ("discoveredAt not text", _snapshot(discoveredAt=1700000000), "field 'discoveredAt' must be an ISO 8601 instant string, not a number"),
    ("discoveredAt not a date", _snapshot(discoveredAt="yesterday"), "field 'discoveredAt' 'yesterday' is not an ISO 8601 instant"),
    ("discoveredAt without offset", _snapshot(discoveredAt="2026-11-22T08:00:00"), "field 'discoveredAt' '2026-11-22T08:00:00' has no UTC offset"),
    ("no items", {"source": "a", "discoveredAt": "2026-11-22T08:00:00Z"}, "field 'items' is missing"),
    ("items not a list", _snapshot(items={"db-01": DB_01}), "field 'items' must be a list, not a mapping"),
    ("item not a mapping", _snapshot(DB_01, "db-02"), "item 1: is a string ('db-02'), not a mapping"),
    ("item without kind", _snapshot({"identifiers": {"hostname": "db-02"}}), "item 0 (? db-02): field 'kind' is missing"),
    ("kind not text", _snapshot({"kind": ["Server"], "identifiers": {"hostname": "db-02"}}), "item 0 (['Server'] db-02): field 'kind' must be a kind name, not a list"),
    ("item without identifiers", _snapshot(DB_01, {"kind": "Server", "attributes": {}}), "item 1: field 'identifiers' is missing"),
    ("identifiers not a mapping", _snapshot({"kind": "Server", "identifiers": ["db-02"]}), "item 0: field 'identifiers' must be a mapping, not a list"),
    ("no identifier at all", _snapshot({"kind": "Server", "identifiers": {}}), "item 0 (Server ?): field 'identifiers' is empty: an item needs one"),
    ("macs not a list", _snapshot({"kind": "Server", "identifiers": {"hostname": "h", "macs": "00:1a:2b:3c:4d:5e"}}), "item 0 (Server h): field 'identifiers.macs' must be a list of strings, not a string"),
    ("a mac not text", _snapshot({"kind": "Server", "identifiers": {"hostname": "h", "macs": ["00:1a:2b:3c:4d:5e", 5]}}), "item 0 (Server h): field 'identifiers.macs[1]' must be a non-empty string, not a number (5)"),
    ("empty macs", _snapshot({"kind": "Server", "identifiers": {"hostname": "h", "macs": []}}), "field 'identifiers.macs' is an empty list"),
    ("serial a number", _snapshot({"kind": "Server", "identifiers": {"hostname": "h", "serial": 1234}}), "item 0 (Server h): field 'identifiers.serial' must be a string, not a number (1234)"),
    ("hostname null", _snapshot({"kind": "Server", "identifiers": {"serial": "CZ1", "hostname": None}}), "item 0 (Server CZ1): field 'identifiers.hostname' must be a string, not null"),
    ("fqdn a list", _snapshot({"kind": "Server", "identifiers": {"fqdn": ["a.example.net"]}}), "field 'identifiers.fqdn' must be a string, not a list"),
    ("empty hostname", _snapshot({"kind": "Server", "identifiers": {"hostname": ""}}), "field 'identifiers.hostname' is empty"),
    ("other identifier a mapping", _snapshot({"kind": "Server", "identifiers": {"hostname": "h", "cloud": {"id": 1}}}), "field 'identifiers.cloud' must be a string, not a mapping"),
    ("attributes not a mapping", _snapshot({"kind": "Server", "identifiers": {"hostname": "h"}, "attributes": [1]}), "item 0 (Server h): field 'attributes' must be a mapping, not a list"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "data", "message"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_a_malformed_snapshot_names_file_item_and_field(
    case: str, data: Any, message: str, tmp_path: Path
) -> None:
    for name, text in (("s.json", json.dumps(data)), ("s.yaml", json.dumps(data, indent=2))):
        path = write_file(tmp_path, name, text)
        with pytest.raises(CommandError) as refused:
            read_snapshot(path)
        assert refused.value.exit_code == 2
        assert refused.value.message.startswith(f"snapshot {path}: "), refused.value.message
        assert message in refused.value.message, case


def _alias_bomb(levels: int = 9) -> str:
    """A billion laughs: each level names the one before nine times."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


ALIAS_BOMB = _alias_bomb()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("s.json", '{"source": "a", ', "not valid JSON"),
        ("s.yaml", "source: [a\n", "s.yaml:2:1: not a readable JSON or YAML snapshot: invalid YAML"),
        ("s.yaml", b"source: \xff\n", "s.yaml:1:9: not UTF-8 text (byte 0xff)"),
        ("s.yaml", "source: a\nsource: b\n", 's.yaml:2:1: not a readable JSON or YAML snapshot: key "source" appears more than once'),
        ("s.yaml", ALIAS_BOMB, "alias bomb"),
        ("s", "# nothing but a comment\n", "s: is empty"),
    ],
)  # fmt: skip
def test_a_file_that_is_no_snapshot_names_the_file(
    name: str, content: str | bytes, message: str, tmp_path: Path
) -> None:
    path = write_file(tmp_path, name, content)
    with pytest.raises(CommandError) as refused:
        read_snapshot(path)
    assert f"snapshot {path}" in refused.value.message
    assert message in refused.value.message


def test_a_python_tag_is_refused_and_never_constructed(tmp_path: Path) -> None:
    witness = tmp_path / "constructed"
    path = write_file(
        tmp_path,
        "evil.yaml",
        "source: ansible\ndiscoveredAt: '2026-11-22T08:00:00Z'\n"
        f"items: !!python/object/apply:os.system ['touch {witness}']\n",
    )
    with pytest.raises(CommandError) as refused:
        read_snapshot(path)
    assert "evil.yaml:3:" in refused.value.message
    assert "tag !!python/object/apply:os.system is not allowed" in refused.value.message
    assert not witness.exists()


def test_a_missing_or_unreadable_path_is_exit_2(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file") as missing:
        read_snapshot(tmp_path / "nope.json")
    assert missing.value.hint is not None and "cmdbctl discover" in missing.value.hint
    with pytest.raises(CommandError, match="is a directory"):
        read_snapshot(tmp_path)


_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda s: s.strip() != ""
)
_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
_items = st.lists(
    st.builds(
        lambda kind, ids, attrs: {"kind": kind, "identifiers": ids, "attributes": attrs},
        st.sampled_from(["Server", "NetworkDevice"]),
        st.fixed_dictionaries(
            {"hostname": _text}, optional={"serial": _text, "macs": st.lists(_text, min_size=1, max_size=3)}
        ),
        st.dictionaries(_text, _value, max_size=4),
    ),
    max_size=4,
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    items=_items,
    offset=st.integers(-12 * 60, 14 * 60),
    fmt=st.sampled_from(["json", "yaml"]),
)
def test_what_discover_writes_reads_back_the_same(
    items: list[dict[str, Any]], offset: int, fmt: str
) -> None:
    moment = datetime(2026, 11, 22, 8, 0, 0, 123456, tzinfo=timezone(timedelta(minutes=offset)))
    snapshot = Snapshot(
        source="ansible",
        discovered_at=moment,
        items=tuple(
            Item(i["kind"], i["identifiers"], i["attributes"], n) for n, i in enumerate(items)
        ),
        path="-",
        digest="",
    )
    raw = render(snapshot, fmt)
    back = parse_snapshot(raw, f"s.{fmt}")
    assert back.items == snapshot.items
    assert back.discovered_at == moment and back.discovered_at.utcoffset() == moment.utcoffset()
    assert back.source == snapshot.source
    assert back.digest == digest_of(raw)
    if fmt == "json":  # canonical: the same snapshot, the same bytes, one item per line
        assert snapshot_bytes(back) == raw
        assert raw.endswith(b"}\n") and raw.count(b"\n") == (len(items) + 2 if items else 1)
        assert json.loads(raw)["items"] == [
            {"kind": i["kind"], "identifiers": i["identifiers"], "attributes": i["attributes"]}
            for i in items
        ]
