"""Discovery adapters: the sources `cmdbctl discover --adapter NAME` reads.

An adapter is a module (or any object) that an entry point of group `cmdbctl.adapters`
names, so a package of your own adds one without touching cmdbctl:

    [project.entry-points."cmdbctl.adapters"]
    netbox = "my_package.netbox_adapter"

It provides what `Adapter` lists: a one-line `summary` for `discover --help`, the click
`options()` it adds to `discover` (shown by `discover --adapter NAME --help`), and
`discover(options, progress)`, which returns a `Discovery`: the source's name and the
items it found, as plain data in the snapshot format (`kind`, `identifiers`,
`attributes`; see `cmdbctl.discovery.snapshot`). It raises `CommandError` when it cannot
run, and reports what it skipped as `warnings`; it never prints. `progress`, when given,
takes one short line at a time for a person watching a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from typing import Any, Protocol

import click

from cmdbctl.errors import CommandError

GROUP = "cmdbctl.adapters"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Discovery:
    """What an adapter found."""

    source: str  # the snapshot's `source`: what precedence rules name
    items: Sequence[Mapping[str, Any]]  # {"kind", "identifiers", "attributes"} each
    discovered_at: datetime | None = None  # when the source looked (aware); None: now
    warnings: Sequence[str] = ()  # what was skipped and why, one sentence each


class Adapter(Protocol):
    summary: str

    def options(self) -> Sequence[click.Option]: ...

    def discover(self, options: Mapping[str, Any], progress: Progress | None) -> Discovery: ...


def available() -> dict[str, metadata.EntryPoint]:
    """The installed adapters by name (the first distribution's, if two use a name)."""
    found: dict[str, metadata.EntryPoint] = {}
    for entry in metadata.entry_points(group=GROUP):
        found.setdefault(entry.name, entry)
    return dict(sorted(found.items()))


def load(name: str) -> Adapter:
    """The adapter called `name`; CommandError when there is none or it cannot load."""
    entries = available()
    entry = entries.get(name)
    if entry is None:
        known = ", ".join(entries) or "none"
        raise CommandError(
            f"no discovery adapter named {name!r} (installed: {known})",
            f"use one of them, or install the package that provides {name!r} "
            f"(it declares an entry point in the group {GROUP!r})",
        )
    where = f"{entry.value}" + (f" from {entry.dist.name}" if entry.dist else "")
    try:
        adapter = entry.load()
    except Exception as exc:  # a broken plugin is the user's to fix, not our bug
        raise CommandError(
            f"discovery adapter {name!r} ({where}) cannot be loaded: {type(exc).__name__}: {exc}",
            "reinstall or fix the package that provides it",
        ) from exc
    missing = [
        attribute
        for attribute in ("summary", "options", "discover")
        if not hasattr(adapter, attribute)
    ]
    if missing:
        raise CommandError(
            f"discovery adapter {name!r} ({where}) is not an adapter: it has no "
            + ", ".join(missing),
            "an adapter provides summary, options() and discover(options, progress)",
        )
    return adapter
