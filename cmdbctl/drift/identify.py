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

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from cmdbctl.discovery.snapshot import Item, Snapshot
from cmdbctl.drift import normalise
from cmdbctl.drift.policy import DiscoveryPolicy

if TYPE_CHECKING:
    from cmdbctl.drift.desired import CI


class Identified(NamedTuple):  # a tuple: 10^5 of them are built per run
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


def _strip(value: str) -> str:
    return value.strip()


# How each identifier's values are normalised (normalise.py); others are stripped.
NORMALISERS: dict[str, Callable[[str], str]] = {
    "macs": normalise.mac,
    "mac": normalise.mac,
    "hostname": normalise.host,
    "fqdn": normalise.host,
}


def keys_of(spec: Mapping[str, Any], rules: Sequence[str]) -> dict[str, list[str]]:
    """identifier -> the normalised values a CI's spec holds for it (those it has)."""
    keys = {}
    for rule in rules:
        values = spec_values(spec, rule)
        if values:
            keys[rule] = values
    return keys


def spec_values(spec: Mapping[str, Any], identifier: str) -> list[str]:
    """The normalised values a CI's spec holds for an identifier."""
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
        return [NORMALISERS.get(identifier, _strip)(str(value))]
    return []


Table = dict[str, list[str]]  # normalised value -> the CIs that hold it


class Index:
    """CI ids by kind, identifier and normalised value."""

    def __init__(self, cis: Iterable[CI]) -> None:
        self._by: dict[tuple[str, str], Table] = {}
        for ci in cis:
            for identifier, values in ci.keys.items():
                table = self._by.get((ci.kind, identifier))
                if table is None:
                    table = self._by[(ci.kind, identifier)] = {}
                for value in values:
                    claimed = table.get(value)
                    if claimed is None:
                        table[value] = [ci.id]
                    elif ci.id not in claimed:
                        claimed.append(ci.id)

    def plan(self, kind: str, rules: Sequence[str]) -> dict[str, Table]:
        """The tables of the rules for items of `kind` (rules no CI of the kind has
        values for are left out: they can find nothing)."""
        return {rule: self._by[(kind, rule)] for rule in rules if (kind, rule) in self._by}


Keys = list[tuple[str, list[str]]]  # an item's normalised values per rule, in rule order


def item_keys(item: Item, rules: Sequence[str]) -> Keys:
    """The item's normalised values for each rule it has values for."""
    identifiers = item.identifiers
    keys = []
    for rule in rules:
        raw = identifiers.get(rule)
        if raw is None and rule == "mac":
            raw = identifiers.get("macs")
        if raw is None:
            continue
        norm = NORMALISERS.get(rule, _strip)
        keys.append(
            (rule, [norm(str(v)) for v in raw] if isinstance(raw, list) else [norm(str(raw))])
        )
    return keys


def identify(
    snapshots: Sequence[Snapshot],
    cis: Iterable[CI],
    policy: DiscoveryPolicy,
    keys: Sequence[Sequence[Keys]] | None = None,
) -> list[Identified]:
    """What each item of each snapshot is, in snapshot and item order; `keys`: each
    item's `item_keys`, when worked out already."""
    index = Index(cis)
    plans: dict[str, dict[str, Table]] = {}
    found = []
    for n, snapshot in enumerate(snapshots):
        for position, item in enumerate(snapshot.items):
            plan = plans.get(item.kind)
            rules = policy.identifiers(item.kind)
            if plan is None:
                plan = plans[item.kind] = index.plan(item.kind, rules)
            found.append(
                _identify(n, item, plan, keys[n][position] if keys else item_keys(item, rules))
            )
    return _one_item_per_ci(found, snapshots)


def _identify(source: int, item: Item, plan: dict[str, Table], keys: Keys) -> Identified:
    chosen: tuple[str, str, str] | None = None  # CI, rule, value
    for rule, values in keys:
        table = plan.get(rule)
        if table is None:
            continue
        if len(values) == 1:  # the common case, without a dict of hits when one CI holds it
            value = values[0]
            claimed = table.get(value)
            if claimed is None:
                continue
            if len(claimed) == 1 and (chosen is None or chosen[0] == claimed[0]):
                chosen = chosen or (claimed[0], rule, value)
                continue
            hits = dict.fromkeys(claimed, value)
        else:
            hits = {}  # CI id -> the value that found it
            for value in values:
                for ci in table.get(value, ()):
                    hits.setdefault(ci, value)
            if not hits:
                continue
        if chosen is None:
            if len(hits) > 1:
                found = sorted(set(hits.values()))
                return Identified(
                    source,
                    item,
                    None,
                    rule,
                    found[0],
                    tuple(sorted(hits)),
                    f"{rule} {', '.join(found)} is claimed by several CIs",
                )
            ((ci, value),) = hits.items()
            chosen = (ci, rule, value)
        elif chosen[0] not in hits:
            other = sorted(hits)
            return Identified(
                source,
                item,
                None,
                chosen[1],
                chosen[2],
                (chosen[0], *other),
                f"{chosen[1]} {chosen[2]} matches {chosen[0]} but {rule} "
                f"{hits[other[0]]} matches {', '.join(other)}",
            )
    if chosen is None:
        return Identified(source, item, None, None, None)
    return Identified(source, item, *chosen)


def _one_item_per_ci(found: list[Identified], snapshots: Sequence[Snapshot]) -> list[Identified]:
    """Two items of one snapshot that match the same CI: both ambiguous."""
    first: dict[tuple[int, str | None], int] = {}
    clashes: dict[tuple[int, str | None], list[int]] = {}
    for n, entry in enumerate(found):
        if entry.ci is not None:
            key = (entry.source, entry.ci)
            at = first.setdefault(key, n)
            if at != n:
                clashes.setdefault(key, [at]).append(n)
    for (source, ci), positions in clashes.items():
        labels = " and ".join(found[p].item.label() for p in positions)
        for p in positions:
            found[p] = found[p]._replace(
                ci=None,
                candidates=(str(ci),),
                why=f"{labels} of {snapshots[source].path} all match {ci}",
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
