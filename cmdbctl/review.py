"""`cmdbctl review`: record the post-implementation review as the reviewer's own commit.

ITIL reviews a change once it is carried out (after every emergency change: a rule's
`reviewWithin` says by when). The review is written as `spec.review {by, at, outcome,
notes}` and the status goes from implemented to reviewed, in a commit authored and
committed by the reviewer, signed when asked or when the policy requires signed
approvals, built as `approve` builds its commit (`decision`).

Who may review: a person who neither requested the change nor (under separation of
duties) authored its commits, and who is a member of the `reviewers` of a matching rule
that has `reviewWithin` (change-managers when no such rule matches), read from the
default branch as `approve` reads its rules: the same people the gate trusts a review
from (`evaluate.change_history`). A review is a record: a change that
has one is never reviewed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cmdbctl.decision import open_change
from cmdbctl.editing import flow_map
from cmdbctl.errors import CommandError
from cmdbctl.recording import timestamp

DEFAULT_REVIEWERS = "change-managers"
OUTCOMES = ("successful", "partially-successful", "failed")  # models.ReviewOutcome


@dataclass(frozen=True)
class ReviewResult:
    change_id: str
    path: str
    by: str
    outcome: str
    status_before: str
    status_after: str
    commit: str
    signed: bool


def review(
    root: Path,
    change_id: str,
    outcome: str,
    notes: str,
    sign: bool = False,
    now: datetime | None = None,
) -> ReviewResult:
    if outcome not in OUTCOMES:
        raise CommandError(f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    if not notes.strip():
        raise CommandError(
            "the review's notes are empty",
            'say what was found: --notes "all checks green, no incident"',
        )
    with open_change(root, change_id) as desk:
        change, person, rules = desk.change, desk.person, desk.rules
        if change.review is not None:
            raise CommandError(
                f"{change_id} was already reviewed by {change.review.by} at "
                f"{change.review.at.isoformat()} ({change.review.outcome}); a review is a "
                "record and is never overwritten",
                "raise a new change request for follow-up work",
            )
        if change.status == "reviewed":
            raise CommandError(
                f"{change_id} is reviewed already (though it records no "
                "spec.review); a review is never recorded twice",
                f"run `cmdbctl validate {desk.path}`",
            )
        if change.status != "implemented":
            raise CommandError(
                f"{change_id} is {change.status}; only an implemented change "
                "takes its post-implementation review",
                "set status: implemented (and commit) once the change is carried out",
            )
        if person.id == change.requester:
            raise CommandError(
                f"{person.id} requested {change_id} and cannot review it (separation of duties)",
                "ask a member of the reviewing group",
            )
        if rules.policy.separation_of_duties and person.emails & desk.history().authors:
            raise CommandError(
                f"{person.id} authored commits of {change_id} and cannot "
                "review it (separation of duties)",
                "ask a member of the reviewing group who did not work on it",
            )
        groups = sorted({r.reviewers for r in desk.scope.rules if r.review_within is not None}) or [
            DEFAULT_REVIEWERS
        ]
        if not any(person.id in rules.members(g) for g in groups):
            who = "; ".join(
                f"{g} ({', '.join(sorted(rules.members(g))) or 'nobody'})" for g in groups
            )
            raise CommandError(
                f"{person.id} is not among the reviewers of {change_id}: {who}, in {desk.where}",
                f"ask one of them to run `cmdbctl review {change_id}`",
            )
        desk.require_signing_key("the review could not be verified")
        moment = timestamp(now)

        def record(data: Any) -> None:
            spec = data["spec"]
            spec["review"] = flow_map(by=person.id, at=moment, outcome=outcome, notes=notes)
            spec["status"] = "reviewed"

        commit, signed = desk.commit(record, "Review", notes, "Reviewed-by", sign)
    return ReviewResult(
        change_id, desk.path, person.id, outcome, change.status, "reviewed", commit, signed
    )
