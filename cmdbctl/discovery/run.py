"""`cmdbctl discover`'s core: one adapter's findings, checked as a snapshot, as bytes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cmdbctl.discovery.adapters import Adapter, Progress
from cmdbctl.discovery.output import refuse_git_directory, render
from cmdbctl.discovery.snapshot import (
    Item,
    Snapshot,
    digest_of,
    first_unfit,
    format_instant,
    snapshot_from_data,
)
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
    """Refuse what a snapshot cannot hold (an integer beyond 64 bits, NaN, an infinity,
    nesting deeper than 128 levels), as the reader would refuse it, naming the adapter."""
    misfit = first_unfit(items)
    if misfit is not None:
        item, field, problem = misfit
        raise CommandError(
            f"discovery adapter {name!r}: {item.label()}: {field}: {problem}",
            "fix the adapter: a snapshot holds 64-bit integers, finite numbers, nesting "
            "128 deep at most",
        )
