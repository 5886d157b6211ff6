"""Policy that cannot be walked around, and the honest path that keeps working: the base's
rules applied to the base's facts, standard changes inside their model, governance by
the governors, a change carried out once, reviews as records, windows in the past,
squash merges."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

MEMORY = ("memoryMb: 65536", "memoryMb: 131072")
POLICY = "policies/change-policy.yaml"


def _policy_with(repo: Any, rule: str) -> str:
    """The scaffold's ChangePolicy with one more rule (YAML flow map) first."""
    return repo.edit(POLICY, "  rules:", f"  rules:\n    - {rule}")


def _by_hand(repo: Any, kit: Any, who: str, decision: str = "approve") -> dict[str, str]:
    """`who`'s decision line appended to the change request, for `who`'s own commit."""
    text = repo.read(kit.CHANGE_PATH)
    entry = f"    - {{by: {who}, at: 2026-11-22T09:00:00Z, decision: {decision}}}\n"
    if "  approvals:\n" in text:
        text = text.replace("  approvals:\n", "  approvals:\n" + entry, 1)
    else:
        text = text.replace("  status:", "  approvals:\n" + entry + "  status:", 1)
    return {kit.CHANGE_PATH: text}


# --- 3. the base's rules, applied to the base's facts ---------------------------------


