"""The verdict on one change request: status, rules, trusted approvals, plan, windows,
freezes and reviews. Each refusal names the change, the rule, what is missing and who
could supply it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from cmdbctl import gitio
from cmdbctl.document import Document
from cmdbctl.findings import Finding
from cmdbctl.gate import windows
from cmdbctl.gate.facts import RangeFacts
from cmdbctl.gate.policy import (
    Rules,
    matching_rules,
    parse_change,
    shortfalls,
    transition_allowed,
)
from cmdbctl.gate.standard import TargetEdit, standard_change_refusals
from cmdbctl.gate.trust import ApprovalVerdict, ChangeHistory, Judge, examine, keys
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


def change_scope(change: ChangeSpec, head_snap: Snapshot, old_snap: Snapshot, rules: Rules,
                 kinds: KindRegistry) -> ChangeScope:
    snaps = (old_snap, head_snap) if old_snap is not head_snap else (head_snap,)
    services: set[str] = set()
    for snap in snaps:
        at_snap = {t: d.kind for t in change.targets
                   if (d := snap.by_identifier(t)) is not None and d.kind}
        services |= set(affected_services(change.targets, at_snap,
                                          partial(snap.referrers, kinds=kinds), kinds))
    targets = {t: [d for snap in snaps if (d := snap.by_identifier(t)) is not None]
               for t in change.targets}
    service_versions = {s: [d for snap in snaps if (d := snap.by_identifier(s)) is not None]
                        for s in sorted(services)}
    every = [d for docs in (*targets.values(), *service_versions.values()) for d in docs]
    target_kinds = {d.kind for docs in targets.values() for d in docs if d.kind}
    criticalities = {str(d.spec.get("criticality")) for d in every}
    matched = matching_rules(rules.policy, change, target_kinds, criticalities)
    owners = {"affectedServices": _consents(services, snaps),
              "targets": _consents(change.targets, snaps)}
    return ChangeScope({t: docs[0] if docs else None for t, docs in targets.items()},
                       sorted(services),
                       {s: docs[0] if docs else None for s, docs in service_versions.items()},
                       owners, matched)


def _consents(ids: Iterable[str], snaps: tuple[Snapshot, ...]) -> list[frozenset[str]]:
    """The owners of these CIs at each snapshot, each set once."""
    out: list[frozenset[str]] = []
    for snap in snaps:
        at = frozenset(str(d.metadata["owner"]) for i in ids
                       if (d := snap.by_identifier(i)) is not None and d.metadata.get("owner"))
        if at and at not in out:
            out.append(at)
    return out


def change_history(root: Path, blobs: gitio.BlobReader, change_id: str, change: ChangeSpec,
                   path: str, facts: RangeFacts, snaps: tuple[Snapshot, ...], rules: Rules,
                   matched: list[Rule], claims: Sequence[str] = ()) -> ChangeHistory:
    """`trust.examine` for one change. The files it may touch are its targets' files in
    any of `snaps` (every file of that name) and `claims`, changed files that claim one
    of its targets' ids."""
    touch = sorted({p for t in change.targets for snap in snaps for p in snap.paths_of(t)}
                   | set(claims))
    reviewers = {r.reviewers for r in matched if r.review_within is not None} \
        or {"change-managers"}
    judge = Judge(rules.people, change.requester, rules.policy.separation_of_duties,
                  rules.policy.require_signed_approvals,
                  frozenset().union(*(rules.members(g) for g in reviewers)))
    return examine(root, blobs, facts, change_id, path, touch, judge)


