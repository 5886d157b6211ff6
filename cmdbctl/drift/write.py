"""`cmdbctl diff --write`: the drift as a reviewable change.

On a new branch from HEAD (checked out; the branch the user was on stays as it was, as
`rollback --branch` does): each drifted CI's file gets the discovered values, edited
round trip (comments, quoting and layout kept; only the drifted nodes change); with
`--add-unmanaged`, a new CI per unmanaged item (inventory/discovered/<id>.yaml, its id
from its host name, never overwriting one); a draft ChangeRequest in changes/ with the
next free id of the year, targeting every CI written and naming each snapshot's digest
(description and annotations); `validate` of the result; one commit as the current
identity, with a `Change-Id:` trailer. The draft covers nothing yet: the pull request
is the review, and `cmdbctl gate` refuses the branch until the change is approved.

Refused, changing nothing: a dirty work tree, git busy with a merge or rebase, a branch
name that is taken or invalid, an identity that is no Person (the requester), nothing to
write, a new CI whose id is taken, a path to write that is not the repository's own (a
symlink on the way, something in the way of a new file or its folder: `confined`)
(exit 2); a result `validate` finds errors in (exit 1, its findings printed). Whatever fails half way, Ctrl-C included, the repository is put
back: HEAD and the branch, the index, the work tree (file times too), the new branch
deleted.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from cmdbctl import gitio
from cmdbctl.drift import DiffResult, Drifted, confined, normalise, proposed_id
from cmdbctl.drift.compare import Change
from cmdbctl.drift.draft import draft_text, free_change_id
from cmdbctl.drift.identify import Identified
from cmdbctl.drift.reconcile import attributes_of
from cmdbctl.editing import edit, flow_map
from cmdbctl.errors import CommandError
from cmdbctl.findings import Finding
from cmdbctl.gate.policy import read_rules
from cmdbctl.putback import PutBack
from cmdbctl.recording import commit_message
from cmdbctl.revision import Snapshot
from cmdbctl.validate import validate
from cmdbctl.workspace import Workspace, file_id

NEW_CIS = "inventory/discovered"


class WriteRefused(CommandError):
    """The result would not validate (exit 1); nothing was changed."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None, findings: Sequence[Finding]) -> None:
        super().__init__(message, hint)
        self.findings = list(findings)


@dataclass(frozen=True)
class Written:
    branch: str
    origin: str  # the branch (or commit) it was made from
    commit: str
    change_id: str
    change_path: str
    edited: tuple[str, ...]
    added: tuple[str, ...]
    findings: tuple[Finding, ...]  # validate's warnings

    def describe(self) -> str:
        lines = [
            (
                f"Committed {self.commit[:10]} on new branch {self.branch} (from "
                f"{self.origin}, which is unchanged; the new branch is checked out):"
            ),
            *(f"  edited  {p}" for p in self.edited),
            *(f"  added   {p}" for p in self.added),
            f"  added   {self.change_path} (draft change request {self.change_id})",
            f"Push it and open a pull request: git push -u origin {self.branch}",
            f"The gate refuses it until {self.change_id} is submitted and approved.",
        ]
        return "\n".join(lines)


