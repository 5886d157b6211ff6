"""`cmdbctl gate`: the merge check of a branch.

Every CI changed between the merge base and the head must be covered by a change
request that is added or updated in the range, or named by a `Change-Id:` trailer, and
that change must satisfy the base revision's rules (see `policy`, `trust`, `windows`).
Everything is read from git objects, never the work tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from cmdbctl import gitio, workspace
from cmdbctl.checks import check_document, integrity
from cmdbctl.checks import policy as policy_check  # (gate.policy is our own module)
from cmdbctl.document import Document, Entry
from cmdbctl.fielddiff import diff
from cmdbctl.findings import Finding, summarize
from cmdbctl.gate.evaluate import Branch, evaluate_change
from cmdbctl.gate.facts import GOVERNED, RangeFacts
from cmdbctl.gate.policy import Rules, read_rules
from cmdbctl.gate.rules import ChangeVerdict
from cmdbctl.gate.standard import TargetEdit
from cmdbctl.kinds import SCHEMA_SUFFIX, KindRegistry, builtin_schema_files
from cmdbctl.revision import ReferenceIndex, Snapshot
from cmdbctl.validate.cache import VerdictCache
from cmdbctl.workspace import YAML_SUFFIXES, file_id, near_miss

CODES: dict[str, str] = {
    "file.submodule": "a submodule (gitlink) among the documents: its CIs live in another "
    "repository, which changes them without a change request here",
    "gate.uncovered": "a CI the branch changed is a target of no change request of the "
    "branch, nor named by a Change-Id: commit trailer",
    "gate.not-approved": "a CI the branch changed is covered only by change requests that do "
    "not satisfy the change policy (see their findings)",
    "gate.governance-edit": "an edit of policies/, schemas/ or the CI wiring "
    "(.github/workflows/, .gitlab-ci.yml) without an approved "
    "change of category management",
    "gate.change.unknown": "a commit's Change-Id: trailer names a change request that does "
    "not exist",
    "gate.change.deleted": "the branch deletes a change request: change records are kept for "
    "audit (set its status to rejected or closed instead)",
    "gate.unreadable": "a document the branch changed cannot be read at the head (`cmdbctl "
    "validate` says why)",
    "gate.policy.ambiguous": "the base branch holds several ChangePolicy documents, so the "
    "rules a branch is judged by are ambiguous",
    "gate.history.criss-cross": "the branch and the base share several merge bases "
    "(criss-cross merges), so what the branch changes is "
    "ambiguous: merge the base into the branch",
    # validate's findings, which the gate makes on the head as the branch left it
    **{
        code: integrity.CODES[code]
        for code in ("id.duplicate", "id.file-name", "ref.dangling", "ref.kind")
    },
    "policy.duplicate": policy_check.CODES["policy.duplicate"],
    **{code: workspace.CODES[code] for code in ("file.symlink", "file.extension", "file.leftover")},
}


@dataclass
class ChangedDocument:
    status: str  # added, modified, renamed, deleted
    path: str
    old_path: str | None
    id: str | None
    kind: str | None
    changes: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "path": self.path,
            "oldPath": self.old_path,
            "id": self.id,
            "kind": self.kind,
            "changes": self.changes,
        }


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
        return {
            **counts,
            "verdict": "refused" if counts["errors"] else "passed",
            "changes": len(self.changes),
        }

    def details(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "mergeBase": self.merge_base,
            "changeSet": [d.to_json() for d in self.documents],
            "changes": [c.to_json() for c in self.changes],
        }


# The CI wiring that runs validate and the gate (what `cmdbctl init` writes): editing it
# is a governance edit. CI runs a pull request's own copy of it, so the guard that holds
# even when a branch deletes the gate step is branch protection (README).
CI_WIRING = (".github/workflows/", ".gitlab-ci.yml")

_STATUS = {
    "A": "added",
    "M": "modified",
    "R": "renamed",
    "D": "deleted",
    "C": "added",
    "T": "modified",
}


# Registries by the schema blobs they are built from: `audit` judges many commits with
# the same schemas, and building one costs tens of milliseconds.
_REGISTRIES: dict[frozenset[tuple[str, str]], KindRegistry] = {}


def registry_at(root: Path, rev: str, blobs: gitio.BlobReader) -> KindRegistry:
    """The kinds `rev`'s schemas define (the built-in ones when it has none)."""
    listed = frozenset(
        (p, b)
        for p, b in gitio.ls_tree(root, rev, ["schemas"]).items()
        if p.endswith(SCHEMA_SUFFIX)
    )
    if listed not in _REGISTRIES:
        files = {PurePosixPath(p).name: blobs.read(b) for p, b in listed}
        _REGISTRIES[listed] = (
            KindRegistry(files, "schemas/")
            if files
            else KindRegistry(builtin_schema_files(), "built-in:")
        )
    return _REGISTRIES[listed]


