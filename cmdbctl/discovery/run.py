"""`cmdbctl discover`'s core: one adapter's findings, checked as a snapshot, as bytes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from cmdbctl.discovery.adapters import Adapter, Progress
from cmdbctl.discovery.output import refuse_git_directory, render
from cmdbctl.discovery.snapshot import (
    Item,
    Snapshot,
    digest_of,
    format_instant,
    snapshot_from_data,
)
from cmdbctl.discovery.values import unfit
from cmdbctl.errors import CommandError


@dataclass(frozen=True)
class Discovered:
    snapshot: Snapshot  # `path` is where it goes ("-": stdout); `digest` that of `data`
    data: bytes  # what is written
    warnings: tuple[str, ...]


def discover(
    name: str,
    adapter: Adapter,
    options: Mapping[str, Any],
    output: str,
    fmt: str,
    progress: Progress | None = None,
) -> Discovered:
    """Run the adapter and turn what it found into a snapshot in `fmt`.

    What the adapter returns is checked as any snapshot is read, so a snapshot that
    `discover` writes is always one `diff` reads (a third-party adapter's mistake is an
    error naming the item and field, not a file that fails later).
    An output inside a git directory is refused before the adapter runs (and again
    when it is written).
    """
    if output != "-":
        refuse_git_directory(output)
    found = adapter.discover(options, progress)
    moment = found.discovered_at or datetime.now(UTC).replace(microsecond=0)
    if moment.tzinfo is None:
        raise CommandError(f"discovery adapter {name!r} gave a discovery time without a UTC offset")
    data = {
        "source": found.source,
        "discoveredAt": format_instant(moment),
        "items": [dict(item) for item in found.items],
    }
    snapshot = snapshot_from_data(data, f"from adapter {name!r}", "")
    _check_numbers(name, snapshot.items)
    raw = render(snapshot, fmt)
    snapshot = replace(snapshot, path=output, digest=digest_of(raw))
    return Discovered(snapshot, raw, tuple(found.warnings))


def _check_numbers(name: str, items: Sequence[Item]) -> None:
    """Refuse what JSON cannot carry: an integer beyond 64 bits, NaN, an infinity, more
    nesting than the snapshot's writer takes.

    One pass in C first (integers within 53 bits, nesting orjson writes, and no null,
    which is what orjson writes for NaN); only when it finds something does each item
    get looked at.
    """
    try:
        raw = orjson.dumps(
            [(item.identifiers, item.attributes) for item in items],
            default=dict,
            option=orjson.OPT_STRICT_INTEGER,
        )
    except TypeError:
        pass
    else:
        if b"null" not in raw:
            return
    for item in items:
        misfit = unfit({"identifiers": item.identifiers, "attributes": item.attributes})
        if misfit is not None:
            field, problem = misfit
            raise CommandError(
                f"discovery adapter {name!r}: {item.label()}: {field[1:]}: {problem}",
                "fix the adapter: a snapshot holds 64-bit integers, finite numbers, nesting "
                "128 deep at most",
            )
