"""Which approvals count: separation of duties, group membership read from the base,
provenance (who committed the approval line), staleness and rules a branch cannot relax."""

from __future__ import annotations

from typing import Any


def _with_approval(repo: Any, kit: Any, by: str, at: str = "2026-11-22T09:00:00Z") -> str:
    """The change request's text with one more approval line by `by`, appended."""
    lines = repo.read(kit.CHANGE_PATH).splitlines()
    entry = f"    - {{by: {by}, at: {at}, decision: approve}}"
    if "  approvals:" not in lines:
        at_status = next(i for i, line in enumerate(lines) if line.startswith("  status:"))
        lines[at_status:at_status] = ["  approvals:", entry]
    else:
        last = lines.index("  approvals:")
        while last + 1 < len(lines) and lines[last + 1].startswith("    - "):
            last += 1
        lines.insert(last + 1, entry)
    return "\n".join(lines) + "\n"


def test_requester_cannot_approve_own_change_with_the_cli(requested: Any, kit: Any) -> None:
    before = requested.read(kit.CHANGE_PATH)
    head = requested.head()

    result = requested.approve(kit.CHANGE_ID, as_="alice")

    assert result.exit_code == 2
    assert (
        "alice requested CHG-2026-0042 and cannot approve it (separation of duties)"
        in result.stderr
    )
    assert "hint: ask a member of the approving group" in result.stderr
    assert requested.read(kit.CHANGE_PATH) == before
    assert requested.head() == head


def test_requester_self_approval_written_by_hand_does_not_count(requested: Any, kit: Any) -> None:
    requested.commit(
        "alice", "approve", files={kit.CHANGE_PATH: _with_approval(requested, kit, "alice")}
    )

    code, report = requested.gate()

    assert code == 1
    untrusted = kit.one(report, "gate.approval.untrusted")
    assert untrusted["severity"] == "warning"
    assert untrusted["pointer"] == "/spec/approvals/0"
    assert untrusted["line"] == kit.line_of(requested.read(kit.CHANGE_PATH), r"by: alice")
    assert "approval by alice does not count" in untrusted["message"]
    assert "alice requested the change" in untrusted["message"]
    assert (
        "needs 1 more approval from change-managers: bob, carol"
        in kit.one(report, "gate.approval.missing")["message"]
    )
    [approval] = report["changes"][0]["approvals"]
    assert approval["trusted"] is False


def test_approval_by_a_person_outside_change_managers_does_not_satisfy_the_rule(
    requested: Any, kit: Any
) -> None:
    result = requested.approve(kit.CHANGE_ID, as_="dave")
    assert result.exit_code == 2  # approve says it would not count, and writes nothing
    assert "dave is in no group" in result.stderr
    requested.commit(
        "dave",
        "dave approves anyway",
        files={kit.CHANGE_PATH: _with_approval(requested, kit, "dave")},
    )

    code, report = requested.gate()

    assert code == 1
    [approval] = report["changes"][0]["approvals"]
    assert (approval["by"], approval["trusted"]) == ("dave", True)
    assert "gate.approval.untrusted" not in kit.codes(report)
    assert (
        "rule normal needs 1 more approval from change-managers: bob, carol"
        in kit.one(report, "gate.approval.missing")["message"]
    )


def test_forged_approval_committed_by_the_requester_is_untrusted(requested: Any, kit: Any) -> None:
    sha = requested.commit(
        "alice",
        "approved by bob on the phone",
        files={kit.CHANGE_PATH: _with_approval(requested, kit, "bob")},
    )

    code, report = requested.gate()

    assert code == 1
    untrusted = kit.one(report, "gate.approval.untrusted")
    # A forged line may not land: once on main, a squash merge would make it look like
    # a decision the gate judged when it landed.
    assert untrusted["severity"] == "error"
    assert "approval by bob does not count" in untrusted["message"]
    assert f"added by alice@example.com in {sha[:10]}" in untrusted["message"]
    assert "not by bob (bob@example.com)" in untrusted["message"]
    assert (
        "needs 1 more approval from change-managers: bob, carol"
        in kit.one(report, "gate.approval.missing")["message"]
    )


