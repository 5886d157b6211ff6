"""`cmdbctl approve`: record the current git identity's decision as its own commit.

The commit is what the gate trusts: authored and committed by the approver, touching
only the change request's approvals and status, signed when asked or required.

Which recorded decisions still count is the gate's own judgement (`trust.examine`).
`approve` does not know which branch this one will merge into; it takes the default
branch for the gate's base and judges a wider range of history (see `decision.Desk`).
It refuses an approval the gate would not count: by someone in none of the groups (or
owners) a matching rule asks for, committed by someone else than its author, or unsigned
where signatures are required (see `decision`). A rejection by any person is recorded,
with a note when it will not count. It never writes `status: approved` for approvals the
gate would not count; at worst it leaves the status for the next approver (the gate
judges approvals anyway).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cmdbctl.decision import Desk, open_change
from cmdbctl.editing import flow_map
from cmdbctl.errors import CommandError
from cmdbctl.gate.policy import Shortfall, shortfalls
from cmdbctl.recording import timestamp


@dataclass(frozen=True)
class ApproveResult:
    change_id: str
    path: str
    by: str
    decision: str
    status_before: str
    status_after: str
    commit: str
    signed: bool
    notes: tuple[str, ...] = field(default=())  # e.g. why the decision will not count


def approve(
    root: Path,
    change_id: str,
    reject: bool = False,
    comment: str | None = None,
    sign: bool = False,
    now: datetime | None = None,
) -> ApproveResult:
    decision = "reject" if reject else "approve"
    with open_change(root, change_id) as desk:
        _admissible(desk, change_id, decision)
        status, notes = _outcome(desk, change_id, decision)
        person, moment = desk.person, timestamp(now)

        def record(data: Any) -> None:
            spec = data["spec"]
            if spec.get("approvals") is None:
                spec["approvals"] = []
            spec["approvals"].append(
                flow_map(by=person.id, at=moment, decision=decision, comment=comment)
            )
            spec["status"] = status

        verb, trailer = ("Reject", "Rejected-by") if reject else ("Approve", "Approved-by")
        commit, signed = desk.commit(record, verb, comment, trailer, sign)
    return ApproveResult(
        change_id,
        desk.path,
        person.id,
        decision,
        desk.change.status,
        status,
        commit,
        signed,
        tuple(notes),
    )


def _rollback(desk: Desk) -> bool:
    """A rollback takes decisions where the policy asks for them (`rollback: true`)."""
    return desk.change.status == "rolled-back" and desk.change.rollback is not None


def _admissible(desk: Desk, change_id: str, decision: str) -> None:
    """Refuse (exit 2) a decision this person may not record on this change at all."""
    change, person = desk.change, desk.person
    if person.id == change.requester:
        raise CommandError(
            f"{person.id} requested {change_id} and cannot approve it (separation of duties)",
            "ask a member of the approving group",
        )
    if change.status in ("draft", "closed", "rolled-back", "rejected") and not _rollback(desk):
        raise CommandError(
            f"{change_id} is {change.status}; only submitted or approved changes take decisions",
            "set status: submitted (and commit) to ask for approval",
        )
    if any(
        a.by == person.id and a.decision == decision and a.trusted for a in desk.history().approvals
    ):
        raise CommandError(
            f"{person.id} has already recorded '{decision}' on {change_id}, and it still counts",
            "record it again only once it goes stale (after a later edit "
            "of the change or its targets)",
        )


def _outcome(desk: Desk, change_id: str, decision: str) -> tuple[str, list[str]]:
    """The status the decision leaves and notes on why it may not count; an approval
    the gate would not count is refused instead (exit 2)."""
    change, person, rules, history = desk.change, desk.person, desk.rules, desk.history()
    scope = desk.scope
    # Every requirement of the matching rules, with who could meet it.
    outsider = _outsider(desk, shortfalls(rules, scope.rules, set(), scope.owners))
    authored = rules.policy.separation_of_duties and bool(person.emails & history.authors)
    rollback = _rollback(desk)
    if decision == "reject":
        unsigned = desk.signature_problem()
        notes = []
        if authored or unsigned:
            why = (
                f"{person.id} authored commits of {change_id} (separation of duties)"
                if authored
                else str(unsigned)
            )
            notes.append(f"this rejection will not count: {why}; it is recorded all the same")
        elif outsider:
            notes.append(f"{outsider}; the rejection is recorded all the same")
        return (change.status if rollback else "rejected"), notes
    if outsider:
        raise CommandError(
            f"{outsider}; the gate would not count this approval",
            f"ask one of them to run `cmdbctl approve {change_id}`; "
            "to say no, `--reject` is recorded all the same",
        )
    desk.require_signing_key("the gate would not count this approval")
    notes = []
    if authored:
        notes.append(
            f"this approval will not count: {person.id} authored commits of {change_id} "
            "(separation of duties)"
        )
    # Only decisions the gate trusts count toward the status.
    approvers = {a.by for a in history.approvals if a.trusted and a.decision == "approve"}
    if not authored:
        approvers.add(person.id)
    complete = not shortfalls(rules, scope.rules, approvers, scope.owners)
    if (complete or change.status == "approved") and not rollback:
        return "approved", notes
    return change.status, notes


def _outsider(desk: Desk, asked: list[Shortfall]) -> str | None:
    """Why the person's approval meets none of the matching rules' requirements, if it
    meets none; None also when no rule asks for an approval (any person's counts, as
    the gate's governance check counts it)."""
    if not asked or any(desk.person.id in need.pool for need in asked):
        return None
    needs = "; ".join(
        f"rule {n.rule} asks {n.label} ({', '.join(sorted(n.pool)) or 'nobody'})" for n in asked
    )
    return (
        f"{desk.person.id} is in no group and among no owners whose approval "
        f"{desk.change_id} needs: {needs}, in {desk.where}"
    )
