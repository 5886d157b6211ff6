"""Counts in words: `1 change request`, `(1 field)`, `2 errors`, in every summary a
person reads (the text summary line and the Markdown comment)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from cmdbctl.findings import Finding, Report
from cmdbctl.reporters import markdown
from cmdbctl.reporters.text import summary_line


@pytest.mark.parametrize(
    ("summary", "line"),
    [
        ({"files": 1, "errors": 0, "warnings": 0, "infos": 0}, "1 file valid"),
        (
            {"files": 2, "errors": 1, "warnings": 1, "infos": 1},
            "1 error, 1 warning, 1 info in 2 files",
        ),
        ({"files": 1, "errors": 2, "warnings": 0, "infos": 2}, "2 errors, 2 infos in 1 file"),
        (
            {"files": 1, "errors": 0, "warnings": 0, "infos": 0, "verdict": "passed", "changes": 1},
            "passed: no findings (1 file changed, 1 change request)",
        ),
        (
            {
                "files": 2,
                "errors": 1,
                "warnings": 0,
                "infos": 0,
                "verdict": "refused",
                "changes": 0,
            },
            "refused: 1 error (2 files changed, 0 change requests)",
        ),
        (
            {"files": 3, "errors": 0, "warnings": 0, "infos": 0, "verdict": "passed", "changes": 2},
            "passed: no findings (3 files changed, 2 change requests)",
        ),
    ],
)
def test_summary_line(summary: dict[str, Any], line: str) -> None:
    assert summary_line(summary) == line


def _markdown(report: Report) -> str:
    out = io.StringIO()
    markdown.render(report, out, False)
    return out.getvalue()


def test_markdown_counts_one_of_each_in_the_singular() -> None:
    findings = [
        Finding("inventory/a.yaml", "schema.enum", "bad", line=1, column=1),
        Finding("inventory/a.yaml", "ref.kind", "odd", severity="warning", line=2, column=1),
    ]
    text = _markdown(Report("validate", findings, {"files": 1, "errors": 1, "warnings": 1}))
    assert "### cmdbctl validate: ❌ 1 error, 1 warning\n" in text

    gate = Report(
        "gate",
        [],
        {"files": 1, "errors": 0, "warnings": 0, "verdict": "passed", "changes": 0},
        {
            "changeSet": [
                {
                    "path": "inventory/a.yaml",
                    "status": "modified",
                    "changes": [{"path": "spec.memoryMb", "old": 1, "new": 2}],
                }
            ]
        },
    )
    text = _markdown(gate)
    assert "<summary>1 changed document</summary>" in text
    assert "- `inventory/a.yaml` modified (1 field)\n" in text


def test_markdown_counts_many_in_the_plural() -> None:
    text = _markdown(Report("validate", [], {"files": 3, "errors": 0, "warnings": 2}))
    assert "### cmdbctl validate: ✅ 0 errors, 2 warnings\n" in text
    change = [{"path": f"spec.f{i}", "old": i, "new": i + 1} for i in range(2)]
    gate = Report(
        "gate",
        [],
        {"files": 2, "verdict": "passed", "changes": 0},
        {
            "changeSet": [
                {"path": "inventory/a.yaml", "status": "modified", "changes": change},
                {"path": "inventory/b.yaml", "status": "added"},
            ]
        },
    )
    text = _markdown(gate)
    assert "<summary>2 changed documents</summary>" in text
    assert "- `inventory/a.yaml` modified (2 fields)\n" in text
    assert "- `inventory/b.yaml` added\n" in text
