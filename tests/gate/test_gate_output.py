"""The gate's output formats: json (with change set and verdicts), text, github, sarif,
markdown."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from cmdbctl.reporters import REPORTERS


@pytest.fixture
def refused(requested: Any, kit: Any) -> Any:
    """alice's change with her own approval typed in: refused, with a warning (the
    approval is hers, so not forged, but she requested the change)."""
    text = requested.edit(
        kit.CHANGE_PATH,
        "  status: submitted",
        "  approvals:\n"
        "    - {by: alice, at: 2026-11-22T09:00:00Z, decision: approve}\n"
        "  status: submitted",
    )
    requested.commit("alice", "self-approval", files={kit.CHANGE_PATH: text})
    return requested


def test_json_has_field_level_change_set_and_per_approval_trust(refused: Any, kit: Any) -> None:
    code, report = refused.gate()

    assert code == 1
    assert report["formatVersion"] == 1
    assert report["base"] == refused.head("main")
    assert report["head"] == refused.head()
    assert report["mergeBase"] == refused.head("main")
    documents = {d["path"]: d for d in report["changeSet"]}
    assert set(documents) == {"inventory/app-01.yaml", kit.CHANGE_PATH}
    app = documents["inventory/app-01.yaml"]
    assert (app["status"], app["id"], app["kind"]) == ("modified", "app-01", "Server")
    assert app["changes"] == [{"path": "/spec/memoryMb", "old": 65536, "new": 131072}]
    assert documents[kit.CHANGE_PATH]["status"] == "added"
    [change] = report["changes"]
    assert change["id"] == kit.CHANGE_ID
    assert change["path"] == kit.CHANGE_PATH
    assert change["targets"] == ["app-01"]
    [approval] = change["approvals"]
    assert approval["by"] == "alice" and approval["decision"] == "approve"
    assert approval["trusted"] is False and approval["stale"] is False
    assert approval["commit"] == refused.head()
    assert approval["reasons"] == ["alice requested the change"]
    summary = report["summary"]
    assert summary == {
        "files": 2,
        "errors": 2,
        "warnings": 1,
        "infos": 0,
        "verdict": "refused",
        "changes": 1,
    }
    for finding in report["findings"]:
        assert set(finding) == {
            "path",
            "line",
            "column",
            "pointer",
            "code",
            "severity",
            "message",
            "hint",
        }
        assert finding["line"] >= 1 and finding["column"] >= 1


def test_text_output_is_path_line_col_severity_code_message(refused: Any, kit: Any) -> None:
    result = refused.gate_result(fmt="text")

    assert result.exit_code == 1
    line = kit.line_of(refused.read(kit.CHANGE_PATH), r"by: alice")
    assert re.search(
        rf"^{re.escape(kit.CHANGE_PATH)}:{line}:\d+: warning "
        r"gate\.approval\.untrusted: CHG-2026-0042: approval by alice does not count",
        result.stdout,
        re.MULTILINE,
    ), result.stdout
    assert re.search(
        r"^inventory/app-01\.yaml:4:7: error gate\.not-approved: ", result.stdout, re.MULTILINE
    ), result.stdout
    assert "refused: 2 errors, 1 warning (2 files changed, 1 change request)" in result.stderr


def test_github_format_writes_workflow_annotations(refused: Any) -> None:
    result = refused.gate_result(fmt="github")

    assert result.exit_code == 1
    *lines, summary = result.stdout.splitlines()
    assert summary == "refused: 2 errors, 1 warning (2 files changed, 1 change request)"
    assert lines and all(
        line.startswith(("::error ", "::warning ", "::notice ")) for line in lines
    ), lines
    assert any(
        line.startswith("::error file=inventory/app-01.yaml,line=4,col=7,title=gate.not-approved::")
        for line in lines
    ), lines
    assert any(
        line.startswith("::warning file=changes/CHG-2026-0042.yaml,")
        and "title=gate.approval.untrusted::" in line
        for line in lines
    ), lines
    missing = next(line for line in lines if "title=gate.approval.missing" in line)
    # The message keeps its text; the hint follows on an escaped new line.
    assert "needs 1 more approval from change-managers%3A bob%2C carol" not in missing
    assert "change-managers: bob, carol%0Aeach approver runs" in missing


def test_sarif_format_parses_and_locates_results(refused: Any) -> None:
    result = refused.gate_result(fmt="sarif")

    assert result.exit_code == 1
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    [run] = sarif["runs"]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    results = run["results"]
    assert {r["ruleId"] for r in results} == {
        "gate.approval.missing",
        "gate.approval.untrusted",
        "gate.not-approved",
    }
    for r in results:
        assert rules[r["ruleIndex"]] == r["ruleId"]
    not_approved = next(r for r in results if r["ruleId"] == "gate.not-approved")
    location = not_approved["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "inventory/app-01.yaml"
    assert location["region"] == {"startLine": 4, "startColumn": 7}
    assert (
        next(r for r in results if r["ruleId"] == "gate.approval.untrusted")["level"] == "warning"
    )


def test_markdown_format_summarises_the_verdict_for_a_pull_request(refused: Any, kit: Any) -> None:
    if "markdown" not in REPORTERS:
        pytest.skip("no markdown reporter in this version")
    result = refused.gate_result(fmt="markdown")

    assert result.exit_code == 1
    text = result.stdout
    assert "refused" in text
    assert kit.CHANGE_ID in text
    assert "gate.approval.missing" in text and "gate.not-approved" in text
    assert "inventory/app-01.yaml" in text


def test_passing_gate_in_every_format_exits_0(requested: Any, kit: Any) -> None:
    assert requested.approve(kit.CHANGE_ID, as_="bob").exit_code == 0

    for fmt in REPORTERS:
        result = requested.gate_result(fmt=fmt)
        assert result.exit_code == 0, (fmt, result.stdout, result.stderr)
        if fmt == "github":  # no annotation; the verdict as a plain log line
            assert result.stdout == "passed: no findings (2 files changed, 1 change request)\n"
        if fmt == "sarif":
            assert json.loads(result.stdout)["runs"][0]["results"] == []
