"""`--adapter ansible`: Server items from the facts Ansible gathers.

`--facts PATH` reads facts already gathered: a folder written by `ansible HOSTS -m setup
--tree DIR`, or the `jsonfile` fact cache's folder (`fact_caching_connection`), or one
host's file. `--inventory FILE [--limit PATTERN] [--forks N] [--become]` gathers them
now, with `ansible-playbook` over the inventory: Ansible's forks do the parallelism and
its own configuration applies. How facts map to Server fields: `ansible.mapping`.

A host whose facts cannot be used (unreachable, gathering failed, a file that is not
facts) is a warning naming it, and the others are still discovered; when no host is
left, discovery fails (exit 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import click

from cmdbctl.discovery.adapters import Discovery, Progress
from cmdbctl.errors import CommandError

summary = "facts Ansible gathered (--facts DIR), or gathers now (--inventory FILE)"


def options() -> Sequence[click.Option]:
    return [
        click.Option(
            ["--facts"],
            metavar="PATH",
            help="Facts already gathered: the folder of `ansible HOSTS -m setup --tree DIR`, "
            "or of the jsonfile fact cache, or one host's file.",
        ),
        click.Option(
            ["--inventory"],
            metavar="FILE",
            help="Gather facts now, with ansible-playbook over this inventory "
            "(file, folder or host list, as ansible's -i takes).",
        ),
        click.Option(
            ["--limit"],
            metavar="PATTERN",
            help="With --inventory: the hosts to gather (Ansible's --limit).",
        ),
        click.Option(
            ["--forks"],
            type=click.IntRange(min=1),
            metavar="N",
            help="With --inventory: hosts gathered in parallel (default: Ansible's, 5).",
        ),
        click.Option(
            ["--become"],
            is_flag=True,
            help="With --inventory: gather as root (the serial number is readable by root only).",
        ),
        click.Option(
            ["--source"],
            default="ansible",
            show_default=True,
            metavar="NAME",
            help="The snapshot's source name, as precedence rules in policies/ name it.",
        ),
    ]


def discover(options: Mapping[str, Any], progress: Progress | None) -> Discovery:
    from cmdbctl.discovery.ansible.facts import read_folder

    facts, inventory = options["facts"], options["inventory"]
    if (facts is None) == (inventory is None):
        raise CommandError(
            "the ansible adapter needs either --facts PATH or --inventory FILE"
            + (", not both" if facts is not None else ""),
            "--facts reads facts gathered before; --inventory gathers them now",
        )
    if inventory is None:
        given = [f"--{n}" for n in ("limit", "forks", "become") if options[n]]
        if given:
            raise CommandError(
                f"{', '.join(given)} only go with --inventory", "drop them when reading --facts"
            )
        hosts, warnings = read_folder(facts)
        return _discovery(options["source"], hosts, warnings, f"in {facts}")

    from cmdbctl.discovery.ansible.runner import gathered_facts

    with gathered_facts(
        inventory, options["limit"], options["forks"], options["become"], progress
    ) as (cache, outcome):
        warnings = [
            f"{host}: unreachable: {why}; skipped" for host, why in outcome.unreachable.items()
        ]
        warnings += [
            f"{host}: fact gathering failed: {why}; skipped" for host, why in outcome.failed.items()
        ]
        hosts, unread = read_folder(str(cache)) if cache.is_dir() else ([], [])
        return _discovery(
            options["source"], hosts, warnings + unread, f"from inventory {inventory}"
        )


def _discovery(source: str, hosts: list[Any], warnings: list[str], where: str) -> Discovery:
    from cmdbctl.discovery.ansible.mapping import server_item

    items = []
    times: list[datetime] = []
    for host in hosts:
        item = server_item(host.facts)
        if item is None:
            warnings.append(
                f"{host.path}: facts of {host.host} name no host name, serial or MAC; skipped"
            )
            continue
        items.append(item)
        moment = host.gathered_at()
        if moment is not None:
            times.append(moment)
    if not items:
        shown = "; ".join(warnings[:5]) + (
            f"; and {len(warnings) - 5} more" if len(warnings) > 5 else ""
        )
        raise CommandError(
            f"no host's facts could be used {where}" + (f": {shown}" if shown else ": none found"),
            "gather them with `ansible all -m setup --tree DIR`, or check that the hosts are reachable",
        )
    # the oldest host's facts date the snapshot: the state is as of at least then
    return Discovery(
        source=source, items=items, discovered_at=min(times, default=None), warnings=warnings
    )
