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
        change, person, rules = desk.change, desk.person, desk.rules
        if person.id == change.requester:
            raise CommandError(
                f"{person.id} requested {change_id} and cannot approve it (separation of duties)",
                "ask a member of the approving group",
            )
        # A rollback takes decisions where the policy asks for them (`rollback: true`).
        rollback = change.status == "rolled-back" and change.rollback is not None
        if change.status in ("draft", "closed", "rolled-back", "rejected") and not rollback:
            raise CommandError(
                f"{change_id} is {change.status}; only submitted or approved "
                "changes take decisions",
                "set status: submitted (and commit) to ask for approval",
            )
        history = desk.history()
        if any(
            a.by == person.id and a.decision == decision and a.trusted for a in history.approvals
        ):
            raise CommandError(
                f"{person.id} has already recorded '{decision}' on {change_id}, "
                "and it still counts",
                "record it again only once it goes stale (after a later edit "
                "of the change or its targets)",
            )
        scope = desk.scope
        # Every requirement of the matching rules, with who could meet it.
        asked = shortfalls(rules, scope.rules, set(), scope.owners)
        notes = []
        outsider = _outsider(desk, asked)
        authored = rules.policy.separation_of_duties and bool(person.emails & history.authors)
        unsigned = desk.signature_problem()
        if decision == "approve":
            if outsider:
                raise CommandError(
                    f"{outsider}; the gate would not count this approval",
                    f"ask one of them to run `cmdbctl approve {change_id}`; "
                    "to say no, `--reject` is recorded all the same",
                )
            desk.require_signing_key("the gate would not count this approval")
            if authored:
                notes.append(
                    f"this approval will not count: {person.id} authored commits "
                    f"of {change_id} (separation of duties)"
                )
            # Only decisions the gate trusts count toward the status.
            approvers = {a.by for a in history.approvals if a.trusted and a.decision == "approve"}
            if not authored:
                approvers.add(person.id)
            complete = not shortfalls(rules, scope.rules, approvers, scope.owners)
            status = (
                "approved"
                if (complete or change.status == "approved") and not rollback
                else change.status
            )
        else:
            status = change.status if rollback else "rejected"
            if authored or unsigned:
                why = (
                    f"{person.id} authored commits of {change_id} (separation of duties)"
                    if authored
                    else str(unsigned)
                )
                notes.append(f"this rejection will not count: {why}; it is recorded all the same")
            elif outsider:
                notes.append(f"{outsider}; the rejection is recorded all the same")
        moment = timestamp(now)

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
        change.status,
        status,
        commit,
        signed,
        tuple(notes),
    )


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
