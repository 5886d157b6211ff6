"""`cmdbctl approve`: record the current git identity's decision as its own commit.

The commit is what the gate trusts: authored and committed by the approver, touching
only the change request's approvals and status, signed when asked or required.

Which recorded decisions still count is the gate's own judgement (`trust.examine`).
`approve` does not know which branch this one will merge into; it takes the default
branch (origin's HEAD, else main or master) for the gate's base: the rules, people and
groups are read there, as the gate reads them from its base. It judges as under review
every commit since the change request was created, or since the branch forked from the
default branch if that is earlier: a wider range than the gate's, so at least as strict.
It never writes `status: approved` for approvals the gate would not count; at worst it
leaves the status for the next approver (the gate judges approvals anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cmdbctl import gitio
from cmdbctl.cache import VerdictCache
from cmdbctl.editing import edit, flow_map
from cmdbctl.errors import CommandError
from cmdbctl.gate.evaluate import change_history, change_scope
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


def _default_branch(root: Path) -> str | None:
    """The branch pull requests most likely merge into, when this clone has one."""
    return next((b for b in ("refs/remotes/origin/HEAD", "main", "master")
                 if gitio.output(root, "rev-parse", "--verify", "--quiet", f"{b}^{{commit}}")),
                None)


def _judged_since(root: Path, path: str, default: str | None) -> str | None:
    """Where approve's judgement starts (None: all history): before the change request
    was created, and before HEAD forked from the default branch when there is one."""
    created = gitio.log(root, "HEAD", [path], reverse=True)[0]
    if not created.parents:
        return None
    fork = gitio.merge_base(root, "HEAD", default) if default else None
    return gitio.merge_base(root, created.parents[0], fork) if fork else created.parents[0]


def approve(root: Path, change_id: str, reject: bool = False, comment: str | None = None,
            sign: bool = False, now: datetime | None = None) -> ApproveResult:
    gitio.require_work_tree(root)
    gitio.resolve(root, "HEAD")
    gitio.require_clean(root)
    identity = gitio.current_identity(root)
    with gitio.BlobReader(root) as blobs:
        snap = Snapshot(root, "HEAD", blobs)
        default = _default_branch(root)
        rules = read_rules(Snapshot(root, default, blobs, folders=["policies"])
                           if default else snap)
        where = f"policies/ (read from {default.removeprefix('refs/remotes/')}, as the " \
            "gate reads its base)" if default else "policies/"
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
                f"your git identity {identity.email} is not a person in {where}",
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
        history = change_history(root, blobs, change, path,
                                 _judged_since(root, path, default), "HEAD", (snap,), rules)
        if any(a.by == person.id and a.decision == decision and a.trusted
               for a in history.approvals):
            raise CommandError(f"{person.id} has already recorded '{decision}' on {change_id}, "
                               "and it still counts",
                               "record it again only once it goes stale (after a later edit "
                               "of the change or its targets)")
        # Only decisions the gate trusts count toward the status; this one will be
        # trusted unless separation of duties excludes its author.
        approvers = {a.by for a in history.approvals if a.trusted and a.decision == "approve"}
        if decision == "approve":
            if not (rules.policy.separation_of_duties and person.emails & history.authors):
                approvers.add(person.id)
            kinds = load_registry(root)
            cache = VerdictCache(root, kinds.fingerprint)
            snap.use_cache(cache)  # the tree is clean: HEAD's
            scope = change_scope(change, snap, snap, rules, kinds)
            cache.finish()
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
