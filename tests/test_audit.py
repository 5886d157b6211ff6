"""`cmdbctl audit` on real repositories: `cmdbctl init`'s scaffold on main, changes
requested on branches by alice, approved by bob with the real `cmdbctl approve`, landed
by carol as merge commits, squash merges or direct pushes, every commit dated.

The scaffold's rules: a normal change needs one change manager (bob, carol), a rollback
plan and a window inside sla-standard's maintenance window (Saturday 22:00-04:00 UTC);
an emergency change one change manager and a review within five days; the year-end
freeze runs 2026-12-24 to 2027-01-03 (+08:00).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cmdbctl.cli.main import cli
from cmdbctl.scaffold import init_repository
from tests.conftest import GitRepo

WINDOW = ("2026-11-28T22:30:00Z", "2026-11-28T23:30:00Z")  # a Saturday night
NEW_YEAR_WINDOW = ("2027-01-09T22:30:00Z", "2027-01-09T23:30:00Z")  # after the freeze
CACHE = Path(".git/cmdbctl/audit-v1.sqlite")


def change_yaml(
    change_id: str,
    *,
    type_: str = "normal",
    status: str = "submitted",
    window: tuple[str, str] | None = WINDOW,
    targets: str = "app-01",
) -> str:
    lines = [
        "apiVersion: cmdb/v1",
        "kind: ChangeRequest",
        "metadata:",
        f"  id: {change_id}",
        f"  name: Work on {targets}",
        "spec:",
        f"  type: {type_}",
        "  category: system",
        "  requester: alice",
        "  reason: the shop database swaps at peak",
        f"  targets: [{targets}]",
        "  risk: medium",
        "  plan: [drain it, add DIMMs]",
        "  rollbackPlan: set memoryMb back and reboot",
    ]
    if window is not None:
        lines.append(f"  window: {{start: {window[0]}, end: {window[1]}}}")
    return "\n".join([*lines, f"  status: {status}"]) + "\n"


@dataclass
class Repo(GitRepo):
    """Every git command dated, a distinct minute of 2026-11-20 unless given a moment."""

    clock: Iterator[int] = field(default_factory=count)

    def git(self, *args: str, when: int | str | None = None, **options: Any) -> str:
        when = when or f"2026-11-20T{next(self.clock) // 60:02d}:{next(self.clock) % 60:02d}:00Z"
        return super().git(*args, when=when, **options)

    def memory(self, mb: int) -> dict[str, str]:
        text = (self.path / "inventory/app-01.yaml").read_text(encoding="utf-8")
        lines = [
            f"  memoryMb: {mb}" if line.startswith("  memoryMb:") else line
            for line in text.splitlines()
        ]
        return {"inventory/app-01.yaml": "\n".join(lines) + "\n"}

    def approve(self, change_id: str, as_: str = "bob", when: str = "2026-11-21T09:00:00Z") -> None:
        result = self.cli("approve", change_id, as_=as_, when=when)
        assert result.exit_code == 0, result.output + result.stderr

    def request(self, branch: str, change_id: str, memory: int, **change: Any) -> None:
        """On a new branch from main, alice asks for `change_id` and edits app-01."""
        self.branch(branch, "main")
        self.commit(
            "alice",
            f"Ask for {change_id}",
            {**self.memory(memory), f"changes/{change_id}.yaml": change_yaml(change_id, **change)},
        )

    def merge(self, branch: str, when: str = "2026-11-22T10:00:00Z", as_: str = "carol") -> str:
        self.git("checkout", "--quiet", "main")
        self.git("merge", "--quiet", "--no-ff", "-m", f"Merge {branch}", branch, as_=as_, when=when)
        return self.head()

    def squash(self, branch: str, when: str = "2026-11-22T10:00:00Z") -> str:
        self.git("checkout", "--quiet", "main")
        self.git("merge", "--quiet", "--squash", branch, as_="carol", when=when)
        self.git("commit", "--quiet", "-m", f"{branch} (#7)", as_="carol", when=when)
        return self.head()

    def audit(self, *args: str, now: str = "2026-11-23T00:00:00Z") -> tuple[int, dict[str, Any]]:
        result = self.cli("audit", "--format", "json", "--now", now, *args)
        assert result.exit_code in (0, 1), result.output + result.stderr
        return result.exit_code, json.loads(result.stdout)

    def cache_rows(self) -> list[tuple[str, str, bytes]]:
        with sqlite3.connect(self.path / CACHE) as db:
            return db.execute("SELECT commit_id, judgement, verdict FROM verdicts").fetchall()


def codes(commit: dict[str, Any], severity: str | None = None) -> set[str]:
    return {f["code"] for f in commit["findings"] if severity is None or f["severity"] == severity}


def by_sha(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["commit"]: c for c in report["commits"]}


pytestmark = pytest.mark.usefixtures("isolated_git")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """`cmdbctl init` committed on main by alice on 2026-11-01: the import."""
    return Repo.scaffold(tmp_path / "cmdb", when="2026-11-01T09:00:00Z")


@pytest.fixture
def history(repo: Repo) -> Repo:
    """Two approved branches merged by carol: CHG-2026-0042 on 11-22, CHG-2026-0043 on
    11-23."""
    repo.request("first", "CHG-2026-0042", 131072)
    repo.approve("CHG-2026-0042")
    repo.merge("first", when="2026-11-22T10:00:00Z")
    repo.request("second", "CHG-2026-0043", 262144)
    repo.approve("CHG-2026-0043", when="2026-11-22T12:00:00Z")
    repo.merge("second", when="2026-11-23T10:00:00Z")
    return repo


def test_a_history_of_approved_merges_passes(history: Repo) -> None:
    code, report = history.audit(now="2026-11-24T00:00:00Z")
    assert code == 0
    assert [c["kind"] for c in report["commits"]] == ["merge", "merge"]
    assert all(c["verdict"] == "passed" for c in report["commits"])
    assert [c["subject"] for c in report["commits"]] == ["Merge second", "Merge first"]
    newest = report["commits"][0]
    assert newest["author"] == "Carol Example" and newest["email"] == "carol@example.com"
    assert newest["date"] == "2026-11-23T10:00:00+00:00"
    assert len(newest["parents"]) == 2
    summary = report["summary"]
    assert summary["verdict"] == "passed" and summary["audited"] == 2
    assert summary["baseline"] == history.git("rev-list", "--max-parents=0", "HEAD").strip()
    assert summary["walked"] == 3  # the import, two merges
    assert report["findings"] == []


def test_a_direct_push_editing_a_ci_is_reported_with_its_author(
    history: Repo,
) -> None:
    sha = history.commit(
        "dave", "Quick fix of app-01 memory", history.memory(1024), when="2026-11-23T11:00:00Z"
    )
    result = history.cli("audit", "--now", "2026-11-24T00:00:00Z")
    assert result.exit_code == 1
    block = result.stdout.split("\n\n")[0]
    assert f"commit {sha} REFUSED (direct push)" in block
    assert "Dave Example <dave@example.com>" in block
    assert "subject: Quick fix of app-01 memory" in block
    assert "2026-11-23T11:00:00+00:00" in block
    assert "inventory/app-01.yaml:4:7: error gate.uncovered: app-01 is modified" in block
    assert "1 refused" in result.stderr
    _, report = history.audit(now="2026-11-24T00:00:00Z")
    pushed = by_sha(report)[sha]
    assert (pushed["kind"], pushed["verdict"]) == ("direct", "refused")
    assert "gate.uncovered" in codes(pushed, "error")


def test_an_admin_merge_of_an_unapproved_branch_is_reported(history: Repo) -> None:
    history.request("unapproved", "CHG-2026-0044", 524288)
    sha = history.merge("unapproved", when="2026-11-24T10:00:00Z", as_="dave")
    code, report = history.audit(now="2026-11-25T00:00:00Z")
    assert code == 1
    merged = by_sha(report)[sha]
    assert (merged["kind"], merged["verdict"], merged["email"]) == (
        "merge",
        "refused",
        "dave@example.com",
    )
    assert {"gate.approval.missing", "gate.not-approved"} <= codes(merged, "error")
    assert report["summary"]["refused"] == 1 and report["summary"]["passed"] == 2


def test_a_squash_merge_of_an_approved_branch_passes_with_its_provenance_unproven(
    repo: Repo,
) -> None:
    repo.request("feature", "CHG-2026-0042", 131072)
    repo.approve("CHG-2026-0042")
    sha = repo.squash("feature")
    assert repo.git("rev-list", "--count", "HEAD").strip() == "2"  # the approval commit is gone
    code, report = repo.audit()
    assert code == 0
    squashed = by_sha(report)[sha]
    assert (squashed["kind"], squashed["verdict"]) == ("squash", "passed")
    warning = next(f for f in squashed["findings"] if f["code"] == "gate.approval.unproven")
    assert warning["severity"] == "warning"
    assert "provenance is not in history" in warning["message"]
    assert "bob" in warning["message"]
    text = repo.cli("audit", "--now", "2026-11-23T00:00:00Z")
    assert text.exit_code == 0
    assert f"commit {sha} passed with warnings (squash merge)" in text.stdout


def test_a_change_carried_out_in_a_freeze_is_reported(repo: Repo) -> None:
    repo.request("year-end", "CHG-2026-0045", 131072, window=NEW_YEAR_WINDOW)
    repo.approve("CHG-2026-0045", when="2026-12-20T09:00:00Z")
    sha = repo.merge("year-end", when="2026-12-27T10:00:00Z")
    code, report = repo.audit(now="2027-01-10T00:00:00Z")
    assert code == 1
    merged = by_sha(report)[sha]
    assert merged["verdict"] == "refused"
    freeze = next(f for f in merged["findings"] if f["code"] == "gate.freeze")
    assert "year-end" in freeze["message"]
    # The same branch merged after the freeze passes: the verdict is at the merge's date.
    repo.git("reset", "--quiet", "--hard", "HEAD~1")
    repo.merge("year-end", when="2027-01-04T10:00:00Z")
    assert repo.audit(now="2027-01-10T00:00:00Z")[0] == 0


def test_an_overdue_emergency_review_is_reported_and_never_cached(repo: Repo) -> None:
    repo.request("outage", "CHG-2026-0050", 131072, type_="emergency", window=None)
    repo.approve("CHG-2026-0050", when="2026-11-21T09:00:00Z")
    path = "changes/CHG-2026-0050.yaml"
    done = (
        (repo.path / path)
        .read_text(encoding="utf-8")
        .replace("status: approved", "status: implemented")
    )
    repo.commit("alice", "Implemented", {path: done}, when="2026-11-21T10:00:00Z")
    repo.merge("outage", when="2026-11-21T11:00:00Z")

    code, report = repo.audit(now="2026-11-24T00:00:00Z")  # due 11-26: not yet overdue
    assert code == 0
    assert [f["code"] for f in report["findings"]] == ["gate.review.due"]
    assert report["summary"]["reviewsOverdue"] == 0

    code, report = repo.audit(now="2026-12-01T00:00:00Z")
    assert code == 1
    assert report["summary"]["judged"] == 0  # the merge's verdict came from the cache
    assert all(c["verdict"] == "passed" for c in report["commits"])
    overdue = next(f for f in report["findings"] if f["code"] == "gate.review.overdue")
    assert overdue["path"] == path and overdue["severity"] == "error"
    assert "2026-11-26T10:00:00+00:00" in overdue["message"]
    assert report["summary"]["reviewsOverdue"] == 1
    assert all(b"review.overdue" not in verdict for _, _, verdict in repo.cache_rows())
    text = repo.cli("audit", "--now", "2026-12-01T00:00:00Z")
    assert text.exit_code == 1
    assert "post-implementation reviews at HEAD, as of 2026-12-01T00:00:00+00:00" in text.stdout
    assert f"{path}:" in text.stdout and "error gate.review.overdue" in text.stdout

    # Reviewed by carol (a change manager, not the requester): nothing is due any more.
    repo.git("checkout", "--quiet", "-b", "review", "main")
    result = repo.cli(
        "review",
        "CHG-2026-0050",
        "--outcome",
        "successful",
        "--notes",
        "fine",
        as_="carol",
        when="2026-11-25T09:00:00Z",
    )
    assert result.exit_code == 0, result.output + result.stderr
    repo.merge("review", when="2026-11-25T10:00:00Z", as_="bob")
    code, report = repo.audit(now="2026-12-01T00:00:00Z")
    assert (code, report["findings"]) == (0, [])


def _with_critical_rule(tmp_path: Path, asks: str) -> Repo:
    """`cmdbctl init` with one more rule, `critical` (changes affecting a critical
    service: `asks`), committed on main by alice on 2026-11-01."""
    init_repository(tmp_path / "cmdb")
    repo = Repo(tmp_path / "cmdb", count())
    policy = repo.path / "policies/change-policy.yaml"
    rule = f"    - {{id: critical, match: {{criticality: [critical]}}, {asks}}}\n"
    policy.write_text(
        policy.read_text(encoding="utf-8").replace("  freezes:", rule + "  freezes:"),
        encoding="utf-8",
    )
    repo.git("init", "--quiet", "-b", "main")
    repo.git("add", "-A")
    repo.git("commit", "--quiet", "-m", "cmdbctl init", when="2026-11-01T09:00:00Z")
    return repo


def test_a_review_rule_matched_through_the_affected_services_is_checked(
    tmp_path: Path,
) -> None:
    """A rule that asks for a review of changes touching critical services matches a
    change of app-01 (high) through the service that depends on it (shop, critical)."""
    repo = _with_critical_rule(
        tmp_path, "approvals: [{group: change-managers, count: 1}], reviewWithin: P1D"
    )
    repo.request("feature", "CHG-2026-0042", 131072)
    repo.approve("CHG-2026-0042")
    path = "changes/CHG-2026-0042.yaml"
    done = (
        (repo.path / path)
        .read_text(encoding="utf-8")
        .replace("status: approved", "status: implemented")
    )
    repo.commit("alice", "Implemented", {path: done}, when="2026-11-21T10:00:00Z")
    repo.merge("feature", when="2026-11-22T10:00:00Z")
    code, report = repo.audit(now="2026-12-05T00:00:00Z")
    assert code == 1 and report["summary"]["refused"] == 0
    overdue = next(f for f in report["findings"] if f["code"] == "gate.review.overdue")
    assert "rule critical" in overdue["message"]
    assert "2026-11-29T23:30:00+00:00" in overdue["message"]  # the window's end + P1D


def test_dependents_are_those_of_the_commit_judged_not_of_the_head(tmp_path: Path) -> None:
    """The shop (critical) depended on app-01 when the first merge landed; a later
    commit cut the tie. The merge is still judged with the shop among the services its
    change affects (rule `critical`: two change managers), whether one process judges
    every commit or workers share them: a run of this many commits reads what each
    blob refers to once (`ReferenceIndex`), the head's blobs and then the older ones."""
    repo = _with_critical_rule(tmp_path, "approvals: [{group: change-managers, count: 2}]")
    repo.request("feature", "CHG-2026-0042", 131072)
    repo.approve("CHG-2026-0042")
    merged = repo.merge("feature", when="2026-11-22T10:00:00Z")
    for mb in range(1, 10):  # enough commits to judge that the run reads every blob once
        repo.commit("alice", f"Quick fix {mb}", repo.memory(1024 * mb))
    web = repo.path / "inventory/shop-web.yaml"
    untied = web.read_text(encoding="utf-8").replace("  runsOn: [app-01]\n", "")
    assert untied != web.read_text(encoding="utf-8")
    repo.commit("alice", "shop-web moved", {"inventory/shop-web.yaml": untied})
    env = {"CMDBCTL_NO_CACHE": "1"}
    reports = []
    for jobs in ("1", "2"):
        result = repo.cli("audit", "--format", "json", "--jobs", jobs, env=env)
        assert result.exit_code == 1, result.output + result.stderr
        reports.append(json.loads(result.stdout))
    assert reports[0]["commits"] == reports[1]["commits"]
    merge = by_sha(reports[0])[merged]
    assert merge["verdict"] == "refused"
    missing = [f for f in merge["findings"] if f["code"] == "gate.approval.missing"]
    assert missing and "critical" in missing[0]["message"], merge["findings"]


