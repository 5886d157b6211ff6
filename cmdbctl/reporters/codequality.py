"""GitLab Code Quality, the report a `.gitlab-ci.yml` job names under
`artifacts: reports: codequality:`: a JSON list of issues in a subset of the Code Climate
format (https://docs.gitlab.com/ci/testing/code_quality/#code-quality-report-format).

Chosen over a JUnit report: GitLab shows Code Quality issues in a merge request as
findings, each with its severity and a link to its file and line (and marks the lines
in the diff where the tier allows), and the widget lists what the branch added or
fixed against the target branch. JUnit would show a finding as a failed test case,
without a place in a file.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any, TextIO

import orjson

from cmdbctl.findings import Finding, Report

# Errors fail the pipeline, so they rank above the "major" other linters give theirs.
_SEVERITIES = {"error": "critical", "warning": "minor", "info": "info"}


def _fingerprint(f: Finding, occurrence: int) -> str:
    """Stable across runs and line moves (GitLab matches a branch's issues against the
    target branch's by fingerprint), unique within one report."""
    key = "\0".join((f.path, f.code, f.pointer, f.message, str(occurrence)))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def issues(report: Report) -> list[dict[str, Any]]:
    seen: Counter[tuple[str, str, str, str]] = Counter()
    out = []
    for f in report.findings:
        key = (f.path, f.code, f.pointer, f.message)
        seen[key] += 1
        out.append(
            {
                "description": f"{f.code}: {f.message}" + (f" ({f.hint})" if f.hint else ""),
                "check_name": f.code,
                "fingerprint": _fingerprint(f, seen[key]),
                "severity": _SEVERITIES[f.severity],
                "location": {"path": f.path, "lines": {"begin": f.line or 1}},
            }
        )
    return out


def render(report: Report, out: TextIO, color: bool) -> None:
    text = orjson.dumps(issues(report), option=orjson.OPT_INDENT_2).decode("utf-8")
    out.write(text + "\n")
