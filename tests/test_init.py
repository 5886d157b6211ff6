"""`cmdbctl init DIR`: a repository that validates clean, never at the cost of a file."""

from __future__ import annotations

import builtins
import errno
import json
import re
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from cmdbctl import __version__, gitio, scaffold
from cmdbctl.cli.main import cli
from cmdbctl.errors import CommandError
from cmdbctl.scaffold import init_repository


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def _shipped_schemas() -> dict[str, bytes]:
    folder = resources.files("cmdbctl") / "schemas"
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.endswith(".schema.json")}


def test_init_writes_a_repository_that_validates_clean(
    tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
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
    assert (target / ".gitlab-ci.yml").is_file()
    assert not list(target.rglob("dot-*")), "template names are not renamed"

    shipped = _shipped_schemas()
    written = {p.name: p.read_bytes() for p in (target / "schemas").iterdir()}
    assert written == shipped
    assert {
        "server.schema.json",
        "common.schema.json",
        "change-request.schema.json",
        "sla.schema.json",
    } <= set(shipped)

    check = run_cli("validate", "--format", "json", repo=target)
    assert check.exit_code == 0
    report = json.loads(check.stdout)
    assert report["findings"] == []
    assert report["summary"]["files"] == 15  # 7 CIs and SLAs, 7 policies, 1 change
    text = run_cli("validate", repo=target)
    assert text.exit_code == 0 and text.stdout == ""
    assert "valid" in text.stderr


def test_init_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., Any]
) -> None:
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    result = run_cli("init")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "here" / "schemas" / "server.schema.json").is_file()
    assert "cd " not in result.stdout  # no `cd .`: there is nowhere to go
    assert "  cmdbctl validate\n" in result.stdout
    assert run_cli("validate").exit_code == 0