def test_since_limits_the_range(history: Repo) -> None:
    first = history.head("HEAD~1")
    code, report = history.audit("--since", first, now="2026-11-24T00:00:00Z")
    assert code == 0
    assert [c["subject"] for c in report["commits"]] == ["Merge second"]
    assert report["summary"]["walked"] == 1 and report["summary"]["baseline"] is None
    assert report["since"] == first
    result = history.cli("audit", "--since", "no-such-tag")
    assert result.exit_code == 2
    assert "'no-such-tag' is not there" in result.stderr


def test_a_rerun_judges_only_the_new_merge(history: Repo) -> None:
    _, first = history.audit(now="2026-11-24T00:00:00Z")
    assert (first["summary"]["judged"], first["summary"]["cached"]) == (2, 0)
    assert len(history.cache_rows()) == 2
    _, again = history.audit(now="2026-11-24T00:00:00Z")
    assert (again["summary"]["judged"], again["summary"]["cached"]) == (0, 2)
    assert again["commits"] == first["commits"]
    history.request("third", "CHG-2026-0046", 524288)
    history.approve("CHG-2026-0046", when="2026-11-23T12:00:00Z")
    history.merge("third", when="2026-11-24T10:00:00Z")
    _, third = history.audit(now="2026-11-25T00:00:00Z")
    assert (third["summary"]["judged"], third["summary"]["cached"]) == (1, 2)
    assert third["commits"][1:] == first["commits"]
    assert len(history.cache_rows()) == 3
    # CMDBCTL_NO_CACHE: judged afresh, nothing read or written.
    result = history.cli("audit", "--format", "json", env={"CMDBCTL_NO_CACHE": "1"})
    assert json.loads(result.stdout)["summary"]["judged"] == 3