def run_gate(
    root: Path,
    base: str,
    head: str = "HEAD",
    now: datetime | None = None,
    recorded: bool = False,
    references: dict[str, ReferenceIndex] | None = None,
) -> GateResult:
    """The verdict on merging `head` into `base`. `recorded`: decisions whose commits are
    not their persons' own count as recorded, each with a warning that its provenance is
    not in history (auditing a squash commit, which replaced them). `references`: indexes
    by kind-registry fingerprint, kept by a caller that judges many revisions (`audit`),
    which answer `referrers` in place of a search."""
    gitio.require_work_tree(root)
    now = now or datetime.now(UTC)
    base_sha, head_sha = gitio.resolve(root, base), gitio.resolve(root, head)
    merge_base = gitio.history_base(root, base_sha, head_sha)
    with gitio.BlobReader(root) as blobs:
        kinds = registry_at(root, head_sha, blobs)
        head_snap = Snapshot(root, head_sha, blobs)
        cache = VerdictCache(root, kinds.fingerprint)
        if references is not None:
            head_snap.use_index(references.setdefault(kinds.fingerprint, ReferenceIndex()), kinds)
        else:
            head_snap.use_cache(cache)  # CI: validate, then gate
        file_changes = gitio.diff_tree(root, merge_base, head_sha, (*GOVERNED, *CI_WIRING))
        old_snap = Snapshot.before(head_snap, merge_base, file_changes)
        head_snap.written = frozenset(c.new_path for c in file_changes if c.new_path)
        rules = read_rules(Snapshot(root, base_sha, blobs, folders=["policies"]))
        facts = RangeFacts.read(root, merge_base, head_sha, base_sha)
        changed = ChangeSet.read(file_changes, old_snap, head_snap, kinds)
        findings = (
            _estate_rules(head_snap)
            + _ambiguous(rules, head_snap)
            + _criss_cross(root, base_sha, head_sha)
            + changed.findings
        )
        candidates = dict(changed.changes)
        for change_id, commits in sorted(_naming(facts).items()):
            path = head_snap.by_id.get(change_id)
            if change_id in candidates:
                continue
            if path is None or not path.startswith("changes/"):
                findings.append(_unknown_change(root, change_id, commits, changed.documents))
            else:
                candidates[change_id] = path
        branch = Branch(
            root,
            blobs,
            facts,
            head_snap,
            old_snap,
            rules,
            kinds,
            registry_at(root, base_sha, blobs),
            now,
            changed.claims,
            changed.edits,
            sorted({p for d in changed.governance for p in (d.path, d.old_path) if p}),
            recorded,
        )
        verdicts = {
            cid: evaluate_change(branch, cid, path) for cid, path in sorted(candidates.items())
        }
        for verdict in verdicts.values():
            findings.extend(head_snap.locate(verdict.findings))
        findings.extend(_coverage(changed.documents, changed.governance, verdicts, head_snap))
        # What is deleted at the head is located in the merge base's version of the file.
        findings = old_snap.locate(head_snap.locate(findings))
        cache.finish()  # its read lock would hold up a validate writing it
    findings.sort(key=Finding.sort_key)
    return GateResult(
        base_sha, head_sha, merge_base, changed.documents, list(verdicts.values()), findings
    )