def test_approval_authored_by_bob_but_committed_by_alice_is_untrusted(
    requested: Any, kit: Any
) -> None:
    requested.write(kit.CHANGE_PATH, _with_approval(requested, kit, "bob"))
    requested.git(
        "commit",
        "--quiet",
        "-am",
        "approve",
        as_="alice",
        env={"GIT_AUTHOR_NAME": "Bob", "GIT_AUTHOR_EMAIL": "bob@example.com"},
    )
    assert requested.git("log", "-1", "--format=%ae %ce").split() == [
        "bob@example.com",
        "alice@example.com",
    ]

    code, report = requested.gate()

    assert code == 1
    assert "not by bob" in kit.one(report, "gate.approval.untrusted")["message"]
    assert "gate.approval.missing" in kit.codes(report)


def test_untrusted_message_names_the_committer_who_is_not_the_approver(
    requested: Any, kit: Any
) -> None:
    requested.write(kit.CHANGE_PATH, _with_approval(requested, kit, "bob"))
    requested.git(
        "commit",
        "--quiet",
        "-am",
        "approve",
        as_="alice",
        env={"GIT_AUTHOR_NAME": "Bob", "GIT_AUTHOR_EMAIL": "bob@example.com"},
    )

    sha = requested.head()

    code, report = requested.gate()

    assert code == 1
    assert (
        f"it was committed by alice@example.com in {sha[:10]}, not by bob "
        "(bob@example.com)" in kit.one(report, "gate.approval.untrusted")["message"]
    )


def test_approver_who_authored_a_commit_of_the_change_does_not_count(
    requested: Any, kit: Any
) -> None:
    text = requested.edit("inventory/app-01.yaml", "cores: 16", "cores: 32")
    requested.commit("bob", "also more cores", files={"inventory/app-01.yaml": text})
    assert requested.approve(kit.CHANGE_ID, as_="bob").exit_code == 0

    code, report = requested.gate()

    assert code == 1
    assert (
        "bob authored commits of the change"
        in kit.one(report, "gate.approval.untrusted")["message"]
    )
    # bob is no longer eligible: only carol is named.
    assert (
        "needs 1 more approval from change-managers: carol"
        in kit.one(report, "gate.approval.missing")["message"]
    )


def test_branch_adding_a_member_to_change_managers_is_judged_by_the_base_group(
    requested: Any, kit: Any
) -> None:
    group = requested.edit(
        "policies/change-managers.yaml", "members: [bob, carol]", "members: [bob, carol, dave]"
    )
    requested.commit("alice", "dave helps out", files={"policies/change-managers.yaml": group})
    requested.commit(
        "dave", "dave approves", files={kit.CHANGE_PATH: _with_approval(requested, kit, "dave")}
    )

    code, report = requested.gate()

    assert code == 1
    assert (
        "rule normal needs 1 more approval from change-managers: bob, carol"
        in kit.one(report, "gate.approval.missing")["message"]
    )
    edit = kit.one(report, "gate.governance-edit")
    assert edit["path"] == "policies/change-managers.yaml"
    assert edit["line"] == kit.line_of(group, r"^  id: change-managers")
    assert "needs an approved management change" in edit["message"]


def test_branch_relaxing_the_change_policy_is_judged_by_the_base_policy(
    requested: Any, kit: Any
) -> None:
    policy = requested.read("policies/change-policy.yaml")
    start = policy.index("    - id: normal")
    end = policy.index("    - id: high-risk")
    relaxed = policy[:start] + policy[end:]
    requested.commit("alice", "fewer rules", files={"policies/change-policy.yaml": relaxed})

    code, report = requested.gate()

    assert code == 1
    assert report["changes"][0]["rules"] == ["normal"]
    assert (
        "rule normal needs 1 more approval from change-managers: bob, carol"
        in kit.one(report, "gate.approval.missing")["message"]
    )
    edit = kit.one(report, "gate.governance-edit")
    assert edit["path"] == "policies/change-policy.yaml"
    assert edit["line"] == kit.line_of(relaxed, r"^  id: change-policy")


