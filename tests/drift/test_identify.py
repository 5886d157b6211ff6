"""Identification: every default rule, normalised values, a policy's own order, and
each kind of ambiguity, reported and never guessed (`cmdbctl diff --explain`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.drift.kit import Estate, item

MACS = ["00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5f"]


def explained(report: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    return [(e["outcome"], e["rule"], e.get("ci")) for e in report["explain"]]


@pytest.fixture
def servers(estate: Estate) -> Estate:
    estate.server("db-01", hostname="db-01", fqdn="db-01.example.net", serial="CZ1234", macs=MACS)
    estate.server("db-02", hostname="db-02", fqdn="db-02.example.net", serial="CZ5678")
    estate.commit_all()
    return estate


@pytest.mark.parametrize(
    ("identifiers", "rule", "value"),
    [
        ({"serial": "  CZ1234 "}, "serial", "CZ1234"),
        ({"fqdn": "DB-01.Example.NET."}, "fqdn", "db-01.example.net"),
        ({"hostname": "DB-01"}, "hostname", "db-01"),
        ({"macs": ["00-1A-2B-3C-4D-5F"]}, "macs", "00:1a:2b:3c:4d:5f"),
        ({"macs": ["001a.2b3c.4d5e"]}, "macs", "00:1a:2b:3c:4d:5e"),  # Cisco style
        ({"macs": ["aa:aa:aa:aa:aa:aa", "00:1A:2B:3C:4D:5E"]}, "macs", "00:1a:2b:3c:4d:5e"),
    ],
)
def test_each_rule_matches_on_normalised_values(
    servers: Estate, identifiers: dict[str, Any], rule: str, value: str
) -> None:
    snap = servers.snapshot([item(**identifiers)])
    status, report = servers.diff("-d", snap, "--explain")
    assert report["explain"] == [
        {
            "source": "ansible",
            "snapshot": snap,
            "item": 0,
            "label": report["explain"][0]["label"],
            "kind": "Server",
            "outcome": "matched",
            "rule": rule,
            "value": value,
            "ci": "db-01",
        }
    ]
    assert report["unmanaged"] == [] and report["ambiguous"] == []
    assert status == 0


def test_the_first_rule_that_finds_a_ci_decides_and_later_ones_agree(servers: Estate) -> None:
    snap = servers.snapshot([item(serial="CZ5678", hostname="db-02", fqdn="db-02.example.net")])
    _, report = servers.diff("-d", snap, "--explain")
    assert explained(report) == [("matched", "serial", "db-02")]


def test_an_item_no_rule_finds_is_unmanaged_and_says_what_was_tried(servers: Estate) -> None:
    snap = servers.snapshot([item(hostname="web-09", serial="ZZ9")])
    _, report = servers.diff("-d", snap, "--explain")
    assert explained(report) == [("unmatched", None, None)]
    assert [u["identifiers"] for u in report["unmanaged"]] == [
        {"hostname": "web-09", "serial": "ZZ9"}
    ]
    assert report["unmanaged"][0]["proposedId"] == "web-09"
    text = servers.run("-d", snap, "--explain").stdout
    assert "ansible: item 0 (Server web-09): no CI (tried serial, fqdn, hostname, macs)" in text


def test_an_item_of_another_kind_never_matches_a_server(servers: Estate) -> None:
    snap = servers.snapshot([item(kind="NetworkDevice", hostname="db-01")])
    _, report = servers.diff("-d", snap)
    assert [u["kind"] for u in report["unmanaged"]] == ["NetworkDevice"]
    assert report["missing"] == []  # Servers are not covered by this snapshot


def test_the_policy_sets_the_rules_and_their_order_per_kind(servers: Estate) -> None:
    servers.write(
        "policies/discovery.yaml",
        "apiVersion: cmdb/v1\nkind: DiscoveryPolicy\nmetadata: {id: discovery}\n"
        "spec:\n  identification:\n    Server: [hostname]\n",
    )
    servers.commit_all()
    # serial says db-01, hostname says db-02: only hostname is a rule here
    snap = servers.snapshot([item(serial="CZ1234", hostname="db-02"), item(serial="CZ5678")])
    _, report = servers.diff("-d", snap, "--explain")
    assert explained(report) == [("matched", "hostname", "db-02"), ("unmatched", None, None)]


def test_a_custom_identifier_matches_the_spec_field_of_its_name(estate: Estate) -> None:
    estate.server("db-01", hostname="db-01", extra="")
    estate.write(
        "schemas/server.schema.json",
        estate.read("schemas/server.schema.json").replace(
            '"serial": {', '"assetTag": {"type": "string"},\n        "serial": {'
        ),
    )
    estate.write(
        "inventory/servers/db-01.yaml",
        estate.read("inventory/servers/db-01.yaml") + "  assetTag: AT-0042\n",
    )
    estate.write(
        "policies/discovery.yaml",
        "apiVersion: cmdb/v1\nkind: DiscoveryPolicy\nmetadata: {id: discovery}\n"
        "spec:\n  identification:\n    Server: [assetTag]\n",
    )
    estate.commit_all()
    _, report = estate.diff("-d", estate.snapshot([item(assetTag=" AT-0042")]), "--explain")
    assert explained(report) == [("matched", "assetTag", "db-01")]


# --- ambiguity --------------------------------------------------------------------------


def test_two_cis_claiming_one_serial_are_reported_not_guessed(servers: Estate) -> None:
    servers.server("db-03", hostname="db-03", serial="CZ1234")
    servers.commit_all()
    snap = servers.snapshot([item(serial="CZ1234", attributes={"memoryMb": 1})])
    status, report = servers.diff("-d", snap, "--exit-code")
    assert [(a["candidates"], a["why"]) for a in report["ambiguous"]] == [
        (["db-01", "db-03"], "serial CZ1234 is claimed by several CIs")
    ]
    assert report["drifted"] == [] and report["unmanaged"] == []
    # the candidates are not reported missing: the item may be either
    assert [m["id"] for m in report["missing"]] == ["app-01", "db-02"]
    assert status == 1


def test_rules_that_disagree_make_an_item_ambiguous(servers: Estate) -> None:
    snap = servers.snapshot([item(serial="CZ1234", hostname="db-02")])
    _, report = servers.diff("-d", snap)
    assert [(a["candidates"], a["why"]) for a in report["ambiguous"]] == [
        (["db-01", "db-02"], "serial CZ1234 matches db-01 but hostname db-02 matches db-02")
    ]


def test_macs_of_one_item_on_two_cis_are_ambiguous(servers: Estate) -> None:
    servers.server("db-03", hostname="db-03", macs=["00:1a:2b:3c:4d:99"])
    servers.commit_all()
    snap = servers.snapshot([item(macs=["00:1a:2b:3c:4d:5e", "00:1A:2B:3C:4D:99"])])
    _, report = servers.diff("-d", snap)
    assert [a["candidates"] for a in report["ambiguous"]] == [["db-01", "db-03"]]


def test_two_items_of_one_snapshot_on_one_ci_are_both_ambiguous(servers: Estate) -> None:
    snap = servers.snapshot([item(hostname="db-01"), item(fqdn="db-01.example.net")])
    _, report = servers.diff("-d", snap)
    assert [(a["item"], a["candidates"]) for a in report["ambiguous"]] == [
        (0, ["db-01"]),
        (1, ["db-01"]),
    ]
    assert "all match db-01" in report["ambiguous"][0]["why"]
    assert report["drifted"] == [] and report["unmanaged"] == []
    assert "db-01" not in [m["id"] for m in report["missing"]]
    text = servers.run("-d", snap).stdout
    assert "Ambiguous: not matched, never guessed (2)" in text