@dataclass
class ChangeSet:
    """What the branch changed, file by file (a CI is its file: its id is the file's
    name, whatever metadata.id claims)."""

    documents: list[ChangedDocument] = field(default_factory=list)
    governance: list[ChangedDocument] = field(default_factory=list)  # policies, schemas, CI
    changes: dict[str, str] = field(default_factory=dict)  # change id → path at head
    edits: dict[str, TargetEdit] = field(default_factory=dict)  # CI id → what was done
    claims: dict[str, list[str]] = field(default_factory=dict)  # id → files claiming it
    findings: list[Finding] = field(default_factory=list)

    @classmethod
    def read(
        cls,
        file_changes: list[gitio.FileChange],
        old_snap: Snapshot,
        head_snap: Snapshot,
        kinds: KindRegistry,
    ) -> ChangeSet:
        out = cls()
        for fc in file_changes:
            status = _STATUS.get(fc.status, "modified")
            if fc.path.startswith(("schemas/", *CI_WIRING)):
                doc = ChangedDocument(status, fc.path, fc.old_path, None, None)
                out.governance.append(doc)
                out.documents.append(doc)
            elif not fc.path.endswith(YAML_SUFFIXES):  # no document now: named like one?
                out.findings.extend(f for f in [near_miss(fc.path)] if f and fc.new_path)
                if fc.old_path and fc.old_path.endswith(YAML_SUFFIXES):  # renamed away
                    out._document(
                        gitio.FileChange("D", fc.old_path, None, fc.old_blob, None),
                        "deleted",
                        old_snap,
                        head_snap,
                        kinds,
                    )
            else:
                out._document(fc, status, old_snap, head_snap, kinds)
        return out

    def _document(
        self,
        fc: gitio.FileChange,
        status: str,
        old_snap: Snapshot,
        head_snap: Snapshot,
        kinds: KindRegistry,
    ) -> None:
        old = old_snap.document(fc.old_path) if fc.old_path else None
        new = head_snap.document(fc.new_path) if fc.new_path else None
        unreadable = bool(fc.new_path and new is None and fc.new_path in head_snap.paths)
        if unreadable:
            self.findings.extend(
                head_snap.locate(
                    [
                        Finding(
                            fc.path,
                            "gate.unreadable",
                            "document cannot be read; run `cmdbctl validate` for details",
                            line=1,
                            column=1,
                        )
                    ]
                )
            )
        field_changes = diff(old.data if old else {}, new.data if new else {})
        ref = new or old
        changed = ChangedDocument(
            status,
            fc.path,
            fc.old_path,
            file_id(fc.path),
            ref.kind if ref else None,
            [c.to_json() for c in field_changes],
        )
        self.documents.append(changed)
        kinds_of = frozenset(d.kind for d in (old, new) if d is not None and d.kind)
        for ci_id in {file_id(p) for p in (fc.old_path, fc.new_path) if p}:
            self.edits[ci_id] = TargetEdit(ci_id, kinds_of, status, tuple(field_changes))
        for version in (old, new):
            if version is not None and version.id and version.id != file_id(version.path):
                self.claims.setdefault(version.id, []).append(version.path)
        if new is not None:
            self.findings.extend(_validate_changed(new, head_snap, kinds))
            self.findings.extend(_identity(new, head_snap))
        top = fc.path.split("/", 1)[0]
        if top == "changes":
            if new is not None:
                self.changes[file_id(new.path)] = new.path
            elif not unreadable:
                self.findings.append(
                    Finding(
                        fc.old_path or fc.path,
                        "gate.change.deleted",
                        f"change request {changed.id} is deleted; change records are kept for "
                        "audit",
                        line=1,
                        column=1,
                        hint="set its status to rejected or closed instead",
                    )
                )
        elif top == "policies":
            self.governance.append(changed)


def _naming(facts: RangeFacts) -> dict[str, list[gitio.Commit]]:
    """Change id → the branch's commits whose `Change-Id:` trailer names it."""
    naming: dict[str, list[gitio.Commit]] = {}
    for commit in facts.commits:
        for value in commit.trailers.get("change-id", []):
            naming.setdefault(value, []).append(commit)
    return naming


