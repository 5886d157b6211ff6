"""`--format github`: workflow annotations, then one plain summary line, so that a
clean run's log still says what was checked (a run printing nothing reads as a step
that did not run)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GitRepo

ANNOTATION = re.compile(r"^::(error|warning|notice) file=[^,]+,line=\d+,col=\d+,title=[^:]+::.+$")


def test_a_clean_validate_prints_one_summary_line(
    cmdb_repo: Path, run_cli: Callable[..., Any]
) -> None:
    result = run_cli("validate", "--format", "github", repo=cmdb_repo)
    assert result.exit_code == 0
    text = run_cli("validate", repo=cmdb_repo)
    assert result.stdout == "15 files valid\n" == text.stderr  # the line text prints
    assert result.stderr == ""


def test_findings_come_first_and_the_summary_last(
    cmdb_repo: Path, run_cli: Callable[..., Any]
) -> None:
    app = cmdb_repo / "inventory" / "app-01.yaml"
    app.write_text(app.read_text().replace("status: active", "status: on"))
    result = run_cli("validate", "--format", "github", repo=cmdb_repo)
    assert result.exit_code == 1
    *annotations, summary = result.stdout.splitlines()
    assert len(annotations) == 1 and ANNOTATION.match(annotations[0]), annotations
    assert annotations[0].startswith("::error file=inventory/app-01.yaml,line=18,col=11,")
    assert summary == "1 error in 15 files"
    assert not summary.startswith("::")  # a log line, not one more annotation


@pytest.mark.usefixtures("isolated_git")
def test_a_passing_gate_prints_its_verdict(tmp_path: Path) -> None:
    repo = GitRepo.scaffold(tmp_path / "cmdb")
    repo.branch("feature")
    repo.commit(files={"NOTES.md": "on-call rota\n"}, message="Notes")
    result = repo.cli("gate", "--base", "main", "--format", "github")
    assert result.exit_code == 0, result.output
    assert result.stdout == "passed: no findings (0 files changed, 0 change requests)\n"
