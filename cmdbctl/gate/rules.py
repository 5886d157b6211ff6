"""The rules a change request must satisfy, each a function of one `Case` that refuses
on its verdict, listed in `RULES` (as checks are in `checks/`): a new rule is a
function here and one line in the list. Each refusal names the change, the rule, what
is missing and who could supply it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cmdbctl.document import Document
from cmdbctl.findings import Finding, Severity
from cmdbctl.gate import windows
from cmdbctl.gate.policy import Rules, parse_change, shortfalls, transition_allowed
from cmdbctl.gate.standard import TargetEdit, standard_change_refusals
from cmdbctl.gate.trust import ApprovalVerdict, ChangeHistory, keys
from cmdbctl.models import ChangeSpec, Rule, SlaSpec, TimeWindow
from cmdbctl.revision import Snapshot, spec_of

_NEVER_COVERS = ("draft", "rejected", "rolled-back")
_NOT_CARRIED_OUT = ("draft", "submitted", "approved")

CODES: dict[str, str] = {
    "gate.change.status": "a draft, rejected or rolled-back change request covers nothing "
    "(but its own rollback)",
    "gate.change.transition": "the change's status moved in a way the lifecycle forbids, "
    "e.g. from rejected back to submitted",
    "gate.change.rejected": "someone whose decision counts rejected the change: rejected is "
    "final, raise a new change request",
    "gate.approval.missing": "a matching rule of the base's ChangePolicy needs more approvals "
    "from a group or owner than the change has (the finding names "
    "who could give them)",
    "gate.approval.stale": "an approval given before the change request or a file it may "
    "touch changed: it does not count",
    "gate.approval.untrusted": "a decision that does not count: not its person's own commit, "
    "unsigned where the policy wants signatures, by the requester "
    "or an author, ... (an error when typed in for someone else)",
    "gate.approval.unproven": "a decision counted as recorded whose own commit is not in "
    "history, as a squash merge replaced it (a warning)",
    "gate.approval.removed": "a decision the change request recorded was removed: decisions "
    "are records and stay",
    "gate.rollback-plan.missing": "a matching rule requires a rollback plan "
    "(spec.rollbackPlan) and the change has none",
    "gate.window.missing": "a matching rule requires a planned window inside the maintenance "
    "windows, and the change has no spec.window",
    "gate.window.outside": "the planned window is not inside the maintenance windows of an "
    "affected service's SLA",
    "gate.window.past": "the planned window ended before the change was implemented: reschedule it",
    "gate.freeze": "a change of this type may not merge during a freeze in force now",
    "gate.freeze.window": "the planned window overlaps a freeze that does not allow this "
    "type of change",
    "gate.review.untrusted": "a post-implementation review that does not count: not recorded "
    "by its reviewer in their own commit",
    "gate.review.overdue": "the post-implementation review a rule asks for (reviewWithin) is "
    "overdue",
    "gate.review.due": "the post-implementation review a rule asks for falls due later "
    "(info: when it is due)",
    "gate.review.clock": "the commit that set status implemented is dated in the future, so "
    "when the review falls due cannot be told",
}


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

    def refuse(
        self,
        code: str,
        message: str,
        pointer: str = "",
        hint: str | None = None,
        severity: Severity = "error",
    ) -> None:
        self.findings.append(
            Finding(
                self.path,
                code,
                f"{self.id}: {message}",
                severity=severity,
                pointer=pointer,
                hint=hint,
            )
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "status": self.status,
            "verdict": "passes" if self.passes else "refused",
            "rules": self.rules,
            "targets": self.targets,
            "affectedServices": self.affected_services,
            "approvals": [
                {
                    "by": a.by,
                    "decision": a.decision,
                    "commit": a.commit,
                    "trusted": a.trusted,
                    "stale": a.stale,
                    "reasons": a.reasons,
                }
                for a in self.approvals
            ],
        }


@dataclass(frozen=True)
class Case:
    """Everything a rule judges one change by."""

    verdict: ChangeVerdict
    change: ChangeSpec
    doc: Document  # the change request at the head
    old_doc: Document | None  # at the merge base
    history: ChangeHistory
    matched: list[Rule]  # the base's rules that match, at the base's and the head's facts
    owners: dict[str, list[frozenset[str]]]  # ownerOf source → owner sets that must consent
    service_docs: dict[str, Document | None]
    snaps: tuple[Snapshot, Snapshot]  # merge base, head
    rules: Rules
    edits: Mapping[str, TargetEdit]
    now: datetime
    rollback: bool = False  # the branch rolls the change back (`gate.rollback`)

    @property
    def refuse(self) -> Callable[..., None]:
        return self.verdict.refuse


def status(case: Case) -> None:
    """A draft, rejected or rolled-back change covers nothing, but the rollback itself."""
    if case.change.status in _NEVER_COVERS and not case.rollback:
        case.refuse(
            "gate.change.status",
            f"change is {case.change.status}; it covers nothing",
            pointer="/spec/status",
            hint="submit the change (status: submitted) and collect its approvals",
        )


def lifecycle(case: Case) -> None:
    """Every status step through the branch follows the lifecycle: a rejected change is
    not revived by a later commit setting it back to submitted."""
    forbidden = [
        (c, old, new)
        for c, old, new in case.history.status_steps
        if old is not None and new is not None and not transition_allowed(old, new)
    ]
    for commit, old, new in forbidden:
        case.refuse(
            "gate.change.transition",
            f"status may not go from {old} to {new} (lifecycle rule; in "
            f"{commit.sha[:10]} by {commit.author_email}); missing: "
            + (
                "a new change request, as rejected is final"
                if old == "rejected"
                else "a status the lifecycle allows after " + old
            ),
            pointer="/spec/status",
            hint="a rejected change is closed: raise a new change request"
            if old == "rejected"
            else None,
        )
    before = parse_change(case.old_doc.data if case.old_doc else None)
    if (
        not forbidden
        and before is not None
        and not transition_allowed(before.status, case.change.status)
    ):
        case.refuse(
            "gate.change.transition",
            f"status may not go from {before.status} to {case.change.status} (lifecycle)",
            pointer="/spec/status",
        )


def removals(case: Case) -> None:
    """Decisions are records and stay: removing one the base has is refused; removing one
    given on the branch is refused when it counted (a forged or stale line may go)."""
    at_base = set(keys(spec_of(case.old_doc).get("approvals")))
    removers = {r.key: r for r in case.history.removed}
    gone = at_base - set(keys(case.doc.spec.get("approvals")))
    gone |= {k for k, r in removers.items() if r.verdict.trusted}
    for key in sorted(gone):
        by, at, decision, _ = key
        removal = removers.get(key)
        who = (
            f" by {removal.commit.author_email} in {removal.commit.sha[:10]}"
            if removal and removal.commit
            else ""
        )
        rejection = decision == "reject" and removal is not None and removal.verdict.trusted
        case.refuse(
            "gate.approval.removed",
            f"the {decision} decision by {by} (at {at}) was removed{who}; "
            "decisions are records and stay"
            + ("; the rejection still refuses the change" if rejection else ""),
            pointer="/spec/approvals",
            hint=f"restore {by}'s entry under spec.approvals"
            + ("; a rejected change is closed: raise a new change request" if rejection else ""),
        )


def untrusted(case: Case) -> None:
    """Each decision that does not count says why. A line of unproven provenance is an
    error: it may not land, since once on the base a squash merge would make it look
    like its person's own."""
    for a in case.history.approvals:
        if case.rollback and a.stale and len(a.reasons) == 1:
            continue  # approvals of the change itself: a rollback undoes what they saw
        if a.unproven:
            case.refuse(
                "gate.approval.unproven",
                f"approval by {a.by} counts as recorded, but its provenance is not in "
                f"history ({a.unproven}): a squash merge replaced its commit",
                pointer=f"/spec/approvals/{a.index}",
                severity="warning",
                hint="merge commits keep every approval commit; prefer them",
            )
        if not a.trusted:
            case.refuse(
                "gate.approval.stale"
                if a.stale and len(a.reasons) == 1
                else "gate.approval.untrusted",
                f"approval by {a.by} does not count: {'; '.join(a.reasons)}",
                pointer=f"/spec/approvals/{a.index}",
                severity="error" if a.forged else "warning",
                hint="remove the line; a decision is recorded by its person with "
                f"`cmdbctl approve {case.verdict.id}`"
                if a.forged
                else None,
            )