def _estate_rules(snap: Snapshot) -> list[Finding]:
    """What the head must hold whatever the branch touched: no symlinked documents (the
    gate reads a link's text, validate would read its target: a CI is its own file)
    and exactly one ChangePolicy."""
    findings = [
        Finding(
            p,
            "file.symlink",
            "symlinked documents are not allowed: a CI is "
            "its own file, and an edit through the link's target would change "
            "it unseen",
            line=1,
            column=1,
            hint="replace the link with the file itself",
        )
        for p in sorted(snap.links)
    ]
    findings += [
        Finding(
            p,
            "file.submodule",
            "a submodule among the documents: its CIs live in another repository, which "
            "changes them without a change request here",
            line=1,
            column=1,
            hint="keep the documents in this repository (git rm --cached, then add the files)",
        )
        for p in sorted(snap.gitlinks)
    ]
    policies = [d.path for d in snap.documents_under("policies") if d.kind == "ChangePolicy"]
    findings += [
        Finding(
            p,
            "policy.duplicate",
            f"{p} is a second ChangePolicy (beside {policies[0]}); exactly one may exist",
            pointer="/kind",
            hint="merge the rules into one ChangePolicy document",
        )
        for p in policies[1:]
    ]
    return snap.locate(findings)


def _criss_cross(root: Path, base: str, head: str) -> list[Finding]:
    """After criss-cross merges base and head share several best ancestors, and what the
    branch changes depends on which one git picks (an attacker can date a commit so that
    it picks theirs): refuse, and say how to get one merge base back."""
    bases = gitio.merge_bases(root, base, head)
    if len(bases) < 2:
        return []
    return [
        Finding(
            ".",
            "gate.history.criss-cross",
            f"the branch and the base share {len(bases)} merge bases "
            f"({', '.join(b[:10] for b in bases)}): what this branch changes is "
            "ambiguous",
            line=1,
            column=1,
            hint="merge the base into the branch (git merge origin/main) and push "
            "again; then the base's tip is the one merge base",
        )
    ]


def _ambiguous(rules: Rules, snap: Snapshot) -> list[Finding]:
    """Several ChangePolicy documents on the base: no verdict by "the first file wins"."""
    first, *others = rules.policy_paths or [""]
    return snap.locate(
        Finding(
            p,
            "gate.policy.ambiguous",
            f"the base branch holds several ChangePolicy documents "
            f"({first}, {p}); the rules this branch is judged by are ambiguous",
            line=1,
            column=1,
            hint="keep one ChangePolicy on the base branch (validate reports the others as "
            "policy.duplicate)",
        )
        for p in others
    )


def _identity(doc: Document, snap: Snapshot) -> list[Finding]:
    """One file per id, named by it (as validate's id.file-name and id.duplicate)."""
    findings = []
    name = file_id(doc.path)
    if doc.id is not None and doc.id != name:
        findings.append(
            Finding(
                doc.path,
                "id.file-name",
                f"metadata.id {doc.id!r} is not the file's name ({name}); "
                "a file holds the CI its name gives",
                pointer="/metadata/id",
                hint=f"rename the file to {doc.id}.yaml, or set metadata.id to {name}",
            )
        )
    others = [p for p in snap.paths_of(name) if p != doc.path]
    if others:
        findings.append(
            Finding(
                doc.path,
                "id.duplicate",
                f"{name} is also {', '.join(others)}; one file per id",
                pointer="/metadata/id",
                hint="keep one of the files",
            )
        )
    return snap.locate(findings)


def _unknown_change(
    root: Path, change_id: str, commits: list[gitio.Commit], documents: list[ChangedDocument]
) -> Finding:
    """A trailer naming no change request, located at a document the first naming
    commit changed (where a reviewer sees the edit it meant to cover), else at the file
    the change request would be."""
    first = commits[0]
    changed = {d.path: d for d in documents}
    touched = [
        changed[p] for p in gitio.changed_paths(root, first) if p in changed and changed[p].id
    ]  # a document, not a schema
    touched.sort(key=lambda d: not d.path.startswith("inventory/"))
    more = len(commits) - 1
    message = (
        f"commit {first.sha[:10]} ({first.subject})"
        + (f" and {more} later commit{'s' if more > 1 else ''} name" if more else " names")
        + f" Change-Id: {change_id}, but no change request has that id"
    )
    hint = f"add changes/{change_id}.yaml, or correct the trailer (git rebase -i, then reword)"
    if touched:
        return Finding(
            touched[0].path, "gate.change.unknown", message, pointer="/metadata/id", hint=hint
        )
    return Finding(
        f"changes/{change_id}.yaml", "gate.change.unknown", message, line=1, column=1, hint=hint
    )


