"""`-q/--quiet`: results on stdout and errors (and warnings) on stderr, nothing else;
the exit status is the same."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import GitRepo, RunCli

TYPO = ("status: active", "status: actve")


def test_validate_quiet_prints_findings_only(cmdb_repo: Path, run_cli: RunCli) -> None:
    clean = run_cli("validate", "-q", repo=cmdb_repo)
    assert (clean.exit_code, clean.stdout, clean.stderr) == (0, "", "")

    path = cmdb_repo / "inventory" / "app-01.yaml"
    path.write_text(path.read_text().replace(*TYPO))
    loud = run_cli("validate", repo=cmdb_repo)
    quiet = run_cli("validate", "--quiet", repo=cmdb_repo)
    assert loud.exit_code == quiet.exit_code == 1
    assert quiet.stdout == loud.stdout and "schema.enum" in quiet.stdout
    assert "1 error" in loud.stderr
    assert quiet.stderr == ""


def test_quiet_from_the_environment(cmdb_repo: Path, run_cli: RunCli) -> None:
    result = run_cli("validate", repo=cmdb_repo, env={"CMDBCTL_VALIDATE_QUIET": "1"})
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_errors_still_show_under_quiet(tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli("validate", "-q", repo=tmp_path / "nowhere")
    assert result.exit_code == 2
    assert "no such directory" in result.stderr


def test_show_quiet_leaves_out_where_it_came_from(cmdb_repo: Path, run_cli: RunCli) -> None:
    loud = run_cli("show", "app-01", repo=cmdb_repo)
    quiet = run_cli("show", "app-01", "-q", repo=cmdb_repo)
    assert loud.stderr.startswith("# inventory/app-01.yaml in the work tree")
    assert quiet.stderr == ""
    assert quiet.stdout == loud.stdout == (cmdb_repo / "inventory" / "app-01.yaml").read_text()


def test_init_quiet_says_nothing(tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli("init", "-q", str(tmp_path / "cmdb"))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert (tmp_path / "cmdb" / "inventory" / "app-01.yaml").is_file()


def test_schema_export_quiet_lists_what_it_wrote(cmdb_repo: Path, run_cli: RunCli) -> None:
    out = cmdb_repo.parent / "out"
    result = run_cli("schema", "export", "-q", str(out), repo=cmdb_repo)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert set(result.stdout.split()) == {str(p) for p in out.iterdir()}


def test_gate_and_audit_quiet(isolated_git: None, tmp_path: Path) -> None:
    repo = GitRepo.scaffold(tmp_path / "cmdb")
    repo.branch("feature")
    loud = repo.cli("gate", "--base", "main")
    quiet = repo.cli("gate", "--base", "main", "-q")
    assert loud.exit_code == quiet.exit_code == 0
    assert "passed" in loud.stderr
    assert (quiet.stdout, quiet.stderr) == (loud.stdout, "")

    loud = repo.cli("audit")
    quiet = repo.cli("audit", "-q")
    assert loud.exit_code == quiet.exit_code == 0
    assert "audited" in loud.stderr
    assert (quiet.stdout, quiet.stderr) == (loud.stdout, "")


def test_explain_quiet_is_its_result(run_cli: RunCli) -> None:
    loud = run_cli("explain", "schema.enum")
    quiet = run_cli("explain", "schema.enum", "-q")
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, loud.stdout, "")
