"""What a rollback would do: the commits on HEAD's first-parent history that carried the
change out (newest first), the state the CIs return to, the files that change and the
record and message of the commit; or why it cannot run (exit 2) or is refused (exit 1,
`RollbackRefused`: a later change touched the same CIs, a carrying commit carried
another change too)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cmdbctl import gitio
from cmdbctl.decision import find_change
from cmdbctl.errors import CommandError
from cmdbctl.findings import Finding
from cmdbctl.gate.policy import read_rules
from cmdbctl.recording import commit_message, timestamp
from cmdbctl.revision import Snapshot

ROLLED_BACK_FROM = ("approved", "implemented", "reviewed", "closed")
CIS = "inventory/"
RECORDS = "changes/"  # change requests: records, never reverted


class RollbackRefused(CommandError):
    """A refusal on the merits (exit 1); the repository is as it was. `findings`: what
    validate found in the rolled-back result, when that was the reason."""

    exit_code = 1

    def __init__(
        self, message: str, hint: str | None = None, findings: Sequence[Finding] = ()
    ) -> None:
        super().__init__(message, hint)
        self.findings = list(findings)


@dataclass(frozen=True)
class Revert:
    """A commit that carried the change out, and the paths it changed against its first
    (for a merge: mainline) parent."""

    sha: str
    subject: str
    merge: bool
    paths: frozenset[str]


@dataclass(frozen=True)
class FileOutcome:
    path: str
    action: str  # restored | removed (the change added it) | re-created (it deleted it)


@dataclass(frozen=True)
class Plan:
    change_id: str
    path: str  # the change request
    name: str | None
    status: str  # before the rollback
    reverts: tuple[Revert, ...]  # newest first: the order they are reverted in
    before: str  # the first parent of the oldest: the state the CIs return to
    files: tuple[FileOutcome, ...]  # outside changes/, what the reverts change
    record: dict[str, Any]  # spec.rollback
    message: str  # of the rollback commit
    head: str
    current: str | None  # the ref HEAD points to; None: detached
    branch: str | None  # --branch: the new branch the commit goes on
    dirty: tuple[str, ...] = field(default=())  # uncommitted files (a dry run goes on)


def make_plan(
    root: Path,
    change_id: str,
    reason: str,
    *,
    branch: str | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> Plan:
    """What the rollback would do, or exit 2 (cannot run) or 1 (refused) saying why."""
    reason = reason.strip()
    if not reason:
        raise CommandError(
            "the reason is empty",
            'say why the change is rolled back: --reason "error rate doubled"',
        )
    gitio.require_top(root, "rollback")
    head = gitio.resolve(root, "HEAD")
    current = gitio.symbolic_head(root)
    if branch is not None:
        problem = gitio.new_branch_problem(root, branch)
        if problem:
            raise CommandError(problem, "choose another name for --branch")
    elif current is None or not current.startswith("refs/heads/"):
        raise CommandError(
            "HEAD is detached: the rollback commit would be on no branch",
            "check out the branch to roll back on, or pass --branch NAME",
        )
    dirty = tuple(gitio.dirty_paths(root))
    busy = gitio.operation_in_progress(root)
    if not dry_run:
        gitio.require_clean(root)
        if busy:
            raise CommandError(
                f"git is in the middle of {busy}",
                "finish or abort it first (`git status` says how)",
            )
    if gitio.is_shallow(root):
        raise CommandError(
            "this clone is shallow: the commits that carried the change out, "
            "and those after them, may be missing",
            "fetch the history first: git fetch --unshallow",
        )
    identity = gitio.current_identity(root)
    with gitio.BlobReader(root) as blobs:
        snap = Snapshot(root, "HEAD", blobs)
        path, name, change = find_change(snap, blobs, change_id)
        rules = read_rules(snap)
    person = rules.person_by_email(identity.email)
    if person is None:
        raise CommandError(
            f"your git identity {identity.email} is not a person in policies/",
            "set user.email to an address listed in your Person document's "
            "emails; the rollback record names who rolled back",
        )
    if change.status not in ROLLED_BACK_FROM:
        raise CommandError(
            f"{change_id} is {change.status}; only an approved, implemented, "
            "reviewed or closed change is rolled back",
            "a draft or submitted change has nothing to undo; a rejected or "
            "rolled-back one is final",
        )
    reverts, before = _reverts(root, head, change_id)
    shas = [r.sha for r in reverts]
    record = {"by": person.id, "at": timestamp(now), "reason": reason, "commits": shas}
    message = commit_message(
        "Roll back", change_id, name, reason, [("Reverts", sha) for sha in shas]
    )
    return Plan(
        change_id,
        path,
        name,
        change.status,
        tuple(reverts),
        before,
        _outcomes(root, head, before, reverts),
        record,
        message,
        head,
        current,
        branch,
        dirty,
    )


def _reverts(root: Path, head: str, change_id: str) -> tuple[list[Revert], str]:
    """The commits that carried `change_id` out, newest first, and the commit before the
    oldest; refused when a later commit changed the same CIs or one carried another
    change too."""
    history = {c.sha: c for c in gitio.log(root, head)}
    chain: list[gitio.Commit] = []  # first parents, newest first
    at: str | None = head
    while at in history:
        chain.append(history[at])
        at = history[at].parents[0] if history[at].parents else None
    sides = _merged(chain, history)

    def names(commit: gitio.Commit) -> bool:
        return change_id in commit.trailers.get("change-id", [])

    named = [c for c in chain if names(c) or any(names(s) for s in sides.get(c.sha, ()))]
    changed = _first_parent_paths(root, chain[: chain.index(named[-1]) + 1] if named else [])
    carrying = [c for c in named if any(p.startswith(CIS) for p in changed[c.sha])]
    if not carrying:
        why = (
            f"{len(named)} commit(s) name it, but none changed {CIS} (approvals and "
            "reviews are not reverted)"
            if named
            else f"no commit there has a `Change-Id: {change_id}` trailer or merged one"
        )
        raise CommandError(
            f"nothing carried {change_id} out on the first-parent history of HEAD: {why}",
            "run rollback on the branch the change was merged into; commits "
            f"carrying a change out name it in a `Change-Id: {change_id}` "
            "trailer",
        )
    _refuse_others(root, change_id, carrying, sides)
    cis = frozenset(p for c in carrying for p in changed[c.sha] if p.startswith(CIS))
    oldest = chain.index(carrying[-1])
    reverted = {c.sha for c in carrying}
    later = [
        (c, sorted(changed[c.sha] & cis))
        for c in chain[:oldest]
        if c.sha not in reverted and changed[c.sha] & cis
    ]
    if later:
        told = "; ".join(
            f"{_who(c, sides, change_id)} changed {', '.join(paths)}" for c, paths in later
        )
        raise RollbackRefused(
            f"a later change touched the CIs {change_id} changed: {told}; a rollback puts "
            f"them back as they were before {change_id}, which would undo that too",
            "roll those changes back first (newest first), or raise a new change request "
            "that puts the CIs back by hand",
        )
    before = carrying[-1].parents[0] if carrying[-1].parents else gitio.EMPTY_TREE
    return [Revert(c.sha, c.subject, len(c.parents) > 1, changed[c.sha]) for c in carrying], before


def _first_parent_paths(root: Path, commits: Sequence[gitio.Commit]) -> dict[str, frozenset[str]]:
    """Every path each commit changed against its first parent (a merge: against its
    mainline; a root commit: all its files), renames as a deletion and an addition."""
    pairs = [(c.sha, c.parents[0] if c.parents else None) for c in commits]
    changes = gitio.first_parent_diffs(root, pairs, ())
    return {c.sha: frozenset(f.path for f in changes.get(c.sha, ())) for c in commits}


def _merged(
    chain: Sequence[gitio.Commit], history: Mapping[str, gitio.Commit]
) -> dict[str, list[gitio.Commit]]:
    """merge sha → the commits it brought in (reachable from it, not from its first
    parent), for every merge of `chain`: each commit off the chain belongs to one."""
    seen: set[str] = set()
    sides: dict[str, list[gitio.Commit]] = {}
    for commit in reversed(chain):  # oldest first: what older ones reach is seen
        if len(commit.parents) > 1:
            found, stack = [], list(commit.parents[1:])
            while stack:
                sha = stack.pop()
                if sha in seen or sha not in history:
                    continue
                seen.add(sha)
                found.append(history[sha])
                stack.extend(history[sha].parents)
            sides[commit.sha] = found
        seen.add(commit.sha)
    return sides


def _refuse_others(
    root: Path,
    change_id: str,
    carrying: Sequence[gitio.Commit],
    sides: Mapping[str, Sequence[gitio.Commit]],
) -> None:
    """A carrying commit that carried another change out too cannot be reverted for
    this one alone: its own trailers, or a merged commit that changed CIs, name it."""
    merged = [
        s
        for c in carrying
        for s in sides.get(c.sha, ())
        if set(s.trailers.get("change-id", [])) - {change_id}
    ]
    wrote = gitio.wrote(root, [s.sha for s in merged], [CIS.rstrip("/")])
    for commit in carrying:
        others = set(commit.trailers.get("change-id", []))
        others |= {
            i
            for s in sides.get(commit.sha, ())
            if s.sha in wrote
            for i in s.trailers.get("change-id", [])
        }
        others.discard(change_id)
        if others:
            raise RollbackRefused(
                f"{commit.sha[:10]} ({commit.subject!r}) carried {', '.join(sorted(others))} "
                f"out as well as {change_id}: reverting it would undo both",
                "roll the changes back together by hand (git revert on a branch, under a "
                "new change request), or roll back each of them with its own commits",
            )


def _who(commit: gitio.Commit, sides: Mapping[str, Sequence[gitio.Commit]], change_id: str) -> str:
    ids = {
        *commit.trailers.get("change-id", []),
        *(i for s in sides.get(commit.sha, ()) for i in s.trailers.get("change-id", [])),
    }
    ids.discard(change_id)
    where = f"commit {commit.sha[:10]} ({commit.subject!r})"
    return f"{', '.join(sorted(ids))} in {where}" if ids else f"{where}, naming no change"


def _outcomes(
    root: Path, head: str, before: str, reverts: Sequence[Revert]
) -> tuple[FileOutcome, ...]:
    paths = sorted({p for r in reverts for p in r.paths if not p.startswith(RECORDS)})
    now = gitio.tree_blobs_of(root, head, paths) or {}
    then = gitio.tree_blobs_of(root, before, paths) or {}
    return tuple(
        FileOutcome(p, "removed" if p not in then else "re-created" if p not in now else "restored")
        for p in paths
        if now.get(p) != then.get(p)
    )
