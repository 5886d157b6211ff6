"""`cmdbctl init DIR`: a repository that validates clean, never at the cost of a file."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout.strip()


def _shipped_schemas() -> dict[str, bytes]:
    folder = resources.files("cmdbctl") / "schemas"
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.endswith(".schema.json")}


def test_init_writes_a_repository_that_validates_clean(
        tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    target = tmp_path / "new" / "cmdb"  # parents are created too
    result = run_cli("init", str(target))
    assert result.exit_code == 0, result.output
    assert str(target) in result.stdout
    assert "git initialised" in result.stdout

    assert (target / ".git").is_dir()
    assert _git(target, "rev-parse", "--show-toplevel") == str(target.resolve())

    for folder in ("schemas", "inventory", "changes", "policies"):
        assert (target / folder).is_dir(), folder
    assert (target / "README.md").is_file()
    assert (target / ".gitignore").is_file()
    assert (target / ".github" / "workflows" / "cmdb.yml").is_file()
    assert not list(target.rglob("dot-*")), "template names are not renamed"

    shipped = _shipped_schemas()
    written = {p.name: p.read_bytes() for p in (target / "schemas").iterdir()}
    assert written == shipped
    assert {"server.schema.json", "common.schema.json", "change-request.schema.json",
            "sla.schema.json"} <= set(shipped)

    check = run_cli("validate", "--format", "json", repo=target)
    assert check.exit_code == 0
    report = json.loads(check.stdout)
    assert report["findings"] == []
    assert report["summary"]["files"] == 14
    text = run_cli("validate", repo=target)
    assert text.exit_code == 0 and text.stdout == ""
    assert "valid" in text.stderr


def test_init_in_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    run_cli: Callable[..., Any]) -> None:
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    result = run_cli("init")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "here" / "schemas" / "server.schema.json").is_file()
    assert run_cli("validate").exit_code == 0


@pytest.mark.parametrize("existing", [
    "inventory/shop.yaml", "README.md", "schemas/server.schema.json", ".gitignore",
    ".github/workflows/cmdb.yml",
])
def test_init_refuses_to_overwrite(existing: str, tmp_path: Path,
                                   run_cli: Callable[..., Any],
                                   write_file: Callable[..., Path],
                                   snapshot: Callable[..., dict[str, Any]]) -> None:
    target = tmp_path / "cmdb"
    write_file(target, existing, "mine, keep me\n")
    write_file(target, "notes.txt", "unrelated\n")
    before = snapshot(tmp_path, ())
    result = run_cli("init", str(target))
    assert result.exit_code == 2
    assert existing in result.stderr
    assert "never overwrites" in result.stderr
    assert result.stdout == ""
    assert snapshot(tmp_path, ()) == before  # nothing written, no git init
    assert (target / existing).read_text() == "mine, keep me\n"


def test_init_names_every_clash(tmp_path: Path, run_cli: Callable[..., Any],
                                write_file: Callable[..., Path],
                                snapshot: Callable[..., dict[str, Any]]) -> None:
    target = tmp_path / "cmdb"
    for rel in ("README.md", "policies/alice.yaml"):
        write_file(target, rel, "x\n")
    before = snapshot(tmp_path, ())
    result = run_cli("init", str(target))
    assert result.exit_code == 2
    assert "README.md" in result.stderr and "policies/alice.yaml" in result.stderr
    assert snapshot(tmp_path, ()) == before


def test_init_onto_a_file(tmp_path: Path, run_cli: Callable[..., Any],
                          write_file: Callable[..., Path],
                          snapshot: Callable[..., dict[str, Any]]) -> None:
    target = write_file(tmp_path, "cmdb", "a file\n")
    before = snapshot(tmp_path, ())
    result = run_cli("init", str(target))
    assert result.exit_code == 2
    assert str(target) in result.stderr
    assert snapshot(tmp_path, ()) == before


def test_init_inside_an_existing_work_tree(tmp_path: Path, run_cli: Callable[..., Any],
                                           write_file: Callable[..., Path],
                                           snapshot: Callable[..., dict[str, Any]]) -> None:
    outer = tmp_path / "platform"
    outer.mkdir()
    _git(outer, "init", "--quiet")
    write_file(outer, "main.tf", "# infrastructure\n")
    git_before = snapshot(outer / ".git", ())

    result = run_cli("init", str(outer / "cmdb"))
    assert result.exit_code == 0, result.output
    assert "git initialised" not in result.stdout
    assert not (outer / "cmdb" / ".git").exists()
    assert _git(outer / "cmdb", "rev-parse", "--show-toplevel") == str(outer.resolve())
    assert snapshot(outer / ".git", ()) == git_before  # git init did not run again
    assert run_cli("validate", repo=outer / "cmdb").exit_code == 0


def test_init_at_the_root_of_an_existing_work_tree(
        tmp_path: Path, run_cli: Callable[..., Any],
        snapshot: Callable[..., dict[str, Any]]) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "--quiet")
    git_before = snapshot(repo / ".git", ())
    result = run_cli("init", str(repo))
    assert result.exit_code == 0, result.output
    assert "git initialised" not in result.stdout
    assert snapshot(repo / ".git", ()) == git_before  # a re-init would rewrite .git/config
    assert (repo / "schemas" / "common.schema.json").is_file()
