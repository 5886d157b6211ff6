"""`cmdbctl discover` (being built)."""

from __future__ import annotations

import click

from cmdbctl.errors import CommandError


@click.command(short_help="(being built)")
def discover() -> None:
    """(being built)"""
    raise CommandError("cmdbctl discover is not built yet")
