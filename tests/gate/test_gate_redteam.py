"""Red team: attacks on the merge gate by someone who controls a branch, no approver's
key, and approvers who approve what they are shown. Each test plays the attack on a real
repository and asserts the SECURE outcome: a refusal (exit 1) naming the problem."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

MEMORY = ("memoryMb: 65536", "memoryMb: 131072")
POLICY = "policies/change-policy.yaml"


def _relaxed_policy(repo: Any) -> str:
    """The scaffold's ChangePolicy with separation of duties off and no approvals."""
    return (
        repo.read(POLICY)
        .replace("separationOfDuties: true", "separationOfDuties: false")
        .replace("approvals: [{group: change-managers, count: 1}]", "approvals: []")
    )


def _merge_into_main(repo: Any) -> None:
    """The pull request is merged (a merge commit by carol); feature follows main."""
    repo.checkout("main")
    repo.git("merge", "--quiet", "--no-ff", "--no-edit", "feature", as_="carol")
    repo.checkout("feature")
    repo.git("merge", "--quiet", "--ff-only", "main")


# --- governance: a management approval is for what the approver saw -------------------


def test_a_governance_edit_made_after_the_management_approval_is_not_covered(
    repo: Any, kit: Any
) -> None:
    """bob approves "dave joins team-ops"; afterwards alice also relaxes the ChangePolicy
    in the same branch. The policy file is no target of the management change, so the
    approval is not stale, and any passing management change covers every governance
    edit of the branch."""
    repo.commit(
        "alice",
        "dave joins team-ops",
        files={
            "policies/team-ops.yaml": repo.edit(
                "policies/team-ops.yaml",
                "members: [alice, bob, carol]",
                "members: [alice, bob, carol, dave]",
            ),
            kit.CHANGE_PATH: kit.change_yaml(targets=("team-ops",), category="management"),
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    assert repo.gate()[0] == 0  # what bob saw passes
    repo.commit("alice", "tidy the policy", files={POLICY: _relaxed_policy(repo)})

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    assert any(POLICY in f["path"] or POLICY in f["message"] for f in kit.errors(report)), report[
        "findings"
    ]


def test_an_old_management_change_named_by_a_trailer_does_not_cover_new_governance_edits(
    repo: Any, kit: Any
) -> None:
    """A management change approved and implemented on main long ago; the branch names
    it in a Change-Id: trailer of a commit that rewrites the ChangePolicy. Its targets
    are not edited again, so the carried-out check never fires."""
    repo.checkout("main")
    repo.commit(
        "alice",
        "request",
        files={kit.CHANGE_PATH: kit.change_yaml(targets=("team-ops",), category="management")},
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    repo.commit(
        "alice",
        f"dave joins team-ops\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            "policies/team-ops.yaml": repo.edit(
                "policies/team-ops.yaml",
                "members: [alice, bob, carol]",
                "members: [alice, bob, carol, dave]",
            ),
            kit.CHANGE_PATH: repo.edit(kit.CHANGE_PATH, "status: approved", "status: implemented"),
        },
    )
    kit.fork(repo, "main")
    repo.commit(
        "alice",
        f"tidy the policy\n\nChange-Id: {kit.CHANGE_ID}",
        files={POLICY: _relaxed_policy(repo)},
    )

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    assert "gate.governance-edit" in kit.codes(report) or "gate.approval.stale" in kit.codes(report)


def test_schemas_the_branch_edits_do_not_judge_the_branchs_other_changes(
    repo: Any, kit: Any
) -> None:
    """Rules come from the base so that a branch is not judged by its own governance
    edit; the schemas (which say what a Service is and which fields are dependencies)
    come from the head. bob approves a management change that reclassifies Service as
    `other` (for the future) and a normal change to app-01 planned for a Monday noon:
    with no affected service at the head's schemas, no maintenance window applies."""
    from cmdbctl.kinds import builtin_schema_files

    schemas = {f"schemas/{name}": text.decode() for name, text in builtin_schema_files().items()}
    schemas["schemas/service.schema.json"] = schemas["schemas/service.schema.json"].replace(
        '"x-cmdb-class": "service"', '"x-cmdb-class": "other"'
    )
    repo.commit(
        "alice",
        "services are just CIs",
        files={
            **schemas,
            "changes/CHG-2026-0041.yaml": kit.change_yaml(
                "CHG-2026-0041", targets=("shop",), category="management"
            ),
        },
    )
    repo.commit(
        "alice",
        "Double memory on app-01, Monday noon",
        files={
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
            kit.CHANGE_PATH: kit.change_yaml(
                window=("2026-11-23T12:00:00Z", "2026-11-23T13:00:00Z")
            ),
        },
    )
    assert repo.approve("CHG-2026-0041", as_="bob").exit_code == 0
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    assert "gate.window.outside" in kit.codes(report, "error")


# --- an approval is spent once its change has landed ---------------------------------


@pytest.mark.parametrize(
    "trailer",
    ["", "\n\nchange-id: CHG-2026-0042", "\n\nChange-Id:CHG-2026-0042"],
    ids=["no-trailer", "lower-case-key", "no-space"],
)
def test_an_approval_whose_change_landed_does_not_cover_new_edits_of_its_targets(
    repo: Any, kit: Any, trailer: str
) -> None:
    """The honest pull request (request, edit and bob's approval on the branch) is merged
    with status approved. Its carrying-out commit has no `Change-Id: CHG-...` text that
    `git log --grep` finds (none, or one the gate's own trailer parser reads), so the
    base shows no sign it was carried out: a later branch naming the change reuses
    bob's approval for edits he never saw."""
    repo.commit(
        "alice",
        "Double memory on app-01" + trailer,
        files={
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
            kit.CHANGE_PATH: kit.change_yaml(),
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    assert repo.gate()[0] == 0
    _merge_into_main(repo)
    repo.commit(
        "alice",
        f"and 64 cores, and another rack\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", "cores: 16", "cores: 64")
        },
    )

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    # It approved edits already made when it was given (the landed pull request's).
    assert "it approved edits already made" in kit.one(report, "gate.approval.stale")["message"]


# --- the base's decisions are the base tip's, not the fork point's --------------------


def test_forking_from_before_a_rejection_on_main_does_not_escape_it(repo: Any, kit: Any) -> None:
    """bob approves on main, then carol rejects there. The branch forks from bob's
    approval commit (reachable from main) and carries the change out, never touching
    the change request: the merge keeps main's rejected version, the gate never looks
    at it."""
    kit.approved_on_main(repo)
    approved = repo.head()
    assert (
        repo.approve(kit.CHANGE_ID, "--reject", "-m", "not this month", as_="carol").exit_code == 0
    )
    kit.fork(repo, approved)
    kit.carry_out(repo)

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    assert "rejected by carol" in kit.one(report, "gate.change.rejected")["message"]


def test_a_change_request_moved_and_rescoped_on_main_is_read_where_main_keeps_it(
    repo: Any, kit: Any
) -> None:
    """bob approves on main; later main files the change under changes/2026/ and raises
    its risk to high (two change managers and an owner). The branch forks from before
    and carries the plan out: the base tip's version is read at the branch's path,
    where main has nothing, so the re-scoping is never seen."""
    kit.approved_on_main(repo)
    approved = repo.head()
    (repo.path / "changes" / "2026").mkdir()
    repo.git("mv", kit.CHANGE_PATH, f"changes/2026/{kit.CHANGE_ID}.yaml", as_="carol")
    moved = repo.read(f"changes/2026/{kit.CHANGE_ID}.yaml").replace("risk: medium", "risk: high")
    repo.commit(
        "carol",
        "file 2026 changes; CHG-2026-0042 is high risk after all",
        files={f"changes/2026/{kit.CHANGE_ID}.yaml": moved},
    )
    kit.fork(repo, approved)
    kit.carry_out(repo)

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    assert "stale" in kit.one(report, "gate.approval.stale")["message"]


# --- what the approver saw: every target file, whatever its name ----------------------


def test_a_target_filed_under_a_folder_name_with_a_newline_is_still_compared(
    repo: Any, kit: Any
) -> None:
    """alice files app-01 under a folder whose name holds a newline, bob approves, then
    alice edits it further. `gitio.tree_blobs_of` leaves such paths out, so the target
    never "differs" between bob's commit and the head."""
    odd = "inventory/odd\nfolder/app-01.yaml"
    original = repo.read("inventory/app-01.yaml")
    repo.commit(
        "alice",
        "Double memory on app-01",
        files={
            "inventory/app-01.yaml": None,
            odd: original.replace(*MEMORY),
            kit.CHANGE_PATH: kit.change_yaml(),
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    repo.commit(
        "alice",
        "and more",
        files={
            odd: original.replace("memoryMb: 65536", "memoryMb: 4194304").replace(
                "cores: 16", "cores: 128"
            )
        },
    )

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    assert (
        "its targets changed after it was given"
        in kit.one(report, "gate.approval.stale")["message"]
    )


def test_a_rejection_of_a_change_request_under_a_folder_name_with_a_newline_is_seen(
    repo: Any, kit: Any
) -> None:
    """A standard change filed under a folder whose name holds a newline: carol (a change
    manager) rejects it with `cmdbctl approve --reject`, alice sets it back to submitted.
    Every `<rev>:<path>` read of it through the one `git cat-file --batch` process is two
    requests: the gate sees no version of it in history, so neither the rejection nor
    the rejected -> submitted step."""
    odd = f"changes/odd\nfolder/{kit.CHANGE_ID}.yaml"
    repo.commit(
        "alice",
        "patch app-01",
        files={
            odd: kit.change_yaml(type_="standard", risk="low").replace(
                "  category:", "  model: os-patch\n  category:"
            ),
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", 'version: "12"', 'version: "13"'
            ),
        },
    )
    assert repo.approve(kit.CHANGE_ID, "--reject", "-m", "not now", as_="carol").exit_code == 0
    repo.commit(
        "alice", "resubmit", files={odd: repo.edit(odd, "status: rejected", "status: submitted")}
    )

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    assert "rejected by carol" in kit.one(report, "gate.change.rejected")["message"]


def test_a_large_change_request_beside_one_under_a_newline_folder_does_not_hang_the_gate(
    repo: Any, kit: Any
) -> None:
    """After a read of the newline path the reader is one answer behind; at the end the
    last answer is left unread in the pipe, and when it is larger than the pipe's buffer
    `BlobReader.close()` waits for ever for a `git cat-file` blocked writing it."""
    big = kit.change_yaml().replace("  reason:", "  description: " + "x" * 200_000 + "\n  reason:")
    repo.commit(
        "alice",
        "Double memory on app-01",
        files={
            kit.CHANGE_PATH: big,
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    std = kit.change_yaml(
        "CHG-2026-0007", type_="standard", risk="low", targets=("shop-db",)
    ).replace("  category:", "  model: os-patch\n  category:")
    repo.commit("alice", "a standard change", files={"changes/odd\nfolder/CHG-2026-0007.yaml": std})

    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "cmdbctl",
                "gate",
                "--base",
                "main",
                "--format",
                "json",
                "--now",
                kit.NOW,
                "--repo",
                str(repo.path),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, **kit.identity_env("alice")},
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the gate hangs (still running after 30 s)")
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_change_request_under_a_folder_name_that_is_not_utf8_is_a_finding_not_a_crash(
    repo: Any, kit: Any
) -> None:
    """A folder name byte that is no UTF-8 (0xff): paths are decoded with surrogateescape,
    but `BlobReader.read_optional` encodes `<rev>:<path>` strictly."""
    repo.commit(
        "alice",
        "Double memory on app-01",
        files={
            f"changes/\udcff/{kit.CHANGE_ID}.yaml": kit.change_yaml(),
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
        },
    )

    result = repo.gate_result()  # the kit fails on a traceback in stderr

    assert result.exit_code == 1, result.stderr


# --- criss-cross: which merge base? ---------------------------------------------------


def test_a_criss_cross_merge_cannot_hide_a_revert_of_mains_work(repo: Any, kit: Any) -> None:
    """The branch (F1) merges main's M1 (an approved change, squash-merged by carol)
    while main merges F1: two merge bases, F1 and M1. The branch then reverts M1's
    files. `git merge-base` gives F1, against which nothing changed; the real merge
    (virtual base holding M1) reverts M1 on main."""
    late = {"GIT_COMMITTER_DATE": "2030-01-01T00:00:00Z", "GIT_AUTHOR_DATE": "2030-01-01T00:00:00Z"}
    fork = repo.head()
    repo.write("notes.txt", "F1\n")
    repo.git("add", "notes.txt")
    repo.git("commit", "--quiet", "-m", "F1: notes", env=late)
    f1 = repo.head()
    repo.checkout("main")
    approved_change = kit.change_yaml(
        approvals=[{"by": "bob", "at": "2026-11-22T09:00:00Z", "decision": "approve"}],
        status="approved",
    )
    m1 = repo.commit(
        "carol",
        "Double memory on app-01 (#1)",
        files={
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
            kit.CHANGE_PATH: approved_change,
        },
    )
    repo.git("merge", "--quiet", "--no-ff", "--no-edit", f1, as_="carol")  # main: M2
    repo.checkout("feature")
    repo.git("merge", "--quiet", "--no-ff", "--no-edit", m1)  # feature: F2
    bases = set(repo.git("merge-base", "--all", "main", "HEAD").split())
    assert bases == {f1, m1}, (bases, fork)
    repo.commit(
        "alice",
        "undo",
        files={
            "inventory/app-01.yaml": repo.git("show", f"{fork}:inventory/app-01.yaml"),
            kit.CHANGE_PATH: None,
        },
    )
    repo.git("checkout", "--quiet", "-b", "probe", "main")  # what the merge would do
    repo.git("merge", "--quiet", "--no-edit", "feature", as_="carol")
    assert MEMORY[0] in repo.read("inventory/app-01.yaml")
    assert not (repo.path / kit.CHANGE_PATH).exists()
    repo.checkout("feature")

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    # What merging would do to main: app-01 back to 65536, the change record gone.
    # Which of the merge bases git picks is the attacker's to choose: no verdict from one.
    assert "gate.history.criss-cross" in kit.codes(report, "error"), report["findings"]


# --- reviews are records, also on their way to main -----------------------------------

REVIEW_WINDOW = ("2026-11-21T22:30:00Z", "2026-11-21T23:30:00Z")  # a Saturday before NOW


def _forge_review(repo: Any, kit: Any) -> None:
    repo.commit(
        "alice",
        "reviewed",
        files={
            kit.CHANGE_PATH: repo.edit(
                kit.CHANGE_PATH,
                "  status: implemented",
                "  review: {by: bob, at: 2026-11-23T10:00:00Z, outcome: successful, notes: fine}\n"
                "  status: reviewed",
            )
        },
    )


def test_a_forged_review_may_not_land_while_the_review_is_not_yet_due(repo: Any, kit: Any) -> None:
    """Before the review falls due a forged review is only a warning, so it can land;
    on the base it is then `landed` and taken as bob's own."""
    kit.implemented_emergency(repo, REVIEW_WINDOW)
    _forge_review(repo, kit)

    code, report = repo.gate(now="2026-11-23T10:00:00Z")

    assert code == 1, kit.why(report)
    assert "gate.review.untrusted" in kit.codes(report, "error")


def test_a_forged_review_that_landed_does_not_count_once_the_review_is_due(
    repo: Any, kit: Any
) -> None:
    kit.implemented_emergency(repo, REVIEW_WINDOW)
    _forge_review(repo, kit)
    if repo.gate(now="2026-11-23T10:00:00Z")[0] == 0:  # the gate let it land
        _merge_into_main(repo)
    else:
        return  # refused on its way in: nothing lands
    repo.commit(
        "alice",
        f"close it\n\nChange-Id: {kit.CHANGE_ID}",
        files={kit.CHANGE_PATH: repo.edit(kit.CHANGE_PATH, "status: reviewed", "status: closed")},
    )

    code, report = repo.gate(now="2026-11-30T10:00:00Z")

    assert code == 1, kit.why(report)
    assert "gate.review.overdue" in kit.codes(report)


def test_a_review_cannot_be_put_off_by_dating_the_implementing_commit_in_the_future(
    repo: Any, kit: Any
) -> None:
    """An emergency change without a window falls due `reviewWithin` after the commit
    that set it implemented, by that commit's AUTHOR date, which its author chooses."""
    repo.checkout("main")
    repo.commit(
        "alice",
        "emergency",
        files={kit.CHANGE_PATH: kit.change_yaml(type_="emergency", window=None)},
    )
    assert repo.approve(kit.CHANGE_ID, as_="carol").exit_code == 0
    kit.fork(repo, "main")
    repo.write("inventory/app-01.yaml", repo.edit("inventory/app-01.yaml", *MEMORY))
    repo.write(
        kit.CHANGE_PATH, repo.edit(kit.CHANGE_PATH, "status: approved", "status: implemented")
    )
    repo.git("add", "inventory/app-01.yaml", kit.CHANGE_PATH)
    repo.git(
        "commit",
        "--quiet",
        "-m",
        f"done\n\nChange-Id: {kit.CHANGE_ID}",
        env={
            "GIT_AUTHOR_DATE": "2099-01-01T00:00:00Z",
            "GIT_COMMITTER_DATE": "2026-11-20T10:00:00Z",
        },
    )

    code, report = repo.gate(now="2026-12-30T10:00:00Z")

    assert code == 1, kit.why(report)
    # A date from the future is refused: it would put the review off at will.
    assert "gate.review.clock" in kit.codes(report, "error")


# --- attacks that fail: kept as regressions --------------------------------------------


def test_moving_a_rejected_change_request_to_another_folder_does_not_drop_the_rejection(
    repo: Any, kit: Any
) -> None:
    """carol's rejection is on main; the branch moves the change request to changes/2026/
    (so the base is read at a path where it has nothing), drops her line and resubmits."""
    repo.checkout("main")
    repo.commit("alice", "request", files={kit.CHANGE_PATH: kit.change_yaml()})
    assert repo.approve(kit.CHANGE_ID, "--reject", "-m", "no", as_="carol").exit_code == 0
    kit.fork(repo, "main")
    repo.commit(
        "alice",
        f"try again\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            kit.CHANGE_PATH: None,
            f"changes/2026/{kit.CHANGE_ID}.yaml": kit.change_yaml(),
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    assert {"gate.approval.removed", "gate.change.transition"} <= kit.codes(report, "error")


def test_bobs_genuine_line_copied_into_a_wider_version_is_stale(repo: Any, kit: Any) -> None:
    """bob approves app-01 alone on a side branch; alice copies his line, key and all,
    into a version that also targets shop-db and merges his commit in for provenance."""
    repo.branch("narrow")
    repo.commit(
        "alice",
        "narrow",
        files={
            kit.CHANGE_PATH: kit.change_yaml(),
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    line = next(x for x in repo.read(kit.CHANGE_PATH).splitlines(keepends=True) if "by: bob" in x)
    repo.checkout("feature")
    repo.git("merge", "--quiet", "--no-edit", "narrow")
    wide = kit.change_yaml(targets=("app-01", "shop-db")).replace(
        "  status: submitted", "  approvals:\n" + line + "  status: approved"
    )
    repo.commit(
        "alice",
        "and the database",
        files={
            kit.CHANGE_PATH: wide,
            "inventory/shop-db.yaml": repo.edit(
                "inventory/shop-db.yaml", "port: 5432", "port: 6432"
            ),
        },
    )

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    assert (
        "the change request changed after it was given"
        in kit.one(report, "gate.approval.stale")["message"]
    )
