"""SARIF 2.1.0, for code-scanning dashboards (GitHub, GitLab, Azure DevOps).

https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

import orjson

from cmdbctl import __version__
from cmdbctl.findings import Finding, Report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {"error": "error", "warning": "warning", "info": "note"}


def document(findings: Sequence[Finding]) -> dict[str, Any]:
    codes = sorted({f.code for f in findings})
    rules = [_rule(code) for code in codes]
    results = []
    for f in findings:
        result: dict[str, Any] = {
            "ruleId": f.code,
            "ruleIndex": codes.index(f.code),
            "level": _LEVELS[f.severity],
            "message": {"text": f.message + (f" ({f.hint})" if f.hint else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": f.line or 1, "startColumn": f.column or 1},
                    }
                }
            ],
        }
        if f.pointer:
            result["properties"] = {"pointer": f.pointer}
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "cmdbctl",
                        "version": __version__,
                        "informationUri": "https://github.com/cmdbctl/cmdbctl",
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": "./"}},
                "results": results,
            }
        ],
    }


def _rule(code: str) -> dict[str, Any]:
    """A reportingDescriptor: the code, and what it means as `cmdbctl explain` says it
    (the full description adds which commands find it)."""
    from cmdbctl.codes import lookup  # imported here: only SARIF output needs it

    found = lookup(code)
    if found is None:  # (every code is declared: tests/test_codes.py)
        return {"id": code, "name": code, "shortDescription": {"text": code}}
    commands = ", ".join(f"cmdbctl {c}" for c in found.commands)
    return {
        "id": code,
        "name": code,
        "shortDescription": {"text": found.description},
        "fullDescription": {"text": f"{found.description} (found by {commands})"},
    }


def render(report: Report, out: TextIO, color: bool) -> None:
    out.write(orjson.dumps(document(report.findings), option=orjson.OPT_INDENT_2).decode() + "\n")
