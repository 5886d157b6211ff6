"""The base policy's rules: approvals per rule, rollback plans, maintenance windows read
in their own time zone, freezes."""

from __future__ import annotations

from typing import Any

import pytest


def _request(repo: Any, kit: Any, **change: Any) -> Any:
    repo.commit(
        "alice",
        "request",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            ),
            kit.CHANGE_PATH: kit.change_yaml(**change),
        },
    )
    return repo


def test_high_risk_needs_two_change_managers_and_an_owner_of_affected_services(
    repo: Any, kit: Any
) -> None:
    _request(repo, kit, risk="high")

    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    assert "status: submitted" in repo.read(kit.CHANGE_PATH)
    code, report = repo.gate()

    assert code == 1
    [missing] = kit.findings(report, "gate.approval.missing")
    assert "rule high-risk needs 1 more approval from change-managers: carol" in missing["message"]
    assert missing["pointer"] == "/spec/approvals"
    assert report["changes"][0]["rules"] == ["normal", "high-risk"]

    # carol's approval completes both rules; bob (team-ops) counts as the service owner too.
    result = repo.approve(kit.CHANGE_ID, as_="carol")
    assert "(submitted → approved)" in result.stdout
    code, report = repo.gate()

    assert code == 0, report["findings"]
    assert [(a["by"], a["trusted"]) for a in report["changes"][0]["approvals"]] == [
        ("bob", True),
        ("carol", True),
    ]


def test_high_risk_owner_requirement_is_its_own_requirement(new_repo: Any, kit: Any) -> None:
    """When the service is owned by a group without change managers, two change managers
    are not enough: an owner of the affected service must approve too."""
    repo = new_repo(
        {
            "policies/dave.yaml": kit.person_yaml("dave"),
            "policies/team-shop.yaml": "apiVersion: cmdb/v1\nkind: Group\nmetadata:\n"
            "  id: team-shop\nspec:\n  members: [alice, dave]\n",
        }
    )
    repo.checkout("main")
    repo.commit(
        "carol",
        "shop belongs to team-shop",
        files={
            "inventory/shop.yaml": repo.edit(
                "inventory/shop.yaml", "owner: team-ops", "owner: team-shop"
            )
        },
    )
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
    _request(repo, kit, risk="critical")
    repo.approve(kit.CHANGE_ID, as_="bob")
    repo.approve(kit.CHANGE_ID, as_="carol")

    code, report = repo.gate()

    assert code == 1
    # alice is the requester, so only dave can give it.
    assert (
        "rule high-risk needs 1 more approval from owners of affectedServices: dave"
        in kit.one(report, "gate.approval.missing")["message"]
    )

    repo.approve(kit.CHANGE_ID, as_="dave")
    code, report = repo.gate()
    assert code == 0, report["findings"]


def test_normal_change_without_rollback_plan_is_refused(repo: Any, kit: Any) -> None:
    _request(repo, kit, rollback_plan=None)
    repo.approve(kit.CHANGE_ID, as_="bob")

    code, report = repo.gate()

    assert code == 1
    finding = kit.one(report, "gate.rollback-plan.missing")
    assert finding["path"] == kit.CHANGE_PATH
    assert "rule normal requires a rollback plan" in finding["message"]
    assert finding["line"] == kit.line_of(repo.read(kit.CHANGE_PATH), r"^spec:")
    assert "rollbackPlan" in finding["hint"]
    assert "gate.approval.missing" not in kit.codes(report)


def test_blank_rollback_plan_does_not_count(repo: Any, kit: Any) -> None:
    _request(repo, kit, rollback_plan='"   "')
    repo.approve(kit.CHANGE_ID, as_="bob")

    code, report = repo.gate()

    assert code == 1
    assert "gate.rollback-plan.missing" in kit.codes(report)


def test_during_a_freeze_a_normal_change_is_refused(repo: Any, kit: Any) -> None:
    _request(repo, kit)
    repo.approve(kit.CHANGE_ID, as_="bob")

    code, report = repo.gate(now="2026-12-28T10:00:00+08:00")

    assert code == 1
    freeze = kit.one(report, "gate.freeze")
    assert "normal changes may not merge during freeze year-end" in freeze["message"]
    assert "2027-01-03T00:00:00+08:00" in freeze["message"]
    assert freeze["line"] == kit.line_of(repo.read(kit.CHANGE_PATH), r"^  type:")
    # The same branch, judged a month earlier, passes.
    assert repo.gate()[0] == 0


def test_during_a_freeze_an_approved_emergency_change_passes(repo: Any, kit: Any) -> None:
    _request(
        repo,
        kit,
        type_="emergency",
        window=("2026-12-28T22:00:00+08:00", "2026-12-28T23:00:00+08:00"),
    )
    repo.approve(kit.CHANGE_ID, as_="carol")

    code, report = repo.gate(now="2026-12-28T10:00:00+08:00")

    assert code == 0, report["findings"]
    assert report["changes"][0]["rules"] == ["emergency"]
    assert not kit.codes(report) & {"gate.freeze", "gate.freeze.window"}
    # Its review is due five days after the window.
    assert "due by 2027-01-02T23:00:00+08:00" in kit.one(report, "gate.review.due")["message"]


