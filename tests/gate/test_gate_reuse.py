"""Used-up and rejected changes stay used up and rejected: branching from an old commit
does not revive an approval the base has since seen carried out, and a rejection on the
branch cannot be undone by editing the change request back to submitted."""

from __future__ import annotations

from typing import Any


def _approved_on_main(new_repo: Any, kit: Any) -> tuple[Any, str]:
    """alice requests on main, bob approves there (t1); return the repo and t1."""
    repo = kit.approved_on_main(new_repo())
    return repo, repo.head()


def test_branch_from_before_implementation_cannot_reuse_the_approval(
    new_repo: Any, kit: Any
) -> None:
    repo, t1 = _approved_on_main(new_repo, kit)
    repo.commit(
        "alice",
        f"do it, done\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            ),
            kit.CHANGE_PATH: repo.edit(kit.CHANGE_PATH, "status: approved", "status: closed"),
        },
    )
    repo.git("branch", "--force", "feature", t1)  # forks where C is still approved
    repo.checkout("feature")
    repo.commit(
        "alice",
        f"more\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", "cores: 16", "cores: 32")
        },
    )

    code, report = repo.gate()

    assert code == 1, report["findings"]
    stale = kit.one(report, "gate.approval.stale")
    assert (
        "approval by bob does not count: stale: it approved a plan already carried out "
        "(the change was closed on the base revision)" in stale["message"]
    )
    assert kit.one(report, "gate.not-approved")["path"] == "inventory/app-01.yaml"


def test_branch_from_before_a_plan_change_on_main_cannot_reuse_the_approval(
    new_repo: Any, kit: Any
) -> None:
    repo, t1 = _approved_on_main(new_repo, kit)
    sha = repo.commit(
        "alice",
        "bigger plan",
        files={kit.CHANGE_PATH: repo.edit(kit.CHANGE_PATH, "risk: medium", "risk: low")},
    )
    repo.git("branch", "--force", "feature", t1)
    repo.checkout("feature")
    kit.carry_out(repo)

    code, report = repo.gate()

    assert code == 1
    assert (
        f"stale: the change request changed on the base revision after it was given "
        f"(in {sha[:10]} by alice@example.com)" in kit.one(report, "gate.approval.stale")["message"]
    )


def test_branch_from_the_approval_still_passes_while_main_has_not_carried_it_out(
    new_repo: Any, kit: Any
) -> None:
    repo, t1 = _approved_on_main(new_repo, kit)
    repo.commit("alice", "unrelated", files={"README.md": "hello\n"})
    repo.git("branch", "--force", "feature", t1)
    repo.checkout("feature")
    kit.carry_out(repo)

    code, report = repo.gate()

    assert code == 0, report["findings"]


def test_rejected_change_cannot_be_revived_on_the_branch(requested: Any, kit: Any) -> None:
    repo = requested
    assert repo.approve(kit.CHANGE_ID, "--reject", as_="carol").exit_code == 0
    sha = repo.commit(
        "alice",
        "address carol's concerns",
        files={
            kit.CHANGE_PATH: repo.edit(
                kit.CHANGE_PATH, "    - add DIMMs", "    - add DIMMs\n    - test the rollback"
            ).replace("status: rejected", "status: submitted")
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0

    code, report = repo.gate()

    assert code == 1
    transition = kit.one(report, "gate.change.transition")
    assert (
        f"{kit.CHANGE_ID}: status may not go from rejected to submitted (lifecycle rule; "
        f"in {sha[:10]} by alice@example.com); missing: a new change request"
        in transition["message"]
    )
    rejected = kit.one(report, "gate.change.rejected")
    assert (
        "rejected by carol (rule: a rejection stands although the change request "
        "changed after it" in rejected["message"]
    )
    assert kit.one(report, "gate.not-approved")["path"] == "inventory/app-01.yaml"
    carol = [a for a in report["changes"][0]["approvals"] if a["by"] == "carol"]
    assert carol and carol[0]["stale"]


def test_stale_rejection_refuses_even_when_status_never_left_submitted(
    requested: Any, kit: Any
) -> None:
    """carol rejects in a hand-made commit that keeps the status; the plan then changes."""
    repo = requested
    rejected = repo.edit(
        kit.CHANGE_PATH,
        "  status: submitted",
        "  approvals:\n    - {by: carol, at: 2026-11-21T10:00:00Z, "
        "decision: reject}\n  status: submitted",
    )
    repo.commit("carol", "reject", files={kit.CHANGE_PATH: rejected})
    repo.commit(
        "alice",
        "new plan",
        files={
            kit.CHANGE_PATH: repo.edit(
                kit.CHANGE_PATH, "    - add DIMMs", "    - add DIMMs\n    - test the rollback"
            )
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0

    code, report = repo.gate()

    assert code == 1
    assert "rejected by carol" in kit.one(report, "gate.change.rejected")["message"]
