"""Identification: which CI each discovered item is, by the policy's rules for its kind
(by default serial, then fqdn, then hostname, then any MAC), on normalised values.

The first rule that finds a CI of the item's kind decides, unless the match is
ambiguous, which is reported and never guessed:
- two CIs claim the value the item matched by (a serial written twice), or the item's
  values under one rule find several CIs (its MACs on two CIs);
- a later rule finds another CI than the one the first found (serial says db-01,
  hostname says db-02): the repository and the machine disagree on who is who;
- two items of one snapshot match the same CI.
An ambiguous item is neither drifted nor unmanaged, and its CIs are not missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cmdbctl.discovery.snapshot import Item, Snapshot
from cmdbctl.drift import normalise
from cmdbctl.drift.desired import CI
from cmdbctl.drift.policy import DiscoveryPolicy


@dataclass(frozen=True, slots=True)
class Identified:
    """One discovered item and what identification made of it."""

    source: int  # index of its snapshot
    item: Item
    ci: str | None  # the CI it is (None: unmatched, or ambiguous)
    rule: str | None  # the identifier that matched
    value: str | None  # its normalised value
    candidates: tuple[str, ...] = ()  # ambiguous: the CIs it could be
    why: str = ""  # ambiguous: why, in a sentence

    @property
    def ambiguous(self) -> bool:
        return bool(self.candidates)


def ci_values(ci: CI, identifier: str) -> list[str]:
    """The normalised values a CI holds for an identifier."""
    spec = ci.spec
    if identifier in ("macs", "mac"):
        interfaces = spec.get("interfaces")
        if not isinstance(interfaces, list):
            return []
        return [
            normalise.mac(i["mac"])
            for i in interfaces
            if isinstance(i, dict) and isinstance(i.get("mac"), str)
        ]
    value = spec.get(identifier)
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return [normalise.identifier(identifier, value)]
    return []


def item_values(item: Item, identifier: str) -> list[str]:
    value = item.identifiers.get(identifier)
    if value is None and identifier == "mac":
        value = item.identifiers.get("macs")
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [normalise.identifier(identifier, v) for v in values]


class Index:
    """CI ids by kind, identifier and normalised value."""

    def __init__(self, cis: Iterable[CI], policy: DiscoveryPolicy) -> None:
        self._by: dict[tuple[str, str], dict[str, list[str]]] = {}
        for ci in cis:
            for identifier in policy.identifiers(ci.kind):
                values = ci_values(ci, identifier)
                if not values:
                    continue
                table = self._by.get((ci.kind, identifier))
                if table is None:
                    table = self._by[(ci.kind, identifier)] = {}
                for value in values:
                    claimed = table.get(value)
                    if claimed is None:
                        table[value] = [ci.id]
                    elif ci.id not in claimed:
                        claimed.append(ci.id)

    def lookup(self, kind: str, identifier: str, value: str) -> Sequence[str]:
        table = self._by.get((kind, identifier))
        return table.get(value, ()) if table is not None else ()


def identify(
    snapshots: Sequence[Snapshot], cis: Iterable[CI], policy: DiscoveryPolicy
) -> list[Identified]:
    """What each item of each snapshot is, in snapshot and item order."""
    index = Index(cis, policy)
    found = [
        _identify(n, item, index, policy.identifiers(item.kind))
        for n, snapshot in enumerate(snapshots)
        for item in snapshot.items
    ]
    return _one_item_per_ci(found, snapshots)


def _identify(source: int, item: Item, index: Index, rules: Sequence[str]) -> Identified:
    chosen: Identified | None = None
    for rule in rules:
        hits: dict[str, str] = {}  # CI id -> the value that found it
        for value in item_values(item, rule):
            for ci in index.lookup(item.kind, rule, value):
                hits.setdefault(ci, value)
        if not hits:
            continue
        if chosen is None:
            if len(hits) > 1:
                values = sorted(set(hits.values()))
                what = f"{rule} {values[0]}" if len(values) == 1 else f"{rule} {', '.join(values)}"
                return Identified(
                    source,
                    item,
                    None,
                    rule,
                    values[0],
                    tuple(sorted(hits)),
                    f"{what} is claimed by several CIs",
                )
            ((ci, value),) = hits.items()
            chosen = Identified(source, item, ci, rule, value)
        elif chosen.ci not in hits:
            other = sorted(hits)
            return Identified(
                source,
                item,
                None,
                chosen.rule,
                chosen.value,
                (str(chosen.ci), *other),
                f"{chosen.rule} {chosen.value} matches {chosen.ci} but {rule} "
                f"{hits[other[0]]} matches {', '.join(other)}",
            )
    return chosen or Identified(source, item, None, None, None)


def _one_item_per_ci(found: list[Identified], snapshots: Sequence[Snapshot]) -> list[Identified]:
    """Two items of one snapshot that match the same CI: both ambiguous."""
    claims: dict[tuple[int, str], list[int]] = {}
    for n, entry in enumerate(found):
        if entry.ci is not None:
            claims.setdefault((entry.source, entry.ci), []).append(n)
    for (source, ci), positions in claims.items():
        if len(positions) < 2:
            continue
        labels = " and ".join(found[p].item.label() for p in positions)
        for p in positions:
            entry = found[p]
            found[p] = Identified(
                entry.source,
                entry.item,
                None,
                entry.rule,
                entry.value,
                (ci,),
                f"{labels} of {snapshots[source].path} all match {ci}",
            )
    return found


def explanation(entry: Identified, snapshots: Sequence[Snapshot]) -> dict[str, Any]:
    """What `--explain` says of one item."""
    snapshot = snapshots[entry.source]
    base: Mapping[str, Any] = {
        "source": snapshot.source,
        "snapshot": snapshot.path,
        "item": entry.item.position,
        "label": entry.item.label(),
        "kind": entry.item.kind,
    }
    if entry.ambiguous:
        return {
            **base,
            "outcome": "ambiguous",
            "rule": entry.rule,
            "value": entry.value,
            "candidates": list(entry.candidates),
            "why": entry.why,
        }
    if entry.ci is None:
        return {**base, "outcome": "unmatched", "rule": None, "value": None, "ci": None}
    return {**base, "outcome": "matched", "rule": entry.rule, "value": entry.value, "ci": entry.ci}
