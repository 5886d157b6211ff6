"""The rules a change must satisfy, read from the base revision.

People, groups, the ChangePolicy, the StandardChange models and SLAs come from the
base, never from the branch under review: a branch cannot relax the policy, join an
approving group, swap a signing key, widen a standard change model or a maintenance
window and be judged by its own edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from pydantic import ValidationError

from cmdbctl.gate.trust import Person
from cmdbctl.loading import load
from cmdbctl.models import (
    ChangePolicySpec,
    ChangeSpec,
    GroupSpec,
    PersonSpec,
    Rule,
    StandardChangeSpec,
)
from cmdbctl.revision import Snapshot

# A change moves forward along the lifecycle; it may go back from submitted to draft,
# end as rejected before it is implemented, or be rolled back once approved.
_LIFECYCLE = ("draft", "submitted", "approved", "implemented", "reviewed", "closed")
_ALLOWED_EXTRA = {
    "submitted": {"draft"},
    "draft": {"rejected"},
    "approved": {"rejected", "rolled-back"},
    "implemented": {"rolled-back"},
    "reviewed": {"rolled-back"},
    "closed": {"rolled-back"},
}


def transition_allowed(old: str, new: str) -> bool:
    if old == new:
        return True
    if old in _LIFECYCLE and new in _LIFECYCLE and _LIFECYCLE.index(new) > _LIFECYCLE.index(old):
        return True
    if old == "submitted" and new == "rejected":
        return True
    return new in _ALLOWED_EXTRA.get(old, set())


@dataclass
class Rules:
    policy: ChangePolicySpec
    people: dict[str, Person]
    groups: dict[str, frozenset[str]]
    models: dict[str, StandardChangeSpec] = field(default_factory=dict)  # by id
    policy_paths: list[str] = field(default_factory=list)  # every ChangePolicy document

    def person_by_email(self, email: str) -> Person | None:
        return next((p for p in self.people.values() if email.lower() in p.emails), None)

    def members(self, principal: str) -> frozenset[str]:
        """The people a group or person id stands for."""
        if principal in self.groups:
            return self.groups[principal]
        return frozenset({principal}) if principal in self.people else frozenset()


def _default_policy() -> ChangePolicySpec:
    raw = resources.files("cmdbctl") / "scaffold" / "policies" / "change-policy.yaml"
    data = load("change-policy.yaml", raw.read_bytes()).data or {}
    return ChangePolicySpec.model_validate(data.get("spec") or {})


# Rules by the policy files they are read from (`audit` reads the same ones again and
# again); only for snapshots of policies/ alone, whose listing is small.
_READ: dict[frozenset[tuple[str, str]], Rules] = {}


def read_rules(base: Snapshot) -> Rules:
    """Rules in force at the base revision (the built-in default policy when it has none).

    Of several ChangePolicy documents the first valid one by path is used, and
    `policy_paths` lists them all: exactly one may exist, and the gate refuses to judge
    by an ambiguous policy. StandardChange models are `models`, by id.
    """
    key = frozenset(base.paths.items()) if base.folders == ("policies",) else None
    if key is not None and key in _READ:
        return _READ[key]
    rules = _read_rules(base)
    if key is not None:
        _READ[key] = rules
    return rules


def _read_rules(base: Snapshot) -> Rules:
    policy: ChangePolicySpec | None = None
    policy_paths: list[str] = []
    people: dict[str, Person] = {}
    groups: dict[str, frozenset[str]] = {}
    models: dict[str, StandardChangeSpec] = {}
    for doc in base.documents_under("policies"):  # sorted by path
        if doc.kind == "ChangePolicy":
            policy_paths.append(doc.path)
        try:
            if doc.kind == "Person" and doc.id:
                spec = PersonSpec.model_validate(doc.spec)
                people[doc.id] = Person(
                    doc.id, frozenset(e.lower() for e in spec.emails), tuple(spec.signing_keys)
                )
            elif doc.kind == "Group" and doc.id:
                groups[doc.id] = frozenset(GroupSpec.model_validate(doc.spec).members)
            elif doc.kind == "StandardChange" and doc.id and doc.id not in models:
                models[doc.id] = StandardChangeSpec.model_validate(doc.spec)
            elif doc.kind == "ChangePolicy" and policy is None:
                policy = ChangePolicySpec.model_validate(doc.spec)
        except ValidationError:
            continue  # an invalid base document grants nothing
    return Rules(policy or _default_policy(), people, groups, models, policy_paths)


def parse_change(data: dict[str, Any] | None) -> ChangeSpec | None:
    try:
        return ChangeSpec.model_validate((data or {}).get("spec") or {})
    except ValidationError:
        return None


def matching_rules(
    policy: ChangePolicySpec,
    change: ChangeSpec,
    target_kinds: set[str],
    criticalities: set[str],
    rollback: bool = False,
) -> list[Rule]:
    """Every rule whose match holds; an absent match key matches anything, except
    `rollback`: a rollback is judged only by rules that say `rollback: true`."""
    out = []
    for rule in policy.rules:
        m = rule.match
        if m.rollback != rollback:
            continue
        if m.type is not None and change.type not in m.type:
            continue
        if m.category is not None and change.category not in m.category:
            continue
        if m.risk is not None and change.risk not in m.risk:
            continue
        if m.target_kinds is not None and not target_kinds & set(m.target_kinds):
            continue
        if m.criticality is not None and not criticalities & set(m.criticality):
            continue
        out.append(rule)
    return out


@dataclass(frozen=True)
class Shortfall:
    rule: str
    label: str  # "change-managers" or "owners of affectedServices"
    missing: int
    pool: frozenset[str]  # who could approve


def shortfalls(
    rules: Rules, matched: list[Rule], approvers: set[str], owners: dict[str, list[frozenset[str]]]
) -> list[Shortfall]:
    """Requirements the approvers do not meet; each requirement counts on its own.

    `owners` maps an `ownerOf` source ("affectedServices", "targets") to the owner sets
    that must each consent: the owners at the base and, when the branch hands the CIs
    to others, the new owners too. A requirement over nothing (no affected services)
    holds.
    """
    out = []
    for rule in matched:
        for need in rule.approvals:
            if need.group:
                needs = [(rules.members(need.group), need.group)]
            else:
                sources = owners.get(need.owner_of or "", [])
                needs = [
                    (
                        frozenset().union(*(rules.members(o) for o in source)),
                        f"owners of {need.owner_of}"
                        + (
                            f" ({', '.join(sorted(source))}"
                            + (", at the base)" if n == 0 else ", on the branch)")
                            if len(sources) > 1
                            else ""
                        ),
                    )
                    for n, source in enumerate(sources)
                ]
            for pool, label in needs:
                have = len(approvers & pool)
                if have < need.count:
                    out.append(Shortfall(rule.id, label, need.count - have, pool))
    return out
