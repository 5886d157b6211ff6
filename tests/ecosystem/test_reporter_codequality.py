"""`--format codequality`: GitLab's Code Quality report, as `.gitlab-ci.yml` uploads it.

GitLab reads a JSON list of issues, each with `description`, `check_name`,
`fingerprint`, `severity` (info, minor, major, critical, blocker) and `location`
(`path`, `lines.begin`); it matches a branch's issues against the target branch's by
fingerprint (https://docs.gitlab.com/ci/testing/code_quality/).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cmdbctl.findings import Finding, Report
from cmdbctl.reporters.codequality import issues
from tests.conftest import ROLLED_BACK_CHANGE, GitRepo

KEYS = {"description", "check_name", "fingerprint", "severity", "location"}
SEVERITY = {"error": "critical", "warning": "minor", "info": "info"}


@pytest.fixture
def broken_cmdb(cmdb_repo: Path, write_file: Callable[..., Path]) -> Path:
    """Errors of several kinds and one warning."""
    app = cmdb_repo / "inventory" / "app-01.yaml"
    app.write_text(app.read_text().replace("status: active", "status: on"))
    write_file(
        cmdb_repo,
        "inventory/web-09.yaml",
        "apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: web-09\nspec:\n  location: rack-a1\n",
    )
    write_file(cmdb_repo, "policies/broken.yaml", "members: [alice,\n")
    write_file(cmdb_repo, "changes/CHG-2026-0300.yaml", ROLLED_BACK_CHANGE)
    return cmdb_repo


def _report(run_cli: Callable[..., Any], repo: Path, code: int = 1) -> list[dict[str, Any]]:
    result = run_cli("validate", "--format", "codequality", repo=repo)
    assert result.exit_code == code, result.output
    assert result.stderr == ""  # a machine format: nothing else on stdout, nothing on stderr
    document: list[dict[str, Any]] = json.loads(result.stdout)
    return document


def _json_findings(run_cli: Callable[..., Any], repo: Path) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = json.loads(
        run_cli("validate", "--format", "json", repo=repo).stdout
    )["findings"]
    return findings


def test_every_finding_is_an_issue_gitlab_reads(
    broken_cmdb: Path, run_cli: Callable[..., Any]
) -> None:
    report = _report(run_cli, broken_cmdb)
    expected = _json_findings(run_cli, broken_cmdb)
    assert isinstance(report, list) and len(report) == len(expected) == 4
    for issue, finding in zip(report, expected, strict=True):
        assert set(issue) == KEYS
        assert issue["check_name"] == finding["code"]
        assert issue["severity"] == SEVERITY[finding["severity"]]
        assert issue["location"] == {"path": finding["path"], "lines": {"begin": finding["line"]}}
        assert issue["description"].startswith(f"{finding['code']}: {finding['message']}")
        if finding["hint"]:
            assert issue["description"].endswith(f"({finding['hint']})")
        assert re.fullmatch(r"[0-9a-f]{64}", issue["fingerprint"])
    assert len({i["fingerprint"] for i in report}) == len(report)
    assert {
        (i["location"]["path"], i["location"]["lines"]["begin"], i["check_name"], i["severity"])
        for i in report
    } == {
        ("inventory/app-01.yaml", 18, "schema.enum", "critical"),
        ("inventory/web-09.yaml", 6, "ref.dangling", "critical"),
        ("policies/broken.yaml", 2, "yaml.syntax", "critical"),
        ("changes/CHG-2026-0300.yaml", 14, "change.rollback-record-missing", "minor"),
    }


def test_a_fingerprint_survives_a_line_move_and_names_one_issue(
    broken_cmdb: Path, run_cli: Callable[..., Any]
) -> None:
    before = {i["check_name"]: i for i in _report(run_cli, broken_cmdb)}
    app = broken_cmdb / "inventory" / "app-01.yaml"
    app.write_text("# moved down by a comment\n" + app.read_text())
    after = {i["check_name"]: i for i in _report(run_cli, broken_cmdb)}
    moved = after["schema.enum"]
    assert (
        moved["location"]["lines"]["begin"]
        == before["schema.enum"]["location"]["lines"]["begin"] + 1
    )
    # GitLab shows an issue as new or fixed by fingerprint: a moved line is neither.
    assert moved["fingerprint"] == before["schema.enum"]["fingerprint"]
    assert {k: v["fingerprint"] for k, v in after.items()} == {
        k: v["fingerprint"] for k, v in before.items()
    }


def test_identical_findings_get_distinct_fingerprints() -> None:
    # GitLab keeps one issue per fingerprint: two alike in one file must both show.
    twice = [Finding("inventory/a.yaml", "yaml.syntax", "bad", line=n) for n in (1, 9)]
    fingerprints = [i["fingerprint"] for i in issues(Report("validate", twice, {}))]
    assert len(set(fingerprints)) == 2
    again = [i["fingerprint"] for i in issues(Report("validate", twice, {}))]
    assert again == fingerprints


def test_a_clean_repository_is_an_empty_list(cmdb_repo: Path, run_cli: Callable[..., Any]) -> None:
    result = run_cli("validate", "--format", "codequality", repo=cmdb_repo)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("command", ["validate", "gate"])
def test_validate_and_gate_offer_it(command: str, run_cli: Callable[..., Any]) -> None:
    result = run_cli(command, "--help")
    assert result.exit_code == 0
    assert "codequality" in result.stdout


@pytest.mark.usefixtures("isolated_git")
def test_the_gate_reports_a_refusal_as_issues(tmp_path: Path) -> None:
    repo = GitRepo.scaffold(tmp_path / "cmdb")
    repo.branch("feature")
    repo.commit(
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            )
        },
        message="More memory, no change request",
    )
    gate_json = repo.cli("gate", "--base", "main", "--format", "json")
    assert gate_json.exit_code == 1, gate_json.output
    expected = json.loads(gate_json.stdout)["findings"]
    result = repo.cli("gate", "--base", "main", "--format", "codequality")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(i["check_name"], i["location"]["path"]) for i in report] == [
        (f["code"], f["path"]) for f in expected
    ]
    assert ("inventory/app-01.yaml", "critical") in {
        (i["location"]["path"], i["severity"]) for i in report
    }
