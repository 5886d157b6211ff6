"""Coverage and the approval flow: every changed CI needs a change request on the
branch, and that change needs a trusted approval from the base's change managers."""

from __future__ import annotations

import json
from typing import Any


def test_uncovered_ci_edit_is_refused_at_the_line_of_its_id(repo: Any, kit: Any) -> None:
    text = repo.edit("inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072")
    repo.commit("alice", "more memory", files={"inventory/app-01.yaml": text})

    code, report = repo.gate()

    assert code == 1
    assert report["summary"]["verdict"] == "refused"
    finding = kit.one(report, "gate.uncovered")
    assert finding["severity"] == "error"
    assert finding["path"] == "inventory/app-01.yaml"
    assert (finding["line"], finding["column"]) == (kit.line_of(text, r"^  id: app-01$"), 7)
    assert finding["pointer"] == "/metadata/id"
    assert "app-01 is modified" in finding["message"]
    assert "no change request" in finding["message"]
    assert "changes/" in finding["hint"]


def test_covered_change_without_approvals_names_who_can_approve(requested: Any, kit: Any) -> None:
    code, report = requested.gate()

    assert code == 1
    missing = kit.one(report, "gate.approval.missing")
    assert missing["path"] == kit.CHANGE_PATH
    assert (
        "rule normal needs 1 more approval from change-managers: bob, carol" in missing["message"]
    )
    assert missing["message"].startswith(f"{kit.CHANGE_ID}: ")
    assert f"cmdbctl approve {kit.CHANGE_ID}" in missing["hint"]
    # No approvals yet: the finding points at the status line.
    assert missing["line"] == kit.line_of(requested.read(kit.CHANGE_PATH), r"^  status:")
    not_approved = kit.one(report, "gate.not-approved")
    assert not_approved["path"] == "inventory/app-01.yaml"
    assert kit.CHANGE_ID in not_approved["message"]
    assert "gate.uncovered" not in kit.codes(report)
    [verdict] = report["changes"]
    assert (verdict["id"], verdict["verdict"], verdict["rules"]) == (
        kit.CHANGE_ID,
        "refused",
        ["normal"],
    )
    assert verdict["affectedServices"] == ["shop"]


def test_change_manager_approval_via_cli_passes_and_is_recorded_as_bobs_commit(
    requested: Any, kit: Any
) -> None:
    before = requested.read(kit.CHANGE_PATH)

    result = requested.approve(kit.CHANGE_ID, "--comment", "ok for Saturday", as_="bob")

    assert result.exit_code == 0, result.stderr
    assert "bob approved CHG-2026-0042 (submitted → approved)" in result.stdout
    # The commit: bob's, only the change request, with the trailers.
    assert requested.git("log", "-1", "--format=%ae %ce").split() == [
        "bob@example.com",
        "bob@example.com",
    ]
    assert requested.git("show", "--name-only", "--format=", "HEAD").split() == [kit.CHANGE_PATH]
    trailers = requested.git("log", "-1", "--format=%(trailers:unfold,only)")
    assert f"Change-Id: {kit.CHANGE_ID}" in trailers
    assert "Approved-by: Bob Example <bob@example.com>" in trailers
    assert requested.git("status", "--porcelain") == ""
    # The file: approval appended, status approved, every comment kept.
    after = requested.read(kit.CHANGE_PATH)
    for line in before.splitlines():
        if "#" in line and not line.lstrip().startswith("status:"):
            assert line in after.splitlines(), line
    assert "# draft submitted approved ..." in after
    assert "status: approved" in after
    assert "status: submitted" not in after
    assert "- {by: bob, at: " in after and "decision: approve, comment: ok for Saturday}" in after

    code, report = requested.gate()

    assert code == 0, report["findings"]
    assert report["summary"]["verdict"] == "passed"
    assert kit.codes(report, "error") == set()
    [verdict] = report["changes"]
    assert verdict["verdict"] == "passes"
    assert verdict["status"] == "approved"
    [approval] = verdict["approvals"]
    assert approval["by"] == "bob" and approval["trusted"] is True
    assert approval["commit"] == requested.head()