def write_drift(
    root: Path,
    result: DiffResult,
    *,
    branch: str | None,
    add_unmanaged: bool,
    now: datetime,
) -> Written:
    gitio.require_top(root, "--write")
    head = gitio.resolve(root, "HEAD")
    current = gitio.symbolic_head(root)
    gitio.require_clean(root)
    busy = gitio.operation_in_progress(root)
    if busy:
        raise CommandError(
            f"git is in the middle of {busy}", "finish or abort it first (`git status` says how)"
        )
    digest = _digest(result)
    name = branch or f"drift/{now:%Y-%m-%d}-{digest[:8]}"
    problem = gitio.new_branch_problem(root, name)
    if problem:
        raise CommandError(problem, "choose another name with --branch")
    new = _new_cis(result) if add_unmanaged else {}
    if not result.drifted and not new:
        raise CommandError(
            "nothing to write: no CI drifted"
            + (
                ""
                if add_unmanaged or not result.unmanaged
                else " (--add-unmanaged adds CIs for unmanaged items)"
            ),
            None,
        )
    requester = _requester(root)
    change_id = free_change_id(result.ids | _names_in(root, "changes"), now)
    change_path = f"changes/{change_id}.yaml"
    created = {*new, change_path}
    _require_writable(root, [d.ci.path for d in result.drifted], created)
    files: dict[str, str] = {}
    for drifted in result.drifted:
        original = confined.read(root, drifted.ci.path).decode("utf-8")
        files[drifted.ci.path] = edit(original, drifted.ci.path, _apply(drifted))
    for path, text in new.items():
        files[path] = text
    targets = [d.ci.id for d in result.drifted] + [Path(p).stem for p in new]
    files[change_path] = draft_text(change_id, requester, targets, result, list(new))
    return _carry_out(root, head, current, name, files, created, change_id, result, digest)


def _names_in(root: Path, folder: str) -> set[str]:
    """The id every name under `folder` claims, whatever it is (a symlinked or ignored
    file the listing leaves out still takes its id: the draft never lands on it)."""
    names: set[str] = set()
    for _, folders, files in os.walk(root / folder):  # links are listed, never followed
        names.update(file_id(name) for name in (*folders, *files))
    return names


def _require_writable(root: Path, edited: Sequence[str], created: set[str]) -> None:
    """Exit 2, before anything changes, unless every path the run writes is the
    repository's own: checked with lstat from the root down (no symlink on the way, a
    folder where one is needed, a new file not there as anything, an edited file a regular
    file)."""
    for path in [*edited, *sorted(created)]:
        problem = confined.problem(root, path, new=path in created)
        if problem:
            raise CommandError(
                f"cannot write {path}: {problem}; nothing was changed",
                "move it out of the way (or leave out --add-unmanaged for new CIs), then run again",
            )


def _digest(result: DiffResult) -> str:
    """The snapshots' digest (of their digests, when several), hex."""
    digests = [s.digest for s in result.snapshots]
    if len(digests) == 1:
        return digests[0].partition(":")[2]
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


# A source is whatever the snapshot says. In a trailer, which people and tools read as
# `Key: value` lines, it is shown only when it is a plain name (no line break, no colon);
# the draft change request, committed beside, records every source in full.
_PLAIN_SOURCE = re.compile(r"[\w.@+/-]+(?: [\w.@+/-]+)*")


def _snapshot_trailer(source: str, digest: str) -> str:
    plain = len(source) <= 100 and _PLAIN_SOURCE.fullmatch(source) is not None
    return f"{source} {digest}" if plain else digest


def _requester(root: Path) -> str:
    identity = gitio.current_identity(root)
    with gitio.BlobReader(root) as blobs:
        rules = read_rules(Snapshot(root, "HEAD", blobs, folders=["policies"]))
    person = rules.person_by_email(identity.email)
    if person is None:
        raise CommandError(
            f"your git identity {identity.email} is not a person in policies/: the draft "
            "change request needs you as its requester",
            "set user.email to an address listed in your Person document's emails",
        )
    return person.id


def _apply(drifted: Drifted) -> Any:
    """The round-trip edit of one CI: each change at its path, list items removed last
    (highest first, so the numbers of the others hold)."""

    def change(data: Any) -> None:
        spec = data.get("spec")
        if not isinstance(spec, dict):
            spec = data["spec"] = CommentedMap()
        removals = sorted(
            (c for c in drifted.changes if c.op == "remove"), key=lambda c: c.parts, reverse=True
        )
        for c in drifted.changes:
            if c.op != "remove":
                _set(spec, c)
        for c in removals:
            parent = _parent(spec, c.parts)
            del parent[c.parts[-1]]

    return change


def _parent(spec: Any, parts: tuple[str | int, ...]) -> Any:
    node = spec
    for part in parts[:-1]:
        if isinstance(node, dict) and part not in node:
            node[part] = CommentedMap()
        node = node[part]
    return node


