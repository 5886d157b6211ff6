"""`cmdbctl gate`: the merge check of a branch.

Every CI changed between the merge base and the head must be covered by a change
request that is added or updated in the range, or named by a `Change-Id:` trailer, and
that change must satisfy the base revision's rules (see `policy`, `trust`, `windows`).
Everything is read from git objects, never the work tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from cmdbctl import gitio
from cmdbctl.cache import VerdictCache
from cmdbctl.checks import check_document
from cmdbctl.document import Document, Entry
from cmdbctl.fielddiff import diff
from cmdbctl.findings import Finding, summarize
from cmdbctl.gate.evaluate import ChangeVerdict, evaluate_change
from cmdbctl.gate.policy import read_rules
from cmdbctl.kinds import SCHEMA_SUFFIX, KindRegistry, builtin_schema_files
from cmdbctl.revision import Snapshot

GOVERNED = ("inventory", "changes", "policies", "schemas")


@dataclass
class ChangedDocument:
    status: str  # added, modified, renamed, deleted
    path: str
    old_path: str | None
    id: str | None
    kind: str | None
    changes: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "path": self.path, "oldPath": self.old_path,
                "id": self.id, "kind": self.kind, "changes": self.changes}


@dataclass
class GateResult:
    base: str
    head: str
    merge_base: str
    documents: list[ChangedDocument]
    changes: list[ChangeVerdict]
    findings: list[Finding]

    @property
    def summary(self) -> dict[str, Any]:
        counts = summarize(self.findings, len(self.documents))
        return {**counts, "verdict": "refused" if counts["errors"] else "passed",
                "changes": len(self.changes)}

    def details(self) -> dict[str, Any]:
        return {"base": self.base, "head": self.head, "mergeBase": self.merge_base,
                "changeSet": [d.to_json() for d in self.documents],
                "changes": [c.to_json() for c in self.changes]}


_STATUS = {"A": "added", "M": "modified", "R": "renamed", "D": "deleted", "C": "added",
           "T": "modified"}


def _registry(root: Path, rev: str, blobs: gitio.BlobReader) -> KindRegistry:
    files = {PurePosixPath(p).name: blobs.read(b)
             for p, b in gitio.ls_tree(root, rev, ["schemas"]).items()
             if p.endswith(SCHEMA_SUFFIX)}
    return KindRegistry(files, "schemas/") if files else KindRegistry(
        builtin_schema_files(), "built-in:")


def run_gate(root: Path, base: str, head: str = "HEAD", now: datetime | None = None) -> GateResult:
    gitio.require_work_tree(root)
    now = now or datetime.now(UTC)
    base_sha, head_sha = gitio.resolve(root, base), gitio.resolve(root, head)
    merge_base = gitio.history_base(root, base_sha, head_sha)
    with gitio.BlobReader(root) as blobs:
        kinds = _registry(root, head_sha, blobs)
        head_snap = Snapshot(root, head_sha, blobs)
        cache = VerdictCache(root, kinds.fingerprint)
        head_snap.use_cache(cache)  # CI: validate, then gate
        file_changes = gitio.diff_tree(root, merge_base, head_sha, GOVERNED)
        old_snap = Snapshot.before(head_snap, merge_base, file_changes)
        rules = read_rules(Snapshot(root, base_sha, blobs, folders=["policies"]))
        findings: list[Finding] = []
        documents: list[ChangedDocument] = []
        changed_changes: dict[str, str] = {}  # change id → path at head
        governance_edits: list[ChangedDocument] = []
        for fc in file_changes:
            top = fc.path.split("/", 1)[0]
            if top == "schemas":
                doc = ChangedDocument(_STATUS.get(fc.status, "modified"), fc.path, fc.old_path,
                                      None, None)
                governance_edits.append(doc)
                documents.append(doc)
                continue
            old = old_snap.document(fc.old_path) if fc.old_path else None
            new = head_snap.document(fc.new_path) if fc.new_path else None
            if fc.new_path and new is None and fc.new_path in head_snap.paths:
                findings.extend(head_snap.locate([Finding(
                    fc.new_path, "gate.unreadable", "document cannot be read; "
                    "run `cmdbctl validate` for details", line=1, column=1)]))
            ref = new or old
            changed = ChangedDocument(_STATUS.get(fc.status, "modified"), fc.path, fc.old_path,
                                      ref.id if ref else PurePosixPath(fc.path).stem,
                                      ref.kind if ref else None,
                                      [c.to_json() for c in diff(old.data if old else {},
                                                                new.data if new else {})])
            documents.append(changed)
            if new is not None:
                findings.extend(_validate_changed(new, head_snap, kinds))
            if top == "changes":
                if new is None:
                    findings.append(Finding(
                        fc.old_path or fc.path, "gate.change.deleted",
                        f"change request {changed.id} is deleted; change records are kept "
                        f"for audit", line=1, column=1,
                        hint="set its status to rejected or closed instead"))
                elif new.id:
                    changed_changes[new.id] = new.path
            elif top == "policies":
                governance_edits.append(changed)
        naming: dict[str, list[gitio.Commit]] = {}  # change id → commits naming it
        for c in gitio.log(root, f"{merge_base}..{head_sha}", reverse=True):
            for v in c.trailers.get("change-id", []):
                naming.setdefault(v, []).append(c)
        candidates = dict(changed_changes)
        for change_id in sorted(set(naming) - set(candidates)):
            path = head_snap.by_id.get(change_id)
            if path is None:
                findings.append(_unknown_change(root, change_id, naming[change_id], documents))
            else:
                candidates[change_id] = path
        verdicts = {cid: evaluate_change(root, blobs, cid, path, merge_base, head_sha,
                                         head_snap, old_snap, rules, kinds, now,
                                         base=base_sha)
                    for cid, path in sorted(candidates.items())}
        for verdict in verdicts.values():
            findings.extend(head_snap.locate(verdict.findings))
        findings.extend(_coverage(documents, governance_edits, verdicts, head_snap))
        # What is deleted at the head is located in the merge base's version of the file.
        findings = old_snap.locate(head_snap.locate(findings))
        cache.finish()  # its read lock would hold up a validate writing it
    findings.sort(key=Finding.sort_key)
    return GateResult(base_sha, head_sha, merge_base, documents, list(verdicts.values()),
                      findings)


def _unknown_change(root: Path, change_id: str, commits: list[gitio.Commit],
                    documents: list[ChangedDocument]) -> Finding:
    """A trailer naming no change request, located at a document the first naming
    commit changed (where a reviewer sees the edit it meant to cover), else at the file
    the change request would be."""
    first = commits[0]
    changed = {d.path: d for d in documents}
    touched = [changed[p] for p in gitio.changed_paths(root, first)
               if p in changed and changed[p].id]  # a document, not a schema
    touched.sort(key=lambda d: not d.path.startswith("inventory/"))
    more = len(commits) - 1
    message = (f"commit {first.sha[:10]} ({first.subject})"
               + (f" and {more} later commit{'s' if more > 1 else ''} name" if more
                  else " names")
               + f" Change-Id: {change_id}, but no change request has that id")
    hint = (f"add changes/{change_id}.yaml, or correct the trailer "
            "(git rebase -i, then reword)")
    if touched:
        return Finding(touched[0].path, "gate.change.unknown", message,
                       pointer="/metadata/id", hint=hint)
    return Finding(f"changes/{change_id}.yaml", "gate.change.unknown", message, line=1,
                   column=1, hint=hint)


def _validate_changed(doc: Document, snap: Snapshot, kinds: KindRegistry) -> list[Finding]:
    """Schema and sanity of a changed document, and its references at the head."""
    findings = check_document(doc, kinds)
    for ref in Entry.of(doc, kinds).references():
        field_ = kinds.kinds[doc.kind or ""].refs[ref.field]
        target = snap.by_identifier(ref.target)
        if ref.target not in snap.by_id:
            findings.append(Finding(doc.path, "ref.dangling",
                                    f"{ref.target!r} refers to no document "
                                    f"(expected {field_.describe()})", pointer=ref.pointer))
        elif target is not None and target.kind and not kinds.allows(field_, target.kind):
            findings.append(Finding(doc.path, "ref.kind",
                                    f"{ref.target!r} is a {target.kind}, but this field refers "
                                    f"to {field_.describe()}", pointer=ref.pointer))
    return snap.locate(findings)


def _coverage(documents: list[ChangedDocument], governance: list[ChangedDocument],
              verdicts: dict[str, ChangeVerdict], snap: Snapshot) -> list[Finding]:
    findings = []
    for doc in documents:
        if not doc.path.startswith("inventory/") or (doc.status == "renamed" and not doc.changes):
            continue
        covering = [v for v in verdicts.values() if doc.id in v.targets]
        where = doc.path if doc.status != "deleted" else (doc.old_path or doc.path)
        if not covering:
            findings.append(Finding(
                where, "gate.uncovered",
                f"{doc.id} is {doc.status} but no change request in this branch targets it",
                pointer="/metadata/id",
                hint=f"add {doc.id} to the targets of a change request under changes/, "
                     "or name one with a `Change-Id:` trailer"))
        elif not any(v.passes for v in covering):
            findings.append(Finding(
                where, "gate.not-approved",
                f"{doc.id} is {doc.status} under {', '.join(v.id for v in covering)}, "
                "which does not satisfy the change policy (see its findings)",
                pointer="/metadata/id"))
    # A governance edit needs a management change someone actually approved: a standard
    # change matches no rule and would otherwise pass with no approval at all.
    management = [v for v in verdicts.values() if v.category == "management"
                  and any(a.trusted and a.decision == "approve" for a in v.approvals)]
    for doc in governance:
        if not any(v.passes for v in management):
            findings.append(Finding(
                doc.path, "gate.governance-edit",
                f"{doc.path} governs changes; editing it needs an approved management change",
                pointer="/metadata/id" if doc.id else "",
                hint="add a change request with category: management to this branch; it is "
                     "judged by the rules and groups of the base branch"))
    return snap.locate(findings)