def _counted(case: Case, trusted_only: bool) -> list[ApprovalVerdict]:
    """Decisions at the head and those the branch removed (which still stand)."""
    history = case.history
    every = [*history.approvals, *(r.verdict for r in history.removed)]
    return [a for a in every if (a.trusted if trusted_only else a.genuine)]


def rejections(case: Case) -> None:
    """A genuine rejection refuses, stale or removed, or given on the base branch after
    this one forked: rejected is final."""
    rejecters = sorted(
        {
            a.by
            for a in [*_counted(case, False), *case.history.on_base]
            if a.decision == "reject" and a.genuine
        }
    )
    stale = sorted(set(rejecters) - {a.by for a in _counted(case, True) if a.decision == "reject"})
    if rejecters:
        case.refuse(
            "gate.change.rejected",
            f"rejected by {', '.join(rejecters)}"
            + (
                f" (rule: a rejection stands although the change request changed "
                f"after it; missing: a new change request, as rejected is final; "
                f"stale rejection by {', '.join(stale)})"
                if stale
                else ""
            ),
            pointer="/spec/approvals",
            hint="a rejected change is closed: raise a new change request",
        )


def approvals(case: Case) -> None:
    """Every approval requirement of every matching rule, each on its own."""
    rules, change = case.rules, case.change
    approvers = {a.by for a in _counted(case, True) if a.decision == "approve"}
    excluded = {change.requester} | {
        p.id for p in rules.people.values() if p.emails & case.history.authors
    }
    for short in shortfalls(rules, case.matched, approvers, case.owners):
        could = sorted(
            short.pool - approvers - (excluded if rules.policy.separation_of_duties else set())
        )
        case.refuse(
            "gate.approval.missing",
            f"rule {short.rule} needs {short.missing} more approval"
            f"{'s' if short.missing > 1 else ''} from {short.label}"
            + (f": {', '.join(could)}" if could else " (nobody eligible in the base revision)"),
            pointer="/spec/approvals" if change.approvals else "/spec/status",
            hint=f"each approver runs `cmdbctl approve {case.verdict.id}`",
        )


