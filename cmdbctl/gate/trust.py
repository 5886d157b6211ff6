"""Which approvals can be trusted.

An approval line in a change request is only text; anyone can type `by: bob`. It counts
when the commit that added it was authored and committed by one of the approver's
emails (in the base revision's people), signed by one of their keys when the policy
requires it, by someone who is neither the requester nor an author of the change, and
when nothing of substance changed after it (an approval is for what it saw).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmdbctl import gitio
from cmdbctl.fielddiff import diff
from cmdbctl.loading import load

# Fields whose change means earlier approvals did not see this change.
SUBSTANCE = ("type", "category", "targets", "risk", "plan", "window", "rollbackPlan",
             "description", "reason", "impact")
# What `cmdbctl approve` writes: commits changing only these are not authorship.
APPROVAL_FIELDS = ("/spec/approvals", "/spec/status")


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    emails: frozenset[str]
    signing_keys: tuple[str, ...]


@dataclass
class ApprovalVerdict:
    index: int
    by: str
    decision: str
    commit: str | None
    trusted: bool = True
    reasons: list[str] = field(default_factory=list)
    stale: bool = False

    def distrust(self, reason: str) -> None:
        self.trusted = False
        self.reasons.append(reason)


@dataclass(frozen=True)
class ChangeHistory:
    """What history says of one change request within the pull request."""

    approvals: list[ApprovalVerdict]
    authors: frozenset[str]  # emails of commits that shaped the change or its targets


def _spec(raw: bytes | None, path: str) -> dict[str, Any]:
    if raw is None:
        return {}
    data = load(path, raw).data or {}
    spec = data.get("spec")
    return spec if isinstance(spec, dict) else {}


def _key(approval: Any) -> tuple[str, str, str]:
    if not isinstance(approval, dict):
        return ("", "", "")
    return (str(approval.get("by")), str(approval.get("at")), str(approval.get("decision")))


def examine(root: Path, blobs: gitio.BlobReader, merge_base: str, head: str,
            change_path: str, target_paths: Sequence[str], requester: str | None,
            people: dict[str, Person], separation_of_duties: bool,
            require_signatures: bool) -> ChangeHistory:
    head_spec = _spec(blobs.read_optional(f"{head}:{change_path}"), change_path)
    approvals = head_spec.get("approvals") or []
    # Who added each approval: the first commit (oldest first) whose version has it.
    file_commits = gitio.log(root, head, [change_path], reverse=True)
    added_by: dict[tuple[str, str, str], gitio.Commit] = {}
    for commit in file_commits:
        parent = commit.parents[0] if commit.parents else None
        before = {_key(a) for a in _spec(
            blobs.read_optional(f"{parent}:{change_path}") if parent else None,
            change_path).get("approvals") or []}
        for approval in _spec(blobs.read_optional(f"{commit.sha}:{change_path}"),
                              change_path).get("approvals") or []:
            if _key(approval) not in before and _key(approval) not in added_by:
                added_by[_key(approval)] = commit
    # The pull request's commits that touch the change or its targets, oldest first.
    in_range = gitio.log(root, f"{merge_base}..{head}", [change_path, *target_paths],
                         reverse=True)
    order = {c.sha: i for i, c in enumerate(in_range)}
    substantive: list[int] = []
    authors: set[str] = set()
    for i, commit in enumerate(in_range):
        if _approval_only(root, blobs, commit, change_path):
            continue
        substantive.append(i)
        authors.add(commit.author_email)
    verdicts = []
    for index, approval in enumerate(approvals):
        key = _key(approval)
        adder = added_by.get(key)
        verdict = ApprovalVerdict(index, key[0], key[2], adder.sha if adder else None)
        person = people.get(key[0])
        if adder is None:
            verdict.distrust("no commit adds it")
        elif person is None:
            verdict.distrust(f"{key[0]} is not a person in the base revision's policies/")
        else:
            if adder.author_email not in person.emails \
                    or adder.committer_email not in person.emails:
                verdict.distrust(
                    f"it was added by {adder.author_email} in {adder.sha[:10]}, "
                    f"not by {key[0]} ({', '.join(sorted(person.emails))})")
            if separation_of_duties:
                if key[0] == requester:
                    verdict.distrust(f"{key[0]} requested the change")
                elif person.emails & authors:
                    verdict.distrust(f"{key[0]} authored commits of the change")
            if require_signatures:
                reason = _signature_problem(root, adder.sha, person, people)
                if reason:
                    verdict.distrust(reason)
        position = order.get(adder.sha, -1) if adder else -1
        if adder is not None and any(i > position for i in substantive):
            verdict.stale = True
            verdict.distrust("stale: the change or its targets changed after it was given")
        verdicts.append(verdict)
    return ChangeHistory(verdicts, frozenset(authors))


def _approval_only(root: Path, blobs: gitio.BlobReader, commit: gitio.Commit,
                   change_path: str) -> bool:
    """A commit that only records approvals (and status) on this change request."""
    paths = gitio.changed_paths(root, commit)
    if paths != [change_path] or not commit.parents:
        return False
    old = load(change_path, blobs.read_optional(f"{commit.parents[0]}:{change_path}") or b"")
    new = load(change_path, blobs.read_optional(f"{commit.sha}:{change_path}") or b"")
    if old.data is None or new.data is None:
        return False
    return all(c.path.startswith(APPROVAL_FIELDS) for c in diff(old.data, new.data))


def substance_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return any(old.get(k) != new.get(k) for k in SUBSTANCE)


def _signature_problem(root: Path, sha: str, person: Person,
                       people: dict[str, Person]) -> str | None:
    if not person.signing_keys:
        return f"signatures are required but {person.id} has no signingKeys in policies/"
    with tempfile.TemporaryDirectory() as tmp:
        allowed = Path(tmp) / "allowed_signers"
        allowed.write_text("".join(
            f'{email} namespaces="git" {key}\n'
            for p in people.values() for email in sorted(p.emails) for key in p.signing_keys))
        signature = gitio.verify_commit(root, sha, allowed)
    if not signature.good:
        return f"signatures are required but {sha[:10]} is not validly signed ({signature.detail})"
    if signature.principal not in person.emails:
        return f"{sha[:10]} is signed by {signature.principal}, not by {person.id}"
    return None
