"""`cmdbctl diff`: the repository (desired) against discovery snapshots (discovered).

The steps, a module each: `desired` (the CIs of the kinds the snapshots cover, read as
`validate` reads them, by worker processes while the snapshots are read here; `cache`
keeps what they made of each file), `policy` (the DiscoveryPolicy or its defaults),
`identify` (which CI each item is), `reconcile` (one view per CI when several sources
report it), `compare` (a digest of the reported fields first, then field by field where
it differs: the CIs' digests are computed by the workers that read them, the items'
with their identification, in two processes (`halves`)), `ignores` (what the policy
hides, and expired rules), `report` (text, JSON, Markdown), `write` (`--write`: the
drift as a branch with a draft change request).

What is what:
- missing: a CI of a kind some snapshot covers (a source covers the kinds of its
  items) that no item identifies, unless its status says it should not be found:
  retired, or planned or ordered (not yet installed);
- unmanaged: an item that identifies no CI;
- drifted: a CI whose spec differs from its discovered view in a field the sources
  report;
- ambiguous: an item identification could not decide (identify.py); never guessed.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, NamedTuple

from cmdbctl.discovery.snapshot import Item, Snapshot, read_snapshot
from cmdbctl.drift import normalise
from cmdbctl.drift.compare import Change, changes, digest
from cmdbctl.drift.desired import CI, Desired, ci_of, reading
from cmdbctl.drift.halves import in_two
from cmdbctl.drift.identify import Identified, Identifier, one_item_per_ci
from cmdbctl.drift.ignores import Ignores
from cmdbctl.drift.policy import DiscoveryPolicy
from cmdbctl.drift.reconcile import SPEC_IDENTIFIERS, View, attributes_of, grouped, view_of
from cmdbctl.findings import Finding
from cmdbctl.kinds import KindRegistry, load_registry
from cmdbctl.workspace import Workspace, file_id

CODES: dict[str, str] = {
    "drift.unread": "a file under inventory/ holds no readable document: diff cannot tell "
    "which CI it is, so an item that is that CI shows as unmanaged; `cmdbctl validate` "
    "says what is wrong with it",
}

# Statuses of CIs no source is expected to find.
NOT_DEPLOYED = frozenset({"retired", "planned", "ordered"})
_CI_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


@dataclass(frozen=True, slots=True)
class Drifted:
    ci: CI
    view: View
    changes: tuple[Change, ...]


@dataclass
class DiffResult:
    snapshots: Sequence[Snapshot]
    policy: DiscoveryPolicy
    identified: list[Identified]
    missing: list[CI] = field(default_factory=list)
    unmanaged: list[Identified] = field(default_factory=list)
    drifted: list[Drifted] = field(default_factory=list)
    ambiguous: list[Identified] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    ignored_items: int = 0
    ignored_fields: int = 0
    compared: int = 0  # CIs of the covered kinds
    paths: Sequence[str] = ()  # every document file

    @cached_property
    def ids(self) -> frozenset[str]:
        """Every id the file names claim: a new CI must not reuse one."""
        return frozenset(map(file_id, self.paths))

    @property
    def expired(self) -> int:
        return sum(1 for f in self.findings if f.code == "drift.ignore-expired")

    @property
    def found_drift(self) -> bool:
        """Anything `--exit-code` exits 1 for: drift of any sort, an ambiguous item, an
        expired ignore rule."""
        return bool(
            self.missing or self.unmanaged or self.drifted or self.ambiguous or self.expired
        )

    @property
    def summary(self) -> dict[str, Any]:
        return {
            "sources": [
                {
                    "source": s.source,
                    "path": s.path,
                    "digest": s.digest,
                    "discoveredAt": s.discovered_at.isoformat(),
                    "items": len(s.items),
                }
                for s in self.snapshots
            ],
            "compared": self.compared,
            "discovered": len(self.identified),
            "matched": sum(1 for e in self.identified if e.ci is not None),
            "missing": len(self.missing),
            "unmanaged": len(self.unmanaged),
            "drifted": len(self.drifted),
            "changes": sum(len(d.changes) for d in self.drifted),
            "ambiguous": len(self.ambiguous),
            "ignored": {"items": self.ignored_items, "fields": self.ignored_fields},
            "expiredIgnores": self.expired,
            "unread": sum(1 for f in self.findings if f.code == "drift.unread"),
        }


def proposed_id(entry: Identified) -> str | None:
    """The id a CI for an unmanaged item would get: its host name (else the first label
    of its fqdn, else its serial), lower case, as a CI id may be written."""
    ids = entry.item.identifiers
    candidates = [
        ids.get("hostname"),
        str(ids.get("fqdn") or "").partition(".")[0],
        ids.get("serial"),
    ]
    for value in candidates:
        if isinstance(value, str) and value.strip():
            text = re.sub(r"[^a-z0-9._-]+", "-", normalise.host(value)).strip("-._")[:63]
            if _CI_ID.match(text):
                return text
    return None


def spec_fields(kinds: KindRegistry) -> dict[str, frozenset[str]]:
    """The spec fields each kind's schema defines (what a source may report)."""
    out = {}
    for name, kind in kinds.kinds.items():
        spec = kind.schema.get("properties", {}).get("spec", {})
        props = spec.get("properties") if isinstance(spec, dict) else None
        if isinstance(props, dict):
            out[name] = frozenset(props)
    return out