def rollback_plan(case: Case) -> None:
    for rule in case.matched:
        if rule.rollback_plan == "required" and not case.change.has_rollback_plan:
            case.refuse(
                "gate.rollback-plan.missing",
                f"rule {rule.id} requires a rollback plan",
                pointer="/spec",
                hint="add spec.rollbackPlan: how to return to the state before",
            )


def maintenance_window(case: Case) -> None:
    """The planned window lies inside the maintenance windows of every affected
    service's SLA, read at the base first (a branch cannot widen them)."""
    window = case.change.window
    for rule in (r for r in case.matched if r.window == "maintenance"):
        if window is None:
            case.refuse(
                "gate.window.missing",
                f"rule {rule.id} requires a planned window inside the maintenance windows",
                pointer="/spec",
                hint="add spec.window {start, end}",
            )
            continue
        for service_id, doc in sorted(case.service_docs.items()):
            sla_id = doc.spec.get("sla") if doc is not None else None
            sla_doc = next(
                (
                    d
                    for snap in case.snaps
                    if isinstance(sla_id, str) and (d := snap.by_identifier(sla_id)) is not None
                ),
                None,
            )
            if sla_doc is None:
                continue
            try:
                sla = SlaSpec.model_validate(sla_doc.spec)
            except ValueError:
                continue
            allowed: list[TimeWindow] = list(sla.maintenance_windows)
            if not windows.inside(window.start, window.end, allowed):
                shown = (
                    "; ".join(f"{','.join(w.days)} {w.from_}-{w.to} {w.timezone}" for w in allowed)
                    or "none"
                )
                case.refuse(
                    "gate.window.outside",
                    f"planned window is not inside the maintenance windows of "
                    f"{sla_id} (service {service_id}): {shown}",
                    pointer="/spec/window",
                    hint=f"rule {rule.id} asks for window: maintenance",
                )


