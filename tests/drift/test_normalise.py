"""Normalisation of identifiers, sizes and values (cmdbctl/drift/normalise.py), and the
DiscoveryPolicy model against its schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cmdbctl.drift import normalise
from cmdbctl.models import DiscoveryIgnore, DiscoveryPolicySpec, IgnoreMatch

SCHEMA = (
    Path(__file__).resolve().parents[2] / "cmdbctl" / "schemas" / "discovery-policy.schema.json"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5e"),
        ("00:1A:2B:3C:4D:5E", "00:1a:2b:3c:4d:5e"),
        ("00-1a-2b-3c-4d-5e", "00:1a:2b:3c:4d:5e"),
        ("001a.2b3c.4d5e", "00:1a:2b:3c:4d:5e"),
        (" 001A2B3C4D5E ", "00:1a:2b:3c:4d:5e"),
        ("not-a-mac", "not-a-mac"),
    ],
)
def test_mac(value: str, expected: str) -> None:
    assert normalise.mac(value) == expected


def test_host_names_and_identifiers() -> None:
    assert normalise.host(" DB-01.Example.NET. ") == "db-01.example.net"
    assert normalise.identifier("serial", " CZ1234 ") == "CZ1234"  # case kept
    assert normalise.identifier("assetTag", 42) == "42"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("memoryMb", "128 GiB", 131072),
        ("memoryMb", "131072", 131072),
        ("memoryMb", "512MiB", 512),
        ("memoryMb", 65536, 65536),
        ("sizeGb", "1.92 TB", 1920),
        ("sizeGb", "480GB", 480),
        ("sizeGb", "1 TiB", 1099.512),
        ("capacityTb", "48500 GB", 48.5),
        ("bandwidthMbps", "1 Gbps", 1000),
        ("memoryMb", "a lot", "a lot"),  # kept: the schema says what is wrong with it
        ("vendor", "128 GiB", "128 GiB"),  # no unit in its name: not a size
    ],
)
def test_sizes_are_converted_to_the_fields_unit(field: str, value: Any, expected: Any) -> None:
    assert normalise.sized(field, value) == expected


@pytest.mark.parametrize(
    ("field", "desired", "discovered", "same"),
    [
        ("version", "12", 12, True),
        ("version", "12", 13, False),
        ("hostname", "db-01", "DB-01.", True),
        ("mac", "00:1a:2b:3c:4d:5e", "00-1A-2B-3C-4D-5E", True),
        ("memoryMb", 131072, "128 GiB", True),
        ("enabled", True, 1, False),
        ("cores", 16, 16.0, True),
    ],
)
def test_equivalent(field: str, desired: Any, discovered: Any, same: bool) -> None:
    assert normalise.equivalent(field, desired, discovered) is same


def _aliases(model: Any) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def test_the_model_names_what_the_schema_names() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    spec = schema["properties"]["spec"]["properties"]
    ignore = schema["$defs"]["ignore"]
    assert _aliases(DiscoveryPolicySpec) == set(spec)
    assert _aliases(DiscoveryIgnore) == set(ignore["properties"])
    assert {a for a, f in DiscoveryIgnore.model_fields.items() if f.is_required()} == set(
        ignore["required"]
    )
    assert _aliases(IgnoreMatch) == set(ignore["properties"]["match"]["properties"])


def test_an_unquoted_expiry_date_is_read_as_the_schema_reads_it() -> None:
    import datetime

    rule = DiscoveryIgnore.model_validate(
        {"reason": "x", "owner": "team-ops", "expires": datetime.date(2027, 1, 31)}
    )
    assert rule.expires == "2027-01-31" and rule.last_day == datetime.date(2027, 1, 31)
