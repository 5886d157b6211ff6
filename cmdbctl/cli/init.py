"""`cmdbctl init [DIR]`."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import click

from cmdbctl.cli.common import quiet, quiet_option


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@quiet_option
def init(directory: str) -> None:
    """Create a CMDB repository in DIRECTORY (default: the current one).

    Writes schemas/, example policies (people, groups, the default change policy), a
    handful of configuration items that validate clean, an example change request, a
    README that walks the first pull request, CI workflows for GitHub Actions and GitLab CI,
    and the editor wiring
    (.vscode/: VS Code's YAML extension, or any client of yaml-language-server, checks
    and completes documents against schemas/ as you type); runs `git init` when
    DIRECTORY is not already in a git work tree. Existing files are never overwritten:
    init refuses and names them. It checks that git runs before writing anything, and
    removes what it wrote when it fails half way.

    \b
    Examples:
      cmdbctl init cmdb && cd cmdb && cmdbctl validate
      cmdbctl init                      # in the current, empty folder
    """
    from cmdbctl.scaffold import (  # imported here: start-up pays for one command
        CI_FOLDER,
        init_repository,
    )

    result = init_repository(Path(directory))
    files = len(result.written)
    if not quiet():  # -q: the repository is the result; a warning still goes to stderr
        click.echo(
            f"created a CMDB repository in {result.root} ({files} file{'s' * (files != 1)}"
            f"{', git initialised' if result.git_initialised else ''})"
        )
    if result.enclosing_top is not None:
        written = f"{result.root / CI_FOLDER} and {result.root / '.gitlab-ci.yml'}"
        click.echo(
            f"cmdbctl: warning: {result.root} is a sub-folder of the git repository "
            f"{result.enclosing_top}; CI files belong at the repository's top "
            f"({result.enclosing_top}), where GitHub and GitLab read them, but "
            f"they were written to {written}",
            err=True,
        )
        click.echo(
            f"  hint: move {written} to the top and add --repo "
            f"{shlex.quote(os.path.relpath(result.root.resolve(), result.enclosing_top))}"
            " to the cmdbctl commands in them",
            err=True,
        )
    if quiet():
        return
    here = result.root.resolve() == Path.cwd().resolve()
    steps = ([] if here else [f"cd {shlex.quote(str(result.root))}"]) + [
        "cmdbctl validate",
        "git add . && git commit -m 'Start the CMDB'",
    ]
    click.echo(
        "next:\n"
        + "".join(f"  {step}\n" for step in steps)
        + "README.md walks your first pull request, step by step."
    )
