"""`--adapter local`: this machine, read from the operating system itself (no network).

Reports what the system says: host name, FQDN (from /etc/hosts, never DNS), serial,
vendor and model (DMI; the serial is readable by root only), OS name and version
(os-release), physical CPU cores, memory, disks and interfaces with MACs and addresses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from cmdbctl.discovery.adapters import Discovery, Progress

summary = "this machine, read from the operating system (no network)"


def options() -> Sequence[click.Option]:
    return [
        click.Option(
            ["--source"],
            default="local",
            show_default=True,
            metavar="NAME",
            help="The snapshot's source name, as precedence rules in policies/ name it.",
        )
    ]


def discover(options: Mapping[str, Any], progress: Progress | None) -> Discovery:
    from cmdbctl.discovery.thishost import describe

    return Discovery(source=options["source"], items=[describe()])
