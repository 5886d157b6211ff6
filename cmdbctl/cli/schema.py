"""`cmdbctl schema export` (being built)."""

from __future__ import annotations

import click

from cmdbctl.errors import CommandError


@click.group(short_help="(being built)")
def schema() -> None:
    """(being built)"""


@schema.command(short_help="(being built)")
def export() -> None:
    """(being built)"""
    raise CommandError("cmdbctl schema export is not built yet")
