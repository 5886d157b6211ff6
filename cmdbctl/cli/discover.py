"""`cmdbctl discover --adapter NAME [adapter options] [-o SNAPSHOT]`.

The adapter's own options join the command's once `--adapter NAME` is read, so
`cmdbctl discover --adapter ansible --help` shows them and a third-party adapter adds
options without cmdbctl knowing it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from cmdbctl.cli.common import from_environment, inform, quiet_option
from cmdbctl.errors import CommandError

_ADAPTER_KEY = "cmdbctl.discover.adapter"
_ENV_PREFIX = "CMDBCTL_DISCOVER"


class _DiscoverCommand(click.Command):
    """`discover`, whose options are its own plus those of the adapter named."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        name = _adapter_named(args)
        if name is not None:
            from cmdbctl.discovery.adapters import load

            try:
                adapter = load(name)
            except CommandError:
                if ctx.resilient_parsing:  # shell completion: complete what is known
                    return super().parse_args(ctx, args)
                raise
            options = list(adapter.options())
            own = super().get_params(ctx)
            taken = {p.name for p in own} | {f for p in own for f in (*p.opts, *p.secondary_opts)}
            clashes = sorted(
                {f for o in options for f in (o.name or "?", *o.opts) if f in taken or f == "?"}
            )
            if clashes:
                raise CommandError(
                    f"discovery adapter {name!r} declares options discover has itself: "
                    + ", ".join(clashes),
                    "rename them in the adapter",
                )
            for option in options:  # as the command's own: CMDBCTL_DISCOVER_FACTS
                from_environment(option, _ENV_PREFIX)
            ctx.meta[_ADAPTER_KEY] = (name, adapter, options)
        return super().parse_args(ctx, args)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        chosen = ctx.meta.get(_ADAPTER_KEY)
        if chosen is None:
            return params
        return [*params[:-1], *chosen[2], params[-1]]  # --help stays last

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The adapters installed, each with its one-line summary."""
        from cmdbctl.discovery.adapters import available, load

        rows = []
        for name in available():
            try:
                summary = load(name).summary
            except CommandError as exc:
                summary = f"(cannot be used: {exc.message})"
            rows.append((name, summary))
        with formatter.section("Adapters installed"):
            formatter.write_dl(rows or [("(none)", "")])
            formatter.write_paragraph()
            formatter.write_text("cmdbctl discover --adapter NAME --help lists its options.")


def _adapter_named(args: Sequence[str]) -> str | None:
    """The value of `--adapter` among the arguments, before click parses them; else
    the environment's (every option can come from CMDBCTL_<COMMAND>_<OPTION>)."""
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--adapter" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--adapter="):
            return arg.partition("=")[2]
    return os.environ.get(f"{_ENV_PREFIX}_ADAPTER") or None


@click.command(cls=_DiscoverCommand, short_help="Turn a discovery source into a snapshot.")
@click.option(
    "--adapter",
    metavar="NAME",
    default=None,
    help="The discovery source: ansible, local, file, or one a package of yours adds.",
)
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    default="-",
    show_default="stdout",
    help="Write the snapshot here (a temporary file beside it, then a rename: never half "
    "a file). An existing file is replaced.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "yaml"]),
    default="json",
    show_default=True,
    help="json is canonical (stable key order, one item per line) and fast at any size; "
    "yaml reads better, for small snapshots.",
)
@quiet_option
def discover(adapter: str | None, output: str, fmt: str, **adapter_options: Any) -> None:
    """Read what a discovery source says about the estate and write it as a snapshot.

    A snapshot (FORMATS.md, "Discovery snapshot") lists the items a source found:
    their kind, identifiers (serial, fqdn, hostname, MACs) and attributes named as the
    kind's spec fields, so `cmdbctl diff --discovered SNAPSHOT` compares them with the
    repository field by field. Only what the source really knows is reported.

    \b
    Adapters shipped:
      ansible  facts Ansible gathered: --facts DIR (written by `ansible -m setup
               --tree DIR` or the jsonfile fact cache), or --inventory FILE
               [--limit PATTERN] to run Ansible's setup module now, in parallel
               (its forks).
      local    this machine, read from the operating system (no network).
      file     a CSV, JSON or YAML export of another tool, with --map FIELD=COLUMN.

    What was skipped (an unreachable host, a host whose facts are unreadable) is a
    warning on stderr and the run goes on; a one-line summary goes to stderr too.

    Exit 0 when the snapshot is written (warnings alone are clean); exit 2 when it
    could not be: no or an unknown adapter, a missing or malformed input, nothing
    discovered where something had to be (no host reachable), an output that cannot
    be written (no partial file is left behind).

    \b
    Examples:
      cmdbctl discover --adapter local -o host.json
      cmdbctl discover --adapter ansible --inventory hosts.ini --limit 'dc-east' -o east.json
      ansible all -m setup --tree facts/ && cmdbctl discover --adapter ansible --facts facts/
      cmdbctl discover --adapter file --input assets.csv --source asset-register \\
          --map 'identifiers.serial=Serial No' --map 'attributes.os.name=OS' -o assets.json
      cmdbctl discover --adapter local | cmdbctl diff --discovered /dev/stdin
    """
    from cmdbctl.discovery.run import discover as run_discover

    chosen = click.get_current_context().meta.get(_ADAPTER_KEY)
    if adapter is None or chosen is None:
        from cmdbctl.discovery.adapters import available

        raise CommandError(
            "no adapter named: discover needs --adapter NAME",
            f"installed adapters: {', '.join(available()) or 'none'}",
        )
    name, loaded, _ = chosen
    status = _StatusLine()
    try:
        discovered = run_discover(name, loaded, adapter_options, output, fmt, status.say)
    finally:
        status.clear()
    for warning in discovered.warnings:
        click.echo(f"cmdbctl: warning: {warning}", err=True)
    where = "stdout" if output == "-" else output
    replaced = False
    if output == "-":
        stream = sys.stdout.buffer
        stream.write(discovered.data)
        stream.flush()
    else:
        from pathlib import Path

        from cmdbctl.discovery.output import write_atomically

        replaced = Path(output).is_file()
        write_atomically(output, discovered.data)
    snapshot = discovered.snapshot
    count = len(snapshot.items)
    inform(
        f"{count} item{'s' if count != 1 else ''} from {snapshot.source} "
        f"written to {where} ({snapshot.digest[:19]})"
        + ("; it replaced the file that was there" if replaced else "")
    )


class _StatusLine:
    """Progress as one line rewritten in place on a terminal's stderr; nothing when
    stderr is a file, a pipe or a CI log."""

    def __init__(self) -> None:
        from cmdbctl.cli.common import show_progress

        self.say = self._say if show_progress("text") else None
        self._shown = False

    def _say(self, line: str) -> None:
        click.echo(f"\r\033[K{line}", err=True, nl=False)
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            click.echo("\r\033[K", err=True, nl=False)
