"""What a user can get wrong: exit 2 with a sentence naming it, never a traceback, nothing
written; and change requests the gate will not let cover anything."""

from __future__ import annotations

import gc
import warnings
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cmdbctl.cli.main import cli


def test_unknown_base_revision_exits_2_naming_it(requested: Any) -> None:
    result = requested.gate_result(base="nosuchrev")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "revision 'nosuchrev' is not there" in result.stderr
    assert "hint:" in result.stderr


def test_unknown_head_revision_exits_2_naming_it(requested: Any) -> None:
    result = requested.gate_result("--head", "origin/nosuch")

    assert result.exit_code == 2
    assert "revision 'origin/nosuch' is not there" in result.stderr
    assert "git fetch" in result.stderr


def test_now_without_offset_exits_2(requested: Any) -> None:
    result = requested.gate_result(now="2026-11-22T10:00:00")

    assert result.exit_code == 2
    assert "has no UTC offset" in result.stderr


def test_gate_outside_a_git_repository_exits_2(tmp_path: Path, kit: Any) -> None:
    folder = tmp_path / "plain"
    (folder / "inventory").mkdir(parents=True)
    (folder / "inventory" / "app-01.yaml").write_text("apiVersion: cmdb/v1\n")

    result = kit.Repo(folder).gate_result()

    assert result.exit_code == 2
    assert "is not a git work tree" in result.stderr
    assert str(folder) in result.stderr


def test_approve_with_a_dirty_work_tree_exits_2_and_writes_nothing(
    requested: Any, kit: Any
) -> None:
    dirty = requested.edit("inventory/app-01.yaml", "cores: 16", "cores: 64")
    requested.write("inventory/app-01.yaml", dirty)
    before = requested.read(kit.CHANGE_PATH)
    head = requested.head()

    result = requested.approve(kit.CHANGE_ID, as_="bob")

    assert result.exit_code == 2
    assert "the work tree has uncommitted changes: inventory/app-01.yaml" in result.stderr
    assert "commit or stash them first" in result.stderr
    assert requested.read(kit.CHANGE_PATH) == before
    assert requested.read("inventory/app-01.yaml") == dirty
    assert requested.head() == head


def test_approve_with_an_unknown_change_id_exits_2(requested: Any) -> None:
    head = requested.head()

    result = requested.approve("CHG-2026-9999", as_="bob")

    assert result.exit_code == 2
    assert "no change request CHG-2026-9999 under changes/" in result.stderr
    assert requested.head() == head


def test_approve_by_an_identity_not_in_policies_exits_2(requested: Any, kit: Any) -> None:
    before = requested.read(kit.CHANGE_PATH)

    result = requested.approve(kit.CHANGE_ID, as_="mallory")

    assert result.exit_code == 2
    assert "your git identity mallory@example.com is not a person in policies/" in result.stderr
    assert requested.read(kit.CHANGE_PATH) == before


def test_approve_uses_git_config_identity_when_the_environment_has_none(
    requested: Any, kit: Any
) -> None:
    requested.git("config", "user.name", "Carol Example")
    requested.git("config", "user.email", "carol@example.com")
    env = {k: None for k in kit.identity_env("carol")}

    result = requested.cli("approve", kit.CHANGE_ID, env=env)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("carol approved")
    assert requested.git("log", "-1", "--format=%ae").strip() == "carol@example.com"


def test_approve_on_a_draft_change_exits_2(repo: Any, kit: Any) -> None:
    repo.commit("alice", "draft", files={kit.CHANGE_PATH: kit.change_yaml(status="draft")})

    result = repo.approve(kit.CHANGE_ID, as_="bob")

    assert result.exit_code == 2
    assert "CHG-2026-0042 is draft" in result.stderr
    assert "status: submitted" in result.stderr


def test_deleted_change_request_is_refused(new_repo: Any, kit: Any) -> None:
    repo = new_repo()
    repo.checkout("main")
    repo.commit("alice", "request", files={kit.CHANGE_PATH: kit.change_yaml()})
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
    repo.commit("alice", "never mind", files={kit.CHANGE_PATH: None})

    code, report = repo.gate()

    assert code == 1
    deleted = kit.one(report, "gate.change.deleted")
    assert (deleted["path"], deleted["line"]) == (kit.CHANGE_PATH, 1)
    assert "change request CHG-2026-0042 is deleted" in deleted["message"]
    assert "rejected or closed" in deleted["hint"]
    assert [(d["status"], d["path"]) for d in report["changeSet"]] == [("deleted", kit.CHANGE_PATH)]


def test_draft_change_covers_nothing(repo: Any, kit: Any) -> None:
    repo.commit(
        "alice",
        "request",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            ),
            kit.CHANGE_PATH: kit.change_yaml(status="draft"),
        },
    )

    code, report = repo.gate()

    assert code == 1
    status = kit.one(report, "gate.change.status")
    assert "change is draft; it covers nothing" in status["message"]
    assert status["line"] == kit.line_of(repo.read(kit.CHANGE_PATH), r"^  status:")
    assert kit.one(report, "gate.not-approved")["path"] == "inventory/app-01.yaml"


def test_status_moving_backwards_is_refused(new_repo: Any, kit: Any) -> None:
    repo = new_repo()
    repo.checkout("main")
    repo.commit("alice", "request", files={kit.CHANGE_PATH: kit.change_yaml(status="implemented")})
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
    repo.commit("alice", "reopen", files={kit.CHANGE_PATH: kit.change_yaml()})

    code, report = repo.gate()

    assert code == 1
    assert (
        "status may not go from implemented to submitted"
        in kit.one(report, "gate.change.transition")["message"]
    )


def test_invalid_change_request_covers_nothing_and_is_located(repo: Any, kit: Any) -> None:
    broken = kit.change_yaml().replace("  risk: medium\n", "  risk: enormous\n")
    repo.commit(
        "alice",
        "request",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            ),
            kit.CHANGE_PATH: broken,
        },
    )

    code, report = repo.gate()

    assert code == 1
    assert "gate.change.invalid" in kit.codes(report)
    schema = [
        f
        for f in report["findings"]
        if f["path"] == kit.CHANGE_PATH and f["code"].startswith("schema.")
    ]
    assert schema and schema[0]["line"] == kit.line_of(broken, r"^  risk:")


def test_broken_yaml_in_a_changed_ci_is_a_finding_not_a_crash(requested: Any, kit: Any) -> None:
    requested.commit(
        "alice",
        "oops",
        files={"inventory/app-01.yaml": requested.read("inventory/app-01.yaml") + "spec: [\n"},
    )
    assert requested.approve(kit.CHANGE_ID, as_="bob").exit_code == 0

    code, report = requested.gate()

    assert code == 1
    unreadable = kit.one(report, "gate.unreadable")
    assert (unreadable["path"], unreadable["severity"]) == ("inventory/app-01.yaml", "error")
    assert unreadable["line"] and "cmdbctl validate" in unreadable["message"]


def test_branch_without_governed_changes_passes(repo: Any) -> None:
    repo.commit("alice", "docs", files={"README.md": "hello\n"})

    code, report = repo.gate()

    assert code == 0
    assert report["findings"] == [] and report["changeSet"] == []


def test_gate_and_approve_close_the_git_processes_they_start(requested: Any, kit: Any) -> None:
    argv = [
        "gate",
        "--base",
        "main",
        "--now",
        kit.NOW,
        "--format",
        "json",
        "--repo",
        str(requested.path),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(cli, argv, env=kit.identity_env("alice"))
        gc.collect()

    assert result.exit_code == 1
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []
