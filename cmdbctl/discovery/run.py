"""`cmdbctl discover`'s core: one adapter's findings, checked as a snapshot, as bytes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cmdbctl.discovery.adapters import Adapter, Progress
from cmdbctl.discovery.output import render
from cmdbctl.discovery.snapshot import Snapshot, digest_of, format_instant, snapshot_from_data
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
    """
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
    raw = render(snapshot, fmt)
    snapshot = replace(snapshot, path=output, digest=digest_of(raw))
    return Discovered(snapshot, raw, tuple(found.warnings))