def _set(spec: Any, c: Change) -> None:
    parent = _parent(spec, c.parts)
    value = normalise.deep(str(c.parts[-1]) if isinstance(c.parts[-1], str) else "", c.discovered)
    if c.op == "add":
        siblings = [v for v in parent if isinstance(v, CommentedMap)]
        if isinstance(value, dict) and siblings and siblings[-1].fa.flow_style():
            value = flow_map(**value)  # written as its neighbours are, on one line
        parent.append(value)
    else:
        parent[c.parts[-1]] = value


def _new_cis(result: DiffResult) -> dict[str, str]:
    """path -> text of a new CI for each unmanaged item."""
    out: dict[str, str] = {}
    for entry in result.unmanaged:
        ci = proposed_id(entry)
        label = entry.item.label()
        if ci is None:
            raise CommandError(
                f"{label}: no host name, fqdn or serial to name a new CI by",
                "leave out --add-unmanaged, or add its CI by hand",
            )
        path = f"{NEW_CIS}/{ci}.yaml"
        if ci in result.ids or path in out:
            raise CommandError(
                f"{label}: a document with id {ci} exists already; a new CI would take its id",
                "leave out --add-unmanaged, or add its CI by hand under another id",
            )
        out[path] = edit("apiVersion: cmdb/v1\n", path, _fill(entry, ci, result))
    return out


def _fill(entry: Identified, ci: str, result: DiffResult) -> Any:
    snapshot = result.snapshots[entry.source]
    attributes = attributes_of(entry.item, None)
    macs = entry.item.identifiers.get("macs")
    if "interfaces" not in attributes and isinstance(macs, list):
        attributes["interfaces"] = [{"mac": m} for m in macs]

    def fill(data: Any) -> None:
        data["kind"] = entry.item.kind
        data["metadata"] = CommentedMap(
            id=ci,
            name=str(entry.item.identifiers.get("hostname") or ci),
            annotations=CommentedMap(
                discoveredBy=f"{snapshot.source} {snapshot.digest}",
            ),
        )
        # What discovery reports wins over the default, as it does for a drifted CI:
        # the new CI records what was found, so the next diff finds it in step (a status
        # of "active" over a reported "retired" would be drift at once, and would count it
        # as deployed); a status the schema refuses fails validate, changing nothing.
        spec = CommentedMap(status="active")
        spec.update(normalise.deep("", attributes))
        data["spec"] = spec

    return fill


def _carry_out(
    root: Path,
    head: str,
    current: str | None,
    branch: str,
    files: dict[str, str],
    created: set[str],
    change_id: str,
    result: DiffResult,
    digest: str,
) -> Written:
    undo = PutBack(root, head, current, branch, [p for p in files if p not in created], created)
    try:
        gitio.switch_new_branch(root, branch)
        for path, text in files.items():
            confined.write(root, path, text.encode("utf-8"), new=path in created)
        gitio.run(root, "add", "--", *files)
        findings = validate(Workspace(root)).findings
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            raise WriteRefused(
                f"the branch would not validate ({len(errors)} error"
                f"{'s' if len(errors) != 1 else ''}, above); nothing was changed",
                "a discovered value the schema refuses (fix the source, or ignore the field "
                "in the DiscoveryPolicy), or errors the repository has already "
                "(`cmdbctl validate`)",
                findings,
            )
        edited = tuple(sorted(p for p in files if p not in created))
        added = tuple(sorted(p for p in created if not p.startswith("changes/")))
        message = commit_message(
            "Align with discovery:",
            change_id,
            None,
            "\n".join([*(f"Update {p}" for p in edited), *(f"Add {p}" for p in added)]),
            [("Snapshot", _snapshot_trailer(s.source, s.digest)) for s in result.snapshots],
        )
        commit = gitio.commit_index(root, message)
    except BaseException:
        undo.run("--write")
        raise
    origin = (current or head).removeprefix("refs/heads/")
    return Written(
        branch,
        origin,
        commit,
        change_id,
        f"changes/{change_id}.yaml",
        edited,
        added,
        tuple(findings),
    )
