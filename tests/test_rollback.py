"""`cmdbctl rollback` on real git repositories: changes carried out by a merge commit, a
squash commit and plain commits are reverted exactly and recorded in one commit; every
refusal and every failure half way (conflict, validate, a commit hook, Ctrl-C) leaves
the repository exactly as it was."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

import cmdbctl.rollback
from cmdbctl.gitio import log
from tests.conftest import GitRepo

CHG = "CHG-2026-0042"
CR = f"changes/{CHG}.yaml"
APP = "inventory/app-01.yaml"
REASON = "p99 latency doubled after the change"
GIT_STATE = (
    "MERGE_MSG",
    "MERGE_HEAD",
    "REVERT_HEAD",
    "AUTO_MERGE",
    "CHERRY_PICK_HEAD",
    "ORIG_HEAD",
    "sequencer",
    "index.lock",
)


def change_yaml(status: str = "approved", targets: str = "app-01", change_id: str = CHG) -> str:
    """A valid change request with comments (which the rollback must keep)."""
    return f"""\
# Change request: keep this header comment
apiVersion: cmdb/v1
kind: ChangeRequest
metadata:
  id: {change_id}
  name: Double memory on app-01
spec:
  type: normal            # standard | normal | emergency
  category: system
  requester: alice
  reason: the shop database swaps at peak
  targets: [{targets}]
  risk: medium
  rollbackPlan: set memoryMb back to 65536
  approvals:
    - {{by: bob, at: "2026-11-22T09:00:00+00:00", decision: approve}}
  status: {status}     # draft submitted approved ...
