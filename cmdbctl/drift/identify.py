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

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from cmdbctl.discovery.snapshot import Item, Snapshot
from cmdbctl.drift import normalise
from cmdbctl.drift.policy import DiscoveryPolicy


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


def spec_values(spec: Mapping[str, Any], identifier: str) -> list[str]:
    """The normalised values a CI's spec holds for an identifier."""
    if identifier == "macs" or identifier == "mac":
        interfaces = spec.get("interfaces")
        if not isinstance(interfaces, list):
            return []
        mac = normalise.mac
        return [
            mac(i["mac"])
            for i in interfaces
            if isinstance(i, dict) and isinstance(i.get("mac"), str)
        ]
    value = spec.get(identifier)
    if type(value) is not str:
        if not isinstance(value, str | int) or isinstance(value, bool):
            return []
        value = str(value)
    if not value.strip():
        return []
    norm = NORMALISERS.get(identifier)
    return [norm(value) if norm is not None else value.strip()]


Table = dict[str, str | list[str]]  # normalised value -> the CI that holds it, or the CIs
Tables = dict[tuple[str, str], Table]  # by kind and identifier


def add_keys(
    tables: Tables, kind: str, ci: str, spec: Mapping[str, Any], rules: Sequence[str]
) -> None:
    """Enter the normalised values a CI's spec holds for each identifier into the tables."""
    for rule in rules:
        values = spec_values(spec, rule)
        if not values:
            continue
        table = tables.get((kind, rule))
        if table is None:
            table = tables[(kind, rule)] = {}
        for value in values:
            claimed = table.setdefault(value, ci)  # one C call where no other CI holds it
            if claimed is ci:
                continue
            if isinstance(claimed, str):
                if claimed != ci:
                    table[value] = [claimed, ci]
            elif ci not in claimed:
                claimed.append(ci)


def merge_tables(into: Tables, more: Tables) -> None:
    """Add the tables of later CIs (a worker's run of files) to those of earlier ones:
    in C where no value is claimed by both (dict.update), the usual case."""
    for key, table in more.items():
        mine = into.get(key)
        if mine is None:
            into[key] = table
            continue
        for value in mine.keys() & table.keys():
            claimed = mine[value]
            ids = [claimed] if isinstance(claimed, str) else list(claimed)
            later = table.pop(value)
            for ci in [later] if isinstance(later, str) else later:
                if ci not in ids:
                    ids.append(ci)
            mine[value] = ids[0] if len(ids) == 1 else ids
        mine.update(table)


Keys = list[tuple[str, list[str]]]  # an item's normalised values per rule, in rule order


def item_keys(item: Item, rules: Sequence[str]) -> Keys:
    """The item's normalised values for each rule it has values for."""
    identifiers = item.identifiers
    keys = []
    for rule in rules:
        raw = identifiers.get(rule)
        if raw is None:
            if rule != "mac":
                continue
            raw = identifiers.get("macs")
            if raw is None:
                continue
        norm = NORMALISERS.get(rule, _strip)
        if isinstance(raw, str):
            keys.append((rule, [norm(raw)]))
        else:
            keys.append(
                (rule, [norm(str(v)) for v in raw] if isinstance(raw, list) else [norm(str(raw))])
            )
    return keys


class Identifier:
    """Identification of one item at a time, by the CIs' identification `tables`."""

    def __init__(self, tables: Tables, policy: DiscoveryPolicy) -> None:
        self._tables, self._policy = tables, policy
        self._plans: dict[str, tuple[tuple[str, ...], dict[str, Table], list[_Step]]] = {}

    def __call__(self, source: int, item: Item) -> Identified:
        return Identified(source, item, *self.facts(source, item))

    def facts(self, source: int, item: Item) -> Facts:
        """What identification makes of the item: CI, rule, value, candidates, why."""
        plan = self._plans.get(item.kind)
        if plan is None:
            plan = self._plans[item.kind] = self._plan(item.kind)
        # The common case first, in one pass and without building the item's keys:
        # every value that finds a CI finds one CI, always the same.
        identifiers = item.identifiers
        chosen: tuple[str, str, str] | None = None
        for rule, names, norm, table in plan[2]:
            raw = identifiers.get(names[0])
            if raw is None and len(names) > 1:
                raw = identifiers.get(names[1])
            if raw is None:
                continue
            for value in (norm(raw),) if raw.__class__ is str else _each(raw, norm):
                claimed = table.get(value)
                if claimed is None:
                    continue
                if claimed.__class__ is not str or (chosen is not None and claimed != chosen[0]):
                    found = _identify(source, item, plan[1], item_keys(item, plan[0]))
                    return found.ci, found.rule, found.value, found.candidates, found.why
                if chosen is None:
                    chosen = (claimed, rule, value)
        if chosen is None:
            return None, None, None, (), ""
        return chosen[0], chosen[1], chosen[2], (), ""

    def _plan(self, kind: str) -> tuple[tuple[str, ...], dict[str, Table], list[_Step]]:
        # The tables of the kind's rules (rules no CI has values for can find nothing).
        rules = self._policy.identifiers(kind)
        tables = {r: self._tables[(kind, r)] for r in rules if (kind, r) in self._tables}
        steps: list[_Step] = [
            (
                rule,
                ("mac", "macs") if rule == "mac" else (rule,),
                NORMALISERS.get(rule, _strip),
                table,
            )
            for rule, table in tables.items()
        ]
        return rules, tables, steps


# A rule as Identifier.facts applies it: its name, the identifiers it reads (`mac` reads
# `macs` where an item has no `mac`), their normaliser and the table of the CIs' values.
_Step = tuple[str, tuple[str, ...], Callable[[str], str], Table]
Facts = tuple[str | None, str | None, str | None, tuple[str, ...], str]


def _each(raw: Any, norm: Callable[[str], str]) -> list[str]:
    """An identifier's values normalised, as item_keys has them."""
    return [norm(str(v)) for v in raw] if isinstance(raw, list) else [norm(str(raw))]


def identify(
    snapshots: Sequence[Snapshot], tables: Tables, policy: DiscoveryPolicy
) -> list[Identified]:
    """What each item of each snapshot is, in snapshot and item order."""
    of = Identifier(tables, policy)
    found = [of(n, item) for n, snapshot in enumerate(snapshots) for item in snapshot.items]
    return one_item_per_ci(found, snapshots)


def _identify(source: int, item: Item, plan: dict[str, Table], keys: Keys) -> Identified:
    chosen: tuple[str, str, str] | None = None  # CI, rule, value
    for rule, values in keys:
        table = plan.get(rule)
        if table is None:
            continue
        # The common case first, without a dict of hits: every value the item has
        # under this rule that some CI holds is held by one CI, the same one.
        single: tuple[str, str] | None = None  # CI, the first value that found it
        for value in values:
            claimed = table.get(value)
            if claimed is None:
                continue
            if not isinstance(claimed, str) or (single is not None and single[0] != claimed):
                break
            if single is None:
                single = (claimed, value)
        else:
            if single is None:
                continue
            if chosen is None:
                chosen = (single[0], rule, single[1])
                continue
            if chosen[0] == single[0]:
                continue
        hits: dict[str, str] = {}  # CI id -> the value that found it
        for value in values:
            claimed = table.get(value)
            if claimed is None:
                continue
            for ci in [claimed] if isinstance(claimed, str) else claimed:
                hits.setdefault(ci, value)
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


def one_item_per_ci(found: list[Identified], snapshots: Sequence[Snapshot]) -> list[Identified]:
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
