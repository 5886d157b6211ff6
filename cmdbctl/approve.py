"""`cmdbctl approve`: record the current git identity's decision as its own commit.

The commit is what the gate trusts: authored and committed by the approver, touching
only the change request's approvals and status, signed when asked or required.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cmdbctl import gitio
from cmdbctl.editing import edit, flow_map
from cmdbctl.errors import CommandError
from cmdbctl.gate.evaluate import change_scope
from cmdbctl.gate.policy import parse_change, read_rules, shortfalls
from cmdbctl.kinds import load_registry
from cmdbctl.revision import Snapshot


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


def approve(root: Path, change_id: str, reject: bool = False, comment: str | None = None,
            sign: bool = False, now: datetime | None = None) -> ApproveResult:
    gitio.require_work_tree(root)
    gitio.resolve(root, "HEAD")
    gitio.require_clean(root)
    identity = gitio.current_identity(root)
    with gitio.BlobReader(root) as blobs:
        snap = Snapshot(root, "HEAD", blobs)
        rules = read_rules(snap)
        path = snap.by_id.get(change_id)
        if path is None or not path.startswith("changes/"):
            raise CommandError(f"no change request {change_id} under changes/",
                               "check the id; change requests are changes/**/<id>.yaml")
        doc = snap.document(path)
        change = parse_change(doc.data if doc else None)
        if change is None:
            raise CommandError(f"{path} is not a valid change request",
                               f"run `cmdbctl validate {path}` and fix it first")
        person = rules.person_by_email(identity.email)
        if person is None:
            raise CommandError(
                f"your git identity {identity.email} is not a person in policies/",
                "set user.email to an address listed in your Person document's emails")
        if person.id == change.requester:
            raise CommandError(
                f"{person.id} requested {change_id} and cannot approve it "
                "(separation of duties)", "ask a member of the approving group")
        if change.status in ("draft", "closed", "rolled-back", "rejected"):
            raise CommandError(f"{change_id} is {change.status}; only submitted or approved "
                               "changes take decisions",
                               "set status: submitted (and commit) to ask for approval")
        decision = "reject" if reject else "approve"
        if any(a.by == person.id and a.decision == decision for a in change.approvals):
            raise CommandError(f"{person.id} has already recorded '{decision}' on {change_id}")
        approvers = {a.by for a in change.approvals if a.decision == "approve"}
        if decision == "approve":
            approvers.add(person.id)
            scope = change_scope(change, snap, snap, rules, load_registry(root))
            complete = not shortfalls(rules, scope.rules, approvers, scope.owners)
            status = "approved" if complete or change.status == "approved" else change.status
        else:
            status = "rejected"
    moment = (now or datetime.now().astimezone()).isoformat(timespec="seconds")

    def record(data: Any) -> None:
        spec = data["spec"]
        if spec.get("approvals") is None:
            spec["approvals"] = []
        spec["approvals"].append(flow_map(by=person.id, at=moment, decision=decision,
                                          comment=comment))
        spec["status"] = status

    absolute = root / path
    original = absolute.read_bytes()
    absolute.write_text(edit(original.decode("utf-8"), path, record), encoding="utf-8")
    signed = sign or rules.policy.require_signed_approvals
    verb = "Reject" if reject else "Approve"
    trailer = "Rejected-by" if reject else "Approved-by"
    message = (f"{verb} {change_id}" + (f": {doc.name}" if doc and doc.name else "")
               + (f"\n\n{comment}" if comment else "")
               + f"\n\nChange-Id: {change_id}\n{trailer}: {identity.name} <{identity.email}>\n")
    try:
        commit = gitio.commit_file(root, path, message, signed)
    except CommandError:
        absolute.write_bytes(original)  # leave the repository as it was
        gitio.run(root, "reset", "--quiet", "--", path, check=False)
        raise
    return ApproveResult(change_id, path, person.id, decision, change.status, status, commit,
                         signed)