"""


@dataclass
class Cmdb(GitRepo):
    """The repository a rollback runs in, and everything it may touch."""

    def blob(self, rev: str, rel: str) -> bytes:
        return subprocess.run(
            ["git", "show", f"{rev}:{rel}"], cwd=self.path, capture_output=True, check=True
        ).stdout

    def rollback(self, *args: str, as_: str = "alice") -> Result:
        return self.cli("rollback", CHG, "--reason", REASON, *args, as_=as_)

    def state(self, snapshot: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        """Everything a rollback may touch: the work tree's files (bytes, modes, times),
        HEAD, every ref, the index's entries, git's in-progress files."""
        git_dir = self.path / ".git"
        return {
            "files": snapshot(self.path, ignore=(".git",)),
            "head": self.git("rev-parse", "--symbolic-full-name", "HEAD"),
            "refs": self.git("for-each-ref", "--format=%(refname) %(objectname)"),
            "index": self.git("ls-files", "--stage"),
            "status": self.git("status", "--porcelain", "--untracked-files=all"),
            "git": {
                n: (git_dir / n).read_bytes() if (git_dir / n).is_file() else (git_dir / n).exists()
                for n in GIT_STATE
            },
        }


pytestmark = pytest.mark.usefixtures("isolated_git")


@pytest.fixture
def cmdb(tmp_path: Path) -> Cmdb:
    """The scaffold committed on main by alice."""
    return Cmdb.scaffold(tmp_path / "repo")


def double_memory(repo: Cmdb) -> str:
    return repo.edit(APP, "memoryMb: 65536", "memoryMb: 131072")


@pytest.fixture
def merged(cmdb: Cmdb) -> Cmdb:
    """CHG-2026-0042 requested, approved and carried out on a branch, merged with
    --no-ff, then marked implemented on main (a later edit of the change request)."""
    cmdb.git("checkout", "--quiet", "-b", "feature")
    cmdb.commit("alice", f"Request {CHG}\n\nChange-Id: {CHG}", {CR: change_yaml("submitted")})
    cmdb.commit("bob", f"Approve {CHG}\n\nChange-Id: {CHG}", {CR: change_yaml("approved")})
    cmdb.commit("alice", f"Double memory on app-01\n\nChange-Id: {CHG}", {APP: double_memory(cmdb)})
    cmdb.git("checkout", "--quiet", "main")
    cmdb.git("merge", "--quiet", "--no-ff", "-m", "Merge branch 'feature'", "feature")
    cmdb.commit("alice", f"{CHG} implemented\n\nChange-Id: {CHG}", {CR: change_yaml("implemented")})
    return cmdb


def test_a_merge_commit_is_reverted_against_its_mainline_and_recorded(
    merged: Cmdb, validate_json: Any
) -> None:
    merge, before, pre = merged.head("HEAD~1"), merged.head(), merged.read(CR)

    result = merged.rollback()

    assert result.exit_code == 0, result.output
    assert merged.head("HEAD~1") == before  # one commit on top: no history rewritten
    assert merged.blob("HEAD", APP) == merged.blob(f"{merge}~1", APP)  # byte for byte
    record = (
        f"  rollback:\n    by: alice\n    at: '{_at(merged)}'\n    reason: {REASON}\n"
        f"    commits:\n      - {merge}\n"
    )
    assert merged.read(CR) == pre.replace("status: implemented", "status: rolled-back") + record
    [commit] = log(merged.path, "HEAD~1..HEAD")
    assert commit.subject == f"Roll back {CHG}: Double memory on app-01"
    assert commit.trailers == {"change-id": [CHG], "reverts": [merge]}
    assert commit.author_email == commit.committer_email == "alice@example.com"
    assert merged.git("status", "--porcelain") == ""
    assert validate_json(merged.path).exit_code == 0
    assert "revert-a-faulty-merge" in result.stdout and "new change request" in result.stdout


def _at(repo: Cmdb) -> str:
    text = repo.read(CR)
    return text.split("    at: ", 1)[1].split("\n", 1)[0].strip("'")


def test_a_squash_commit_is_reverted_and_the_change_request_keeps_its_text(
    cmdb: Cmdb, validate_json: Any
) -> None:
    cmdb.commit("alice", f"Request {CHG}", {CR: change_yaml("approved")})
    squash = cmdb.commit(
        "alice",
        f"Double memory on app-01 (#12)\n\n* do it\n* implemented\n\nChange-Id: {CHG}",
        {APP: double_memory(cmdb), CR: change_yaml("implemented")},
    )
    pre = cmdb.read(CR)

    result = cmdb.rollback()

    assert result.exit_code == 0, result.output
    assert cmdb.blob("HEAD", APP) == cmdb.blob(f"{squash}~1", APP)
    text = cmdb.read(CR)
    assert text.startswith(pre.replace("status: implemented", "status: rolled-back"))
    assert "# Change request: keep this header comment" in text
    assert "# draft submitted approved ..." in text
    assert f"      - {squash}\n" in text and "status: approved" not in text
    assert validate_json(cmdb.path).exit_code == 0


def test_plain_commits_are_reverted_newest_first_and_others_stay(cmdb: Cmdb) -> None:
    cmdb.commit("alice", f"Request {CHG}", {CR: change_yaml("implemented", "app-01, shop-db")})
    first = cmdb.commit("alice", f"app-01\n\nChange-Id: {CHG}", {APP: double_memory(cmdb)})
    rack = cmdb.edit("inventory/rack-a01.yaml", "name:", "name: Rack A01 #")
    other = cmdb.commit("alice", "unrelated: rename the rack", {"inventory/rack-a01.yaml": rack})
    db = cmdb.edit("inventory/shop-db.yaml", "spec:", "spec:\n  port: 5433")
    second = cmdb.commit("alice", f"shop-db\n\nChange-Id: {CHG}", {"inventory/shop-db.yaml": db})

    result = cmdb.rollback()

    assert result.exit_code == 0, result.output
    for rel in (APP, "inventory/shop-db.yaml"):
        assert cmdb.blob("HEAD", rel) == cmdb.blob(f"{first}~1", rel)
    rack_path = "inventory/rack-a01.yaml"
    assert cmdb.blob("HEAD", rack_path) == cmdb.blob(other, rack_path)
    [commit] = log(cmdb.path, "HEAD~1..HEAD")
    assert commit.trailers["reverts"] == [second, first]
    assert f"      - {second}\n      - {first}\n" in cmdb.read(CR)


def test_approval_and_review_commits_alone_carry_nothing_out(cmdb: Cmdb, snapshot: Any) -> None:
    cmdb.commit("alice", f"Approve {CHG}\n\nChange-Id: {CHG}", {CR: change_yaml("approved")})
    before = cmdb.state(snapshot)

    result = cmdb.rollback()

    assert result.exit_code == 2
    assert "none changed inventory/" in result.stderr
    assert cmdb.state(snapshot) == before


def test_a_dirty_work_tree_is_refused_and_nothing_changes(merged: Cmdb, snapshot: Any) -> None:
    (merged.path / "inventory/shop.yaml").write_text("edited\n")
    before = merged.state(snapshot)

    result = merged.rollback()

    assert result.exit_code == 2
    assert "uncommitted changes" in result.stderr and "inventory/shop.yaml" in result.stderr
    assert merged.state(snapshot) == before


def test_a_later_change_of_the_same_ci_is_refused_and_named(merged: Cmdb, snapshot: Any) -> None:
    cores = merged.edit(APP, "cores: 16", "cores: 32")
    later = merged.commit("alice", "More cores\n\nChange-Id: CHG-2026-0050", {APP: cores})
    before = merged.state(snapshot)

    result = merged.rollback()

    assert result.exit_code == 1, result.output
    assert "CHG-2026-0050" in result.stderr and later[:10] in result.stderr
    assert APP in result.stderr
    assert merged.state(snapshot) == before


def test_a_later_merge_of_the_same_ci_is_named_by_its_branchs_change(
    merged: Cmdb, snapshot: Any
) -> None:
    merged.git("checkout", "--quiet", "-b", "cores")
    merged.commit(
        "alice",
        "More cores\n\nChange-Id: CHG-2026-0051",
        {APP: merged.edit(APP, "cores: 16", "cores: 32")},
    )
    merged.git("checkout", "--quiet", "main")
    merged.git("merge", "--quiet", "--no-ff", "-m", "Merge branch 'cores'", "cores")
    before = merged.state(snapshot)

    result = merged.rollback()

    assert result.exit_code == 1
    assert "CHG-2026-0051" in result.stderr
    assert merged.state(snapshot) == before


def test_a_conflicting_revert_is_refused_and_the_repository_is_as_it_was(
    cmdb: Cmdb, snapshot: Any
) -> None:
    cmdb.commit("alice", "runbook", {"docs/runbook.md": "memory: 64 GiB\n"})
    cmdb.commit("alice", f"Request {CHG}", {CR: change_yaml("implemented")})
    cmdb.commit(
        "alice",
        f"Double memory\n\nChange-Id: {CHG}",
        {APP: double_memory(cmdb), "docs/runbook.md": "memory: 128 GiB\n"},
    )
    cmdb.commit("alice", "runbook: typo", {"docs/runbook.md": "memory: 128 GB\n"})
    before = cmdb.state(snapshot)

    result = cmdb.rollback()

    assert result.exit_code == 1, result.output
    assert "conflicts in docs/runbook.md" in result.stderr
    assert cmdb.state(snapshot) == before


def test_a_result_that_does_not_validate_is_refused_and_undone(cmdb: Cmdb, snapshot: Any) -> None:
    app2 = cmdb.read(APP).replace("app-01", "app-02").replace("SN-APP-0001", "SN-APP-0002")
    cmdb.commit("alice", f"Request {CHG}", {CR: change_yaml("implemented", "app-02")})
    cmdb.commit("alice", f"Add app-02\n\nChange-Id: {CHG}", {"inventory/app-02.yaml": app2})
    web = cmdb.read("inventory/shop-web.yaml").replace("shop-web", "shop-web2")
    cmdb.commit(
        "alice",
        "shop-web2 runs on app-02",
        {"inventory/shop-web2.yaml": web.replace("app-01", "app-02")},
    )
    before = cmdb.state(snapshot)

    result = cmdb.rollback()

    assert result.exit_code == 1, result.output
    assert "ref.dangling" in result.stdout and "'app-02'" in result.stdout
    assert "would not validate" in result.stderr
    assert cmdb.state(snapshot) == before


def test_a_commit_hook_that_fails_leaves_everything_as_it_was(merged: Cmdb, snapshot: Any) -> None:
    hook = merged.path / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\necho 'no commits today' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = merged.state(snapshot)

    result = merged.rollback()

    assert result.exit_code == 2
    assert "git commit failed" in result.stderr
    assert merged.state(snapshot) == before
    result = merged.rollback("--branch", "rollback-0042")
    assert result.exit_code == 2
    assert merged.state(snapshot) == before  # the new branch is gone, main checked out


def test_ctrl_c_half_way_leaves_everything_as_it_was(
    merged: Cmdb, snapshot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cmdbctl.rollback, "validate", interrupted)
    before = merged.state(snapshot)

    result = merged.rollback()

    assert result.exit_code == 130
    assert merged.state(snapshot) == before


def test_dry_run_prints_the_plan_and_changes_nothing(merged: Cmdb, snapshot: Any) -> None:
    merge = merged.head("HEAD~1")
    before = merged.state(snapshot)

    result = merged.rollback("--dry-run")

    assert result.exit_code == 0, result.output
    assert merged.state(snapshot) == before
    out = result.stdout
    assert f"Would roll back {CHG}: Double memory on app-01 (implemented → rolled-back)" in out
    assert f"{merge[:10]}  Merge branch 'feature'  (merge, against its first parent)" in out
    assert f"restored    {APP}" in out and CR not in out.split("Record")[0]
    assert f"reason: {REASON}" in out and f"    - {merge}" in out
    assert "nothing was changed" in out


def test_branch_makes_the_rollback_on_a_new_branch_and_checks_it_out(merged: Cmdb) -> None:
    main = merged.head("main")

    result = merged.rollback("--branch", "rollback-0042")

    assert result.exit_code == 0, result.output
    assert merged.head("main") == main
    assert merged.git("symbolic-ref", "HEAD").strip() == "refs/heads/rollback-0042"
    assert merged.head("rollback-0042~1") == main
    assert "status: rolled-back" in merged.read(CR)
    assert "git push -u origin rollback-0042" in result.stdout
    taken = merged.cli("rollback", CHG, "--reason", REASON, "--branch", "main")
    assert taken.exit_code == 2 and "exists already" in taken.stderr


@pytest.mark.parametrize(
    ("change_id", "message"),
    [
        ("CHG-2026-0999", "no change request CHG-2026-0999"),
        ("app-01", "no change request app-01"),
    ],
)
def test_unknown_changes_and_other_documents_are_refused(
    merged: Cmdb, change_id: str, message: str
) -> None:
    result = merged.cli("rollback", change_id, "--reason", REASON)

    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize("status", ["submitted", "rejected", "rolled-back"])
def test_a_change_not_carried_out_or_final_is_refused(cmdb: Cmdb, status: str) -> None:
    cmdb.commit("alice", f"Request {CHG}", {CR: change_yaml(status)})
    cmdb.commit("alice", f"Double memory\n\nChange-Id: {CHG}", {APP: double_memory(cmdb)})

    result = cmdb.rollback()

    assert result.exit_code == 2
    assert f"{CHG} is {status}" in result.stderr


def test_a_merge_that_carried_another_change_too_is_refused(merged: Cmdb, snapshot: Any) -> None:
    merged.git("checkout", "--quiet", "-b", "two")
    merged.commit(
        "alice",
        "shop-db\n\nChange-Id: CHG-2026-0060",
        {
            "inventory/shop-db.yaml": merged.edit(
                "inventory/shop-db.yaml", "spec:", "spec:\n  port: 5433"
            )
        },
    )
    merged.commit(
        "alice",
        f"rack\n\nChange-Id: {CHG}",
        {
            "inventory/rack-a01.yaml": merged.edit(
                "inventory/rack-a01.yaml", "name:", "name: Rack #"
            )
        },
    )
    merged.git("checkout", "--quiet", "main")
    merged.git("merge", "--quiet", "--no-ff", "-m", "Merge branch 'two'", "two")
    before = merged.state(snapshot)

    result = merged.rollback()

    assert result.exit_code == 1
    assert "CHG-2026-0060" in result.stderr and "undo both" in result.stderr
    assert merged.state(snapshot) == before


def test_an_identity_that_is_no_person_is_refused(merged: Cmdb) -> None:
    result = merged.rollback(as_="mallory")

    assert result.exit_code == 2
    assert "mallory@example.com is not a person" in result.stderr


def test_dry_run_refuses_as_the_rollback_would_and_notes_a_dirty_tree(
    merged: Cmdb, snapshot: Any
) -> None:
    (merged.path / "inventory/shop.yaml").write_text("edited\n")
    before = merged.state(snapshot)

    planned = merged.rollback("--dry-run")
    merged.commit(
        "alice",
        "More cores\n\nChange-Id: CHG-2026-0050",
        {APP: merged.edit(APP, "cores: 16", "cores: 32")},
    )
    refused = merged.rollback("--dry-run")

    assert planned.exit_code == 0, planned.output
    assert "uncommitted changes (inventory/shop.yaml)" in planned.stdout
    assert (
        before["files"]["inventory/shop.yaml"]
        == snapshot(merged.path, ignore=(".git",))["inventory/shop.yaml"]
    )
    assert refused.exit_code == 1 and "CHG-2026-0050" in refused.stderr


def test_a_detached_head_needs_a_branch(merged: Cmdb) -> None:
    merged.git("checkout", "--quiet", "--detach")

    refused = merged.rollback()
    branched = merged.rollback("--branch", "rollback-0042")

    assert refused.exit_code == 2 and "HEAD is detached" in refused.stderr
    assert branched.exit_code == 0, branched.output
    assert merged.git("symbolic-ref", "HEAD").strip() == "refs/heads/rollback-0042"


def test_without_git_it_says_git_is_missing(
    merged: Cmdb, tmp_path: Path, run_cmdbctl: Callable[..., Any]
) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "python").symlink_to(sys.executable)

    result = run_cmdbctl(
        "rollback", CHG, "--reason", REASON, cwd=merged.path, env={"PATH": str(folder)}
    )

    assert result.returncode == 2
    assert result.stderr.startswith("cmdbctl: error: git is not installed or not on PATH\n")


def test_a_change_that_added_a_ci_rolls_back_and_validates(cmdb: Cmdb) -> None:
    """Its targets name a CI the rollback removes: a finished change request is a record,
    and its targets are history, not references that must resolve."""
    app2 = cmdb.read(APP).replace("app-01", "app-02").replace("SN-APP-0001", "SN-APP-0002")
    cmdb.commit("alice", f"Request {CHG}", {CR: change_yaml("implemented", "app-02")})
    cmdb.commit("alice", f"Add app-02\n\nChange-Id: {CHG}", {"inventory/app-02.yaml": app2})

    result = cmdb.rollback()

    assert result.exit_code == 0, result.output
    assert not (cmdb.path / "inventory/app-02.yaml").exists()
    assert "status: rolled-back" in cmdb.read(CR)