def test_lowering_a_targets_criticality_does_not_lower_the_rules(new_repo: Any, kit: Any) -> None:
    base = new_repo()
    repo = new_repo(
        {
            POLICY: _policy_with(
                base,
                "{id: high-crit, match: {criticality: [high]}, "
                "approvals: [{group: change-managers, count: 2}]}",
            )
        }
    )
    repo.commit(
        "alice",
        "memory, and it is not that critical",
        files={
            kit.CHANGE_PATH: kit.change_yaml(),
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY).replace(
                "criticality: high", "criticality: low"
            ),
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0

    code, report = repo.gate()

    assert code == 1
    assert "high-crit" in report["changes"][0]["rules"]
    assert (
        "rule high-crit needs 1 more approval from change-managers: carol"
        in kit.one(report, "gate.approval.missing")["message"]
    )


def test_handing_a_ci_to_another_team_needs_the_current_owners_consent(
    new_repo: Any, kit: Any
) -> None:
    base = new_repo()
    repo = new_repo(
        {
            POLICY: _policy_with(
                base,
                "{id: owners, match: {type: [normal]}, approvals: [{ownerOf: targets, count: 1}]}",
            ),
            "policies/team-ops.yaml": base.edit(
                "policies/team-ops.yaml", "members: [alice, bob, carol]", "members: [carol]"
            ),
            "policies/team-x.yaml": base.read("policies/team-ops.yaml")
            .replace("team-ops", "team-x")
            .replace("members: [alice, bob, carol]", "members: [dave]"),
            "policies/dave.yaml": kit.person_yaml("dave"),
        }
    )
    repo.commit(
        "alice",
        "app-01 moves to team-x",
        files={
            kit.CHANGE_PATH: kit.change_yaml(),
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY).replace(
                "owner: team-ops", "owner: team-x"
            ),
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    assert repo.approve(kit.CHANGE_ID, as_="dave").exit_code == 0

    code, report = repo.gate()

    assert code == 1
    missing = kit.one(report, "gate.approval.missing")["message"]
    assert "owners of targets (team-ops, at the base): carol" in missing
    assert repo.approve(kit.CHANGE_ID, as_="carol").exit_code == 0
    assert repo.gate()[0] == 0


# --- 8. standard changes are pre-approved models, not a bypass ------------------------


def _standard(kit: Any, model: str | None) -> str:
    text = kit.change_yaml(type_="standard", risk="low")
    return text.replace("  category:", f"  model: {model}\n  category:") if model else text


def test_standard_change_naming_no_model_is_refused(repo: Any, kit: Any) -> None:
    repo.commit(
        "alice",
        "patch",
        files={
            kit.CHANGE_PATH: _standard(kit, None),
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
        },
    )

    code, report = repo.gate()

    assert code == 1
    assert "gate.standard.model-missing" in kit.codes(report)


def test_standard_change_outside_its_model_is_refused(repo: Any, kit: Any) -> None:
    repo.commit(
        "alice",
        "patch",
        files={
            kit.CHANGE_PATH: _standard(kit, "os-patch"),
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
        },
    )

    code, report = repo.gate()

    assert code == 1
    outside = kit.one(report, "gate.standard.outside-model")
    assert "spec.memoryMb" in outside["message"] and "app-01" in outside["message"]


def test_standard_change_inside_its_model_passes_without_approval(repo: Any, kit: Any) -> None:
    repo.commit(
        "alice",
        "patch",
        files={
            kit.CHANGE_PATH: _standard(kit, "os-patch"),
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", 'version: "12"', 'version: "13"'
            ),
        },
    )

    code, report = repo.gate()

    assert code == 0, report["findings"]


def test_a_model_added_on_the_branch_does_not_judge_the_branch(repo: Any, kit: Any) -> None:
    model = (
        repo.read("policies/os-patch.yaml")
        .replace("os-patch", "anything")
        .replace("[spec.os.version]", "[spec]")
    )
    repo.commit(
        "alice",
        "my own model",
        files={
            "policies/anything.yaml": model,
            kit.CHANGE_PATH: _standard(kit, "anything"),
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
        },
    )

    code, report = repo.gate()

    assert code == 1
    assert {"gate.standard.model-unknown", "gate.governance-edit"} <= kit.codes(report)


# --- 9. governance needs the governors ------------------------------------------------


def test_a_management_change_approved_by_a_non_manager_is_refused(repo: Any, kit: Any) -> None:
    repo.commit(
        "alice",
        "I approve changes now",
        files={
            "policies/change-managers.yaml": repo.edit(
                "policies/change-managers.yaml",
                "members: [bob, carol]",
                "members: [alice, bob, carol]",
            ),
            kit.CHANGE_PATH: kit.change_yaml(targets=("change-managers",), category="management"),
        },
    )
    repo.commit("dave", "dave approves", files=_by_hand(repo, kit, "dave"))

    code, report = repo.gate()

    assert code == 1
    assert (
        "CHG-2026-0042: rule management needs 1 more approval from change-managers: "
        "bob, carol" in [f["message"] for f in kit.findings(report, "gate.approval.missing")]
    )
    assert "gate.governance-edit" in kit.codes(report)


def test_a_second_change_policy_is_refused_even_when_approved(repo: Any, kit: Any) -> None:
    second = repo.read(POLICY).replace("id: change-policy", "id: relaxed")
    repo.commit(
        "alice",
        "a second policy",
        files={
            "policies/relaxed.yaml": second,
            kit.CHANGE_PATH: kit.change_yaml(targets=("relaxed",), category="management"),
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0

    code, report = repo.gate()

    assert code == 1
    duplicate = kit.one(report, "policy.duplicate")
    assert duplicate["path"] == "policies/relaxed.yaml"
    assert "exactly one may exist" in duplicate["message"]


# --- 10. a change is carried out once -------------------------------------------------


def test_an_approval_already_carried_out_on_main_does_not_cover_new_edits(
    repo: Any, kit: Any
) -> None:
    kit.approved_on_main(repo)
    kit.carry_out(repo)  # on main, status left approved
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
    repo.commit(
        "alice",
        f"and more cores\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", "cores: 16", "cores: 32")
        },
    )

    code, report = repo.gate()

    assert code == 1
    stale = kit.one(report, "gate.approval.stale")["message"]
    assert (
        "its targets changed on the base before this branch forked, after it was "
        "given (inventory/app-01.yaml)" in stale
    )


# --- 11. emergency reviews are records, not text --------------------------------------

WINDOW = ("2026-11-21T22:30:00Z", "2026-11-21T23:30:00Z")  # before NOW; a Saturday


def test_a_review_typed_in_by_the_requester_does_not_count(repo: Any, kit: Any) -> None:
    kit.implemented_emergency(repo, WINDOW)
    repo.commit(
        "alice",
        "reviewed",
        files={
            kit.CHANGE_PATH: repo.edit(
                kit.CHANGE_PATH,
                "  status: implemented",
                "  review: {by: bob, at: 2026-11-30T10:00:00Z, outcome: successful, notes: fine}\n"
                "  status: reviewed",
            )
        },
    )

    code, report = repo.gate(now="2026-11-30T10:00:00Z")

    assert code == 1
    untrusted = kit.one(report, "gate.review.untrusted")["message"]
    assert "the review by bob does not count" in untrusted and "not by bob" in untrusted
    assert "due by 2026-11-26T23:30:00+00:00" in kit.one(report, "gate.review.overdue")["message"]


def test_a_review_recorded_by_its_reviewer_counts(repo: Any, kit: Any) -> None:
    kit.implemented_emergency(repo, WINDOW)
    result = repo.cli(
        "review", kit.CHANGE_ID, "--outcome", "successful", "--notes", "ok", as_="bob"
    )
    assert result.exit_code == 0, result.stderr

    code, report = repo.gate(now="2026-11-30T10:00:00Z")

    assert code == 0, report["findings"]


def test_without_a_window_the_review_falls_due_after_the_implementing_commit(
    repo: Any, kit: Any
) -> None:
    kit.implemented_emergency(repo, None)
    implemented = repo.git("log", "-1", "--format=%aI", "main").strip()
    repo.commit(
        "alice",
        "closed",
        files={
            kit.CHANGE_PATH: repo.edit(kit.CHANGE_PATH, "  status: implemented", "  status: closed")
        },
    )

    code, report = repo.gate(now="2099-01-01T00:00:00Z")

    assert code == 1
    due = datetime.fromisoformat(implemented) + timedelta(days=5)  # reviewWithin: P5D
    assert f"due by {due.isoformat()}" in kit.one(report, "gate.review.overdue")["message"]


# --- 12. windows in the past ----------------------------------------------------------


def test_a_change_whose_window_has_passed_is_refused(requested: Any, kit: Any) -> None:
    assert requested.approve(kit.CHANGE_ID, as_="bob").exit_code == 0

    code, report = requested.gate(now="2026-11-30T10:00:00Z")

    assert code == 1
    past = kit.one(report, "gate.window.past")
    assert past["pointer"] == "/spec/window" and "reschedule" in past["hint"]


# --- 13. squash and rebase merges ---------------------------------------------------


def test_after_a_squash_merge_later_lifecycle_steps_keep_the_approval(repo: Any, kit: Any) -> None:
    repo.commit(
        "alice",
        "request",
        files={
            kit.CHANGE_PATH: kit.change_yaml(),
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    assert repo.gate()[0] == 0
    repo.checkout("main")
    repo.git("merge", "--quiet", "--squash", "feature")
    repo.commit("alice", f"Double memory on app-01 (#1)\n\nChange-Id: {kit.CHANGE_ID}")
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
    repo.commit(
        "alice",
        "implemented",
        files={
            kit.CHANGE_PATH: repo.edit(kit.CHANGE_PATH, "status: approved", "status: implemented")
        },
    )

    code, report = repo.gate()

    assert code == 0, report["findings"]
    assert [a["trusted"] for a in report["changes"][0]["approvals"]] == [True]


def test_a_base_with_two_change_policies_judges_nothing(new_repo: Any, kit: Any) -> None:
    base = new_repo()
    relaxed = (
        base.read(POLICY)
        .replace("id: change-policy", "id: relaxed")
        .replace("separationOfDuties: true", "separationOfDuties: false")
    )
    repo = new_repo({"policies/a-relaxed.yaml": relaxed})
    repo.commit(
        "alice",
        "request",
        files={
            kit.CHANGE_PATH: kit.change_yaml(),
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0

    code, report = repo.gate()

    assert code == 1
    ambiguous = kit.one(report, "gate.policy.ambiguous")
    assert ambiguous["path"] == POLICY
    assert "policies/a-relaxed.yaml" in ambiguous["message"]


def test_editing_the_ci_workflow_that_runs_the_gate_is_a_governance_edit(
    repo: Any, kit: Any
) -> None:
    workflow = ".github/workflows/cmdb.yml"
    repo.commit(
        "alice",
        "faster CI",
        files={workflow: repo.read(workflow).replace("cmdbctl gate", "true || cmdbctl gate")},
    )

    code, report = repo.gate()

    assert code == 1
    assert kit.one(report, "gate.governance-edit")["path"] == workflow
