"""The verdict on one change request: what it touches (`change_scope`), what history
says of it (`change_history`), then every rule of `rules.RULES`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from cmdbctl import gitio
from cmdbctl.document import Document
from cmdbctl.gate.facts import RangeFacts
from cmdbctl.gate.policy import (
    Rules,
    matching_rules,
    parse_change,
)
from cmdbctl.gate.rollback import is_rollback, rollback_refusals
from cmdbctl.gate.rules import RULES, Case, ChangeVerdict
from cmdbctl.gate.standard import TargetEdit
from cmdbctl.gate.trust import SUBSTANCE, ChangeHistory, Judge, examine
from cmdbctl.graph import affected_services
from cmdbctl.kinds import KindRegistry
from cmdbctl.models import ChangeSpec, Rule
from cmdbctl.revision import Snapshot

CODES: dict[str, str] = {
    "gate.change.invalid": "a change request of the branch is not valid (see `cmdbctl "
    "validate`), so it covers nothing",
}


@dataclass
class ChangeScope:
    """What a change touches: its targets, the services that depend on them, their
    owners, and the policy rules that match. Read at the merge base and at the head:
    a branch that lowers a target's criticality, changes its kind or hands it to
    another team is judged by the rules of both states, and needs the consent of the
    owners at the base as well as the new ones."""

    target_docs: dict[str, Document | None]
    services: list[str]
    service_docs: dict[str, Document | None]
    # ownerOf source → the owner sets that must each consent (at the base, at the head)
    owners: dict[str, list[frozenset[str]]]
    rules: list[Rule]


def change_scope(
    change: ChangeSpec,
    head_snap: Snapshot,
    old_snap: Snapshot,
    rules: Rules,
    kinds: KindRegistry,
    base_kinds: KindRegistry | None = None,
    rollback: bool = False,
) -> ChangeScope:
    """`base_kinds`: the base's schemas, when the branch edits them: dependencies by the
    base's reference fields and classes count too, so a branch cannot shrink its affected
    services by editing a schema."""
    snaps = (old_snap, head_snap) if old_snap is not head_snap else (head_snap,)
    registries = [kinds] + (
        [base_kinds]
        if base_kinds is not None and base_kinds.fingerprint != kinds.fingerprint
        else []
    )
    services: set[str] = set()
    for snap in snaps:
        at_snap = {
            t: d.kind for t in change.targets if (d := snap.by_identifier(t)) is not None and d.kind
        }
        for registry in registries:
            services |= set(
                affected_services(
                    change.targets, at_snap, partial(snap.referrers, kinds=registry), registry
                )
            )
    targets = {
        t: [d for snap in snaps if (d := snap.by_identifier(t)) is not None] for t in change.targets
    }
    service_versions = {
        s: [d for snap in snaps if (d := snap.by_identifier(s)) is not None]
        for s in sorted(services)
    }
    every = [d for docs in (*targets.values(), *service_versions.values()) for d in docs]
    target_kinds = {d.kind for docs in targets.values() for d in docs if d.kind}
    criticalities = {str(d.spec.get("criticality")) for d in every}
    matched = matching_rules(rules.policy, change, target_kinds, criticalities, rollback)
    owners = {
        "affectedServices": _consents(services, snaps),
        "targets": _consents(change.targets, snaps),
    }
    return ChangeScope(
        {t: docs[0] if docs else None for t, docs in targets.items()},
        sorted(services),
        {s: docs[0] if docs else None for s, docs in service_versions.items()},
        owners,
        matched,
    )


def _consents(ids: Iterable[str], snaps: tuple[Snapshot, ...]) -> list[frozenset[str]]:
    """The owners of these CIs at each snapshot, each set once."""
    out: list[frozenset[str]] = []
    for snap in snaps:
        at = frozenset(
            str(d.metadata["owner"])
            for i in ids
            if (d := snap.by_identifier(i)) is not None and d.metadata.get("owner")
        )
        if at and at not in out:
            out.append(at)
    return out


def change_history(
    root: Path,
    blobs: gitio.BlobReader,
    change_id: str,
    change: ChangeSpec,
    path: str,
    facts: RangeFacts,
    snaps: tuple[Snapshot, ...],
    rules: Rules,
    matched: list[Rule],
    claims: Sequence[str] = (),
    recorded: bool = False,
) -> ChangeHistory:
    """`trust.examine` for one change. The files it may touch are its targets' files in
    any of `snaps` (every file of that name) and `claims`, other changed files it may
    touch (claiming a target's id; governance files for a management change)."""
    touch = sorted(
        {p for t in change.targets for snap in snaps for p in snap.paths_of(t)} | set(claims)
    )
    reviewers = {r.reviewers for r in matched if r.review_within is not None} or {"change-managers"}
    judge = Judge(
        rules.people,
        change.requester,
        rules.policy.separation_of_duties,
        rules.policy.require_signed_approvals,
        frozenset().union(*(rules.members(g) for g in reviewers)),
        recorded,
    )
    return examine(root, blobs, facts, change_id, path, touch, judge)


@dataclass(frozen=True)
class Branch:
    """What the gate knows of the branch under review, shared by every change."""

    root: Path
    blobs: gitio.BlobReader
    facts: RangeFacts
    head: Snapshot
    merge_base: Snapshot
    rules: Rules  # the base's
    kinds: KindRegistry  # the head's schemas: what the documents are validated by
    base_kinds: KindRegistry  # the base's: what decides dependencies, with the head's
    now: datetime
    claims: Mapping[str, Sequence[str]]  # id → changed files whose metadata.id claims it
    edits: Mapping[str, TargetEdit]  # CI id → what the branch did to it
    governed: Sequence[str]  # changed files of policies/, schemas/ and the CI wiring
    recorded: bool = False  # decisions count as recorded (audit of a squash commit)


def evaluate_change(branch: Branch, change_id: str, path: str) -> ChangeVerdict:
    """Every rule of `rules.RULES` on one change request."""
    head_snap, old_snap = branch.head, branch.merge_base
    doc = head_snap.document(path)
    change = parse_change(doc.data if doc else None)
    if doc is None or change is None:
        verdict = ChangeVerdict(change_id, path, None, None, [])
        verdict.refuse(
            "gate.change.invalid",
            "change request is not valid; it covers nothing",
            hint="run `cmdbctl validate` for details",
        )
        return verdict
    verdict = ChangeVerdict(change_id, path, change.status, change.category, list(change.targets))
    old_doc = old_snap.by_identifier(change_id)
    before = parse_change(old_doc.data if old_doc else None)
    rollback = before is not None and is_rollback(change, before)
    scope = change_scope(
        change, head_snap, old_snap, branch.rules, branch.kinds, branch.base_kinds, rollback
    )
    if rollback and before is not None:
        changed = {
            t: (p, head_snap.paths.get(p))
            for t in change.targets
            if t in branch.edits
            for p in (head_snap.paths_of(t) or old_snap.paths_of(t))[:1]
        }
        for refusal in rollback_refusals(
            branch.root,
            branch.facts.merge_base or "",
            change_id,
            change,
            before,
            changed,
            SUBSTANCE,
        ):
            verdict.refuse(refusal.code, refusal.message, refusal.pointer, refusal.hint)
    # A management change is for the governance edits it saw, as a change is for its
    # targets: a later edit of policies/ makes its approvals stale.
    touched = [p for t in change.targets for p in branch.claims.get(t, ())]
    if change.category == "management":
        touched += branch.governed
    history = change_history(
        branch.root,
        branch.blobs,
        change_id,
        change,
        path,
        branch.facts,
        (head_snap, old_snap),
        branch.rules,
        scope.rules,
        touched,
        branch.recorded,
    )
    verdict.affected_services = scope.services
    verdict.rules = [r.id for r in scope.rules]
    verdict.approvals = history.approvals
    case = Case(
        verdict,
        change,
        doc,
        old_doc,
        history,
        scope.rules,
        scope.owners,
        scope.service_docs,
        (old_snap, head_snap),
        branch.rules,
        branch.edits,
        branch.now,
        rollback,
    )
    for rule in RULES:
        rule(case)
    return verdict
