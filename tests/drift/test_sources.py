"""Several snapshots at once: each attribute from the most trusted source that reports
it (the DiscoveryPolicy's precedence), and the diff names the source of each value."""

from __future__ import annotations

import pytest

from tests.drift.kit import Estate, item

POLICY = """\
apiVersion: cmdb/v1
kind: DiscoveryPolicy
metadata: {id: discovery}
spec:
  precedence:
    serial: [asset-register, ansible]
    os.version: [asset-register]
    "*": [ansible, asset-register]
"""


@pytest.fixture
def two_sources(estate: Estate) -> tuple[Estate, str, str]:
    estate.server("db-01", hostname="db-01", serial="CZ1234")
    estate.commit_all()
    ansible = estate.snapshot(
        [
            item(
                hostname="db-01",
                serial="CZ-WRONG",
                attributes={"os": {"name": "Ubuntu", "version": "24.04"}, "memoryMb": 131072},
            )
        ],
        source="ansible",
    )
    register = estate.snapshot(
        [
            item(
                hostname="db-01",
                serial="CZ9999",
                attributes={"os": {"name": "Debian", "version": "13"}, "memoryMb": 1},
            )
        ],
        source="asset-register",
    )
    return estate, ansible, register


def sourced(report: dict[str, object]) -> dict[str, tuple[object, str]]:
    (drifted,) = report["drifted"]  # type: ignore[misc]
    return {c["path"]: (c["discovered"], c["source"]) for c in drifted["changes"]}


def test_precedence_picks_the_source_per_attribute(two_sources: tuple[Estate, str, str]) -> None:
    estate, ansible, register = two_sources
    estate.write("policies/discovery.yaml", POLICY)
    estate.commit_all()
    _, report = estate.diff("-d", ansible, "-d", register)
    assert sourced(report) == {
        "spec.serial": ("CZ9999", "asset-register"),  # serial: the register first
        "spec.os.name": ("Ubuntu", "ansible"),  # "*": ansible first
        "spec.os.version": ("13", "asset-register"),  # the most specific entry wins
        "spec.memoryMb": (131072, "ansible"),
    }
    text = estate.run("-d", ansible, "-d", register).stdout
    assert "spec.serial: CZ1234 → CZ9999 (asset-register)" in text
    assert "spec.memoryMb: 65536 → 131072 (ansible)" in text


def test_without_a_policy_the_command_line_order_decides(
    two_sources: tuple[Estate, str, str],
) -> None:
    estate, ansible, register = two_sources
    _, report = estate.diff("-d", register, "-d", ansible)
    assert sourced(report)["spec.serial"] == ("CZ9999", "asset-register")
    assert sourced(report)["spec.memoryMb"] == (1, "asset-register")
    _, report = estate.diff("-d", ansible, "-d", register)
    assert sourced(report)["spec.serial"] == ("CZ-WRONG", "ansible")


def test_one_source_names_no_source_in_json_but_the_summary_lists_each(
    two_sources: tuple[Estate, str, str],
) -> None:
    estate, ansible, register = two_sources
    _, report = estate.diff("-d", ansible)
    assert all("source" not in c for c in report["drifted"][0]["changes"])
    _, report = estate.diff("-d", ansible, "-d", register)
    assert [(s["source"], s["items"]) for s in report["summary"]["sources"]] == [
        ("ansible", 1),
        ("asset-register", 1),
    ]
    assert all(s["digest"].startswith("sha256:") for s in report["summary"]["sources"])


def test_an_item_only_one_source_finds_is_still_matched(estate: Estate) -> None:
    ansible = estate.snapshot([item(hostname="app-01", attributes={"memoryMb": 65536})])
    register = estate.snapshot(
        [item(serial="SN-APP-0001", attributes={"vendor": "HPE"})], source="asset-register"
    )
    _, report = estate.diff("-d", ansible, "-d", register)
    assert report["missing"] == [] and report["unmanaged"] == []
    assert [(c["path"], c["source"]) for c in report["drifted"][0]["changes"]] == [
        ("spec.vendor", "asset-register")
    ]
