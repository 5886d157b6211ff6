"""The gate against a branch its attacker controls: any author and committer, any YAML,
crafted merges (evil, octopus, `-s ours`), odd file names, symlinks and control bytes
in commit data, but no approver's key. Each attack is played on a real repository and
must end in a refusal that names what happened."""

from __future__ import annotations

import os
from typing import Any

MEMORY = ("memoryMb: 65536", "memoryMb: 131072")


def _approved(requested: Any, kit: Any) -> Any:
    """alice's CHG-2026-0042 (app-01's memory doubled) approved by bob: it passes."""
    assert requested.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    code, report = requested.gate()
    assert code == 0, report["findings"]
    return requested


def _side(
    repo: Any, name: str, start: str, files: dict[str, str | None], as_: str = "alice"
) -> str:
    """A branch `name` from `start` with one commit of `files`; back on feature after."""
    repo.branch(name, start)
    sha = repo.commit(as_, f"work on {name}", files=files)
    repo.checkout("feature")
    return str(sha)


# --- 1. approvals are of what the approver saw ----------------------------------------


def test_evil_merge_after_the_approval_makes_it_stale(requested: Any, kit: Any) -> None:
    repo = _approved(requested, kit)
    _side(repo, "side", "HEAD~1", {"notes.txt": "unrelated\n"})
    repo.git("merge", "--no-ff", "--no-commit", "side")
    repo.write(
        "inventory/app-01.yaml", repo.edit("inventory/app-01.yaml", MEMORY[1], "memoryMb: 262144")
    )
    repo.git("add", "inventory/app-01.yaml")
    repo.git("commit", "--quiet", "--no-edit")
    assert len(repo.git("log", "-1", "--format=%P").split()) == 2

    code, report = repo.gate()

    assert code == 1
    stale = kit.one(report, "gate.approval.stale")
    assert "its targets changed after it was given" in stale["message"]
    assert "inventory/app-01.yaml" in stale["message"]


def test_octopus_merge_that_edits_the_change_request_makes_approvals_stale(
    requested: Any, kit: Any
) -> None:
    repo = _approved(requested, kit)
    _side(repo, "one", "HEAD~1", {"notes-1.txt": "one\n"})
    _side(repo, "two", "HEAD~1", {"notes-2.txt": "two\n"})
    repo.git("merge", "--no-ff", "--no-commit", "one", "two")
    repo.write(
        kit.CHANGE_PATH,
        repo.edit(kit.CHANGE_PATH, "    - add DIMMs", "    - add DIMMs\n    - reflash the BIOS"),
    )
    repo.git("add", kit.CHANGE_PATH)
    repo.git("commit", "--quiet", "--no-edit")
    assert len(repo.git("log", "-1", "--format=%P").split()) == 3

    code, report = repo.gate()

    assert code == 1
    assert (
        "the change request changed after it was given"
        in kit.one(report, "gate.approval.stale")["message"]
    )


