"""cmdbctl where git is not on PATH, and inside a git hook (whose environment points git
at another repository or index): `validate` needs no git, the commands that read history
say that git is missing, and a hook's GIT_* variables change nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cmdbctl import gitio

DANGLING = (
    "apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: web-09\n  owner: team-ops\n"
    "spec:\n  location: rack-a01\n  dependsOn: [nowhere]\n"
)


@pytest.fixture
def no_git_path(tmp_path: Path) -> str:
    """A PATH that holds python and nothing else: no git."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "python").symlink_to(sys.executable)
    return str(folder)


def _commit_all(repo: Path) -> None:
    for args in (
        ["add", "-A"],
        [
            "-c",
            "user.name=Alice",
            "-c",
            "user.email=alice@example.com",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "--quiet",
            "-m",
            "init",
        ],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_validate_without_git_checks_the_repository(
    cmdb_repo: Path, no_git_path: str, run_cmdbctl: Callable[..., Any]
) -> None:
    clean = run_cmdbctl("validate", cwd=cmdb_repo, env={"PATH": no_git_path})
    assert (clean.returncode, clean.stdout) == (0, ""), clean.stderr
    assert re.fullmatch(r"\d+ files valid\n", clean.stderr), clean.stderr

    (cmdb_repo / "inventory" / "web-09.yaml").write_text(DANGLING)
    found = run_cmdbctl("validate", cwd=cmdb_repo, env={"PATH": no_git_path})
    assert found.returncode == 1, found.stderr
    assert "inventory/web-09.yaml:8:" in found.stdout and "ref.dangling" in found.stdout
    assert not (cmdb_repo / ".git" / "cmdbctl").exists()  # no git: no cache


@pytest.mark.parametrize(
    "args",
    [
        ["gate", "--base", "HEAD"],
        ["approve", "CHG-2026-0001"],
        ["review", "CHG-2026-0001", "--outcome", "failed", "-m", "x"],
    ],
)
def test_commands_that_read_history_say_git_is_missing(
    args: list[str], cmdb_repo: Path, no_git_path: str, run_cmdbctl: Callable[..., Any]
) -> None:
    result = run_cmdbctl(*args, cwd=cmdb_repo, env={"PATH": no_git_path})

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("cmdbctl: error: git is not installed or not on PATH\n")
    assert "  hint: install git" in result.stderr


def _hook_env(tmp_path: Path) -> dict[str, str]:
    """What git exports to a hook, pointing at another repository: must change nothing."""
    elsewhere = tmp_path / "elsewhere"
    return {
        "GIT_DIR": str(elsewhere / ".git"),
        "GIT_INDEX_FILE": str(elsewhere / "index"),
        "GIT_WORK_TREE": str(elsewhere),
        "GIT_PREFIX": "inventory/",
        "GIT_OBJECT_DIRECTORY": str(elsewhere / "objects"),
    }


def test_validate_in_a_git_hook_ignores_the_hooks_git_variables(
    cmdb_repo: Path, tmp_path: Path, run_cmdbctl: Callable[..., Any]
) -> None:
    (cmdb_repo / "inventory" / "web-09.yaml").write_text(DANGLING)

    in_hook = run_cmdbctl("validate", "--format", "json", cwd=cmdb_repo, env=_hook_env(tmp_path))
    # git answered about this repository: the verdict cache is in its .git
    assert list((cmdb_repo / ".git" / "cmdbctl").glob("cache-*.sqlite"))
    plain = run_cmdbctl(
        "validate", "--format", "json", cwd=cmdb_repo, env={"CMDBCTL_NO_CACHE": "1"}
    )

    assert (
        (in_hook.returncode, in_hook.stdout)
        == (plain.returncode, plain.stdout)
        == (1, plain.stdout)
    )
    assert "ref.dangling" in plain.stdout


def test_gate_in_a_git_hook_ignores_the_hooks_git_variables(
    cmdb_repo: Path, tmp_path: Path, run_cmdbctl: Callable[..., Any]
) -> None:
    _commit_all(cmdb_repo)
    args = ("gate", "--base", "HEAD", "--format", "json")

    in_hook = run_cmdbctl(*args, cwd=cmdb_repo, env=_hook_env(tmp_path))
    plain = run_cmdbctl(*args, cwd=cmdb_repo)

    assert (in_hook.returncode, in_hook.stdout) == (plain.returncode, plain.stdout)
    assert plain.returncode == 0, plain.stderr


def test_in_a_hook_git_answers_about_the_repository_as_the_identity_variables_say(
    cmdb_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        **_hook_env(tmp_path),
        "GIT_AUTHOR_NAME": "Bob Example",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "user.email",
        "GIT_CONFIG_VALUE_0": "bob@example.com",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GIT_AUTHOR_EMAIL", raising=False)

    assert gitio.is_work_tree(cmdb_repo) and gitio.head_tree(cmdb_repo) is not None
    assert gitio.current_identity(cmdb_repo) == gitio.Identity("Bob Example", "bob@example.com")
