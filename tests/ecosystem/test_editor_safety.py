"""Where `cmdbctl schema export` never writes (through a link below the repository root,
into a git directory) and what it puts back when it fails half way."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from cmdbctl.errors import CommandError
from cmdbctl.schema_export import DOCUMENT_SCHEMA, write_export
from tests.conftest import GitRepo, run_cli, snapshot


@pytest.fixture
def repo(tmp_path: Path, isolated_git: None) -> GitRepo:
    return GitRepo.scaffold(tmp_path / "repo")


def test_a_linked_folder_for_the_built_in_schemas_is_refused(repo: GitRepo, tmp_path: Path) -> None:
    shutil.rmtree(repo.path / "schemas")  # the editor wiring copies the built-in ones
    away = tmp_path / "away"
    away.mkdir()
    os.symlink(away, repo.path / ".vscode" / "schemas")
    before = snapshot(repo.path / ".vscode")
    result = run_cli("schema", "export", "--force", repo=repo.path)
    assert result.exit_code == 2
    assert ".vscode/schemas is a link" in result.stderr and "nothing was written" in result.stderr
    assert list(away.iterdir()) == []
    assert snapshot(repo.path / ".vscode") == before


def test_a_folder_inside_the_repository_reached_through_a_link_is_refused(
    repo: GitRepo, tmp_path: Path
) -> None:
    away = tmp_path / "away"
    away.mkdir()
    os.symlink(away, repo.path / "build")
    result = run_cli("schema", "export", str(repo.path / "build" / "schemas"), repo=repo.path)
    assert result.exit_code == 2
    assert f"{repo.path / 'build'} is a link" in result.stderr
    assert list(away.iterdir()) == []


def test_a_folder_climbing_out_of_a_link_in_the_repository_is_refused(
    repo: GitRepo, tmp_path: Path
) -> None:
    away = tmp_path / "away" / "deeper"
    away.mkdir(parents=True)
    os.symlink(away, repo.path / "build")
    result = run_cli("schema", "export", f"{repo.path}/build/../out", repo=repo.path)
    assert result.exit_code == 2
    assert not (tmp_path / "away" / "out").exists()


def test_a_folder_named_outside_the_repository_may_be_a_link(repo: GitRepo, tmp_path: Path) -> None:
    published = tmp_path / "published"
    published.mkdir()
    os.symlink(published, tmp_path / "current")
    result = run_cli("schema", "export", str(tmp_path / "current"), repo=repo.path)
    assert result.exit_code == 0, result.stderr
    assert (published / DOCUMENT_SCHEMA).is_file()


def test_a_link_into_the_git_directory_is_refused(repo: GitRepo, tmp_path: Path) -> None:
    os.symlink(repo.path / ".git" / "info", tmp_path / "schemas-out")
    before = snapshot(repo.path / ".git", ignore=("cmdbctl",))
    result = run_cli("schema", "export", str(tmp_path / "schemas-out"), repo=repo.path)
    assert result.exit_code == 2
    assert "inside the git directory" in result.stderr
    assert snapshot(repo.path / ".git", ignore=("cmdbctl",)) == before


def test_files_get_the_mode_a_write_gives_and_a_replaced_file_keeps_its_own(
    repo: GitRepo, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / DOCUMENT_SCHEMA).write_text("{}\n")
    os.chmod(out / DOCUMENT_SCHEMA, 0o640)
    umask = os.umask(0o022)
    try:
        result = run_cli("schema", "export", "--force", str(out), repo=repo.path)
    finally:
        os.umask(umask)
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE((out / DOCUMENT_SCHEMA).stat().st_mode) == 0o640
    assert stat.S_IMODE((out / "server.schema.json").stat().st_mode) == 0o644
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_failure_half_way_puts_back_bytes_mode_and_times(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    kept = out / "a.json"
    kept.write_text("mine\n")
    os.chmod(kept, 0o600)
    os.utime(kept, ns=(1_000_000_000, 2_000_000_000))
    (out / "zz").write_text("a file where a folder goes\n")
    before = snapshot(tmp_path)
    files = {
        kept: b"new\n",  # replaced first
        out / "b.json": b"{}\n",  # created
        out / "new" / "c.json": b"{}\n",  # created, with its folder
        out / "zz" / "d.json": b"{}\n",  # cannot be: zz is a file
    }
    with pytest.raises(CommandError, match="nothing was changed"):
        write_export(files, force=True)
    assert snapshot(tmp_path) == before
    assert kept.stat().st_mtime_ns == 2_000_000_000
