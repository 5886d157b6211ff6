"""`cmdbctl init [DIR]`."""

from __future__ import annotations

from pathlib import Path

import click

from cmdbctl.cli.common import handle_errors


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@handle_errors
def init(directory: str) -> None:
    """Create a CMDB repository in DIRECTORY (default: the current one).

    Writes schemas/, example policies (people, groups, the default change policy), a
    handful of configuration items that validate clean, a README and a CI workflow, and
    runs `git init` when DIRECTORY is not already in a git work tree. Existing files
    are never overwritten: init refuses and names them.
    """
    from cmdbctl.scaffold import init_repository  # imported here: start-up pays for one command
    result = init_repository(Path(directory))
    click.echo(f"created a CMDB repository in {result.root} ({len(result.written)} files"
               f"{', git initialised' if result.git_initialised else ''})")
    click.echo("next:\n"
               f"  cd {result.root}\n"
               "  cmdbctl validate\n"
               "  git add . && git commit -m 'Start the CMDB'")
