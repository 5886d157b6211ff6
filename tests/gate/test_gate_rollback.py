"""A rollback passes the gate on its own merits: a branch that only puts an approved,
carried-out change's targets back and records the rollback is covered by that change;
anything more, or anything else, is judged as usual."""

from __future__ import annotations

from typing import Any

import pytest

RECORD = (
    "  rollback: {{by: alice, at: 2026-11-22T09:00:00Z, reason: memory errors, "
    "commits: [{commits}]}}\n"
)


@pytest.fixture
def carried_out(repo: Any, kit: Any) -> tuple[Any, str]:
    """On main: CHG-2026-0042 requested by alice, approved by bob, carried out by alice
    in a commit naming it (status left approved); then feature forks from main."""
    kit.approved_on_main(repo)
    sha = kit.carry_out(repo)
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
    return repo, sha


def _rolled_back(
    repo: Any, kit: Any, commits: str, app: str | None = None, extra: dict[str, str] | None = None
) -> None:
    """alice reverts app-01 (or writes `app`) and records the rollback naming `commits`."""
    text = repo.read(kit.CHANGE_PATH).replace(
        "  status: approved", RECORD.format(commits=commits) + "  status: rolled-back"
    )
    before = repo.git("show", "main~1:inventory/app-01.yaml")
    repo.commit(
        "alice",
        f"Roll back {kit.CHANGE_ID}\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            "inventory/app-01.yaml": app if app is not None else before,
            kit.CHANGE_PATH: text,
            **(extra or {}),
        },
    )


def test_a_rollback_is_covered_by_the_change_it_rolls_back(carried_out: Any, kit: Any) -> None:
    repo, sha = carried_out
    _rolled_back(repo, kit, sha)

    code, report = repo.gate()

    assert code == 0, report["findings"]
    assert report["changes"][0]["status"] == "rolled-back"
    # bob approved the change, not its undoing: no warning that his approval is stale
    assert report["findings"] == []


def test_a_rollback_that_writes_other_content_is_refused(carried_out: Any, kit: Any) -> None:
    repo, sha = carried_out
    _rolled_back(
        repo, kit, sha, app=repo.edit("inventory/app-01.yaml", "memoryMb: 131072", "memoryMb: 1024")
    )

    code, report = repo.gate()

    assert code == 1
    assert (
        "app-01 is not back to its content before the change"
        in kit.one(report, "gate.rollback.not-a-revert")["message"]
    )


def test_a_rollback_record_naming_commits_that_did_not_carry_the_change_is_refused(
    carried_out: Any, kit: Any
) -> None:
    repo, _ = carried_out
    _rolled_back(repo, kit, repo.head("main~1"))

    code, report = repo.gate()

    assert code == 1
    assert "does not carry CHG-2026-0042 out" in kit.one(report, "gate.rollback.record")["message"]


def test_more_than_the_rollback_on_the_branch_needs_its_own_change(
    carried_out: Any, kit: Any
) -> None:
    repo, sha = carried_out
    _rolled_back(
        repo,
        kit,
        sha,
        extra={
            "inventory/shop-db.yaml": repo.edit(
                "inventory/shop-db.yaml", "port: 5432", "port: 6432"
            )
        },
    )

    code, report = repo.gate()

    assert code == 1
    assert kit.one(report, "gate.uncovered")["path"] == "inventory/shop-db.yaml"


def test_a_rollback_may_not_rewrite_the_change(carried_out: Any, kit: Any) -> None:
    repo, sha = carried_out
    repo.write(kit.CHANGE_PATH, repo.edit(kit.CHANGE_PATH, "risk: medium", "risk: low"))
    _rolled_back(repo, kit, sha)

    code, report = repo.gate()

    assert code == 1
    assert kit.one(report, "gate.rollback.substance")["pointer"] == "/spec/risk"


def test_a_policy_can_ask_for_approvals_of_rollbacks(new_repo: Any, kit: Any) -> None:
    base = new_repo()
    repo = new_repo(
        {
            "policies/change-policy.yaml": base.edit(
                "policies/change-policy.yaml",
                "  rules:",
                "  rules:\n    - {id: rollbacks, match: {rollback: true}, "
                "approvals: [{group: change-managers, count: 1}]}",
            )
        }
    )
    kit.approved_on_main(repo)
    sha = kit.carry_out(repo)
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
    _rolled_back(repo, kit, sha)

    code, report = repo.gate()

    assert code == 1
    assert report["changes"][0]["rules"] == ["rollbacks"]
    assert (
        "rule rollbacks needs 1 more approval"
        in kit.one(report, "gate.approval.missing")["message"]
    )
    # A change manager approves the rollback itself; the change stays rolled back.
    result = repo.approve(kit.CHANGE_ID, "-m", "roll it back", as_="carol")
    assert result.exit_code == 0, result.stderr
    assert "(rolled-back → rolled-back)" in result.stdout
    assert repo.gate()[0] == 0


def test_a_rollback_may_not_undo_another_change_carried_in_the_same_commit(
    repo: Any, kit: Any
) -> None:
    """One commit on main carried out CHG-2026-0042 and CHG-2026-0043, both on app-01:
    rolling back 0042 alone would undo 0043, which nobody asked to roll back."""
    kit.approved_on_main(repo)
    other = "CHG-2026-0043"
    repo.commit("alice", "request", files={f"changes/{other}.yaml": kit.change_yaml(other)})
    assert repo.approve(other, as_="bob").exit_code == 0
    sha = repo.commit(
        "alice",
        f"both\n\nChange-Id: {kit.CHANGE_ID}\nChange-Id: {other}",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            ).replace("cores: 16", "cores: 32")
        },
    )
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
    text = repo.read(kit.CHANGE_PATH).replace(
        "  status: approved", RECORD.format(commits=sha) + "  status: rolled-back"
    )
    repo.commit(
        "alice",
        f"Roll back {kit.CHANGE_ID}\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            "inventory/app-01.yaml": repo.git("show", f"{sha}~1:inventory/app-01.yaml"),
            kit.CHANGE_PATH: text,
        },
    )

    code, report = repo.gate()

    assert code == 1
    assert f"also carried out {other}" in kit.one(report, "gate.rollback.not-a-revert")["message"]
