"""Red team, second round: the rollback exemption, decisions "landed" on the base,
management changes, what `cmdbctl audit` walks, and inputs that crash the gate. The
attacker controls a branch (identities, dates, files, merges, the fork point), has no
approver's key, and approvers approve what they are shown. Each test plays the attack
on a real repository and asserts the SECURE outcome."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

MEMORY = ("memoryMb: 65536", "memoryMb: 131072")
CORES = ("cores: 16", "cores: 64")
PORT = ("port: 5432", "port: 6432")
POLICY = "policies/change-policy.yaml"
OTHER_ID = "CHG-2026-0043"
OTHER_PATH = f"changes/{OTHER_ID}.yaml"
RECORD = (
    "  rollback: {{by: alice, at: 2026-11-22T09:00:00Z, reason: memory errors, "
    "commits: [{commits}]}}\n"
)


def _merge(repo: Any, branch: str) -> str:
    """carol merges `branch` into main with a merge commit; main stays checked out."""
    repo.checkout("main")
    repo.git("merge", "--quiet", "--no-ff", "--no-edit", branch, as_="carol")
    return repo.head()


def _roll_back(repo: Any, kit: Any, commits: str, files: dict[str, str | None]) -> None:
    """alice marks CHG-2026-0042 rolled back, naming `commits`, and writes `files`."""
    text = repo.read(kit.CHANGE_PATH).replace(
        "  status: approved", RECORD.format(commits=commits) + "  status: rolled-back"
    )
    assert "rolled-back" in text
    repo.commit(
        "alice",
        f"Roll back {kit.CHANGE_ID}\n\nChange-Id: {kit.CHANGE_ID}",
        files={**files, kit.CHANGE_PATH: text},
    )


def _audit(repo: Any, now: str = "2027-02-01T00:00:00Z") -> tuple[int, dict[str, Any]]:
    result = repo.cli("audit", "--format", "json", "--now", now, "--jobs", "1")
    assert result.exit_code in (0, 1), result.stderr + result.stdout
    return result.exit_code, json.loads(result.stdout)


# --- 1. the rollback exemption --------------------------------------------------------


@pytest.mark.parametrize(
    ("ci", "edit"),
    [("app-01", CORES), ("shop-db", PORT)],
    ids=["same-ci", "target-the-change-never-touched"],
)
def test_a_rollback_does_not_undo_a_later_approved_change_of_its_targets(
    repo: Any, kit: Any, ci: str, edit: tuple[str, str]
) -> None:
    """On main: CHG-2026-0042 (targets app-01 and shop-db) is approved by bob and carried
    out on app-01 (commit C1). Later CHG-2026-0043, approved by carol, changes `ci`. A
    "rollback" of 0042 puts `ci` back to its content before C1, which also undoes 0043:
    no one approved that, and 0043 stays implemented on the record. (`cmdbctl rollback`
    refuses this very case: "a later change of the same CIs".)"""
    repo.checkout("main")
    repo.commit(
        "alice", "request", files={kit.CHANGE_PATH: kit.change_yaml(targets=("app-01", "shop-db"))}
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    c1 = kit.carry_out(repo)
    path = f"inventory/{ci}.yaml"
    repo.commit(
        "alice", "request 0043", files={OTHER_PATH: kit.change_yaml(OTHER_ID, targets=(ci,))}
    )
    assert repo.approve(OTHER_ID, as_="carol").exit_code == 0
    repo.commit(
        "alice",
        f"do 0043\n\nChange-Id: {OTHER_ID}",
        files={
            path: repo.edit(path, *edit),
            OTHER_PATH: repo.edit(OTHER_PATH, "status: approved", "status: implemented"),
        },
    )
    kit.fork(repo, "main")
    before = {p: repo.git("show", f"{c1}^:{p}") for p in ("inventory/app-01.yaml", path)}
    _roll_back(repo, kit, c1, before)
    assert edit[0] in repo.read(path)  # 0043's work is gone on the branch

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    assert any(f["code"].startswith("gate.rollback") for f in kit.errors(report)), kit.why(report)


def test_a_rollback_naming_a_commit_made_on_an_old_fork_point_reaches_no_further_back(
    repo: Any, kit: Any
) -> None:
    """On main, CHG-2026-0044 (approved by carol) replaces app-01's chassis (its serial);
    then bob approves CHG-2026-0042. alice carries 0042 out in commit X on a branch
    forked from O, a main commit from before 0044, merges main in, and the pull request
    lands as a merge (the gate passes it). A rollback naming X (not the merge that
    brought it, as `cmdbctl rollback` would) returns app-01 to X's first parent, O:
    it also undoes 0044, which nobody rolled back."""
    old = repo.head("main")
    repo.checkout("main")
    serial = ("serial: SN-APP-0001", "serial: SN-APP-0002")
    repo.commit(
        "alice",
        "request 0044",
        files={"changes/CHG-2026-0044.yaml": kit.change_yaml("CHG-2026-0044")},
    )
    assert repo.approve("CHG-2026-0044", as_="carol").exit_code == 0
    repo.commit(
        "alice",
        "new chassis\n\nChange-Id: CHG-2026-0044",
        files={"inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *serial)},
    )
    repo.commit("alice", "request", files={kit.CHANGE_PATH: kit.change_yaml()})
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    kit.fork(repo, old)
    x = kit.carry_out(repo)
    repo.git("merge", "--quiet", "--no-edit", "main")
    assert repo.gate()[0] == 0  # the honest-looking carrying out passes
    _merge(repo, "feature")
    kit.fork(repo, "main")
    _roll_back(
        repo, kit, x, {"inventory/app-01.yaml": repo.git("show", f"{old}:inventory/app-01.yaml")}
    )
    assert serial[0] in repo.read("inventory/app-01.yaml")  # 0044 undone

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    assert any(f["code"].startswith("gate.rollback") for f in kit.errors(report)), kit.why(report)


# --- 2. what the base's tip says of a change ------------------------------------------


def test_a_file_under_changes_that_is_no_document_does_not_hide_a_rejection_on_main(
    repo: Any, kit: Any
) -> None:
    """alice lands `changes/CHG-2026-0042.md`, notes that are no document, so the gate
    checks nothing of them. Later bob approves CHG-2026-0042 on main and carol rejects
    it there. alice forks from bob's approval and carries the change out. The gate
    reads main's version of the change request at the first path under changes/ whose
    name gives the id, of any suffix: the notes, where no rejection is."""
    repo.checkout("main")
    repo.git("checkout", "--quiet", "-b", "notes")
    repo.commit(
        "alice",
        "notes for the memory upgrade",
        files={"changes/CHG-2026-0042.md": "Working notes: which DIMMs to order.\n"},
    )
    assert repo.gate()[0] == 0  # nothing governed: it lands
    _merge(repo, "notes")
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


def test_a_forged_line_in_a_file_under_changes_that_is_no_document_never_counts_as_landed(
    repo: Any, kit: Any
) -> None:
    """The same notes file carries bob's approval line, typed in by alice: once on main,
    decisions at the base's tip count as judged when they landed. The branch then types
    the same line into the change request itself (regression: the line is the branch's
    own, so it is judged, and refused)."""
    line = "    - {by: bob, at: 2026-11-22T09:00:00Z, decision: approve}\n"
    repo.checkout("main")
    repo.git("checkout", "--quiet", "-b", "notes")
    repo.commit(
        "alice",
        "notes",
        files={
            "changes/CHG-2026-0042.md": kit.change_yaml().replace(
                "  status: submitted", "  approvals:\n" + line + "  status: approved"
            )
        },
    )
    _merge(repo, "notes")
    kit.fork(repo, "main")
    repo.commit(
        "alice",
        f"Double memory on app-01\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
            kit.CHANGE_PATH: kit.change_yaml().replace(
                "  status: submitted", "  approvals:\n" + line + "  status: approved"
            ),
        },
    )

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    assert "gate.approval.untrusted" in kit.codes(report, "error")


# --- 3. management changes ------------------------------------------------------------


def test_a_management_approval_on_main_does_not_cover_policy_files_it_does_not_target(
    repo: Any, kit: Any
) -> None:
    """bob approves on main "dave joins team-ops" (targets: team-ops). The branch that
    carries it out also rewrites the ChangePolicy (no approvals, no separation of
    duties). A normal change covers only its targets; a management change covers every
    governance edit of the branch."""
    repo.checkout("main")
    repo.commit(
        "alice",
        "request",
        files={kit.CHANGE_PATH: kit.change_yaml(targets=("team-ops",), category="management")},
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    kit.fork(repo, "main")
    relaxed = (
        repo.read(POLICY)
        .replace("separationOfDuties: true", "separationOfDuties: false")
        .replace("approvals: [{group: change-managers, count: 1}]", "approvals: []")
    )
    repo.commit(
        "alice",
        f"dave joins team-ops\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            "policies/team-ops.yaml": repo.edit(
                "policies/team-ops.yaml",
                "members: [alice, bob, carol]",
                "members: [alice, bob, carol, dave]",
            ),
            POLICY: relaxed,
        },
    )

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    assert any(f["path"] == POLICY for f in kit.errors(report)), kit.why(report)


# --- 4. a CI is its file; what audit walks --------------------------------------------


def test_a_submodule_in_a_document_folder_is_refused(repo: Any, kit: Any, tmp_path: Any) -> None:
    """A submodule under inventory/ brings CIs that `validate` reads in a checkout made
    with --recurse-submodules, and that its upstream can change at will; the gate reads
    only blobs, so the gitlink is no document, no symlink, nothing."""
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    (vendor / "app-09.yaml").write_text(
        repo.read("inventory/app-01.yaml").replace("app-01", "app-09"), encoding="utf-8"
    )
    for args in (("init", "--quiet"), ("add", "-A"), ("commit", "--quiet", "-m", "servers")):
        subprocess.run(
            ["git", *args], cwd=vendor, check=True, env={**os.environ, **kit.identity_env("alice")}
        )
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=vendor, check=True, capture_output=True, text=True
    ).stdout.strip()
    repo.write(
        ".gitmodules", f'[submodule "vendor"]\n\tpath = inventory/vendor\n\turl = {vendor}\n'
    )
    repo.git("add", ".gitmodules")
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{sha},inventory/vendor")
    repo.commit("alice", "vendor-managed servers")

    code, report = repo.gate()

    assert code == 1, kit.why(report)


def test_audit_reports_a_merge_whose_first_parent_is_a_new_root(new_repo: Any, kit: Any) -> None:
    """Pushed to main: R, a parentless commit holding main's files with app-01 changed,
    and M, a merge of R (first parent) and main (second parent) that keeps R's files.
    Main's first-parent line is then M, R: R is taken for the import (the baseline, not
    judged) and M changed nothing against it. Nothing is reported."""
    repo = new_repo()
    repo.checkout("main")
    repo.write("inventory/app-01.yaml", repo.edit("inventory/app-01.yaml", *MEMORY))
    repo.git("add", "inventory/app-01.yaml")
    tree = repo.git("write-tree").strip()
    root = repo.git("commit-tree", tree, "-m", "cmdbctl init").strip()
    merge = repo.git("commit-tree", tree, "-p", root, "-p", "main", "-m", "Merge main").strip()
    repo.git("update-ref", "refs/heads/main", merge)
    assert not repo.git("status", "--porcelain").strip()

    code, report = _audit(repo)

    assert code == 1, report
    # The parentless commit cannot be told from the import: the audit says so.
    assert "audit.history.roots" in {f["code"] for f in report["findings"]}, report


def test_audit_judges_no_commit_as_of_a_date_before_its_parent_landed(
    new_repo: Any, kit: Any
) -> None:
    """During the year-end freeze (main's last commit is dated 2026-12-26), a standard
    change is pushed to main with its committer date set to 2026-12-20, before its own
    parent: the audit judges it as of then, outside the freeze."""
    repo = new_repo()
    repo.checkout("main")
    during = {
        "GIT_AUTHOR_DATE": "2026-12-26T10:00:00Z",
        "GIT_COMMITTER_DATE": "2026-12-26T10:00:00Z",
    }
    repo.write("NOTES.md", "freeze duty: carol\n")
    repo.git("add", "NOTES.md")
    repo.git("commit", "--quiet", "-m", "freeze duty", env=during)
    standard = kit.change_yaml(type_="standard", risk="low", window=None).replace(
        "  category:", "  model: os-patch\n  category:"
    )
    repo.write(kit.CHANGE_PATH, standard)
    repo.write(
        "inventory/app-01.yaml",
        repo.edit("inventory/app-01.yaml", 'version: "12"', 'version: "13"'),
    )
    repo.git("add", kit.CHANGE_PATH, "inventory/app-01.yaml")
    backdated = {
        "GIT_AUTHOR_DATE": "2026-12-20T10:00:00Z",
        "GIT_COMMITTER_DATE": "2026-12-20T10:00:00Z",
    }
    repo.git(
        "commit", "--quiet", "-m", f"patch app-01\n\nChange-Id: {kit.CHANGE_ID}", env=backdated
    )
    pushed = repo.head()

    code, report = _audit(repo)

    verdicts = {c["commit"]: c for c in report["commits"]}
    assert verdicts[pushed]["verdict"] == "refused", verdicts[pushed]
    assert code == 1


# --- 5. crashes -----------------------------------------------------------------------


def _run(repo: Any, kit: Any, *args: str) -> Any:
    """The real CLI in a process of its own (a traceback is what is looked for)."""
    return subprocess.run(
        [sys.executable, "-m", "cmdbctl", *args, "--repo", str(repo.path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **kit.identity_env("alice")},
    )


@pytest.mark.parametrize("date", ["@1700000000 +2400", "@1700000000 -9959"])
def test_a_commit_dated_in_a_time_zone_a_day_or_more_off_is_no_crash(
    repo: Any, kit: Any, date: str
) -> None:
    """git records `GIT_AUTHOR_DATE="@1700000000 +2400"` as it is (and `git fsck --strict`
    accepts it); Python's `timezone()` refuses offsets of 24 hours or more."""
    repo.write("inventory/app-01.yaml", repo.edit("inventory/app-01.yaml", *MEMORY))
    repo.git("add", "inventory/app-01.yaml")
    repo.git("commit", "--quiet", "-m", "edit", env={"GIT_AUTHOR_DATE": date})

    gate = _run(repo, kit, "gate", "--base", "main", "--format", "json", "--now", kit.NOW)

    assert "Traceback" not in gate.stderr, gate.stderr
    assert gate.returncode == 1, gate.stderr


def test_audit_of_a_commit_committed_in_a_time_zone_a_day_off_is_no_crash(
    new_repo: Any, kit: Any
) -> None:
    repo = new_repo()
    repo.checkout("main")
    repo.write("inventory/app-01.yaml", repo.edit("inventory/app-01.yaml", *MEMORY))
    repo.git("add", "inventory/app-01.yaml")
    repo.git("commit", "--quiet", "-m", "edit", env={"GIT_COMMITTER_DATE": "@1700000000 +2400"})

    audit = _run(repo, kit, "audit", "--format", "json", "--now", kit.NOW, "--jobs", "1")

    assert "Traceback" not in audit.stderr, audit.stderr
    assert audit.returncode == 1, audit.stderr


@pytest.mark.parametrize("path", ["changes/CHG-2026-0099.yaml", "inventory/app-01.yaml"])
def test_audit_of_a_gitlink_named_like_a_document_reports_it(
    new_repo: Any, kit: Any, path: str
) -> None:
    """A direct push puts a gitlink (a submodule entry: a commit id, no blob) where a
    document would be."""
    repo = new_repo()
    repo.checkout("main")
    sha = repo.head()
    repo.git("rm", "--quiet", "--cached", "--ignore-unmatch", "--", path)
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{sha},{path}")
    repo.git("commit", "--quiet", "-m", "vendor it")
    repo.git("reset", "--quiet", "--hard")

    audit = _run(repo, kit, "audit", "--format", "json", "--now", kit.NOW, "--jobs", "1")

    assert "Traceback" not in audit.stderr, audit.stderr
    assert audit.returncode == 1, audit.stderr + audit.stdout


# --- attacks that fail: kept as regressions --------------------------------------------


def test_a_change_rolled_back_on_main_cannot_be_rolled_back_again_elsewhere(
    repo: Any, kit: Any
) -> None:
    """CHG-2026-0042 is carried out and rolled back on main. A second "rollback" names
    the same commit and writes app-01 anew: the change is rolled-back at the merge
    base, so this is no rollback, and a rolled-back change covers nothing."""
    kit.approved_on_main(repo)
    c1 = kit.carry_out(repo)
    _roll_back(
        repo, kit, c1, {"inventory/app-01.yaml": repo.git("show", f"{c1}^:inventory/app-01.yaml")}
    )
    kit.fork(repo, "main")
    repo.commit(
        "alice",
        f"again\n\nChange-Id: {kit.CHANGE_ID}",
        files={"inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *CORES)},
    )

    code, report = repo.gate()

    assert code == 1, kit.why(report)
    assert "gate.change.status" in kit.codes(report, "error")


def test_audit_reports_a_branch_pushed_as_the_first_parent_of_mains_merge(
    new_repo: Any, kit: Any
) -> None:
    """Main is moved to a merge whose FIRST parent is an unapproved branch and whose
    second is main: the branch's commits are on main's first-parent line now, each
    judged as a direct push."""
    repo = new_repo()
    repo.git("checkout", "--quiet", "-b", "side", "main")
    side = repo.commit(
        "alice",
        "more memory",
        files={"inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY)},
    )
    repo.checkout("main")
    repo.commit("alice", "notes", files={"NOTES.md": "x\n"})
    repo.checkout("side")
    repo.git("merge", "--quiet", "--no-edit", "main")
    repo.git("branch", "--force", "main", "side")
    repo.checkout("main")

    code, report = _audit(repo)

    assert code == 1
    assert {c["commit"]: c for c in report["commits"]}[side]["verdict"] == "refused"
