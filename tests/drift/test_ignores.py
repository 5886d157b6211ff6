"""Ignore rules: selection by kind, id and labels, by field path or the whole item; the
summary counts what they hid; an expired rule hides nothing and is a finding."""

from __future__ import annotations

import pytest

from tests.drift.kit import Estate, changes_by_id, item

RULES = """\
apiVersion: cmdb/v1
kind: DiscoveryPolicy
metadata: {{id: discovery}}
spec:
  ignores:
{rules}"""


def policy(*rules: str) -> str:
    return RULES.format(rules="".join(rules))


def rule(match: str = "{}", fields: str | None = None, expires: str = "2026-12-31") -> str:
    return (
        f"    - match: {match}\n"
        + (f"      fields: {fields}\n" if fields else "")
        + "      reason: resized daily\n      owner: team-ops\n"
        + f"      expires: {expires}\n"
    )


@pytest.fixture
def lab(estate: Estate) -> tuple[Estate, str]:
    estate.server("lab-01", hostname="lab-01", labels="{env: lab}")
    estate.server("db-01", hostname="db-01")
    estate.commit_all()
    snap = estate.snapshot(
        [
            item(hostname="lab-01", attributes={"memoryMb": 1024, "os": {"version": "13"}}),
            item(hostname="db-01", attributes={"memoryMb": 1024}),
        ]
    )
    return estate, snap


@pytest.mark.parametrize(
    ("match", "hidden"),
    [
        ("{kind: Server, labels: {env: lab}}", {"lab-01"}),
        ("{ids: [db-01]}", {"db-01"}),
        ("{kind: Server}", {"lab-01", "db-01"}),
        ("{kind: NetworkDevice}", set()),
        ("{ids: [db-01], labels: {env: lab}}", set()),  # every key must hold
    ],
)
def test_field_rules_select_by_kind_id_and_label(
    lab: tuple[Estate, str], match: str, hidden: set[str]
) -> None:
    estate, snap = lab
    estate.write("policies/discovery.yaml", policy(rule(match, "[spec.memoryMb]")))
    estate.commit_all()
    _, report = estate.diff("-d", snap)
    drift = changes_by_id(report)
    for ci in ("lab-01", "db-01"):
        assert ("spec.memoryMb" in drift.get(ci, {})) == (ci not in hidden)
    assert drift["lab-01"]["spec.os.version"] == ("12", "13")  # not ignored
    assert report["summary"]["ignored"] == {"items": 0, "fields": len(hidden)}


def test_a_field_rule_covers_what_lies_below_its_path(lab: tuple[Estate, str]) -> None:
    estate, snap = lab
    estate.write("policies/discovery.yaml", policy(rule("{ids: [lab-01]}", "[spec.os]")))
    estate.commit_all()
    _, report = estate.diff("-d", snap)
    assert changes_by_id(report)["lab-01"] == {"spec.memoryMb": (65536, 1024)}


def test_a_rule_without_fields_hides_drift_missing_and_unmanaged(estate: Estate) -> None:
    estate.server("lab-01", hostname="lab-01", labels="{env: lab}")
    estate.server("lab-02", hostname="lab-02", labels="{env: lab}")
    estate.write(
        "policies/discovery.yaml",
        policy(rule("{labels: {env: lab}}"), rule("{kind: Server, ids: [lab-09]}")),
    )
    estate.commit_all()
    snap = estate.snapshot(
        [
            item(hostname="lab-01", attributes={"memoryMb": 1}),
            item(hostname="LAB-09"),  # unmanaged, but its id-to-be is ignored
            item(hostname="web-09"),
            item(hostname="app-01"),
        ]
    )
    status, report = estate.diff("-d", snap, "--exit-code")
    assert report["drifted"] == [] and report["missing"] == []  # lab-02 is not missing
    assert [u["proposedId"] for u in report["unmanaged"]] == ["web-09"]
    assert report["summary"]["ignored"] == {"items": 3, "fields": 0}
    assert status == 1  # web-09


def test_an_expired_rule_hides_nothing_and_is_a_finding(lab: tuple[Estate, str]) -> None:
    estate, snap = lab
    estate.write(
        "policies/discovery.yaml",
        policy(rule("{ids: [db-01]}", "[spec.memoryMb]", expires="2026-11-21")),
    )
    estate.commit_all()
    status, report = estate.diff("-d", snap, "--exit-code")  # --now 2026-11-22
    assert "spec.memoryMb" in changes_by_id(report)["db-01"]
    (finding,) = report["findings"]
    assert (finding["path"], finding["code"], finding["pointer"], finding["line"]) == (
        "policies/discovery.yaml",
        "drift.ignore-expired",
        "/spec/ignores/0/expires",
        10,
    )
    assert "expired on 2026-11-21" in finding["message"]
    assert report["summary"]["expiredIgnores"] == 1
    assert status == 1


def test_a_rule_is_in_force_through_its_last_day(lab: tuple[Estate, str]) -> None:
    estate, snap = lab
    estate.write(
        "policies/discovery.yaml",
        policy(rule("{ids: [db-01]}", "[spec.memoryMb]", expires="2026-11-22")),
    )
    estate.commit_all()
    _, report = estate.diff("-d", snap)
    assert "db-01" not in changes_by_id(report) and report["findings"] == []
    result = estate.run("-d", snap, "--now", "2026-11-23T00:00:00+08:00", "--exit-code")
    assert result.exit_code == 1
    assert "policies/discovery.yaml:10:16: error drift.ignore-expired:" in result.stdout


def test_an_expired_rule_alone_makes_exit_code_one(estate: Estate) -> None:
    estate.write("policies/discovery.yaml", policy(rule("{ids: [gone-01]}", expires="2026-01-01")))
    estate.commit_all()
    snap = estate.snapshot([item(serial="SN-APP-0001")])
    status, report = estate.diff("-d", snap, "--exit-code")
    assert report["summary"]["drifted"] == 0 and report["summary"]["expiredIgnores"] == 1
    assert status == 1