def test_submitted_status_with_trusted_approval_passes_whatever_the_status_says(
    requested: Any, kit: Any
) -> None:
    """The gate judges approvals, not the status field: bob records his approval by hand
    in his own commit and leaves the status at submitted."""
    text = requested.edit(
        kit.CHANGE_PATH,
        "  status: submitted",
        "  approvals:\n"
        "    - {by: bob, at: 2026-11-22T09:00:00Z, decision: approve}\n"
        "  status: submitted",
    )
    requested.commit("bob", "approve", files={kit.CHANGE_PATH: text})

    code, report = requested.gate()

    assert code == 0, report["findings"]
    assert report["changes"][0]["status"] == "submitted"


def test_status_approved_without_any_approval_does_not_pass(requested: Any, kit: Any) -> None:
    text = requested.edit(kit.CHANGE_PATH, "status: submitted", "status: approved")
    requested.commit("alice", "mark approved", files={kit.CHANGE_PATH: text})

    code, report = requested.gate()

    assert code == 1
    assert (
        "needs 1 more approval from change-managers: bob, carol"
        in kit.one(report, "gate.approval.missing")["message"]
    )


def test_change_id_trailer_covers_a_ci_whose_change_request_is_already_on_main(
    new_repo: Any, kit: Any
) -> None:
    """The change request was approved on main earlier; a later branch carries out the
    work naming it in a `Change-Id:` trailer."""
    repo = new_repo()
    repo.checkout("main")
    repo.commit("alice", "request", files={kit.CHANGE_PATH: kit.change_yaml()})
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
    text = repo.edit("inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072")

    repo.commit("alice", "do it", files={"inventory/app-01.yaml": text})
    code, report = repo.gate()
    assert code == 1
    assert kit.one(report, "gate.uncovered")["path"] == "inventory/app-01.yaml"

    repo.git("commit", "--quiet", "--amend", "-m", f"do it\n\nChange-Id: {kit.CHANGE_ID}")
    code, report = repo.gate()
    assert code == 1
    assert "gate.uncovered" not in kit.codes(report)
    assert [c["id"] for c in report["changes"]] == [kit.CHANGE_ID]
    assert "change-managers: bob, carol" in kit.one(report, "gate.approval.missing")["message"]


def test_change_id_trailer_naming_no_change_request_is_reported(repo: Any, kit: Any) -> None:
    text = repo.edit("inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072")
    sha = repo.commit(
        "alice", "do it\n\nChange-Id: CHG-2026-9999", files={"inventory/app-01.yaml": text}
    )

    code, report = repo.gate()

    assert code == 1
    unknown = kit.one(report, "gate.change.unknown")
    assert (
        f"commit {sha[:10]} (do it) names Change-Id: CHG-2026-9999, but no change "
        "request has that id" in unknown["message"]
    )
    # Located at the edit the trailer meant to cover.
    assert (unknown["path"], unknown["line"], unknown["column"]) == (
        "inventory/app-01.yaml",
        kit.line_of(text, r"^  id: app-01$"),
        7,
    )
    assert "changes/CHG-2026-9999.yaml" in unknown["hint"]
    assert kit.one(report, "gate.uncovered")["path"] == "inventory/app-01.yaml"


def test_change_id_trailer_on_a_commit_outside_the_cmdb_is_located_where_the_change_belongs(
    repo: Any, kit: Any
) -> None:
    repo.commit("alice", "docs\n\nChange-Id: CHG-2026-9999", files={"README.md": "hello\n"})

    code, report = repo.gate()

    assert code == 1
    unknown = kit.one(report, "gate.change.unknown")
    assert (unknown["path"], unknown["line"], unknown["column"]) == (
        "changes/CHG-2026-9999.yaml",
        1,
        1,
    )
    # Every format names a place: no empty path, no ":1:1" without a file.
    text = repo.gate_result(fmt="text").stdout
    assert "changes/CHG-2026-9999.yaml:1:1: error gate.change.unknown: commit " in text
    github = repo.gate_result(fmt="github").stdout
    assert (
        "::error file=changes/CHG-2026-9999.yaml,line=1,col=1,title=gate.change.unknown::" in github
    )
    sarif = json.loads(repo.gate_result(fmt="sarif").stdout)
    [result] = sarif["runs"][0]["results"]
    assert (
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == "changes/CHG-2026-9999.yaml"
    )
    assert (
        "`changes/CHG-2026-9999.yaml:1` **gate.change.unknown**"
        in repo.gate_result(fmt="markdown").stdout
    )


