"""Reconciliation: the snapshots' items that identify one CI, merged into one discovered
view, with the source of each value.

With one item, the view is its attributes as they are. With several (one per source),
each attribute path (a leaf: os.version, memoryMb, the whole disks list) comes from the
most trusted source that reports it, by the policy's precedence (the most specific
entry for the path, then "*"); a source the precedence does not list ranks after those
it lists, in command-line order. The item's serial, fqdn and hostname are spec fields
too and are compared as such when the kind's schema has them and the attributes do not
say otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from cmdbctl.discovery.snapshot import Item, Snapshot
from cmdbctl.drift import normalise
from cmdbctl.drift.identify import Identified
from cmdbctl.drift.policy import DiscoveryPolicy

# Identifiers that are spec fields of the same name.
SPEC_IDENTIFIERS = ("serial", "fqdn", "hostname")


class View(NamedTuple):  # a tuple: one per matched CI, 10^5 of them
    """What the sources say of one CI."""

    ci: str
    attributes: dict[str, Any]  # nested as in the spec
    sources: Mapping[str, str] | str  # leaf path -> source; one source name for all
    items: tuple[Identified, ...]

    def source_of(self, path: str) -> str:
        """The source of the value at a dotted path below spec (memoryMb, disks.1.sizeGb)."""
        if isinstance(self.sources, str):
            return self.sources
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            found = self.sources.get(".".join(parts[:end]))
            if found is not None:
                return found
        return ""


def attributes_of(item: Item, fields: frozenset[str] | None) -> dict[str, Any]:
    """The item's attributes, plus its identifiers that are spec fields of its kind;
    only the fields its kind's schema has (`fields`; None: every one)."""
    found = dict(item.attributes)
    identifiers = item.identifiers
    for name in SPEC_IDENTIFIERS:
        if name in identifiers and name not in found and (fields is None or name in fields):
            value = identifiers[name]
            if isinstance(value, str):
                found[name] = value
    if fields is not None and not fields.issuperset(found):
        found = {k: v for k, v in found.items() if k in fields}
    return _canonical(found)


def _canonical(found: dict[str, Any]) -> dict[str, Any]:
    """Host names and MACs as the repository usually writes them (normalise.py), so
    that the cheap comparison finds equal what only differs in spelling. The item's own
    values are left as they are (a list is copied before it changes)."""
    for name in ("hostname", "fqdn"):
        value = found.get(name)
        if isinstance(value, str):
            found[name] = normalise.host(value)
    interfaces = found.get("interfaces")
    if isinstance(interfaces, list):
        for n, interface in enumerate(interfaces):
            if isinstance(interface, dict):
                value = interface.get("mac")
                if isinstance(value, str):
                    canonical = normalise.mac(value)
                    if canonical != value:
                        if found["interfaces"] is interfaces:
                            found["interfaces"] = list(interfaces)
                        found["interfaces"][n] = {**interface, "mac": canonical}
    return found


Grouped = dict[str, list[Identified]]  # CI id -> the items identified as it


def grouped(identified: Sequence[Identified]) -> Grouped:
    """The items identified as each CI, in order."""
    by_ci: Grouped = {}
    for entry in identified:
        if entry.ci is not None:
            found = by_ci.get(entry.ci)
            if found is None:
                by_ci[entry.ci] = [entry]
            else:
                found.append(entry)
    return by_ci


def view_of(
    ci: str,
    entries: list[Identified],
    snapshots: Sequence[Snapshot],
    policy: DiscoveryPolicy,
    attributes: Callable[[Identified], dict[str, Any]],
) -> View:
    """What the sources say of one CI, from the items identified as it; `attributes`:
    an item's `attributes_of`."""
    if len(entries) == 1:
        (entry,) = entries
        return View(
            ci,
            attributes(entry),
            snapshots[entry.source].source,
            (entry,),
        )
    found = [attributes(e) for e in entries]
    return _merged(ci, entries, snapshots, policy, found)


def _merged(
    ci: str,
    entries: list[Identified],
    snapshots: Sequence[Snapshot],
    policy: DiscoveryPolicy,
    found: list[dict[str, Any]],
) -> View:
    leaves: dict[
        str, list[tuple[int, str, Any]]
    ] = {}  # path -> (command-line order, source, value)
    for entry, reported in zip(entries, found):
        source = snapshots[entry.source].source
        for path, value in _leaves(reported, ""):
            leaves.setdefault(path, []).append((entry.source, source, value))
    attributes: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for path, offers in leaves.items():
        trusted = policy.trusted(path)

        def rank(
            offer: tuple[int, str, Any], trusted: tuple[str, ...] = trusted
        ) -> tuple[int, int]:
            order, source, _ = offer
            return (trusted.index(source) if source in trusted else len(trusted), order)

        _, source, value = min(offers, key=rank)
        _put(attributes, path.split("."), value)
        sources[path] = source
    return View(ci, attributes, sources, tuple(entries))


def _leaves(node: Mapping[str, Any], prefix: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.extend(_leaves(value, path + "."))
        else:
            out.append((path, value))
    return out


def _put(node: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
