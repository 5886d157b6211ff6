"""The verdict on one change request: status, rules, trusted approvals, plan, windows,
freezes and reviews. Each refusal names the change, the rule, what is missing and who
could supply it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from cmdbctl import gitio
from cmdbctl.document import Document
from cmdbctl.findings import Finding
from cmdbctl.gate import windows
from cmdbctl.gate.policy import (
    Rules,
    matching_rules,
    parse_change,
    shortfalls,
    transition_allowed,
)
from cmdbctl.gate.trust import ApprovalVerdict, ChangeHistory, examine, keys
from cmdbctl.graph import affected_services
from cmdbctl.kinds import KindRegistry
from cmdbctl.models import ChangeSpec, Rule, SlaSpec, TimeWindow
from cmdbctl.revision import Snapshot, spec_of

_NEVER_COVERS = ("draft", "rejected", "rolled-back")


@dataclass
class ChangeVerdict:
    id: str
    path: str
    status: str | None
    category: str | None
    targets: list[str]
    rules: list[str] = field(default_factory=list)
    affected_services: list[str] = field(default_factory=list)
    approvals: list[ApprovalVerdict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def passes(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def refuse(self, code: str, message: str, pointer: str = "", hint: str | None = None,
               severity: str = "error") -> None:
        self.findings.append(Finding(self.path, code, f"{self.id}: {message}",
                                     severity=severity, pointer=pointer, hint=hint))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "status": self.status,
                "verdict": "passes" if self.passes else "refused", "rules": self.rules,
                "targets": self.targets, "affectedServices": self.affected_services,
                "approvals": [{"by": a.by, "decision": a.decision, "commit": a.commit,
                               "trusted": a.trusted, "stale": a.stale, "reasons": a.reasons}
                              for a in self.approvals]}


@dataclass
class ChangeScope:
    """What a change touches: its targets, the services that depend on them, their
    owners, and the policy rules that match."""

    target_docs: dict[str, Document | None]
    services: list[str]
    service_docs: dict[str, Document | None]
    owners: dict[str, set[str]]
    rules: list[Rule]


def change_scope(change: ChangeSpec, head_snap: Snapshot, old_snap: Snapshot, rules: Rules,
                 kinds: KindRegistry) -> ChangeScope:
    """Read at the head and at the base, so a branch cannot drop a dependency to dodge."""
    target_docs = {t: head_snap.by_identifier(t) or old_snap.by_identifier(t)
                   for t in change.targets}
    target_kinds = {t: d.kind for t, d in target_docs.items() if d is not None and d.kind}
    services: set[str] = set()
    for snap in (head_snap, old_snap):
        services |= set(affected_services(change.targets, target_kinds,
                                          partial(snap.referrers, kinds=kinds), kinds))
    service_docs = {s: old_snap.by_identifier(s) or head_snap.by_identifier(s)
                    for s in services}
    criticalities = {str(d.spec.get("criticality")) for d in
                     [*target_docs.values(), *service_docs.values()] if d is not None}
    matched = matching_rules(rules.policy, change, set(target_kinds.values()), criticalities)
    owners = {"affectedServices": _owners(sorted(services), service_docs),
              "targets": _owners(list(change.targets), target_docs)}
    return ChangeScope(target_docs, sorted(services), service_docs, owners, matched)


def change_history(root: Path, blobs: gitio.BlobReader, change: ChangeSpec, path: str,
                   merge_base: str | None, head: str, snaps: tuple[Snapshot, ...],
                   rules: Rules, base: str | None = None) -> ChangeHistory:
    """`trust.examine` for one change, its targets found in any of `snaps`; `base` is
    the tip of the base branch."""
    target_paths = sorted({p for t in change.targets for snap in snaps
                           if (p := snap.by_id.get(t))})
    return examine(root, blobs, merge_base, head, path, target_paths, change.requester,
                   rules.people, rules.policy.separation_of_duties,
                   rules.policy.require_signed_approvals, base=base)


def evaluate_change(root: Path, blobs: gitio.BlobReader, change_id: str, path: str,
                    merge_base: str, head: str, head_snap: Snapshot, old_snap: Snapshot,
                    rules: Rules, kinds: KindRegistry, now: datetime,
                    base: str | None = None) -> ChangeVerdict:
    doc = head_snap.document(path)
    change = parse_change(doc.data if doc else None)
    if doc is None or change is None:
        verdict = ChangeVerdict(change_id, path, None, None, [])
        verdict.refuse("gate.change.invalid", "change request is not valid; it covers nothing",
                       hint="run `cmdbctl validate` for details")
        return verdict
    verdict = ChangeVerdict(change_id, path, change.status, change.category, list(change.targets))
    if change.status in _NEVER_COVERS:
        verdict.refuse("gate.change.status", f"change is {change.status}; it covers nothing",
                       pointer="/spec/status",
                       hint="submit the change (status: submitted) and collect its approvals")
    old_doc = old_snap.by_identifier(change_id)
    old_change = parse_change(old_doc.data if old_doc else None)
    history = change_history(root, blobs, change, path, merge_base, head,
                             (head_snap, old_snap), rules, base=base)
    _check_removals(verdict, old_doc, doc, history)
    # Every step through the range, not only merge base → head: a rejected change cannot
    # be revived on the branch by a later commit setting it back to submitted.
    forbidden = [(c, old, new) for c, old, new in history.status_steps
                 if old is not None and new is not None and not transition_allowed(old, new)]
    for commit, old, new in forbidden:
        verdict.refuse("gate.change.transition",
                       f"status may not go from {old} to {new} (lifecycle rule; in "
                       f"{commit.sha[:10]} by {commit.author_email}); missing: "
                       + ("a new change request, as rejected is final" if old == "rejected"
                          else "a status the lifecycle allows after " + old),
                       pointer="/spec/status",
                       hint="a rejected change is closed: raise a new change request"
                            if old == "rejected" else None)
    if not forbidden and old_change is not None \
            and not transition_allowed(old_change.status, change.status):
        verdict.refuse("gate.change.transition",
                       f"status may not go from {old_change.status} to {change.status} "
                       "(lifecycle)", pointer="/spec/status")
    scope = change_scope(change, head_snap, old_snap, rules, kinds)
    service_docs = scope.service_docs
    verdict.affected_services = scope.services
    matched = scope.rules
    verdict.rules = [r.id for r in matched]
    verdict.approvals = history.approvals
    for a in history.approvals:
        if not a.trusted:
            verdict.refuse("gate.approval.stale" if a.stale and len(a.reasons) == 1
                           else "gate.approval.untrusted",
                           f"approval by {a.by} does not count: {'; '.join(a.reasons)}",
                           pointer=f"/spec/approvals/{a.index}", severity="warning")
    # A trusted decision removed on the branch still stands (see _check_removals).
    trusted = [a for a in history.approvals if a.trusted] + \
        [r.verdict for r in history.removed if r.verdict.trusted]
    # A rejection made stale by later edits still means someone said no: the lifecycle
    # has no way out of rejected, so it keeps refusing (raise a new change request).
    genuine = [a for a in history.approvals if a.genuine] + \
        [r.verdict for r in history.removed if r.verdict.genuine]
    rejecters = sorted({a.by for a in genuine if a.decision == "reject"})
    stale_rejecters = sorted({a.by for a in genuine if a.decision == "reject"}
                             - {a.by for a in trusted if a.decision == "reject"})
    if rejecters:
        verdict.refuse("gate.change.rejected", f"rejected by {', '.join(rejecters)}"
                       + (f" (rule: a rejection stands although the change request changed "
                          f"after it; missing: a new change request, as rejected is final; "
                          f"stale rejection by {', '.join(stale_rejecters)})"
                          if stale_rejecters else ""),
                       pointer="/spec/approvals",
                       hint="a rejected change is closed: raise a new change request")
    approvers = {a.by for a in trusted if a.decision == "approve"}
    excluded = {change.requester} | {p.id for p in rules.people.values()
                                     if p.emails & history.authors}
    for short in shortfalls(rules, matched, approvers, scope.owners):
        could = sorted(short.pool - approvers - (excluded if rules.policy.separation_of_duties
                                                 else set()))
        verdict.refuse(
            "gate.approval.missing",
            f"rule {short.rule} needs {short.missing} more approval"
            f"{'s' if short.missing > 1 else ''} from {short.label}"
            + (f": {', '.join(could)}" if could else " (nobody eligible in the base revision)"),
            pointer="/spec/approvals" if change.approvals else "/spec/status",
            hint=f"each approver runs `cmdbctl approve {change_id}`")
    for rule in matched:
        if rule.rollback_plan == "required" and not change.has_rollback_plan:
            verdict.refuse("gate.rollback-plan.missing",
                           f"rule {rule.id} requires a rollback plan", pointer="/spec",
                           hint="add spec.rollbackPlan: how to return to the state before")
        if rule.window == "maintenance":
            _check_window(verdict, change, rule.id, service_docs, old_snap, head_snap)
        if rule.review_within is not None and change.window is not None \
                and change.review is None and change.status in ("implemented", "approved"):
            due = change.window.end + rule.review_within
            if now > due:
                verdict.refuse("gate.review.overdue",
                               f"post-implementation review was due by {due.isoformat()} "
                               f"(rule {rule.id})", pointer="/spec",
                               hint="add spec.review {by, at, outcome, notes}")
            else:
                verdict.refuse("gate.review.due",
                               f"post-implementation review due by {due.isoformat()} "
                               f"(rule {rule.id})", pointer="/spec", severity="info")
    for freeze in rules.policy.freezes:
        if change.type in freeze.allow:
            continue
        if freeze.start <= now < freeze.end:
            verdict.refuse("gate.freeze", f"{change.type} changes may not merge during freeze "
                           f"{freeze.id} (until {freeze.end.isoformat()})", pointer="/spec/type")
        if change.window and windows.overlaps(change.window.start, change.window.end,
                                              freeze.start, freeze.end):
            verdict.refuse("gate.freeze.window",
                           f"planned window overlaps freeze {freeze.id} "
                           f"({freeze.start.isoformat()} – {freeze.end.isoformat()})",
                           pointer="/spec/window")
    return verdict


def _check_removals(verdict: ChangeVerdict, old: Document | None, new: Document,
                    history: ChangeHistory) -> None:
    """Decisions are records and stay: removing one the base has is refused; removing one
    given on the branch is refused when it counted (a forged or stale line may go)."""
    at_base = set(keys(spec_of(old).get("approvals")))
    removers = {r.key: r for r in history.removed}
    gone = at_base - set(keys(new.spec.get("approvals")))
    gone |= {k for k, r in removers.items() if r.verdict.trusted}
    for key in sorted(gone):
        by, at, decision, _ = key
        removal = removers.get(key)
        who = f" by {removal.commit.author_email} in {removal.commit.sha[:10]}" \
            if removal else ""
        rejection = decision == "reject" and removal is not None and removal.verdict.trusted
        verdict.refuse("gate.approval.removed",
                       f"the {decision} decision by {by} (at {at}) was removed{who}; "
                       "decisions are records and stay"
                       + ("; the rejection still refuses the change" if rejection else ""),
                       pointer="/spec/approvals",
                       hint=f"restore {by}'s entry under spec.approvals"
                            + ("; a rejected change is closed: raise a new change request"
                               if rejection else ""))


def _owners(ids: list[str], docs: dict[str, Document | None]) -> set[str]:
    return {str(d.metadata["owner"]) for i in ids
            if (d := docs.get(i)) is not None and d.metadata.get("owner")}


def _check_window(verdict: ChangeVerdict, change: Any, rule_id: str,
                  service_docs: dict[str, Any], old_snap: Snapshot, head_snap: Snapshot) -> None:
    if change.window is None:
        verdict.refuse("gate.window.missing", f"rule {rule_id} requires a planned window "
                       "inside the maintenance windows", pointer="/spec",
                       hint="add spec.window {start, end}")
        return
    for service_id, doc in sorted(service_docs.items()):
        sla_id = doc.spec.get("sla") if doc is not None else None
        sla_doc = (old_snap.by_identifier(sla_id) or head_snap.by_identifier(sla_id)) \
            if isinstance(sla_id, str) else None
        if sla_doc is None:
            continue
        try:
            sla = SlaSpec.model_validate(sla_doc.spec)
        except ValueError:
            continue
        allowed: list[TimeWindow] = list(sla.maintenance_windows)
        if not windows.inside(change.window.start, change.window.end, allowed):
            shown = "; ".join(f"{','.join(w.days)} {w.from_}-{w.to} {w.timezone}"
                              for w in allowed) or "none"
            verdict.refuse("gate.window.outside",
                           f"planned window is not inside the maintenance windows of {sla_id} "
                           f"(service {service_id}): {shown}", pointer="/spec/window",
                           hint=f"rule {rule_id} asks for window: maintenance")