def test_emergency_change_without_approval_is_refused_even_in_a_freeze(repo: Any, kit: Any) -> None:
    _request(repo, kit, type_="emergency")

    code, report = repo.gate(now="2026-12-28T10:00:00+08:00")

    assert code == 1
    assert (
        "rule emergency needs 1 more approval from change-managers: bob, carol"
        in kit.one(report, "gate.approval.missing")["message"]
    )


def test_overdue_emergency_review_is_refused(repo: Any, kit: Any) -> None:
    _request(repo, kit, type_="emergency")  # window 2026-11-28, review due 2026-12-03
    repo.approve(kit.CHANGE_ID, as_="bob")

    code, report = repo.gate(now="2026-12-10T00:00:00Z")

    assert code == 1
    assert (
        "review was due by 2026-12-03T23:30:00+00:00"
        in kit.one(report, "gate.review.overdue")["message"]
    )


def test_normal_change_whose_window_overlaps_a_freeze_is_refused(repo: Any, kit: Any) -> None:
    # Saturday 2026-12-26 22:30 UTC: inside the maintenance window, inside the freeze.
    _request(repo, kit, window=("2026-12-26T22:30:00Z", "2026-12-26T23:30:00Z"))
    repo.approve(kit.CHANGE_ID, as_="bob")

    code, report = repo.gate()

    assert code == 1
    finding = kit.one(report, "gate.freeze.window")
    assert "planned window overlaps freeze year-end" in finding["message"]
    assert finding["pointer"] == "/spec/window"
    assert finding["line"] == kit.line_of(repo.read(kit.CHANGE_PATH), r"^  window:")
    assert "gate.freeze" not in kit.codes(report)
    assert "gate.window.outside" not in kit.codes(report)


@pytest.mark.parametrize(
    ("window", "inside"),
    [
        # Sat 22:30–23:30 UTC, written in +08:00 (already Sunday there).
        (("2026-11-29T06:30:00+08:00", "2026-11-29T07:30:00+08:00"), True),
        # Sun 01:00–03:30 UTC: the part of the window after midnight.
        (("2026-11-28T20:00:00-05:00", "2026-11-28T22:30:00-05:00"), True),
        # Sat 14:30–15:30 UTC: Saturday evening in +08:00, but not in UTC.
        (("2026-11-28T22:30:00+08:00", "2026-11-28T23:30:00+08:00"), False),
        # Sat 21:30 – Sun 03:00 UTC: starts before the window opens.
        (("2026-11-28T21:30:00Z", "2026-11-29T03:00:00Z"), False),
        # Sun 03:30–04:30 UTC: ends after it closes.
        (("2026-11-29T03:30:00Z", "2026-11-29T04:30:00Z"), False),
    ],
)
def test_maintenance_window_is_read_in_its_own_time_zone(
    repo: Any, kit: Any, window: tuple[str, str], inside: bool
) -> None:
    _request(repo, kit, window=window)
    repo.approve(kit.CHANGE_ID, as_="bob")

    code, report = repo.gate()

    if inside:
        assert code == 0, report["findings"]
    else:
        assert code == 1
        finding = kit.one(report, "gate.window.outside")
        assert (
            "not inside the maintenance windows of sla-standard (service shop)"
            in finding["message"]
        )
        assert "sat 22:00-04:00 UTC" in finding["message"]
        assert finding["line"] == kit.line_of(repo.read(kit.CHANGE_PATH), r"^  window:")


def test_normal_change_without_window_is_refused(repo: Any, kit: Any) -> None:
    _request(repo, kit, window=None)
    repo.approve(kit.CHANGE_ID, as_="bob")

    code, report = repo.gate()

    assert code == 1
    assert (
        "rule normal requires a planned window" in kit.one(report, "gate.window.missing")["message"]
    )


def test_branch_widening_the_maintenance_window_is_judged_by_the_base_sla(
    repo: Any, kit: Any
) -> None:
    wide = repo.edit(
        "inventory/sla-standard.yaml", 'days: [sat], from: "22:00"', 'days: [sat], from: "12:00"'
    )
    repo.commit("alice", "wider window", files={"inventory/sla-standard.yaml": wide})
    _request(
        repo,
        kit,
        targets=("app-01", "sla-standard"),
        window=("2026-11-28T22:30:00+08:00", "2026-11-28T23:30:00+08:00"),
    )
    repo.approve(kit.CHANGE_ID, as_="bob")

    code, report = repo.gate()

    assert code == 1
    assert "sat 22:00-04:00 UTC" in kit.one(report, "gate.window.outside")["message"]