def test_init_elsewhere_says_where_to_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., Any]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("init", "our cmdb")
    assert result.exit_code == 0, result.output
    assert "  cd 'our cmdb'\n  cmdbctl validate\n" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize(
    "existing",
    [
        "inventory/shop.yaml",
        "README.md",
        "schemas/server.schema.json",
        ".gitignore",
        ".github/workflows/cmdb.yml",
        ".gitlab-ci.yml",
    ],
)
def test_init_refuses_to_overwrite(
    existing: str,
    tmp_path: Path,
    run_cli: Callable[..., Any],
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
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


def test_init_names_every_clash(
    tmp_path: Path,
    run_cli: Callable[..., Any],
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    target = tmp_path / "cmdb"
    for rel in ("README.md", "policies/alice.yaml"):
        write_file(target, rel, "x\n")
    before = snapshot(tmp_path, ())
    result = run_cli("init", str(target))
    assert result.exit_code == 2
    assert "README.md" in result.stderr and "policies/alice.yaml" in result.stderr
    assert snapshot(tmp_path, ()) == before


def test_init_onto_a_file(
    tmp_path: Path,
    run_cli: Callable[..., Any],
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    target = write_file(tmp_path, "cmdb", "a file\n")
    before = snapshot(tmp_path, ())
    result = run_cli("init", str(target))
    assert result.exit_code == 2
    assert str(target) in result.stderr
    assert snapshot(tmp_path, ()) == before


def test_init_inside_an_existing_work_tree(
    tmp_path: Path,
    run_cli: Callable[..., Any],
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    outer = tmp_path / "platform"
    outer.mkdir()
    _git(outer, "init", "--quiet")
    write_file(outer, "main.tf", "# infrastructure\n")
    git_before = snapshot(outer / ".git", ())

    result = run_cli("init", str(outer / "cmdb"))
    assert result.exit_code == 0, result.output
    assert "git initialised" not in result.stdout
    # GitHub and GitLab read CI files only at the repository's top: init says so, and
    # where it wrote them.
    assert "warning:" in result.stderr
    assert "CI files belong at the repository's top" in result.stderr
    assert f"({outer.resolve()})" in result.stderr
    assert f"written to {outer / 'cmdb' / '.github'} and " in result.stderr
    assert str(outer / "cmdb" / ".gitlab-ci.yml") in result.stderr
    assert "--repo cmdb" in result.stderr
    assert (outer / "cmdb" / ".github" / "workflows" / "cmdb.yml").is_file()
    assert not (outer / "cmdb" / ".git").exists()
    assert _git(outer / "cmdb", "rev-parse", "--show-toplevel") == str(outer.resolve())
    assert snapshot(outer / ".git", ()) == git_before  # git init did not run again
    assert run_cli("validate", repo=outer / "cmdb").exit_code == 0


def test_init_at_the_root_of_an_existing_work_tree(
    tmp_path: Path, run_cli: Callable[..., Any], snapshot: Callable[..., dict[str, Any]]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "--quiet")
    git_before = snapshot(repo / ".git", ())
    result = run_cli("init", str(repo))
    assert result.exit_code == 0, result.output
    assert "git initialised" not in result.stdout
    assert result.stderr == ""  # .github/ is at the top: nothing to warn about
    assert snapshot(repo / ".git", ()) == git_before  # a re-init would rewrite .git/config
    assert (repo / "schemas" / "common.schema.json").is_file()


def test_init_refuses_a_file_where_it_needs_a_folder(
    tmp_path: Path, write_file: Callable[..., Path], snapshot: Callable[..., dict[str, Any]]
) -> None:
    target = tmp_path / "cmdb"
    write_file(target, "changes", "a file where init needs a folder\n")
    before = snapshot(tmp_path, ())
    with pytest.raises(CommandError, match="already has changes; cmdbctl init never overwrites"):
        init_repository(target)
    assert snapshot(tmp_path, ()) == before


@pytest.mark.parametrize(
    "existing",
    [
        "inventory/shop.yaml",
        "README.md",
        ".github/workflows/cmdb.yml",
    ],
)
def test_init_repository_refuses_to_overwrite(
    existing: str,
    tmp_path: Path,
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    # As test_init_refuses_to_overwrite, without the CLI's error handling in between.
    target = tmp_path / "cmdb"
    write_file(target, existing, "mine, keep me\n")
    before = snapshot(tmp_path, ())
    with pytest.raises(CommandError, match="never overwrites") as raised:
        init_repository(target)
    assert existing in raised.value.message
    assert snapshot(tmp_path, ()) == before


# --- nothing is lost: git is checked first, a failure half way is undone -----------------


def _path_without_git(tmp_path: Path) -> Path:
    """A PATH of one folder holding only a link to the python executable: no git."""
    folder = tmp_path / "bin-without-git"
    folder.mkdir()
    (folder / "python").symlink_to(sys.executable)
    return folder


@pytest.mark.parametrize("target_exists", [False, True])
def test_init_without_git_writes_nothing(
    target_exists: bool,
    tmp_path: Path,
    run_cmdbctl: Callable[..., Any],
    run_cli: Callable[..., Any],
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    # The child's exit 2 without a traceback needs main() to map CommandError to 2.
    no_git = _path_without_git(tmp_path)
    work = tmp_path / "work"
    target = work / "new" / "cmdb"
    if target_exists:
        write_file(target, "notes.txt", "mine\n")
    else:
        work.mkdir()
    before = snapshot(tmp_path, ())
    proc = run_cmdbctl("init", "new/cmdb", cwd=work, env={"PATH": str(no_git)})
    assert proc.returncode == 2, proc.stderr
    assert "git is not installed or not on PATH" in proc.stderr
    assert proc.stdout == ""
    assert snapshot(tmp_path, ()) == before  # not a file, not a folder
    again = run_cli("init", str(target))  # with git: a rerun is not refused
    assert again.exit_code == 0, again.output
    assert (target / ".git").is_dir() and (target / "inventory" / "app-01.yaml").is_file()


def test_init_repository_checks_git_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot: Callable[..., dict[str, Any]]
) -> None:
    monkeypatch.setenv("PATH", str(_path_without_git(tmp_path)))
    before = snapshot(tmp_path, ())
    with pytest.raises(CommandError, match="git is not installed or not on PATH"):
        init_repository(tmp_path / "new" / "cmdb")
    assert snapshot(tmp_path, ()) == before


def _mine(root: Path, write_file: Callable[..., Path]) -> Path:
    """A folder with files of its own, one inside a folder init writes into too."""
    target = root / "cmdb"
    write_file(target, "notes.txt", "mine\n")
    write_file(target, "inventory/legacy/old.txt", "mine too\n")
    return target


def test_a_failed_git_init_removes_what_init_wrote_and_only_that(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    target = _mine(tmp_path / "outer", write_file)
    before = snapshot(tmp_path, ())

    def failing_init(path: Path) -> None:  # git gets half way, then fails
        (path / ".git" / "objects").mkdir(parents=True)
        (path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        raise gitio.GitFailed("git init failed: No space left on device", 128)

    monkeypatch.setattr(gitio, "init", failing_init)
    with pytest.raises(CommandError, match="git init failed"):
        init_repository(target)
    assert snapshot(tmp_path, ()) == before


@pytest.mark.parametrize(
    "failure",
    [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
    ids=["disk-full", "interrupted"],
)
@pytest.mark.parametrize("fresh", [True, False], ids=["new-folder", "existing-folder"])
def test_a_failure_half_way_removes_what_init_wrote_and_only_that(
    failure: BaseException,
    fresh: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    if fresh:
        tmp_path.joinpath("outer").mkdir()
        target = tmp_path / "outer" / "new" / "cmdb"
    else:
        target = _mine(tmp_path / "outer", write_file)
    before = snapshot(tmp_path, ())
    opened = []

    def open_until_the_20th(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(path)
        if len(opened) == 20:
            raise failure
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(scaffold, "open", open_until_the_20th, raising=False)
    expected = CommandError if isinstance(failure, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as raised:
        init_repository(target)
    assert len(opened) == 20
    assert snapshot(tmp_path, ()) == before
    if isinstance(failure, OSError):
        assert isinstance(raised.value, CommandError)
        assert "No space left on device" in raised.value.message
        assert "nothing was left behind" in (raised.value.hint or "")


# --- the repository init writes is usable on day one -------------------------------------


def test_the_example_change_request_validates_and_covers_nothing(
    cmdb_repo: Path, validate_json: Callable[..., Any]
) -> None:
    changes = sorted(p.name for p in (cmdb_repo / "changes").iterdir())
    assert changes == ["CHG-2026-0001.yaml"]
    example = YAML(typ="safe").load((cmdb_repo / "changes" / changes[0]).read_text())
    assert example["kind"] == "ChangeRequest"
    assert example["spec"]["status"] in ("draft", "submitted")
    assert validate_json(cmdb_repo).findings == []


def test_the_ci_workflow_installs_this_version_and_fails_loudly(cmdb_repo: Path) -> None:
    text = (cmdb_repo / ".github" / "workflows" / "cmdb.yml").read_text()
    assert f'pip install "cmdbctl=={__version__}"' in text
    assert "@CMDBCTL_VERSION@" not in text
    assert "|| true" not in text
    workflow = YAML(typ="safe").load(text)
    steps = workflow["jobs"]["check"]["steps"]
    scripts = [step["run"] for step in steps if "run" in step]
    assert scripts and all(s.startswith("set -euo pipefail\n") for s in scripts), scripts
    install = next(s for s in scripts if "pip install" in s)
    assert scripts.index(install) == 0  # installed before anything runs it
    assert any("cmdbctl validate" in s for s in scripts)
    assert any("cmdbctl gate --base" in s for s in scripts)


def test_the_gitlab_job_installs_this_version_and_fails_loudly(cmdb_repo: Path) -> None:
    text = (cmdb_repo / ".gitlab-ci.yml").read_text()
    assert "@CMDBCTL_VERSION@" not in text
    assert "|| true" not in text
    pipeline = YAML(typ="safe").load(text)
    before = pipeline["default"]["before_script"]
    assert before[0] == f'python -m pip install "cmdbctl=={__version__}"'  # before any check
    scripts = [line for job in ("cmdb-validate", "cmdb-gate") for line in pipeline[job]["script"]]
    assert "cmdbctl validate" in scripts
    assert 'cmdbctl gate --base "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"' in scripts


def test_the_readme_walks_the_first_pull_request(cmdb_repo: Path) -> None:
    readme = (cmdb_repo / "README.md").read_text()
    steps = [
        "git switch -c",
        "inventory/app-01.yaml",
        "cat > changes/",
        "cmdbctl validate",
        "cmdbctl gate --base main",
        "cmdbctl approve",
        "rebase-and-merge",
        "squash",
        "cmdbctl review",
    ]
    walk = readme[readme.index("## Your first pull request") :]
    at = 0
    for step in steps:  # in the order a pull request takes them
        found = walk.find(step, at)
        assert found != -1, f"{step!r} is not in the walk-through after {walk[:at][-80:]!r}"
        at = found
    assert "change manager" in walk


def test_every_command_the_scaffold_names_exists(cmdb_repo: Path) -> None:
    texts = [
        p.read_text()
        for p in (
            cmdb_repo / "README.md",
            cmdb_repo / ".github" / "workflows" / "cmdb.yml",
            cmdb_repo / ".gitlab-ci.yml",
        )
    ]
    named = {m for text in texts for m in re.findall(r"\bcmdbctl ([a-z][a-z-]*)", text)}
    assert {"validate", "gate", "approve", "review"} <= named
    assert named <= set(cli.commands), named - set(cli.commands)
