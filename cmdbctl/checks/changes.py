"""Sanity of a change request that needs no git and no policy.

Codes: `change.window-order` (the window ends before it starts),
`change.approvals-missing` (an approved-or-later change, other than a pre-approved
standard one, without an approving decision),
`change.rejection-missing` (rejected without a rejecting decision, warning),
`change.review-missing` (a reviewed or closed emergency change without its
post-implementation review), `change.rollback-record-missing` (rolled back without a
rollback record, warning), `change.model-missing` (a standard change that names no
StandardChange model in `spec.model`), `change.model-unused` (a normal or emergency
change naming a model, which only standard changes follow; warning). Whether the model
exists is `ref.dangling`; whether the change stays inside it is the gate's to judge.
"""

from __future__ import annotations

from datetime import datetime

from cmdbctl.document import Document
from cmdbctl.findings import Finding
from cmdbctl.kinds import KindRegistry

_APPROVED_OR_LATER = frozenset({"approved", "implemented", "reviewed", "closed"})

CODES: dict[str, str] = {
    "change.window-order": "the change's planned window ends before, or when, it starts",
    "change.approvals-missing": "a change that is approved or later (and not a standard "
    "change, which is pre-approved) records no approval",
    "change.rejection-missing": "a rejected change records no rejection (a warning)",
    "change.review-missing": "a reviewed or closed emergency change lacks its "
    "post-implementation review (spec.review)",
    "change.model-missing": "a standard change names no StandardChange model in spec.model: "
    "it is pre-approved only for what a model lists",
    "change.model-unused": "a normal or emergency change names a model in spec.model, which "
    "only standard changes follow (a warning)",
    "change.rollback-record-missing": "a rolled-back change has no rollback record "
    "(spec.rollback: who, when, why, which commits; "
    "a warning)",
}


def check(doc: Document, kinds: KindRegistry) -> list[Finding]:
    if doc.kind != "ChangeRequest":
        return []
    spec = doc.spec
    findings: list[Finding] = []
    status = spec.get("status")
    decisions = [a.get("decision") for a in spec.get("approvals") or []]
    window = spec.get("window")
    if isinstance(window, dict) and "start" in window and "end" in window:
        start, end = _instant(window["start"]), _instant(window["end"])
        if start and end and end <= start:
            findings.append(
                Finding(
                    doc.path,
                    "change.window-order",
                    f"window ends ({window['end']}) before it starts ({window['start']})",
                    pointer="/spec/window/end",
                )
            )
    # Standard changes are pre-approved by definition (ITIL); others need a decision.
    if (
        status in _APPROVED_OR_LATER
        and spec.get("type") != "standard"
        and "approve" not in decisions
    ):
        findings.append(
            Finding(
                doc.path,
                "change.approvals-missing",
                f"change is {status} but records no approval",
                pointer="/spec/status",
                hint="approvals are recorded with `cmdbctl approve`; set status back to submitted",
            )
        )
    if status == "rejected" and "reject" not in decisions:
        findings.append(
            Finding(
                doc.path,
                "change.rejection-missing",
                "change is rejected but records no rejection",
                severity="warning",
                pointer="/spec/status",
                hint="record it with `cmdbctl approve --reject`",
            )
        )
    if (
        spec.get("type") == "emergency"
        and status in ("reviewed", "closed")
        and not spec.get("review")
    ):
        findings.append(
            Finding(
                doc.path,
                "change.review-missing",
                f"emergency change is {status} without its post-implementation review",
                pointer="/spec/status",
                hint="add spec.review {by, at, outcome, notes}",
            )
        )
    if spec.get("type") == "standard" and not spec.get("model"):
        findings.append(
            Finding(
                doc.path,
                "change.model-missing",
                "standard change names no model: it is pre-approved only for what a "
                "StandardChange in policies/ lists",
                pointer="/spec/type",
                hint="add spec.model with the id of the StandardChange it follows, "
                "or make it a normal change",
            )
        )
    elif spec.get("type") != "standard" and spec.get("model"):
        findings.append(
            Finding(
                doc.path,
                "change.model-unused",
                f"{spec.get('type')} change names model {spec['model']!r}, which only a "
                "standard change follows",
                severity="warning",
                pointer="/spec/model",
                hint="make it type: standard, or remove spec.model",
            )
        )
    if status == "rolled-back" and not spec.get("rollback"):
        findings.append(
            Finding(
                doc.path,
                "change.rollback-record-missing",
                "change is rolled-back but has no rollback record",
                severity="warning",
                pointer="/spec/status",
                hint="record spec.rollback {by, at, reason, commits}: who rolled it back, when, why",
            )
        )
    return findings


def _instant(text: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None