def test_worker_processes_reach_the_same_verdicts(history: Repo) -> None:
    history.commit("alice", "Quick fix", history.memory(1024), when="2026-11-23T11:00:00Z")
    history.request("unapproved", "CHG-2026-0044", 524288)
    history.merge("unapproved", when="2026-11-24T10:00:00Z")
    history.request("third", "CHG-2026-0046", 2048)
    history.approve("CHG-2026-0046", when="2026-11-24T12:00:00Z")
    history.merge("third", when="2026-11-24T13:00:00Z")
    env = {"CMDBCTL_NO_CACHE": "1"}
    alone = history.cli("audit", "--format", "json", "--jobs", "1", env=env)
    shared = history.cli("audit", "--format", "json", "--jobs", "2", env=env)
    assert alone.exit_code == shared.exit_code == 1
    assert json.loads(shared.stdout)["summary"]["judged"] == 5
    assert json.loads(alone.stdout)["commits"] == json.loads(shared.stdout)["commits"]
    assert [c["verdict"] for c in json.loads(shared.stdout)["commits"]] == [
        "passed",
        "refused",
        "refused",
        "passed",
        "passed",
    ]


def test_a_worker_that_cannot_judge_ends_the_run_with_exit_2(
    history: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `CommandError` in a worker process (here a git failure, which pickling would
    not carry) reaches the user as one: exit 2, never a verdict."""
    from cmdbctl import audit, gitio

    def failing(*args: object, **kwargs: object) -> None:
        raise gitio.GitFailed("git diff-tree failed: object not there", 128)

    history.commit("alice", "Quick fix", history.memory(1024), when="2026-11-23T11:00:00Z")
    history.commit("alice", "Another", history.memory(2048), when="2026-11-23T12:00:00Z")
    monkeypatch.setattr(audit, "run_gate", failing)  # the workers fork with it
    monkeypatch.setenv("CMDBCTL_NO_CACHE", "1")
    result = history.cli("audit", "--jobs", "2")
    assert result.exit_code == 2
    assert "git diff-tree failed: object not there" in result.stderr


def test_a_corrupt_cache_is_ignored_and_rebuilt(history: Repo) -> None:
    pushed = history.commit("alice", "Quick fix", history.memory(1024), when="2026-11-23T11:00:00Z")
    code, clean = history.audit(now="2026-11-24T00:00:00Z")
    assert code == 1
    cache = history.path / CACHE
    cache.write_bytes(b"this is not a database" * 100)
    code, report = history.audit(now="2026-11-24T00:00:00Z")
    assert (code, report["commits"], report["summary"]["judged"]) == (1, clean["commits"], 3)
    assert len(history.cache_rows()) == 3  # rebuilt

    # A row whose verdict was changed behind the cache's back is judged again.
    forged = json.dumps({"kind": "direct", "verdict": "passed", "findings": []}).encode()
    with sqlite3.connect(cache) as db:
        db.execute("UPDATE verdicts SET verdict = ? WHERE commit_id = ?", (forged, pushed))
    code, report = history.audit(now="2026-11-24T00:00:00Z")
    assert (code, report["commits"], report["summary"]["judged"]) == (1, clean["commits"], 1)

    # Junk in a row's fields (digest and all) is no verdict either.
    with sqlite3.connect(cache) as db:
        db.execute("UPDATE verdicts SET verdict = X'00ff', digest = 'x'")
    code, report = history.audit(now="2026-11-24T00:00:00Z")
    assert (code, report["commits"], report["summary"]["judged"]) == (1, clean["commits"], 3)


def test_concurrent_audits_agree(history: Repo) -> None:
    history.commit("alice", "Quick fix", history.memory(1024), when="2026-11-23T11:00:00Z")
    env = {**os.environ, "NO_COLOR": "1"}
    argv = [
        sys.executable,
        "-m",
        "cmdbctl",
        "audit",
        "--format",
        "json",
        "--repo",
        str(history.path),
        "--now",
        "2026-11-24T00:00:00Z",
    ]
    runs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for _ in range(3)
    ]
    outputs = [(proc.communicate(timeout=60), proc.returncode) for proc in runs]
    assert {code for _, code in outputs} == {1}
    reports = [json.loads(out) for (out, _), _ in outputs]
    assert all(r["commits"] == reports[0]["commits"] for r in reports)
    assert len(history.cache_rows()) == 3
    # (another process: this one's fingerprint of the code was taken when the suite began)
    again = subprocess.run(argv, capture_output=True, env=env, check=False, timeout=60)
    report = json.loads(again.stdout)
    assert report["summary"]["judged"] == 0 and report["commits"] == reports[0]["commits"]


def test_a_shallow_clone_is_deepened_or_refused_with_the_fetch_to_run(
    history: Repo, tmp_path: Path
) -> None:
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", f"file://{history.path}", str(clone)],
        check=True,
        capture_output=True,
    )
    cloned = Repo(clone, count())
    assert cloned.git("rev-parse", "--is-shallow-repository").strip() == "true"
    code, report = cloned.audit(now="2026-11-24T00:00:00Z")  # origin is there: deepened
    assert code == 0 and report["summary"]["audited"] == 2
    assert cloned.git("rev-parse", "--is-shallow-repository").strip() == "false"

    subprocess.run(
        [
            "git",
            "clone",
            "--quiet",
            "--depth",
            "1",
            f"file://{history.path}",
            str(tmp_path / "cut"),
        ],
        check=True,
        capture_output=True,
    )
    cut = Repo(tmp_path / "cut", count())
    cut.git("remote", "remove", "origin")
    result = cut.cli("audit")
    assert result.exit_code == 2
    assert "shallow" in result.stderr
    assert "git fetch --unshallow origin" in result.stderr


def test_markdown_names_each_refused_commit_and_what_is_missing(history: Repo) -> None:
    sha = history.commit("dave", "Quick fix", history.memory(1024), when="2026-11-23T11:00:00Z")
    result = history.cli("audit", "--format", "markdown", "--now", "2026-11-24T00:00:00Z")
    assert result.exit_code == 1
    assert result.stdout.startswith("### cmdbctl audit: ❌ refused")
    row = next(line for line in result.stdout.splitlines() if line.startswith(f"| `{sha[:10]}`"))
    assert "direct push" in row and "Dave Example" in row and "**gate.uncovered**" in row
    assert "is the import: the baseline, not judged" in result.stdout


def test_nothing_to_audit_without_history(tmp_path: Path) -> None:
    (tmp_path / "plain" / "inventory").mkdir(parents=True)
    result = CliRunner().invoke(cli, ["audit", "--repo", str(tmp_path / "plain")])
    assert result.exit_code == 2
    assert "not a git work tree" in result.stderr
    init_repository(tmp_path / "fresh")  # git init, nothing committed
    result = CliRunner().invoke(cli, ["audit", "--repo", str(tmp_path / "fresh")])
    assert result.exit_code == 2
    assert "no commits yet: there is nothing to audit" in result.stderr
