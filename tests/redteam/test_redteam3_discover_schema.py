"""Red team: `cmdbctl discover` (hostile exports, facts folders and -o targets) and
`cmdbctl schema export` (symlinks in the folders it writes, git's own folder).

Each test asserts the safe behaviour; those marked xfail are holes still open.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import GitRepo, run_cli, snapshot

FILE_ARGS = ("--adapter", "file", "--map", "serial=Serial", "--map", "attributes.memoryMb=M")


@pytest.fixture
def repo(tmp_path: Path, isolated_git: None) -> GitRepo:
    return GitRepo.scaffold(tmp_path / "repo")


def discover_file(repo: GitRepo, path: Path, *args: str) -> object:
    return run_cli("discover", *FILE_ARGS, "--input", str(path), "--repo", str(repo.path), *args)


# --- discover: hostile exports ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("big.csv", "Serial,M\nA1,1" + "0" * 400 + "\n"),
        ("big.yaml", "- {Serial: A1, M: 1" + "0" * 400 + "}\n"),
    ],
)
def test_huge_integer_in_an_export_is_an_error_not_a_crash(
    repo: GitRepo, tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = discover_file(repo, path)  # run_cli fails on a traceback
    assert result.exit_code == 2
    assert str(path) in result.stderr


def test_duplicate_key_in_a_json_export_is_an_error(repo: GitRepo, tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text('[{"Serial": "A1", "Serial": "B2", "M": 1024}]')
    result = discover_file(repo, path)
    assert result.exit_code == 2
    assert "Serial" in result.stderr


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("huge.csv", "Serial,M\n" + "A" * 200_000 + ",1\n", "field larger"),
        ("latin.csv", b"Serial,M\n\xe9,1\n", "not UTF-8"),
        ("deep.json", "[" * 5000 + "]" * 5000, "not valid JSON"),
        ("deep.yaml", "- Serial: a\n  M: " + "[" * 30000 + "]" * 30000 + "\n", "nests"),
        (
            "bomb.yaml",
            (
                "- Serial: a\n  a: &a [x,x,x,x,x,x,x,x,x]\n  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                "  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                "  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
            ),
            "alias",
        ),
        ("tag.yaml", "- {Serial: !!python/object/apply:os.getpid [], M: 1}\n", "tag"),
        ("nan.yaml", "- {Serial: a, M: .nan}\n", "does not fit"),
    ],
)
def test_hostile_export_is_an_error_naming_the_file(
    repo: GitRepo, tmp_path: Path, name: str, content: str | bytes, words: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = discover_file(repo, path)
    assert result.exit_code == 2
    assert str(path) in result.stderr and words in result.stderr


# --- discover: the facts folder -----------------------------------------------------------


def _facts(hostname: str) -> str:
    return json.dumps(
        {"ansible_facts": {"ansible_hostname": hostname, "ansible_memtotal_mb": 2048}}
    )


def test_facts_folder_skips_fifos_links_to_them_and_huge_files(tmp_path: Path) -> None:
    facts = tmp_path / "facts"
    facts.mkdir()
    (facts / "web-01").write_text(_facts("web-01"))
    os.mkfifo(tmp_path / "pipe")
    os.symlink(tmp_path / "pipe", facts / "piped")
    os.mkfifo(facts / "fifo")
    os.symlink(facts / "loop", facts / "loop")
    with open(facts / "huge", "wb") as handle:  # sparse: large, cheap
        handle.truncate(65 << 20)
    result = run_cli("discover", "--adapter", "ansible", "--facts", str(facts))
    assert result.exit_code == 0, result.stderr
    items = json.loads(result.stdout)["items"]
    assert [i["identifiers"]["hostname"] for i in items] == ["web-01"]


# --- discover: -o ---------------------------------------------------------------------------


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "ok.csv"
    path.write_text("Serial,M\nA1,1024\n")
    return path


@pytest.mark.parametrize("target", [".git/config", ".git/hooks/post-checkout", ".git/HEAD"])
def test_output_inside_the_git_directory_is_refused(
    repo: GitRepo, export: Path, target: str
) -> None:
    before = snapshot(repo.path / ".git", ignore=("cmdbctl",))
    result = discover_file(repo, export, "-o", str(repo.path / target))
    assert result.exit_code == 2
    assert snapshot(repo.path / ".git", ignore=("cmdbctl",)) == before


def test_output_to_a_fifo_or_a_folder_is_refused(
    repo: GitRepo, export: Path, tmp_path: Path
) -> None:
    os.mkfifo(tmp_path / "fifo")
    for target in (tmp_path / "fifo", tmp_path):
        result = discover_file(repo, export, "-o", str(target))
        assert result.exit_code == 2, result.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_output_over_a_symlink_never_writes_the_file_it_points_to(
    repo: GitRepo, export: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    os.symlink(victim, tmp_path / "link.json")
    result = discover_file(repo, export, "-o", str(tmp_path / "link.json"))
    assert result.exit_code in (0, 2)
    assert victim.read_text() == "keep\n"


def test_output_to_a_symlink_to_a_folder_is_refused(
    repo: GitRepo, export: Path, tmp_path: Path
) -> None:
    away = tmp_path / "away"
    away.mkdir()
    os.symlink(away, tmp_path / "link")
    result = discover_file(repo, export, "-o", str(tmp_path / "link"))
    assert result.exit_code == 2
    assert list(away.iterdir()) == []


# --- schema export ------------------------------------------------------------------------


def test_editor_wiring_never_follows_a_vscode_link_out_of_the_repository(
    repo: GitRepo, tmp_path: Path
) -> None:
    shutil.rmtree(repo.path / ".vscode", ignore_errors=True)
    home = tmp_path / "home-config"
    home.mkdir()
    os.symlink(home, repo.path / ".vscode")
    result = run_cli("schema", "export", "--force", repo=repo.path)
    assert result.exit_code == 2
    assert list(home.iterdir()) == []


def test_export_never_writes_through_a_link_at_its_temporary_name(
    repo: GitRepo, tmp_path: Path
) -> None:
    victim = tmp_path / "bashrc"
    victim.write_text("precious\n")
    (repo.path / ".vscode").mkdir(exist_ok=True)
    (repo.path / ".vscode/cmdb-document.json").unlink(missing_ok=True)
    os.symlink(victim, repo.path / ".vscode/.cmdb-document.json.cmdbctl-tmp")
    run_cli("schema", "export", repo=repo.path)
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("folder", [".git", ".git/hooks", ".git/info/new"])
def test_export_into_the_git_directory_is_refused(repo: GitRepo, folder: str) -> None:
    before = snapshot(repo.path / ".git", ignore=("cmdbctl",))
    result = run_cli("schema", "export", str(repo.path / folder), repo=repo.path)
    assert result.exit_code == 2
    assert snapshot(repo.path / ".git", ignore=("cmdbctl",)) == before


def test_force_never_replaces_a_symlink(repo: GitRepo, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.json"
    victim.write_text("keep")
    os.symlink(victim, out / "cmdb-document.json")
    result = run_cli("schema", "export", str(out), "--force", repo=repo.path)
    assert result.exit_code == 2
    assert victim.read_text() == "keep"
    assert os.path.islink(out / "cmdb-document.json")
    assert [p.name for p in out.iterdir()] == ["cmdb-document.json"]


def test_editor_settings_link_is_never_written_through(repo: GitRepo, tmp_path: Path) -> None:
    victim = tmp_path / "settings.json"
    victim.write_text("{}")
    (repo.path / ".vscode").mkdir(exist_ok=True)
    (repo.path / ".vscode/settings.json").unlink(missing_ok=True)
    os.symlink(victim, repo.path / ".vscode/settings.json")
    run_cli("schema", "export", "--force", repo=repo.path)
    assert victim.read_text() == "{}"


def test_a_schema_linked_from_outside_is_not_exported(repo: GitRepo, tmp_path: Path) -> None:
    secret = tmp_path / "secret.schema.json"
    secret.write_text('{"title": "a secret"}')
    os.symlink(secret, repo.path / "schemas/zz.schema.json")
    out = tmp_path / "out"
    result = run_cli("schema", "export", str(out), repo=repo.path)
    assert result.exit_code in (0, 2)
    assert not (out / "zz.schema.json").exists()
    for path in out.glob("*") if out.exists() else []:
        assert "a secret" not in path.read_text()