def _validate_changed(doc: Document, snap: Snapshot, kinds: KindRegistry) -> list[Finding]:
    """Schema and sanity of a changed document, and its references at the head."""
    findings = check_document(doc, kinds)
    for ref in Entry.of(doc, kinds).references():
        field_ = kinds.kinds[doc.kind or ""].refs[ref.field]
        target = snap.by_identifier(ref.target)
        if ref.target not in snap.by_id:
            findings.append(
                Finding(
                    doc.path,
                    "ref.dangling",
                    f"{ref.target!r} refers to no document (expected {field_.describe()})",
                    pointer=ref.pointer,
                )
            )
        elif target is not None and target.kind and not kinds.allows(field_, target.kind):
            findings.append(
                Finding(
                    doc.path,
                    "ref.kind",
                    f"{ref.target!r} is a {target.kind}, but this field refers "
                    f"to {field_.describe()}",
                    pointer=ref.pointer,
                )
            )
    return snap.locate(findings)


def _coverage(
    documents: list[ChangedDocument],
    governance: list[ChangedDocument],
    verdicts: dict[str, ChangeVerdict],
    snap: Snapshot,
) -> list[Finding]:
    findings = []
    for changed in documents:
        if not changed.path.startswith("inventory/"):
            continue
        # A move keeps the CI (same file name, same content); a rename to another name
        # retires one id and adds another: both need a change.
        ids = {file_id(p) for p in (changed.path, changed.old_path) if p}
        if changed.status == "renamed" and not changed.changes and len(ids) == 1:
            continue
        for ci_id in sorted(ids):
            doc = replace(changed, id=ci_id)
            findings.extend(_covered(doc, verdicts))
    findings.extend(_governed(governance, verdicts))
    return snap.locate(findings)


def _covered(doc: ChangedDocument, verdicts: dict[str, ChangeVerdict]) -> list[Finding]:
    covering = [v for v in verdicts.values() if doc.id in v.targets]
    where = doc.path if doc.status != "deleted" else (doc.old_path or doc.path)
    if not covering:
        return [
            Finding(
                where,
                "gate.uncovered",
                f"{doc.id} is {doc.status} but no change request in this branch targets it",
                pointer="/metadata/id",
                hint=f"add {doc.id} to the targets of a change request under "
                "changes/, or name one with a `Change-Id:` trailer",
            )
        ]
    if not any(v.passes for v in covering):
        return [
            Finding(
                where,
                "gate.not-approved",
                f"{doc.id} is {doc.status} under {', '.join(v.id for v in covering)}, "
                "which does not satisfy the change policy (see its findings)",
                pointer="/metadata/id",
            )
        ]
    return []


def _governed(
    governance: list[ChangedDocument], verdicts: dict[str, ChangeVerdict]
) -> list[Finding]:
    findings = []
    # A governance edit needs a management change someone actually approved: a standard
    # change matches no rule and would otherwise pass with no approval at all.
    management = [
        v
        for v in verdicts.values()
        if v.category == "management"
        and any(a.trusted and a.decision == "approve" for a in v.approvals)
    ]
    for doc in governance:
        # A document of policies/ is a target like a CI: its management change names it
        # (as a normal change names its CIs). Schemas and the CI wiring have no ids.
        ids = {file_id(p) for p in (doc.path, doc.old_path) if p} if doc.id else set()
        if not any(v.passes and ids <= set(v.targets) for v in management):
            findings.append(
                Finding(
                    doc.path,
                    "gate.governance-edit",
                    f"{doc.path} governs changes; editing it needs an approved management "
                    "change" + (f" that targets {', '.join(sorted(ids))}" if ids else ""),
                    pointer="/metadata/id" if doc.id else "",
                    hint="add a change request with category: management to this branch"
                    + (f", with {', '.join(sorted(ids))} among its targets" if ids else "")
                    + "; it is judged by the rules and groups of the base branch",
                )
            )
    return findings
