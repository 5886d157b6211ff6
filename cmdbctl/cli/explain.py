"""`cmdbctl explain [CODE]`."""

from __future__ import annotations

import difflib
from itertools import groupby

import click
import orjson

from cmdbctl.cli.common import quiet_option, text_or_json_option
from cmdbctl.errors import CommandError


@click.command()
@click.argument("code", required=False)
@text_or_json_option
@quiet_option
def explain(code: str | None, fmt: str) -> None:
    """Say what a finding code means, and which command finds it.

    Without CODE, list every code cmdbctl reports, grouped by family (file, yaml,
    document, schema, id, ref, policy, change, sla, gate). A family or a prefix of
    codes (gate.approval) lists the codes under it. The JSON output is
    {"codes": [{"code", "description"}]}, sorted by code.

    \b
    Examples:
      cmdbctl explain gate.approval.stale
      cmdbctl explain schema
      cmdbctl explain
      cmdbctl explain --format json | jq -r '.codes[].code'
    """
    from cmdbctl import codes  # imported here: start-up pays for one command

    every = codes.every()
    if code is None:
        shown = every
    elif (found := codes.lookup(code)) is not None:
        if fmt == "json":
            _json({found.code: found.description})
        else:
            click.echo(f"{found.code}: {found.description}")
            click.echo("found by: " + ", ".join(f"cmdbctl {c}" for c in found.commands))
        return
    else:
        prefix = code.removesuffix("*").removesuffix(".") + "."
        shown = {c: d for c, d in every.items() if c.startswith(prefix)}
        if not shown:
            close = difflib.get_close_matches(code, every, n=3)
            raise CommandError(
                f"no finding code {code!r}",
                hint=(f"did you mean {_either(close)}? " if close else "")
                + "`cmdbctl explain` lists every code",
            )
    if fmt == "json":
        _json(shown)
        return
    width = max(map(len, shown)) + 2
    families = groupby(shown.items(), key=lambda item: item[0].split(".", 1)[0])
    click.echo(
        "\n\n".join(
            family + "\n" + "\n".join(f"  {c:<{width}}{d}" for c, d in entries)
            for family, entries in families
        )
    )


def _json(shown: dict[str, str]) -> None:
    listed = [{"code": c, "description": d} for c, d in shown.items()]
    click.echo(orjson.dumps({"codes": listed}, option=orjson.OPT_INDENT_2).decode())


def _either(names: list[str]) -> str:
    return " or ".join(filter(None, [", ".join(names[:-1]), names[-1]]))