def window_past(case: Case) -> None:
    """A change not yet carried out whose window is over must be rescheduled."""
    window = case.change.window
    if window is not None and case.change.status in _NOT_CARRIED_OUT and window.end < case.now:
        case.refuse(
            "gate.window.past",
            f"the planned window ended {window.end.isoformat()}, before the change was implemented",
            pointer="/spec/window",
            hint="reschedule: set a new spec.window (a substantive edit: approvals "
            "are given again)",
        )


def review(case: Case) -> None:
    """The post-implementation review a rule's `reviewWithin` asks for: due that long
    after the window's end or, with no window, after the commit that set implemented;
    only a review its reviewer recorded in their own commit counts."""
    change, given = case.change, case.history.review
    if given is not None and not given.trusted:
        # Typed in for someone else, it may not land (see `untrusted`).
        case.refuse(
            "gate.review.untrusted",
            f"the review by {given.by} does not count: {'; '.join(given.reasons)}",
            pointer="/spec/review",
            severity="error" if given.forged else "warning",
            hint=f"the reviewer runs `cmdbctl review {case.verdict.id}`",
        )
    if (given is not None and given.trusted) or change.status not in (
        "approved",
        "implemented",
        "reviewed",
        "closed",
    ):
        return
    implemented = case.history.implemented_at
    ended = (
        change.window.end
        if change.window is not None
        else (datetime.fromisoformat(implemented) if implemented else None)
    )
    if change.window is None and ended is not None and ended > case.now:
        # A commit's date is its author's word: one from the future would put the
        # review off for as long as it likes.
        case.refuse(
            "gate.review.clock",
            f"the commit that set status implemented is dated {implemented}, after "
            f"now ({case.now.isoformat()}); the review falls due from that date",
            pointer="/spec/status",
            hint="commit with the right date (git commit "
            "--amend --reset-author --no-edit), or give the change a spec.window",
        )
        return
    for rule in case.matched:
        if rule.review_within is None or ended is None:
            continue
        due = ended + rule.review_within
        if case.now > due:
            case.refuse(
                "gate.review.overdue",
                f"post-implementation review was due by {due.isoformat()} (rule {rule.id})",
                pointer="/spec",
                hint=f"a reviewer the policy names runs `cmdbctl review "
                f"{case.verdict.id} --outcome ... --notes ...`",
            )
        else:
            case.refuse(
                "gate.review.due",
                f"post-implementation review due by {due.isoformat()} (rule {rule.id})",
                pointer="/spec",
                severity="info",
            )


def freezes(case: Case) -> None:
    change, now = case.change, case.now
    for freeze in case.rules.policy.freezes:
        if change.type in freeze.allow:
            continue
        if freeze.start <= now < freeze.end:
            case.refuse(
                "gate.freeze",
                f"{change.type} changes may not merge during freeze "
                f"{freeze.id} (until {freeze.end.isoformat()})",
                pointer="/spec/type",
            )
        if change.window and windows.overlaps(
            change.window.start, change.window.end, freeze.start, freeze.end
        ):
            case.refuse(
                "gate.freeze.window",
                f"planned window overlaps freeze {freeze.id} "
                f"({freeze.start.isoformat()} – {freeze.end.isoformat()})",
                pointer="/spec/window",
            )


def standard_model(case: Case) -> None:
    """A standard change stays inside its model (`gate.standard`)."""
    edits = [case.edits[t] for t in case.change.targets if t in case.edits]
    for refusal in standard_change_refusals(case.change, case.rules.models, edits):
        case.refuse(refusal.code, refusal.message, refusal.pointer, refusal.hint)


RULES: tuple[Callable[[Case], None], ...] = (
    status,
    lifecycle,
    removals,
    standard_model,
    untrusted,
    rejections,
    approvals,
    rollback_plan,
    maintenance_window,
    review,
    window_past,
    freezes,
)
