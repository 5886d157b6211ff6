"""A rollback is judged on its own merits.

The rollback plan was approved with the change, so a branch that only puts the change's
targets back as they were before the change was carried out, and records the rollback
in the change request (`status: rolled-back`, `spec.rollback.commits`: what was
reverted, as `cmdbctl rollback` writes it), is covered by that change without new
approvals. The record is the branch's own text, so each claim in it is checked against
history: every listed commit is on the base and carried this change out (its
`Change-Id:` trailer, or one of the commits it merged names it); the state before the
change is the first parent of the earliest of them; each target the branch changes
must hold exactly that state's content; and the change request's substance is as the
base has it. A policy that wants approvals for rollbacks too says so with a rule whose
match holds `rollback: true` (rules without it do not apply to rollbacks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cmdbctl import gitio
from cmdbctl.errors import CommandError
from cmdbctl.gate.standard import Refusal
from cmdbctl.models import ChangeSpec

CODES: dict[str, str] = {
    "gate.rollback.record": "a rolled-back change's record (spec.rollback.commits) is "
    "missing, or names a commit that is not on the base branch "
    "or did not carry the change out",
    "gate.rollback.substance": "a rollback may change only the change request's status "
    "and rollback record, but the branch changed more of it",
    "gate.rollback.not-a-revert": "a target of the rolled-back change is not exactly as "
    "it was before the change was carried out",
}

# Statuses from which a change can be rolled back: approved and later.
_ROLLED_BACK_FROM = ("approved", "implemented", "reviewed", "closed")
_HINT = (
    "run `cmdbctl rollback CHANGE-ID --reason ... --branch NAME`, which reverts exactly "
    "the commits that carried the change out and records them"
)


def is_rollback(change: ChangeSpec, before: ChangeSpec | None) -> bool:
    """The branch rolls the change back: rolled-back at the head, carried out or approved
    at the merge base."""
    return (
        change.status == "rolled-back" and before is not None and before.status in _ROLLED_BACK_FROM
    )


def rollback_refusals(
    root: Path,
    merge_base: str,
    change_id: str,
    change: ChangeSpec,
    before: ChangeSpec,
    changed: Mapping[str, tuple[str, str | None]],
    substance: Iterable[str],
) -> list[Refusal]:
    """Why this branch is not just the rollback of `change`, if it is not. `changed`:
    each target CI the branch changes → (its path, its blob at the head or None)."""
    record = change.rollback
    if record is None or not record.commits:
        return [
            Refusal(
                "gate.rollback.record",
                "a rolled-back change records what was reverted (spec.rollback.commits)",
                "/spec/status",
                _HINT,
            )
        ]
    refusals = [
        Refusal(
            "gate.rollback.substance",
            f"spec.{key} differs from the base's; a "
            "rollback changes only the status and the rollback record",
            f"/spec/{key}",
            _HINT,
        )
        for key in substance
        if _get(change, key) != _get(before, key)
    ]
    listed = list(dict.fromkeys(record.commits))
    shas: dict[str, str] = {}
    for given in listed:
        sha = _commit(root, given)
        if sha is None or not gitio.is_ancestor(root, sha, merge_base):
            refusals.append(
                Refusal(
                    "gate.rollback.record",
                    f"spec.rollback.commits names "
                    f"{given}, which is not a commit of the base branch",
                    "/spec/rollback/commits",
                    _HINT,
                )
            )
        elif not _carried(root, sha, change_id):
            refusals.append(
                Refusal(
                    "gate.rollback.record",
                    f"commit {given} does not carry "
                    f"{change_id} out (none of its commits names it in "
                    "a Change-Id: trailer and edits CIs)",
                    "/spec/rollback/commits",
                    _HINT,
                )
            )
        else:
            shas[given] = sha
    if refusals:
        return refusals
    earliest = [
        s
        for s in shas.values()
        if all(gitio.is_ancestor(root, s, other) for other in shas.values())
    ]
    first = gitio.read_commits(root, earliest[:1])
    if not first or not first[0].parents:
        return [
            Refusal(
                "gate.rollback.record",
                "the reverted commits have no one earliest commit with a parent to return to",
                "/spec/rollback/commits",
                _HINT,
            )
        ]
    state = first[0].parents[0]
    then = gitio.tree_blobs_of(root, state, [p for p, _ in changed.values()]) or {}
    refusals = [
        Refusal(
            "gate.rollback.not-a-revert",
            f"{ci} is not back to its content before the change (as at "
            f"{state[:10]}): a rollback restores it exactly",
            "/spec/targets",
            _HINT,
        )
        for ci, (path, blob) in sorted(changed.items())
        if then.get(path) != blob
    ]
    # Only the change's own commits may lie between that state and now: putting a CI
    # back past anyone else's work would undo a change nobody approved undoing.
    merged = [c for sha in shas.values() for c in _merged(root, sha)]
    own = {c.sha for c in merged}
    # ... and those commits may carry no other change into what is put back.
    paths = [p for p, _ in changed.values()]
    wrote = gitio.wrote(root, [c.sha for c in merged], paths) if paths else {}
    for commit in merged:
        carried = sorted(set(commit.trailers.get("change-id", [])) - {change_id})
        if carried and wrote.get(commit.sha):
            refusals.append(
                Refusal(
                    "gate.rollback.not-a-revert",
                    f"{commit.sha[:10]} also carried out {', '.join(carried)}, on "
                    f"{', '.join(sorted(wrote[commit.sha]))}: rolling it back would undo "
                    "that change too",
                    "/spec/rollback/commits",
                    "roll those changes back together, or raise a new change for this one",
                )
            )
    for ci, (path, _blob) in sorted(changed.items()):
        others = [
            c
            for c in gitio.log(root, f"{state}..{merge_base}", [path], full_history=True)
            if c.sha not in own
            and (c.parents == () or len(c.parents) == 1 or _wrote(root, c, path))
        ]
        if others:
            refusals.append(
                Refusal(
                    "gate.rollback.not-a-revert",
                    f"{ci} was also changed by {others[-1].sha[:10]} ({others[-1].subject}), "
                    f"which is not one of the reverted commits: rolling {ci} back would undo "
                    "it too",
                    "/spec/rollback/commits",
                    "roll that change back first, or raise a new change for this one",
                )
            )
    return refusals


def _get(change: ChangeSpec, key: str) -> Any:
    return change.model_dump(by_alias=True).get(key)


def _commit(root: Path, given: str) -> str | None:
    try:
        return gitio.resolve(root, given)
    except CommandError:
        return None


def _merged(root: Path, sha: str) -> list[gitio.Commit]:
    """The commit and, for a merge, the commits it brought in."""
    [commit] = gitio.read_commits(root, [sha])
    return gitio.log(root, f"{commit.parents[0]}..{sha}") if commit.parents else [commit]


def _wrote(root: Path, commit: gitio.Commit, path: str) -> bool:
    """A merge that wrote `path` itself (differs from every parent), not one that only
    brought in a side's edit."""
    return path in gitio.wrote(root, [commit.sha], (path,)).get(commit.sha, frozenset())


def _carried(root: Path, sha: str, change_id: str) -> bool:
    """The commit, or for a merge a commit it merged, names the change in `Change-Id:`
    and wrote CIs (approving or reviewing it writes only the change request)."""
    naming = [c.sha for c in _merged(root, sha) if change_id in c.trailers.get("change-id", [])]
    return bool(gitio.wrote(root, naming, ("inventory",)))
