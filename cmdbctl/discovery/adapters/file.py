"""`--adapter file`: items from another tool's export (CSV, JSON or YAML).

Each row is one item of `--kind` (Server unless told). `--map FIELD=COLUMN` says which
column feeds which identifier or spec field (see `cmdbctl.discovery.columns`); columns
named like fields need no mapping. Cells become the types the kind's schema gives its
fields (the repository's schemas when run in one, else the built-in ones); a cell that
does not fit is exit 2 naming its row and column. A row without any identifier is a
warning and is skipped; an export with no usable row is exit 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from cmdbctl.discovery.adapters import Discovery, Progress
from cmdbctl.errors import CommandError

summary = "a CSV, JSON or YAML export of another tool (--input PATH, --map FIELD=COLUMN)"


def options() -> Sequence[click.Option]:
    return [
        click.Option(
            ["--input"], metavar="PATH", help="The export: CSV with a header row, JSON or YAML."
        ),
        click.Option(
            ["--input-format"],
            type=click.Choice(["csv", "json", "yaml"]),
            help="The export's format (default: from its suffix).",
        ),
        click.Option(
            ["--map", "mappings"],
            multiple=True,
            metavar="FIELD=COLUMN",
            help="Feed FIELD from COLUMN (repeatable): identifiers.serial=Serial No, "
            "attributes.os.name=OS, or serial=Serial No for both the identifier and the "
            "spec field.",
        ),
        click.Option(
            ["--kind"], default="Server", show_default=True, help="The kind of every row."
        ),
        click.Option(
            ["--source"],
            default="file",
            show_default=True,
            metavar="NAME",
            help="The snapshot's source name, as precedence rules in policies/ name it "
            "(e.g. asset-register).",
        ),
        click.Option(["--delimiter"], default=",", show_default=True, help="CSV's cell separator."),
        click.Option(
            ["--repo"],
            type=click.Path(file_okay=False),
            metavar="DIR",
            help="The CMDB whose schemas type the fields (default: the one around the "
            "current directory, else the built-in schemas).",
        ),
    ]


def discover(options: Mapping[str, Any], progress: Progress | None) -> Discovery:
    from cmdbctl.discovery.columns import column_map, row_item
    from cmdbctl.discovery.spectypes import spec_types
    from cmdbctl.discovery.tabular import read_table

    path = options["input"]
    if path is None:
        raise CommandError("the file adapter needs --input PATH", "the export to read")
    if len(options["delimiter"]) != 1:
        raise CommandError(f"--delimiter {options['delimiter']!r}: one character, e.g. ';'")
    spec = spec_types(options["kind"], _repository(options["repo"]))
    table = read_table(path, options["input_format"], options["delimiter"])
    mapping = column_map(options["mappings"], table, spec)
    warnings = []
    if mapping.ignored:
        warnings.append(
            f"{path}: columns not mapped, ignored: {', '.join(repr(c) for c in mapping.ignored)} "
            "(map one with --map FIELD=COLUMN)"
        )
    items = []
    for row in table.rows:
        item = row_item(row, mapping, spec, path)
        if not item["identifiers"]:
            warnings.append(
                f"{path}: {row.where}: no identifier (serial, fqdn, hostname, macs); skipped"
            )
            continue
        items.append(item)
    if not items:
        raise CommandError(
            f"--input {path}: no row has an identifier",
            "map the column that identifies each row, e.g. --map 'identifiers.serial=Serial No'",
        )
    return Discovery(source=options["source"], items=items, warnings=warnings)


def _repository(repo: str | None) -> Path | None:
    """The CMDB whose schemas apply: --repo's, the one around here, or none."""
    from cmdbctl.workspace import find_workspace

    if repo is not None:
        return find_workspace(repo).root
    try:
        return find_workspace(None).root
    except CommandError:  # not in a CMDB: the built-in schemas apply
        return None