def _approved_on_main(new_repo: Any, kit: Any) -> Any:
    """alice requests on main and bob approves there; branch feature forks after."""
    repo = kit.approved_on_main(new_repo())
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
    return repo


def test_change_approved_on_main_can_be_carried_out_on_a_branch_named_by_trailer(
    new_repo: Any, kit: Any
) -> None:
    repo = _approved_on_main(new_repo, kit)
    kit.carry_out(repo)

    code, report = repo.gate()

    assert code == 0, report["findings"]
    [approval] = report["changes"][0]["approvals"]
    assert (approval["by"], approval["trusted"], approval["stale"]) == ("bob", True, False)


def test_approved_plan_carried_out_over_several_commits_marking_it_implemented_passes(
    new_repo: Any, kit: Any
) -> None:
    repo = _approved_on_main(new_repo, kit)
    repo.commit(
        "alice",
        f"memory\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            )
        },
    )
    repo.commit(
        "alice",
        f"cores, done\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", "cores: 16", "cores: 32"),
            kit.CHANGE_PATH: repo.edit(kit.CHANGE_PATH, "status: approved", "status: implemented"),
        },
    )

    code, report = repo.gate()

    assert code == 0, report["findings"]


def test_approval_from_main_goes_stale_when_the_branch_changes_what_was_approved(
    new_repo: Any, kit: Any
) -> None:
    repo = _approved_on_main(new_repo, kit)
    sha = repo.commit(
        "alice",
        "bigger plan",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            ),
            kit.CHANGE_PATH: repo.edit(
                kit.CHANGE_PATH, "    - add DIMMs", "    - add DIMMs\n    - upgrade the firmware"
            ),
        },
    )

    code, report = repo.gate()

    assert code == 1
    stale = kit.one(report, "gate.approval.stale")
    assert (
        "approval by bob does not count: stale: the change request changed after it was "
        f"given (in {sha[:10]} by alice@example.com)" in stale["message"]
    )
    assert (
        "needs 1 more approval from change-managers: bob, carol"
        in kit.one(report, "gate.approval.missing")["message"]
    )


def test_approval_from_main_goes_stale_when_the_plan_changed_on_main_after_it(
    new_repo: Any, kit: Any
) -> None:
    repo = _approved_on_main(new_repo, kit)
    repo.checkout("main")
    sha = repo.commit(
        "alice",
        "bigger plan, pushed to main",
        files={kit.CHANGE_PATH: repo.edit(kit.CHANGE_PATH, "risk: medium", "risk: low")},
    )
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
    kit.carry_out(repo)

    code, report = repo.gate()

    assert code == 1
    assert (
        f"stale: the change request changed after it was given (in {sha[:10]} "
        in kit.one(report, "gate.approval.stale")["message"]
    )


def test_approval_of_a_change_already_carried_out_does_not_cover_new_edits(
    new_repo: Any, kit: Any
) -> None:
    """The change was implemented on main; a later branch naming it edits its target
    again: that is new work its old approval never saw."""
    repo = _approved_on_main(new_repo, kit)
    repo.checkout("main")
    repo.commit(
        "alice",
        f"do it\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            ),
            kit.CHANGE_PATH: repo.edit(kit.CHANGE_PATH, "status: approved", "status: implemented"),
        },
    )
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
    repo.commit(
        "alice",
        f"more\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            "inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", "cores: 16", "cores: 32")
        },
    )

    code, report = repo.gate()

    assert code == 1
    assert (
        "it approved a plan already carried out (the change was implemented before this "
        "branch)" in kit.one(report, "gate.approval.stale")["message"]
    )
    assert kit.one(report, "gate.not-approved")["path"] == "inventory/app-01.yaml"


def test_uncovered_deletion_is_located(repo: Any, kit: Any) -> None:
    repo.commit("alice", "retire the shop", files={"inventory/shop.yaml": None})

    code, report = repo.gate()

    assert code == 1
    finding = kit.one(report, "gate.uncovered")
    assert finding["path"] == "inventory/shop.yaml"
    assert "shop is deleted" in finding["message"]
    assert (finding["line"], finding["column"]) == (4, 7)