def test_governance_edit_under_an_approved_management_change_passes(repo: Any, kit: Any) -> None:
    group = repo.edit(
        "policies/change-managers.yaml", "members: [bob, carol]", "members: [bob, carol, dave]"
    )
    change = kit.change_yaml(targets=("change-managers",), category="management")
    repo.commit(
        "alice",
        "dave joins the change managers",
        files={"policies/change-managers.yaml": group, kit.CHANGE_PATH: change},
    )
    code, report = repo.gate()
    assert code == 1
    assert "gate.governance-edit" in kit.codes(report)

    assert repo.approve(kit.CHANGE_ID, as_="carol").exit_code == 0
    code, report = repo.gate()

    assert code == 0, report["findings"]


def test_governance_edit_needs_an_approval_even_under_a_standard_change(
    repo: Any, kit: Any
) -> None:
    group = repo.edit(
        "policies/change-managers.yaml", "members: [bob, carol]", "members: [alice, bob, carol]"
    )
    change = kit.change_yaml(
        targets=("change-managers",), category="management", type_="standard", risk="low"
    )
    repo.commit(
        "alice",
        "I approve changes now",
        files={"policies/change-managers.yaml": group, kit.CHANGE_PATH: change},
    )

    code, report = repo.gate()

    assert code == 1, report["findings"]
    assert "gate.governance-edit" in kit.codes(report)


def test_substantive_edit_after_an_approval_makes_it_stale(requested: Any, kit: Any) -> None:
    assert requested.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    text = requested.edit("inventory/app-01.yaml", "memoryMb: 131072", "memoryMb: 262144")
    requested.commit("alice", "even more", files={"inventory/app-01.yaml": text})

    code, report = requested.gate()

    assert code == 1
    stale = kit.one(report, "gate.approval.stale")
    assert stale["severity"] == "warning"
    assert "approval by bob does not count: stale" in stale["message"]
    assert "changed after it was given" in stale["message"]
    assert (
        "needs 1 more approval from change-managers: bob, carol"
        in kit.one(report, "gate.approval.missing")["message"]
    )
    [approval] = report["changes"][0]["approvals"]
    assert (approval["trusted"], approval["stale"]) == (False, True)

    # bob looks again and approves once more, in his own commit.
    requested.commit(
        "bob",
        "approve again",
        files={kit.CHANGE_PATH: _with_approval(requested, kit, "bob", "2026-11-22T11:00:00Z")},
    )
    code, report = requested.gate()

    assert code == 0, report["findings"]
    assert kit.codes(report, "error") == set()
    assert kit.codes(report, "warning") == {"gate.approval.stale"}  # the old one, still shown
    assert [a["trusted"] for a in report["changes"][0]["approvals"]] == [False, True]


def test_approver_can_refresh_a_stale_approval_with_the_cli(requested: Any, kit: Any) -> None:
    assert requested.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    text = requested.edit("inventory/app-01.yaml", "memoryMb: 131072", "memoryMb: 262144")
    requested.commit("alice", "even more", files={"inventory/app-01.yaml": text})

    result = requested.approve(kit.CHANGE_ID, as_="bob")

    assert result.exit_code == 0, result.stderr
    code, report = requested.gate()
    assert code == 0, report["findings"]


