"""`cmdbctl schema export [DIR] [--force]`."""

from __future__ import annotations

from pathlib import Path

import click

from cmdbctl.cli.common import inform, quiet_option, repo_option


@click.group()
def schema() -> None:
    """The JSON Schemas documents are checked against.

    \b
    Examples:
      cmdbctl schema export
      cmdbctl schema export build/schemas
    """


@schema.command()
@click.argument("directory", metavar="[DIR]", required=False, type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Replace files in the way that have other content.")
@repo_option
@quiet_option
def export(directory: str | None, force: bool, repo: str | None) -> None:
    """Write the JSON Schemas, for editors and other tools.

    The schemas are those `cmdbctl validate` uses: the repository's schemas/ (custom
    kinds included), or the built-in ones when it has none. Beside them goes
    cmdb-document.json, one schema for any document, which applies the schema of the
    document's kind: map it to inventory/, changes/ and policies/ in an editor.

    With DIR, a self-contained copy: every schema and cmdb-document.json in DIR.
    Without DIR, the editor wiring `cmdbctl init` writes: .vscode/cmdb-document.json,
    which refers to schemas/ in place, so an edit to a schema shows in the editor at
    once; run this again (with --force) after adding a kind. .vscode/settings.json maps
    it to the document folders for VS Code's YAML extension (other clients of
    yaml-language-server take the same yaml.schemas setting); it and extensions.json
    are written when missing, never changed when there. schemas/ itself is never
    written: it is the contract, and edits to it go through a change.

    The paths written go to stdout. A file that exists with other content is not
    replaced without --force (exit 2, naming it; nothing is written).

    \b
    Examples:
      cmdbctl schema export
      cmdbctl schema export --force          # after adding a kind to schemas/
      cmdbctl schema export build/schemas
      check-jsonschema --schemafile build/schemas/cmdb-document.json inventory/*.yaml
    """
    from cmdbctl.schema_export import (  # imported here: start-up pays for one command
        plan_export,
        write_export,
    )
    from cmdbctl.workspace import find_workspace

    ws = find_workspace(repo)
    plan = plan_export(ws.root, Path(directory) if directory is not None else None)
    for finding in plan.findings:
        click.echo(
            f"cmdbctl: warning: {finding.path}:{finding.line or 1}: {finding.message} "
            "(written as it is; cmdbctl validate reports it too)",
            err=True,
        )
    for note in plan.notes:
        inform(f"cmdbctl: note: {note}")
    done = write_export(plan.files, force)
    for path in done.written:
        click.echo(_shown(path))
    where = _shown(Path(directory)) if directory is not None else "the editor wiring"
    inform(
        f"exported the schemas of {len(plan.kinds)} kinds ({plan.origin.rstrip(':')}) to "
        f"{where}: {len(done.written)} written, {len(done.unchanged)} unchanged"
    )


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    if not path.is_absolute():
        return str(path)
    here = Path.cwd().resolve()
    return str(path.relative_to(here)) if path.is_relative_to(here) else str(path)