@contextmanager
def no_cycle_collection(freeze: bool = False) -> Iterator[None]:
    """A diff builds millions of objects that never form cycles (parsed specs, items,
    tuples) and keeps most of them to the end: the cycle collector would walk them
    again and again, a quarter of a run at 10^5 CIs. It runs again afterwards;
    `freeze`: never over what exists by then (gc.freeze), for a process that ends soon
    (else its first collection walks them all, 0.7 s at 10^5 CIs)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()


def run_diff(
    ws: Workspace, paths: Sequence[str], now: datetime, jobs: int | None = None
) -> DiffResult:
    """The diff of the work tree against the snapshot files `paths` (read here, while
    worker processes read the repository)."""
    with no_cycle_collection():
        return _run_diff(ws, paths, now, jobs)


class Discovered(NamedTuple):
    """What the snapshots' items say: which CI each is, and whether it says what the
    CI's file does (in every field its kind's items report)."""

    identified: list[Identified]  # in snapshot and item order
    same: list[list[bool]]  # per snapshot and item: its digest is its CI's (compare.py)
    fields: Mapping[str, frozenset[str]]  # the spec fields of each kind

    def attributes(self, entry: Identified) -> dict[str, Any]:
        """reconcile.attributes_of the entry's item, worked out again where needed (a
        CI whose digest differs): 10^5 kept would cost more memory than time."""
        return attributes_of(entry.item, self.fields.get(entry.item.kind))


def reported_fields(
    snapshots: Sequence[Snapshot], fields: Mapping[str, frozenset[str]]
) -> dict[str, frozenset[str]]:
    """The spec fields the items of each kind report: every field attributes_of could
    give an item (its attributes, and its identifiers that are spec fields, of those
    its kind has), without building them."""
    names: dict[str, set[str]] = {}
    spec_identifiers = frozenset(SPEC_IDENTIFIERS)
    for snapshot in snapshots:
        for item in snapshot.items:
            seen = names.get(item.kind)
            if seen is None:
                seen = names[item.kind] = set()
            seen.update(item.attributes)
            seen.update(spec_identifiers.intersection(item.identifiers))
    reported: dict[str, frozenset[str]] = {}
    for kind, found in names.items():
        allowed = fields.get(kind)
        spec = found if allowed is None else found & allowed
        # A view merged from several sources nests a dotted name (os.version: os).
        reported[kind] = frozenset({*spec, *(f.partition(".")[0] for f in spec)})
    return reported


def discovered(
    snapshots: Sequence[Snapshot],
    desired: Desired,
    policy: DiscoveryPolicy,
    fields: Mapping[str, frozenset[str]],
    reported: Mapping[str, frozenset[str]],
) -> Discovered:
    """Which CI each item is, by the CIs' identification tables, and whether its digest
    is that CI's: each snapshot's items in two processes at once (halves.py)."""
    identify = Identifier(desired.tables, policy)
    digests: dict[str, bytes | None] = {}  # CI id -> its row's digest
    for row in desired.rows:
        # An id two files claim has no one digest: its rows are compared the slow way.
        digests[row[1]] = row[4] if row[1] not in digests else None
    found: list[Identified] = []
    same = []
    for n, snapshot in enumerate(snapshots):
        items = snapshot.items

        def work(lo: int, hi: int, n: int = n, items: tuple[Item, ...] = items) -> list[Facts]:
            out = []
            for item in items[lo:hi]:
                facts = identify.facts(n, item)
                known = digests.get(facts[0]) if facts[0] is not None else None
                if known is not None:
                    attrs = attributes_of(item, fields.get(item.kind))
                    equal = attrs.keys() == reported[item.kind] and digest(attrs) == known
                else:
                    equal = False
                out.append((*facts, equal))
            return out

        facts = in_two(work, len(items))
        new = tuple.__new__  # Identified's fields, without its __new__'s arguments
        found.extend([new(Identified, (n, item, *f[:5])) for item, f in zip(items, facts)])
        same.append([f[5] for f in facts])
    return Discovered(one_item_per_ci(found, snapshots), same, fields)


# What `discovered` works out of one item: its CI, rule, value, candidates, why (as in
# Identified), and whether its digest is that CI's; a plain tuple, as the fork sends it.
Facts = tuple[str | None, str | None, str | None, tuple[str, ...], str, bool]


def _run_diff(ws: Workspace, paths: Sequence[str], now: datetime, jobs: int | None) -> DiffResult:
    kinds = load_registry(ws.root)
    wanted = frozenset(k for k, kind in kinds.kinds.items() if kind.is_ci)
    fields = spec_fields(kinds)
    with reading(ws, kinds, wanted, jobs) as pending:
        snapshots = [read_snapshot(path) for path in paths]  # while the workers read
        policy = pending.policy
        reported = reported_fields(snapshots, fields)
        pending.share(reported)  # the workers digest these fields from now on
        desired = pending.result()
    items = discovered(snapshots, desired, policy, fields, reported)
    identified = items.identified
    by_ci = grouped(identified)
    ignores = Ignores.of(policy.ignores, now.date())
    result = DiffResult(snapshots, policy, identified, paths=desired.paths)
    claimed = {c for e in identified for c in e.candidates}  # of ambiguous items
    same = items.same
    for row in desired.rows:
        if row[2] not in reported:
            continue  # a kind no snapshot covers
        result.compared += 1
        entries = by_ci.get(row[1])
        if entries is None:
            if row[1] in claimed:
                continue
            ci = ci_of(row)
            if ci.status not in NOT_DEPLOYED and not ignores.hides_item(ci.kind, ci.id, ci.labels):
                result.missing.append(ci)
            continue
        if len(entries) == 1:  # the cheap digest first
            (entry,) = entries
            if same[entry.source][entry.item.position]:
                continue  # equal in every field the source reports
        ci = ci_of(row)
        view = view_of(ci.id, entries, snapshots, policy, items.attributes)
        found = changes(ci.spec, view.attributes)
        if not found or ignores.hides_item(ci.kind, ci.id, ci.labels):
            continue
        rules = ignores.field_rules(ci.kind, ci.id, ci.labels)
        if rules:
            found = [c for c in found if not ignores.hides_field(rules, c.path)]
        if found:
            result.drifted.append(Drifted(ci, view, tuple(found)))
    for entry in identified:
        if entry.candidates:  # ambiguous
            result.ambiguous.append(entry)
        elif entry.ci is None and not ignores.hides_item(entry.item.kind, proposed_id(entry), {}):
            result.unmanaged.append(entry)
    result.findings = [
        *ignores.findings(ws.root),
        *(
            Finding(
                path,
                "drift.unread",
                "holds no readable document: diff cannot tell which CI it is",
                severity="warning",
                line=1,
                column=1,
                hint=f"`cmdbctl validate {path}` says what is wrong with it",
            )
            for path in desired.unread
        ),
    ]
    result.ignored_items, result.ignored_fields = ignores.items, ignores.fields
    # By id, then file (an id two files claim): the same order whatever read them first.
    result.missing.sort(key=lambda c: (c.id, c.path))
    result.drifted.sort(key=lambda d: (d.ci.id, d.ci.path))
    return result
