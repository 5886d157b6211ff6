"""The dependency graph: which CIs and services depend on a CI, directly or through
other CIs. Edges are the reference fields of configuration items (dependsOn, runsOn,
location, endpoints, and any field a schema marks with x-cmdb-ref), read upward: a CI
that refers to X depends on X. Documents that are *about* a CI do not depend on it.

The graph is walked through a `referrers` function (`revision.Snapshot.referrers`, which
searches a revision's blobs or reads the verdict cache), one level at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cmdbctl.document import Entry
from cmdbctl.kinds import KindRegistry

Referrers = Callable[[Iterable[str]], dict[str, list[Entry]]]


def dependents(ids: Iterable[str], referrers: Referrers, kinds: KindRegistry) -> dict[str, str]:
    """id → kind of every CI that depends on any of `ids`, transitively (ids excluded)."""
    start = set(ids)
    seen: dict[str, str] = {}
    frontier = set(start)
    while frontier:
        found = referrers(frontier)
        frontier = set()
        for entries in found.values():
            for entry in entries:
                kind = kinds.kinds.get(entry.kind or "")
                if entry.id is None or kind is None or not kind.is_ci or kind.cls == "document":
                    continue
                if entry.id not in seen and entry.id not in start:
                    seen[entry.id] = kind.name
                    frontier.add(entry.id)
    return seen


def affected_services(
    targets: Iterable[str], target_kinds: dict[str, str], referrers: Referrers, kinds: KindRegistry
) -> list[str]:
    """Services that depend on any target, directly or through other CIs, or are one."""
    targets = list(targets)
    found = {
        i
        for i, k in dependents(targets, referrers, kinds).items()
        if kinds.kinds[k].cls == "service"
    }
    found.update(
        t
        for t in targets
        if target_kinds.get(t) in kinds.kinds and kinds.kinds[target_kinds[t]].cls == "service"
    )
    return sorted(found)
