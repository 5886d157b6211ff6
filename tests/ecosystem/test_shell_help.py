"""`--help` and `-h` on every command and group: exit 0, with examples to copy, and
`-q/--quiet` on every command."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from cmdbctl.cli.main import cli
from tests.conftest import RunCli


def _commands(command: click.Command, path: list[str]) -> Iterator[list[str]]:
    yield path
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, [*path, name])


EVERY = [" ".join(path) for path in _commands(cli, [])]
LEAVES = [
    " ".join(path)
    for path in _commands(cli, [])
    if path
    and not isinstance(cli.get_command(click.Context(cli), path[0]), click.Group)
    or len(path) > 1
]


@pytest.mark.parametrize("command", EVERY, ids=lambda c: c or "cmdbctl")
def test_help_has_examples(command: str, run_cli: RunCli) -> None:
    for flag in ("--help", "-h"):
        result = run_cli(*command.split(), flag)
        assert result.exit_code == 0, result.output
        usage = result.stdout.splitlines()[0]  # "Usage: cmdbctl schema export [OPTIONS] ..."
        assert usage.startswith("Usage: ") and f" {command} ".replace("  ", " ") in usage, usage
        examples = result.stdout.split("Examples:", 1)
        assert len(examples) == 2, f"cmdbctl {command} --help shows no Examples: block"
        assert f"cmdbctl {command}".rstrip() in examples[1]


@pytest.mark.parametrize("command", LEAVES)
def test_every_command_takes_quiet(command: str, run_cli: RunCli) -> None:
    result = run_cli(*command.split(), "--help")
    assert "-q, --quiet" in result.stdout, f"cmdbctl {command} has no -q/--quiet"


def test_the_walk_sees_every_command() -> None:
    assert {"validate", "gate", "schema export", "completion", "explain"} <= set(LEAVES)
    assert "schema" in EVERY and "schema" not in LEAVES
