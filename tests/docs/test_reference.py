"""docs/reference/ is the code's `--help`, page for page: a help text changed without
regenerating the pages fails here, naming the command and the command that fixes it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_reference", DOCS / "generate_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gen = _generator()
PAGES = gen.pages()
EXPECTED = gen.expected_files()


def _cmdbctl(*args: str, columns: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMDBCTL_", "LINES"))}
    env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "cmdbctl", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_page_is_the_code_s_help(name: str) -> None:
    path = gen.REFERENCE / name
    assert path.is_file(), f"docs/reference/{name} is missing: run `{gen.REGENERATE}`"
    if path.read_text(encoding="utf-8") != EXPECTED[name]:
        [diff] = gen.differences_of(name, path.read_text(encoding="utf-8"), EXPECTED[name])
        pytest.fail(
            f"docs/reference/{name} differs from the code's help: run `{gen.REGENERATE}`\n{diff}"
        )


def test_no_page_of_a_command_that_is_gone() -> None:
    left_over = sorted({p.name for p in gen.REFERENCE.glob("*.md")} - EXPECTED.keys())
    assert not left_over, f"pages of no command: {left_over}: run `{gen.REGENERATE}`"


def test_every_command_and_subcommand_has_a_page() -> None:
    """Read from the real `--help` of each group: each command it lists has its page."""
    groups = [(), ("schema",)]
    for group in groups:
        printed = _cmdbctl(*group, "--help", columns=gen.COLUMNS).stdout
        listed = [line.split()[0] for line in printed.split("Commands:\n", 1)[1].splitlines()]
        assert listed
        for command in listed:
            name = "-".join((*group, command)) + ".md"
            assert name in EXPECTED, f"cmdbctl {' '.join(group)} {command}: no page {name}"
    assert {"cmdbctl.md", "validate.md", "gate.md", "schema-export.md"} <= EXPECTED.keys()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.command)
def test_the_rendering_is_what_the_real_command_prints(page: object) -> None:
    """The generator renders what `cmdbctl CMD --help` prints in a terminal 100 columns
    wide; and, for the group, in a wider one too (it caps the width for every command)."""
    path = page.path  # type: ignore[attr-defined]
    for columns in (gen.COLUMNS, 250) if not path else (gen.COLUMNS,):
        proc = _cmdbctl(*path, "--help", columns=columns)
        assert proc.returncode == 0, proc.stderr
        assert f"```text\n{proc.stdout}```\n" in page.text, (  # type: ignore[attr-defined]
            f"{page.command} --help at COLUMNS={columns} is not the page's text"  # type: ignore[attr-defined]
        )


def test_check_exits_1_with_a_diff_when_a_page_is_stale_missing_or_left_over(
    tmp_path: Path,
) -> None:
    script = [sys.executable, str(DOCS / "generate_reference.py")]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*script, *args, "--dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert run().returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(EXPECTED)
    assert run("--check").returncode == 0

    page = tmp_path / "validate.md"
    page.write_text(page.read_text().replace("Usage:", "Usage (old):"))
    stale = run("--check")
    assert stale.returncode == 1
    assert "validate.md" in stale.stdout and "-Usage (old):" in stale.stdout
    assert "generate_reference.py" in stale.stderr
    assert page.read_text().count("Usage (old):") == 1  # --check changes nothing

    run()
    (tmp_path / "gate.md").unlink()
    (tmp_path / "frobnicate.md").write_text("# cmdbctl frobnicate\n")
    gone = run("--check")
    assert gone.returncode == 1
    assert "+# cmdbctl gate" in gone.stdout and "-# cmdbctl frobnicate" in gone.stdout
    assert run().returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(EXPECTED)
    assert run("--check").returncode == 0
