"""`cmdbctl diff` (being built)."""

from __future__ import annotations

import click

from cmdbctl.errors import CommandError


@click.command(short_help="(being built)")
def diff() -> None:
    """(being built)"""
    raise CommandError("cmdbctl diff is not built yet")
