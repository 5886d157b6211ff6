"""Options from the environment (CMDBCTL_<COMMAND>_<OPTION>, a flag wins) and
`--version`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from cmdbctl import __version__
from cmdbctl.cli.main import cli
from tests.conftest import GitRepo, RunCli, run_cmdbctl


def test_a_format_from_the_environment(cmdb_repo: Path, run_cli: RunCli) -> None:
    result = run_cli("validate", repo=cmdb_repo, env={"CMDBCTL_VALIDATE_FORMAT": "json"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["errors"] == 0


def test_a_flag_wins_over_the_environment(cmdb_repo: Path, run_cli: RunCli) -> None:
    result = run_cli(
        "validate", "--format", "text", repo=cmdb_repo, env={"CMDBCTL_VALIDATE_FORMAT": "json"}
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # text: clean is silent on stdout
    assert "valid" in result.stderr


def test_the_gate_base_from_the_environment(isolated_git: None, tmp_path: Path) -> None:
    repo = GitRepo.scaffold(tmp_path / "cmdb")
    repo.branch("feature")
    missing = repo.cli("gate", "--format", "json")
    assert missing.exit_code == 2
    assert "Missing option '--base'" in missing.stderr
    result = repo.cli("gate", "--format", "json", env={"CMDBCTL_GATE_BASE": "main"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["base"] == repo.head("main")
    wrong = repo.cli("gate", env={"CMDBCTL_GATE_BASE": "no-such-branch"})
    assert wrong.exit_code == 2
    assert "no-such-branch" in wrong.stderr


def test_an_option_whose_name_is_not_its_flag(isolated_git: None, tmp_path: Path) -> None:
    """--field is held as field_path: the variable is still named by the flag."""
    repo = GitRepo.scaffold(tmp_path / "cmdb")
    repo.commit(
        files={"inventory/app-01.yaml": repo.edit("inventory/app-01.yaml", "16}", "32}")},
        message="more cores",
    )
    every = repo.cli("history", "app-01", "--format", "json")
    narrowed = repo.cli(
        "history",
        "app-01",
        "--format",
        "json",
        env={"CMDBCTL_HISTORY_FIELD": "spec.memoryMb"},
    )
    assert every.exit_code == narrowed.exit_code == 0, narrowed.output
    assert len(json.loads(every.stdout)["entries"]) == 2
    assert json.loads(narrowed.stdout)["entries"][0]["changes"][0]["path"] == "/spec/memoryMb"
    assert len(json.loads(narrowed.stdout)["entries"]) == 1


@pytest.mark.parametrize(
    ("variable", "value", "option"),
    [
        ("CMDBCTL_VALIDATE_FORMAT", "xml", "'--format'"),
        ("CMDBCTL_VALIDATE_JOBS", "many", "'--jobs'"),
        ("CMDBCTL_EXPLAIN_FORMAT", "yaml", "'--format'"),
    ],
)
def test_a_bad_value_in_the_environment_is_a_usage_error_naming_it(
    cmdb_repo: Path, run_cli: RunCli, variable: str, value: str, option: str
) -> None:
    command = variable.split("_")[1].lower()
    result = run_cli(
        command, repo=cmdb_repo if command == "validate" else None, env={variable: value}
    )
    assert result.exit_code == 2
    assert f"Invalid value for {option}" in result.stderr
    assert f"hint: that value came from the environment variable {variable}" in result.stderr


def test_a_bad_value_on_the_command_line_names_no_variable(
    cmdb_repo: Path, run_cli: RunCli
) -> None:
    result = run_cli("validate", "--format", "xml", repo=cmdb_repo)
    assert result.exit_code == 2
    assert "environment variable" not in result.stderr


def _leaves(command: click.Command, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _leaves(sub, [*path, name])
    else:
        yield path, command


def test_every_option_of_every_command_is_named_by_its_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CMDBCTL_<COMMAND>_<OPTION> for every option there is, as click reads it."""
    checked = 0
    for path, command in _leaves(cli, []):
        ctx = click.Context(cli, info_name="cmdbctl", **cli.context_settings)
        group: click.Command = cli
        for name in path:  # the contexts click makes on the way down: validate, schema export
            assert isinstance(group, click.Group)
            group = group.commands[name]
            ctx = click.Context(group, parent=ctx, info_name=name)
        for param in command.params:
            flags = [o for o in param.opts if o.startswith("--")]
            if not isinstance(param, click.Option) or not flags:
                continue
            variable = "_".join(["CMDBCTL", *path, flags[0][2:]]).replace("-", "_").upper()
            monkeypatch.setenv(variable, "from-the-environment")
            assert param.resolve_envvar_value(ctx) == "from-the-environment", variable
            monkeypatch.delenv(variable)
            checked += 1
    assert checked > 30


def test_version(cmdb_repo: Path) -> None:
    proc = run_cmdbctl("--version", cwd=cmdb_repo)
    assert (proc.returncode, proc.stdout) == (0, f"cmdbctl, version {__version__}\n")


def test_a_version_variable_does_not_hijack_commands(cmdb_repo: Path, run_cli: RunCli) -> None:
    """CI files often pin CMDBCTL_VERSION for the install step."""
    result = run_cli(
        "validate", "--format", "json", repo=cmdb_repo, env={"CMDBCTL_VERSION": "0.1.0"}
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["summary"]["errors"] == 0
