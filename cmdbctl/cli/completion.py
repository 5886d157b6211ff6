"""`cmdbctl completion` (being built)."""

from __future__ import annotations

import click

from cmdbctl.errors import CommandError


@click.command(short_help="(being built)")
def completion() -> None:
    """(being built)"""
    raise CommandError("cmdbctl completion is not built yet")