def evaluate_change(root: Path, blobs: gitio.BlobReader, change_id: str, path: str,
                    facts: RangeFacts, head_snap: Snapshot, old_snap: Snapshot,
                    rules: Rules, kinds: KindRegistry, now: datetime,
                    claims: Mapping[str, Sequence[str]] | None = None,
                    edits: Mapping[str, TargetEdit] | None = None) -> ChangeVerdict:
    """`claims`: id → changed files whose metadata.id claims it; `edits`: CI id → what
    the branch did to it."""
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
    scope = change_scope(change, head_snap, old_snap, rules, kinds)
    matched = scope.rules
    history = change_history(root, blobs, change_id, change, path, facts,
                             (head_snap, old_snap), rules, matched,
                             [p for t in change.targets for p in (claims or {}).get(t, ())])
    edits = edits or {}
    for refusal in standard_change_refusals(change, rules.models,
                                            [edits[t] for t in change.targets if t in edits]):
        verdict.refuse(refusal.code, f"{refusal.message}", refusal.pointer, refusal.hint)
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
    service_docs = scope.service_docs
    verdict.affected_services = scope.services
    verdict.rules = [r.id for r in matched]
    verdict.approvals = history.approvals
    for a in history.approvals:
        if not a.trusted:
            verdict.refuse("gate.approval.stale" if a.stale and len(a.reasons) == 1
                           else "gate.approval.untrusted",
                           f"approval by {a.by} does not count: {'; '.join(a.reasons)}",
                           pointer=f"/spec/approvals/{a.index}",
                           # A line of unproven provenance may not land: once on the base,
                           # a squash merge would make it look like its person's own.
                           severity="error" if a.forged else "warning",
                           hint="remove the line; a decision is recorded by its person with "
                                f"`cmdbctl approve {change_id}`" if a.forged else None)
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
    _check_review(verdict, change, matched, history, now)
    if change.window is not None and change.status in _NOT_CARRIED_OUT \
            and change.window.end < now:
        verdict.refuse("gate.window.past",
                       f"the planned window ended {change.window.end.isoformat()}, before "
                       f"the change was implemented", pointer="/spec/window",
                       hint="reschedule: set a new spec.window (a substantive edit: "
                            "approvals are given again)")
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


_NOT_CARRIED_OUT = ("draft", "submitted", "approved")


def _check_review(verdict: ChangeVerdict, change: ChangeSpec, matched: list[Rule],
                  history: ChangeHistory, now: datetime) -> None:
    """The post-implementation review a rule's `reviewWithin` asks for: due that long
    after the window's end or, with no window, after the commit that set implemented;
    only a review its reviewer recorded in their own commit counts."""
    review = history.review
    if review is not None and not review.trusted:
        verdict.refuse("gate.review.untrusted",
                       f"the review by {review.by} does not count: {'; '.join(review.reasons)}",
                       pointer="/spec/review", severity="warning",
                       hint=f"the reviewer runs `cmdbctl review {verdict.id}`")
    if review is not None and review.trusted:
        return
    if change.status not in ("approved", "implemented", "reviewed", "closed"):
        return
    ended = change.window.end if change.window is not None else (
        datetime.fromisoformat(history.implemented_at) if history.implemented_at else None)
    for rule in matched:
        if rule.review_within is None or ended is None:
            continue
        due = ended + rule.review_within
        if now > due:
            verdict.refuse("gate.review.overdue",
                           f"post-implementation review was due by {due.isoformat()} "
                           f"(rule {rule.id})", pointer="/spec",
                           hint=f"a reviewer the policy names runs `cmdbctl review "
                                f"{verdict.id} --outcome ... --notes ...`")
        else:
            verdict.refuse("gate.review.due",
                           f"post-implementation review due by {due.isoformat()} "
                           f"(rule {rule.id})", pointer="/spec", severity="info")


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
            if removal and removal.commit else ""
        rejection = decision == "reject" and removal is not None and removal.verdict.trusted
        verdict.refuse("gate.approval.removed",
                       f"the {decision} decision by {by} (at {at}) was removed{who}; "
                       "decisions are records and stay"
                       + ("; the rejection still refuses the change" if rejection else ""),
                       pointer="/spec/approvals",
                       hint=f"restore {by}'s entry under spec.approvals"
                            + ("; a rejected change is closed: raise a new change request"
                               if rejection else ""))


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