def test_approval_only_commits_do_not_make_other_approvals_stale(requested: Any, kit: Any) -> None:
    high = requested.edit(kit.CHANGE_PATH, "risk: medium", "risk: high")
    requested.commit("alice", "it is risky", files={kit.CHANGE_PATH: high})

    first = requested.approve(kit.CHANGE_ID, as_="bob")
    second = requested.approve(kit.CHANGE_ID, as_="carol")

    assert first.exit_code == 0 and "(submitted → submitted)" in first.stdout
    assert second.exit_code == 0 and "(submitted → approved)" in second.stdout
    code, report = requested.gate()
    assert code == 0, report["findings"]
    assert [(a["by"], a["trusted"], a["stale"]) for a in report["changes"][0]["approvals"]] == [
        ("bob", True, False),
        ("carol", True, False),
    ]


def test_duplicate_approval_by_the_same_person_is_refused(requested: Any, kit: Any) -> None:
    assert requested.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    head = requested.head()

    result = requested.approve(kit.CHANGE_ID, as_="bob")

    assert result.exit_code == 2
    assert "bob has already recorded 'approve' on CHG-2026-0042" in result.stderr
    assert requested.head() == head
    assert requested.git("status", "--porcelain") == ""


def test_trusted_rejection_refuses_the_change(requested: Any, kit: Any) -> None:
    assert requested.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    result = requested.approve(kit.CHANGE_ID, "--reject", "-m", "no tested rollback", as_="carol")
    assert result.exit_code == 0, result.stderr
    assert "carol rejected CHG-2026-0042 (approved → rejected)" in result.stdout
    assert "Rejected-by: Carol Example <carol@example.com>" in requested.git(
        "log", "-1", "--format=%(trailers:unfold,only)"
    )

    code, report = requested.gate()

    assert code == 1
    assert "rejected by carol" in kit.one(report, "gate.change.rejected")["message"]
    assert "gate.change.status" in kit.codes(report)  # rejected covers nothing


def test_requester_cannot_erase_a_rejection(requested: Any, kit: Any) -> None:
    assert requested.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    assert requested.approve(kit.CHANGE_ID, "--reject", as_="carol").exit_code == 0
    kept = [
        line for line in requested.read(kit.CHANGE_PATH).splitlines() if "by: carol" not in line
    ]
    erased = "\n".join(kept).replace("status: rejected", "status: approved") + "\n"
    sha = requested.commit("alice", "tidy up", files={kit.CHANGE_PATH: erased})

    code, report = requested.gate()

    assert code == 1, report["findings"]
    removed = kit.one(report, "gate.approval.removed")
    assert removed["severity"] == "error"
    assert "the reject decision by carol" in removed["message"]
    assert f"was removed by alice@example.com in {sha[:10]}" in removed["message"]
    assert "the rejection still refuses the change" in removed["message"]
    assert "restore carol's entry" in removed["hint"]
    assert "rejected by carol" in kit.one(report, "gate.change.rejected")["message"]


def test_removing_a_forged_approval_line_is_allowed(requested: Any, kit: Any) -> None:
    """A line that never counted may go; the approver then records their own."""
    original = requested.read(kit.CHANGE_PATH)
    requested.commit(
        "alice",
        "approved by bob on the phone",
        files={kit.CHANGE_PATH: _with_approval(requested, kit, "bob")},
    )
    requested.commit("alice", "oops", files={kit.CHANGE_PATH: original})
    assert requested.approve(kit.CHANGE_ID, as_="bob").exit_code == 0

    code, report = requested.gate()

    assert code == 0, report["findings"]
    assert "gate.approval.removed" not in kit.codes(report)


