"""What drifted, field by field; what is missing and unmanaged; output formats and exit
statuses."""

from __future__ import annotations

import pytest

from tests.drift.kit import Estate, changes_by_id, item

MACS = ["00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5f"]


@pytest.fixture
def servers(estate: Estate) -> Estate:
    estate.server("db-01", hostname="db-01", serial="CZ1234", macs=MACS)
    estate.server("old-01", hostname="old-01", status="retired")
    estate.server("new-01", hostname="new-01", status="planned")
    estate.commit_all()
    return estate


def test_only_reported_fields_are_compared_and_each_difference_is_a_path(servers: Estate) -> None:
    snap = servers.snapshot(
        [
            item(
                serial="CZ1234",
                hostname="DB-01",  # case only: no drift
                attributes={
                    "memoryMb": 131072,
                    "os": {"version": "12"},  # name not reported: not compared
                    "cpu": {"cores": 16},  # absent from the repository: drift
                    "vendor": "Dell",
                },
            )
        ]
    )
    status, report = servers.diff("-d", snap)
    assert changes_by_id(report) == {
        "db-01": {
            "spec.memoryMb": (65536, 131072),
            "spec.cpu": (None, {"cores": 16}),
            "spec.vendor": (None, "Dell"),
        }
    }
    assert report["drifted"][0]["kind"] == "Server"
    assert set(report["drifted"][0]) == {"id", "kind", "changes"}
    assert set(report["drifted"][0]["changes"][0]) == {"path", "desired", "discovered"}
    assert status == 0  # without --exit-code


def test_units_and_number_spellings_are_normalised(servers: Estate) -> None:
    snap = servers.snapshot(
        [item(serial="CZ1234", attributes={"memoryMb": "64 GiB", "os": {"version": 12}})]
    )
    _, report = servers.diff("-d", snap)
    assert report["drifted"] == []
    snap = servers.snapshot([item(serial="CZ1234", attributes={"memoryMb": "128GiB"})])
    _, report = servers.diff("-d", snap)
    assert changes_by_id(report) == {"db-01": {"spec.memoryMb": (65536, 131072)}}


def test_interfaces_are_paired_by_name_and_compared_field_by_field(servers: Estate) -> None:
    interfaces = [
        {"name": "eth1", "mac": "00-1A-2B-3C-4D-5F", "ips": ["10.0.0.2"]},  # same, spelt otherwise
        {"name": "eth0", "mac": "00:1A:2B:3C:4D:5E", "ips": ["10.0.0.9"]},  # new address
        {"name": "eth2", "mac": "00:1a:2b:3c:4d:60"},  # new interface
    ]
    snap = servers.snapshot([item(serial="CZ1234", attributes={"interfaces": interfaces})])
    _, report = servers.diff("-d", snap)
    assert changes_by_id(report) == {
        "db-01": {
            "spec.interfaces.0.ips": (["10.0.0.1"], ["10.0.0.9"]),
            "spec.interfaces.2": (None, {"name": "eth2", "mac": "00:1a:2b:3c:4d:60"}),
        }
    }


def test_a_list_item_the_source_no_longer_finds_is_drift(servers: Estate) -> None:
    interfaces = [{"name": "eth0", "mac": "00:1a:2b:3c:4d:5e", "ips": ["10.0.0.1"]}]
    snap = servers.snapshot([item(serial="CZ1234", attributes={"interfaces": interfaces})])
    _, report = servers.diff("-d", snap)
    gone = {"name": "eth1", "mac": "00:1a:2b:3c:4d:5f", "ips": ["10.0.0.2"]}
    assert changes_by_id(report) == {"db-01": {"spec.interfaces.1": (gone, None)}}


def test_missing_spares_retired_and_planned_cis_and_uncovered_kinds(servers: Estate) -> None:
    servers.write(
        "inventory/network/sw-01.yaml",
        "apiVersion: cmdb/v1\nkind: NetworkDevice\nmetadata: {id: sw-01}\n"
        "spec: {hostname: sw-01, status: active}\n",
    )
    servers.commit_all()
    snap = servers.snapshot([item(serial="CZ1234"), item(hostname="web-09")])
    status, report = servers.diff("-d", snap, "--exit-code")
    assert report["missing"] == [
        {"id": "app-01", "kind": "Server", "path": "inventory/app-01.yaml"}
    ]  # not old-01 (retired), new-01 (planned), sw-01 (no NetworkDevice discovered)
    assert [u["label"] for u in report["unmanaged"]] == ["item 1 (Server web-09)"]
    assert report["summary"]["missing"] == 1 and report["summary"]["unmanaged"] == 1
    assert status == 1


def test_exit_code_is_zero_when_nothing_drifted(estate: Estate) -> None:
    snap = estate.snapshot([item(serial="SN-APP-0001", attributes={"memoryMb": 65536})])
    status, report = estate.diff("-d", snap, "--exit-code")
    assert (status, report["summary"]["drifted"], report["summary"]["matched"]) == (0, 0, 1)
    assert "No drift" in estate.run("-d", snap).stdout


def test_text_and_markdown_name_each_field_with_its_values_and_source(servers: Estate) -> None:
    snap = servers.snapshot([item(serial="CZ1234", attributes={"memoryMb": 131072})])
    text = servers.run("-d", snap)
    assert text.exit_code == 0
    assert "    spec.memoryMb: 65536 → 131072 (ansible)\n" in text.stdout
    assert "  db-01  Server  inventory/servers/db-01.yaml\n" in text.stdout
    assert "diff: 1 missing, 0 unmanaged, 1 drifted (1 field)" in text.stderr
    markdown = servers.run("-d", snap, "--format", "markdown").stdout
    assert "| `db-01` | Server | `spec.memoryMb` | 65536 | 131072 | ansible |" in markdown
    assert "#### Missing" in markdown


def test_the_report_goes_to_a_file_with_o(servers: Estate) -> None:
    snap = servers.snapshot([item(serial="CZ1234", attributes={"memoryMb": 131072})])
    out = servers.snapshots / "report.md"
    result = servers.run("-d", snap, "--format", "markdown", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert "`spec.memoryMb`" in out.read_text(encoding="utf-8")


def test_an_unreadable_ci_file_is_reported_not_skipped_silently(servers: Estate) -> None:
    servers.write("inventory/servers/broken.yaml", "kind: Server\nmetadata: {id: [\n")
    snap = servers.snapshot([item(serial="CZ1234")])
    _, report = servers.diff("-d", snap)
    assert [(f["path"], f["code"]) for f in report["findings"]] == [
        ("inventory/servers/broken.yaml", "drift.unread")
    ]
    assert report["summary"]["unread"] == 1