def test_narrowed_for_review_then_widened_by_an_ours_merge_is_stale(repo: Any, kit: Any) -> None:
    """Ask for app-01 alone, get it approved, then merge the wide version (app-01 and
    shop-db) back with `-s ours`, the approval line copied into the merge."""
    wide = kit.change_yaml(targets=("app-01", "shop-db"))
    _side(
        repo,
        "wide",
        "main",
        {
            kit.CHANGE_PATH: wide,
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
            "inventory/shop-db.yaml": repo.edit(
                "inventory/shop-db.yaml", 'version: "16"', 'version: "17"'
            ),
        },
    )
    repo.commit(
        "alice",
        "narrow",
        files={
            kit.CHANGE_PATH: kit.change_yaml(),
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    approval = next(
        line for line in repo.read(kit.CHANGE_PATH).splitlines(keepends=True) if "by: bob" in line
    )
    approved = repo.head()
    repo.checkout("wide")
    repo.git("merge", "--quiet", "-s", "ours", "--no-commit", approved)
    repo.write(
        kit.CHANGE_PATH,
        wide.replace("  status: submitted", "  approvals:\n" + approval + "  status: approved"),
    )
    repo.git("add", kit.CHANGE_PATH)
    repo.git("commit", "--quiet", "--no-edit")
    repo.git("branch", "--force", "feature", "wide")
    repo.checkout("feature")

    code, report = repo.gate()

    assert code == 1
    stale = kit.one(report, "gate.approval.stale")
    assert "the change request changed after it was given" in stale["message"]
    assert {f["path"] for f in kit.findings(report, "gate.not-approved")} == {
        "inventory/app-01.yaml",
        "inventory/shop-db.yaml",
    }


# --- 2. rejections are never lost -----------------------------------------------------


def test_rejection_hidden_by_an_ours_merge_still_refuses(requested: Any, kit: Any) -> None:
    repo = requested
    repo.branch("side")
    assert repo.approve(kit.CHANGE_ID, "--reject", "-m", "no", as_="bob").exit_code == 0
    repo.checkout("feature")
    assert repo.approve(kit.CHANGE_ID, as_="carol").exit_code == 0
    repo.git("merge", "--quiet", "-s", "ours", "--no-edit", "side")
    assert "reject" not in repo.read(kit.CHANGE_PATH)

    code, report = repo.gate()

    assert code == 1
    assert "rejected by bob" in kit.one(report, "gate.change.rejected")["message"]


# --- 4. a CI is its file, one file per id ---------------------------------------------


def test_a_file_claiming_an_approved_targets_id_is_refused(requested: Any, kit: Any) -> None:
    repo = _approved(requested, kit)
    repo.commit(
        "alice",
        "tune the database",
        files={
            "inventory/shop-db.yaml": repo.edit(
                "inventory/shop-db.yaml", "id: shop-db", "id: app-01"
            ).replace("port: 5432", "port: 6432")
        },
    )

    code, report = repo.gate()

    assert code == 1
    claim = kit.one(report, "id.file-name")
    assert claim["path"] == "inventory/shop-db.yaml" and claim["pointer"] == "/metadata/id"
    assert (
        "shop-db is modified but no change request" in kit.one(report, "gate.uncovered")["message"]
    )


def test_a_second_file_for_an_approved_id_is_refused(requested: Any, kit: Any) -> None:
    repo = _approved(requested, kit)
    repo.commit(
        "alice",
        "a twin",
        files={
            "inventory/extra/app-01.yml": repo.edit(
                "inventory/app-01.yaml", MEMORY[1], "memoryMb: 1024"
            )
        },
    )

    code, report = repo.gate()

    assert code == 1
    # Both files are changed on the branch; each is named with the other.
    assert {(f["path"], f["message"]) for f in kit.findings(report, "id.duplicate")} == {
        ("inventory/extra/app-01.yml", "app-01 is also inventory/app-01.yaml; one file per id"),
        ("inventory/app-01.yaml", "app-01 is also inventory/extra/app-01.yml; one file per id"),
    }
    assert "inventory/extra/app-01.yml" in kit.one(report, "gate.approval.stale")["message"]


def test_a_rejected_change_reopened_under_a_second_file_is_refused(repo: Any, kit: Any) -> None:
    repo.checkout("main")
    repo.commit("alice", "request", files={kit.CHANGE_PATH: kit.change_yaml()})
    assert repo.approve(kit.CHANGE_ID, "--reject", as_="bob").exit_code == 0
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
    repo.commit(
        "alice",
        "try again",
        files={
            f"changes/2026/{kit.CHANGE_ID}.yaml": kit.change_yaml(),
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", *MEMORY),
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="carol").exit_code in (0, 2)

    code, report = repo.gate()

    assert code == 1
    assert kit.one(report, "id.duplicate")["path"] == f"changes/2026/{kit.CHANGE_ID}.yaml"


# --- 5. separation of duties covers committers ----------------------------------------


def test_an_approver_who_committed_the_content_under_another_name_is_an_author(
    repo: Any, kit: Any
) -> None:
    repo.commit("alice", "request", files={kit.CHANGE_PATH: kit.change_yaml()})
    repo.write("inventory/app-01.yaml", repo.edit("inventory/app-01.yaml", *MEMORY))
    repo.git("add", "inventory/app-01.yaml")
    repo.git(
        "commit",
        "--quiet",
        "-m",
        "memory",
        as_="bob",
        env={"GIT_AUTHOR_NAME": "Alice Example", "GIT_AUTHOR_EMAIL": kit.email("alice")},
    )
    assert repo.git("log", "-1", "--format=%ae %ce").split() == [
        kit.email("alice"),
        kit.email("bob"),
    ]
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code in (0, 2)
    repo.commit(
        "bob",
        f"Approve {kit.CHANGE_ID}",
        files={
            kit.CHANGE_PATH: repo.edit(
                kit.CHANGE_PATH,
                "  status: submitted",
                "  approvals:\n    - {by: bob, at: 2026-11-22T09:00:00Z,"
                " decision: approve}\n  status: submitted",
            )
        },
    ) if "by: bob" not in repo.read(kit.CHANGE_PATH) else None

    code, report = repo.gate()

    assert code == 1
    assert (
        "bob authored commits of the change"
        in kit.one(report, "gate.approval.untrusted")["message"]
    )


# --- 6. git output is parsed, never split on bytes commit data may hold ---------------


def test_control_bytes_and_a_forged_log_record_in_commit_data_are_data(repo: Any, kit: Any) -> None:
    fake = "f" * 40
    message = (
        f"Double memory\x1e{fake}\x1f\x1fMallory\x1fbob@example.com\x1f\x1f\n\n"
        f"body \x1f with \x1e separators\n\nChange-Id: {kit.CHANGE_ID}\n"
    )
    repo.write(kit.CHANGE_PATH, kit.change_yaml())
    repo.write("inventory/app-01.yaml", repo.edit("inventory/app-01.yaml", *MEMORY))
    repo.git("add", "-A")
    repo.git(
        "commit",
        "--quiet",
        "-m",
        message,
        env={"GIT_AUTHOR_NAME": "Al\x1fice\x1e", "GIT_AUTHOR_EMAIL": kit.email("alice")},
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0

    code, report = repo.gate()

    assert code == 0, report["findings"]
    assert [a["trusted"] for a in report["changes"][0]["approvals"]] == [True]


# --- 7. symlinked documents -----------------------------------------------------------


def test_a_symlinked_document_edited_through_its_target_is_refused(repo: Any, kit: Any) -> None:
    repo.checkout("main")
    repo.write(
        "notes/app-02.yaml", repo.read("inventory/app-01.yaml").replace("id: app-01", "id: app-02")
    )
    os.symlink("../notes/app-02.yaml", repo.path / "inventory" / "app-02.yaml")
    repo.git("add", "-A")
    repo.commit("carol", "app-02 kept in notes")
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
    repo.commit(
        "alice", "quietly", files={"notes/app-02.yaml": repo.edit("notes/app-02.yaml", *MEMORY)}
    )

    code, report = repo.gate()

    assert code == 1
    link = kit.one(report, "file.symlink")
    assert (link["path"], link["line"], link["column"]) == ("inventory/app-02.yaml", 1, 1)


def test_a_document_renamed_to_a_name_that_is_not_read_is_refused(requested: Any, kit: Any) -> None:
    repo = _approved(requested, kit)
    repo.git("mv", "inventory/shop-db.yaml", "inventory/shop-db.YAML")
    repo.commit("alice", "case")

    code, report = repo.gate()

    assert code == 1
    assert kit.one(report, "file.extension")["path"] == "inventory/shop-db.YAML"
    assert (
        "shop-db is deleted but no change request" in kit.one(report, "gate.uncovered")["message"]
    )
