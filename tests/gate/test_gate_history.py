"""The gate on real histories: shallow clones, merge commits, squash merges, rebases."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest


def _approved_branch(repo: Any, kit: Any) -> Any:
    """feature: alice requests and edits in three commits, bob approves."""
    repo.commit("alice", "request", files={kit.CHANGE_PATH: kit.change_yaml()})
    repo.commit(
        "alice",
        "memory",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            )
        },
    )
    repo.commit(
        "alice",
        "cores",
        files={
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", "cores: 16", "cores: 32")
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    return repo


def _verdict(report: dict[str, Any]) -> Any:
    return (
        report["summary"]["verdict"],
        sorted(f["code"] for f in report["findings"]),
        [
            (c["id"], c["verdict"], [(a["by"], a["trusted"]) for a in c["approvals"]])
            for c in report["changes"]
        ],
        [(d["path"], d["changes"]) for d in report["changeSet"]],
    )


def _main_moves_on(repo: Any, kit: Any) -> None:
    """carol commits on main something outside this change: a new person."""
    repo.checkout("main")
    repo.commit("carol", "erin joins", files={"policies/erin.yaml": kit.person_yaml("erin")})
    repo.checkout("feature")


@pytest.fixture
def approved(repo: Any, kit: Any) -> Any:
    return _approved_branch(repo, kit)


def _clone(source: Any, target: Path, *args: str) -> Any:
    repo = type(source)(target)
    source.git("clone", "--quiet", *args, f"file://{source.path}", str(target))
    return repo


def test_shallow_clone_is_deepened_and_gives_the_full_clones_verdict(
    approved: Any, kit: Any, tmp_path: Path
) -> None:
    approved.checkout("main")  # the clone's HEAD is main, like a fresh CI checkout
    full = _clone(approved, tmp_path / "full")
    full.checkout("feature")
    shallow = _clone(approved, tmp_path / "shallow", "--depth", "1", "--no-single-branch")
    shallow.checkout("feature")
    assert shallow.git("rev-parse", "--is-shallow-repository").strip() == "true"
    assert shallow.git("merge-base", "origin/main", "HEAD", check=False) == ""

    full_code, full_report = full.gate(base="origin/main")
    code, report = shallow.gate(base="origin/main")

    assert (code, full_code) == (0, 0), report["findings"]
    assert _verdict(report) == _verdict(full_report)
    assert report["mergeBase"] == full_report["mergeBase"]


def test_shallow_clone_verdict_matches_when_refused(
    requested: Any, kit: Any, tmp_path: Path
) -> None:
    requested.commit(
        "alice",
        "more",
        files={
            "inventory/app-01.yaml": requested.edit(
                "inventory/app-01.yaml", "cores: 16", "cores: 32"
            )
        },
    )
    requested.checkout("main")
    full = _clone(requested, tmp_path / "full")
    full.checkout("feature")
    shallow = _clone(requested, tmp_path / "shallow", "--depth", "1", "--no-single-branch")
    shallow.checkout("feature")

    code, report = shallow.gate(base="origin/main")

    assert code == 1
    assert _verdict(report) == _verdict(full.gate(base="origin/main")[1])
    assert "gate.approval.missing" in kit.codes(report)


def test_shallow_clone_without_remote_exits_2_naming_git_fetch(
    approved: Any, tmp_path: Path
) -> None:
    approved.checkout("main")
    shallow = _clone(approved, tmp_path / "shallow", "--depth", "1", "--no-single-branch")
    shallow.checkout("feature")
    shallow.git("remote", "remove", "origin")
    shallow.git("branch", "--quiet", "main-copy", "main")  # origin/main went with the remote

    result = shallow.gate_result(base="main-copy")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "shallow" in result.stderr
    assert "git fetch" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_ff_merge_into_main_keeps_the_verdict(approved: Any, kit: Any) -> None:
    _main_moves_on(approved, kit)
    code, branch_report = approved.gate()
    assert code == 0, branch_report["findings"]
    old_main = approved.head("main")

    approved.checkout("main")
    approved.git("merge", "--quiet", "--no-ff", "--no-edit", "feature", as_="carol")
    assert len(approved.git("log", "-1", "--format=%P").split()) == 2

    code, report = approved.gate(base=old_main)
    assert code == 0, report["findings"]
    assert _verdict(report) == _verdict(branch_report)


def test_squash_merge_of_a_passing_branch(approved: Any, kit: Any) -> None:
    """The gate judges the branch before it is squashed. The squash commit itself is the
    merger's: it no longer shows who added the approval, so re-gating it is refused with
    the approval named untrusted (provenance is gone, not forged)."""
    code, branch_report = approved.gate()
    assert code == 0, branch_report["findings"]
    old_main = approved.head("main")

    approved.checkout("main")
    approved.git("merge", "--quiet", "--squash", "feature", as_="alice")
    approved.commit("alice", f"Double memory on app-01 (#1)\n\nChange-Id: {kit.CHANGE_ID}")
    assert approved.git("diff", "--stat", "main", "feature") == ""

    code, report = approved.gate(base=old_main)
    assert code == 1
    assert "added by alice@example.com" in kit.one(report, "gate.approval.untrusted")["message"]
    # The branch, still there, is judged as before.
    approved.checkout("feature")
    code, report = approved.gate(base=old_main)
    assert code == 0 and _verdict(report) == _verdict(branch_report)


def test_rebased_branch_approved_after_the_rebase_passes(repo: Any, kit: Any) -> None:
    repo.commit(
        "alice",
        "request",
        files={
            kit.CHANGE_PATH: kit.change_yaml(),
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            ),
        },
    )
    _main_moves_on(repo, kit)
    repo.git("rebase", "--quiet", "main", as_="alice")
    assert repo.git("merge-base", "main", "feature").strip() == repo.head("main")
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0

    code, report = repo.gate()

    assert code == 0, report["findings"]
    # main's own commit is not part of the branch's change set.
    assert [d["path"] for d in report["changeSet"]] == [
        "changes/CHG-2026-0042.yaml",
        "inventory/app-01.yaml",
    ]


def test_rebase_by_the_requester_invalidates_approvals_it_rewrote(approved: Any, kit: Any) -> None:
    """After alice rebases, bob's approval commit is committed by alice: it is no longer
    proof that bob added it."""
    _main_moves_on(approved, kit)
    approved.git("rebase", "--quiet", "main", as_="alice")
    assert approved.git("log", "-1", "--format=%ae %ce").split() == [
        "bob@example.com",
        "alice@example.com",
    ]

    code, report = approved.gate()

    assert code == 1
    assert "not by bob (bob@example.com)" in kit.one(report, "gate.approval.untrusted")["message"]
    assert "gate.approval.missing" in kit.codes(report)


def test_rebase_by_the_approver_makes_him_an_author(approved: Any, kit: Any) -> None:
    """bob becomes the committer of alice's commits: he wrote them into this history, so
    he is an author of the change and his approval no longer counts (separation of
    duties covers committers)."""
    _main_moves_on(approved, kit)
    approved.git("rebase", "--quiet", "main", as_="bob")

    code, report = approved.gate()

    assert code == 1
    assert (
        "bob authored commits of the change"
        in kit.one(report, "gate.approval.untrusted")["message"]
    )
    assert report["mergeBase"] == approved.head("main")


def test_branch_that_merges_main_midway_still_passes(approved: Any, kit: Any) -> None:
    _main_moves_on(approved, kit)
    approved.git("merge", "--quiet", "--no-edit", "main", as_="alice")
    assert len(approved.git("log", "-1", "--format=%P").split()) == 2

    code, report = approved.gate()

    assert code == 0, report["findings"]
    assert report["mergeBase"] == approved.head("main")
    # erin arrived through main: she is not this branch's policy edit.
    assert "gate.governance-edit" not in kit.codes(report)
    assert [d["path"] for d in report["changeSet"]] == [
        "changes/CHG-2026-0042.yaml",
        "inventory/app-01.yaml",
    ]


def test_merge_of_main_after_main_moved_again_keeps_approvals_fresh(
    approved: Any, kit: Any
) -> None:
    """main keeps moving after the merge: the merge commit stays in the range (it is not
    an ancestor of main) and must neither count as authorship nor make bob's approval
    stale."""
    _main_moves_on(approved, kit)
    approved.git("merge", "--quiet", "--no-edit", "main", as_="alice")
    approved.checkout("main")
    approved.commit("carol", "frank joins", files={"policies/frank.yaml": kit.person_yaml("frank")})
    approved.checkout("feature")

    code, report = approved.gate()

    assert code == 0, report["findings"]
    assert report["changes"][0]["approvals"][0]["stale"] is False


def test_gate_reads_git_objects_not_the_work_tree(requested: Any, kit: Any) -> None:
    code, committed = requested.gate()
    assert code == 1
    # An uncommitted approval line and an uncommitted CI edit change nothing.
    requested.write(
        kit.CHANGE_PATH,
        requested.read(kit.CHANGE_PATH).replace(
            "  status: submitted",
            "  approvals:\n    - {by: bob, at: 2026-11-22T09:00:00Z, decision: approve}\n"
            "  status: submitted",
        ),
    )
    requested.write("inventory/shop-db.yaml", "not: [valid\n")

    code, report = requested.gate()
    assert code == 1
    assert _verdict(report) == _verdict(committed)

    # From main, --head names the branch.
    requested.git("stash", "--quiet", "--include-untracked")
    requested.checkout("main")
    code, report = requested.gate("--head", "feature")
    assert code == 1
    assert _verdict(report) == _verdict(committed)


def test_a_squash_commit_judged_as_recorded_counts_its_approvals_with_a_warning(
    approved: Any, kit: Any
) -> None:
    """What `audit` asks of a squash commit on main: its decisions lost their own commits,
    so they count as recorded, each said to have no provenance in history."""
    from cmdbctl.gate import run_gate

    old_main = approved.head("main")
    approved.checkout("main")
    approved.git("merge", "--quiet", "--squash", "feature", as_="alice")
    approved.commit("alice", f"Double memory on app-01 (#1)\n\nChange-Id: {kit.CHANGE_ID}")
    now = datetime.fromisoformat(kit.NOW)

    strict = run_gate(approved.path, old_main, "main", now)
    recorded = run_gate(approved.path, old_main, "main", now, recorded=True)

    assert strict.summary["verdict"] == "refused"
    assert recorded.summary["verdict"] == "passed", recorded.findings
    [unproven] = [f for f in recorded.findings if f.code == "gate.approval.unproven"]
    assert unproven.severity == "warning" and "added by alice@example.com" in unproven.message