def test_approver_can_replace_an_approval_forged_in_their_name_with_the_cli(
    requested: Any, kit: Any
) -> None:
    requested.commit(
        "alice",
        "approved by bob on the phone",
        files={kit.CHANGE_PATH: _with_approval(requested, kit, "bob")},
    )

    result = requested.approve(kit.CHANGE_ID, as_="bob")

    assert result.exit_code == 0, result.stderr
    assert "(submitted → approved)" in result.stdout
    code, report = requested.gate()
    # The forged line may not land beside it: on main, after a squash merge, nothing
    # would tell it from bob's own.
    assert code == 1
    assert kit.one(report, "gate.approval.untrusted")["severity"] == "error"
    assert [a["trusted"] for a in report["changes"][0]["approvals"]] == [False, True]

    text = requested.read(kit.CHANGE_PATH)
    forged = next(line for line in text.splitlines(keepends=True) if "by: bob" in line)
    requested.commit(
        "alice", "drop the line typed for bob", files={kit.CHANGE_PATH: text.replace(forged, "", 1)}
    )
    code, report = requested.gate()
    assert code == 0, report["findings"]
    assert [a["trusted"] for a in report["changes"][0]["approvals"]] == [True]


def test_the_same_decision_recorded_again_with_the_same_time_is_a_new_record(
    requested: Any, kit: Any
) -> None:
    """Two entries alike in by, at and decision are two records: the second, added after
    the first went stale, is judged by its own commit."""
    at = "2026-11-22T09:00:00Z"
    requested.commit(
        "bob", "approve", files={kit.CHANGE_PATH: _with_approval(requested, kit, "bob", at)}
    )
    requested.commit(
        "alice",
        "even more",
        files={
            "inventory/app-01.yaml": requested.edit(
                "inventory/app-01.yaml", "memoryMb: 131072", "memoryMb: 262144"
            )
        },
    )
    requested.commit(
        "bob", "approve again", files={kit.CHANGE_PATH: _with_approval(requested, kit, "bob", at)}
    )

    code, report = requested.gate()

    assert code == 0, report["findings"]
    assert [(a["trusted"], a["stale"]) for a in report["changes"][0]["approvals"]] == [
        (False, True),
        (True, False),
    ]


def test_approve_does_not_count_forged_approvals_toward_status(repo: Any, kit: Any) -> None:
    change = kit.change_yaml(
        risk="high",
        approvals=[{"by": "carol", "at": "2026-11-22T09:00:00Z", "decision": "approve"}],
    )
    repo.commit(
        "alice",
        "request",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            ),
            kit.CHANGE_PATH: change,
        },
    )

    result = repo.approve(kit.CHANGE_ID, as_="bob")

    assert result.exit_code == 0, result.stderr
    code, _ = repo.gate()
    assert code == 1  # carol's line is forged: high-risk still needs a second manager
    assert "status: approved" not in repo.read(kit.CHANGE_PATH)


def test_approve_does_not_count_an_approver_who_edited_a_target_before_the_request(
    repo: Any, kit: Any
) -> None:
    """bob edits app-01 on the branch before alice writes the change request: the gate
    sees bob as an author of the change, so approve must not count him either."""
    repo.commit(
        "bob",
        "more memory",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            )
        },
    )
    repo.commit("alice", "request", files={kit.CHANGE_PATH: kit.change_yaml()})

    result = repo.approve(kit.CHANGE_ID, as_="bob")

    assert result.exit_code == 0, result.stderr
    assert "(submitted → submitted)" in result.stdout
    code, report = repo.gate()
    assert code == 1
    assert (
        "bob authored commits of the change"
        in kit.one(report, "gate.approval.untrusted")["message"]
    )


def test_approve_judges_group_membership_by_the_default_branch_as_the_gate_does(
    requested: Any, kit: Any
) -> None:
    """The branch makes dave a change manager: the gate reads the group from main, and
    so does approve, which must not mark the change approved on dave's word."""
    requested.commit(
        "alice",
        "dave helps out",
        files={
            "policies/change-managers.yaml": requested.edit(
                "policies/change-managers.yaml",
                "members: [bob, carol]",
                "members: [bob, carol, dave]",
            )
        },
    )

    before = requested.head()

    result = requested.approve(kit.CHANGE_ID, as_="dave")

    assert result.exit_code == 2
    assert "dave is in no group" in result.stderr and "read from main" in result.stderr
    assert requested.head() == before
    assert requested.gate()[0] == 1
