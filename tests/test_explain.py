"""`cmdbctl explain [CODE]`: what a finding code means, and which command finds it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cmdbctl import codes


@pytest.fixture(autouse=True)
def _outside_any_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # explain needs no CMDB


def test_a_code(run_cli: Callable[..., Any]) -> None:
    result = run_cli("explain", "gate.approval.stale")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        (
            "gate.approval.stale: an approval given before the change request or a file it "
            "may touch changed: it does not count"
        ),
        "found by: cmdbctl gate",
    ]


def test_a_code_both_commands_report(run_cli: Callable[..., Any]) -> None:
    result = run_cli("explain", "ref.dangling")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"ref.dangling: {codes.describe('ref.dangling')}",
        "found by: cmdbctl validate, cmdbctl gate",
    ]


def test_a_schema_keyword_as_the_schema_spells_it(run_cli: Callable[..., Any]) -> None:
    result = run_cli("explain", "schema.maxLength")
    assert result.exit_code == 0
    assert result.stdout.startswith("schema.max-length: a string is longer than")


def test_an_unknown_code_is_exit_2_with_close_matches(run_cli: Callable[..., Any]) -> None:
    result = run_cli("explain", "gate.aproval.stale")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "no finding code 'gate.aproval.stale'" in result.stderr
    assert "did you mean gate.approval.stale" in result.stderr


def test_an_unknown_code_with_nothing_close(run_cli: Callable[..., Any]) -> None:
    result = run_cli("explain", "zzz")
    assert result.exit_code == 2
    assert "did you mean" not in result.stderr
    assert "`cmdbctl explain` lists every code" in result.stderr


def test_every_code_grouped_by_family(run_cli: Callable[..., Any]) -> None:
    result = run_cli("explain")
    assert result.exit_code == 0
    every = codes.every()
    family = None
    listed = []
    for line in result.stdout.splitlines():
        if line and not line.startswith(" "):
            family = line
        elif line:
            code, description = line.split(maxsplit=1)
            assert code.split(".", 1)[0] == family
            assert description == every[code]
            listed.append(code)
    assert listed == list(every)
    assert {c.split(".", 1)[0] for c in every} >= {
        "file",
        "yaml",
        "document",
        "schema",
        "id",
        "ref",
        "policy",
        "change",
        "sla",
        "gate",
    }


@pytest.mark.parametrize("prefix", ["gate.standard", "gate.standard.*", "sla"])
def test_a_family_lists_its_codes(prefix: str, run_cli: Callable[..., Any]) -> None:
    result = run_cli("explain", prefix)
    assert result.exit_code == 0
    stem = prefix.removesuffix(".*") + "."
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]
    assert listed == [c for c in codes.every() if c.startswith(stem)]
    assert len(listed) == 3


def test_json(run_cli: Callable[..., Any]) -> None:
    result = run_cli("explain", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "codes": [{"code": c, "description": d} for c, d in codes.every().items()]
    }
    one = json.loads(run_cli("explain", "sla.timezone", "--format", "json").stdout)
    assert one == {
        "codes": [{"code": "sla.timezone", "description": codes.describe("sla.timezone")}]
    }


def test_help_has_examples(run_cli: Callable[..., Any]) -> None:
    result = run_cli("explain", "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert "cmdbctl explain gate.approval.stale" in result.stdout
    assert "explain" in run_cli("--help").stdout


def test_start_up_does_not_gather_the_codes() -> None:
    """Only `explain` and SARIF output import the modules that declare codes."""
    probe = "import sys, cmdbctl.cli.main; print('cmdbctl.codes' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
