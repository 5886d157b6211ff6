"""Which recorded decisions can be trusted.

A decision line in a change request is only text; anyone can type `by: bob`. It counts
when the commit that added it (`facts.ChangeRecord`) was authored and committed by one
of the approver's emails (in the base revision's people), signed by one of their
`signingKeys` when the policy requires it (checked by `git verify-commit`: SSH keys
through an allowed-signers file, OpenPGP keys through a throw-away keyring, both built
from the base's people), by someone who is neither the requester nor an author of the
change (author or committer of a commit that wrote it or its targets), and while it is
fresh.

A decision is for what its approver saw: the tree of the commit that added it.

* Given on the branch, it is stale when the change request's substance (`SUBSTANCE`)
  or any file the change may touch (its targets, and any file that claims a target's
  id) differs between that commit's tree and the head's, however the head came to
  differ: a later commit, an evil or octopus merge, a `-s ours` merge of a wider version.
* Given before the branch (approved on main, carried out on a branch), the approver saw
  the plan: the branch's edits of the targets carry it out. It is stale when the
  substance at the head or on the base differs from what it approved, or when the plan
  was carried out already on the base (its status, or commits with its `Change-Id:`
  that wrote anything beside the change request) and the branch edits its targets again.
* A decision on the base whose adding commit is not the approver's own (a squash or
  rebase merge rewrote it) was judged by the gate when it landed, which refuses
  decisions of unproven provenance: its provenance and signature are taken as proven;
  the base's history (merge commits keep every approval commit) is the audit trail.

Every decision the branch added anywhere in its commits, and every decision on the
base, is judged even when the head no longer has it (`ChangeHistory.removed`): a trusted
rejection keeps refusing, whichever merge hid it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmdbctl import gitio
from cmdbctl.fielddiff import diff
from cmdbctl.gate.facts import (
    ChangeRecord,
    Key,
    RangeFacts,
    Versions,
    decisions,
    keys,
    review_key,
)

__all__ = ["ApprovalVerdict", "ChangeHistory", "Person", "Removal", "examine", "keys"]

# Fields whose change means earlier approvals did not see this change.
SUBSTANCE = (
    "type",
    "category",
    "targets",
    "risk",
    "plan",
    "window",
    "rollbackPlan",
    "description",
    "reason",
    "impact",
    "model",
)
# What `cmdbctl approve` and `cmdbctl review` write: commits changing only these are
# not authorship.
RECORD_FIELDS = ("/spec/approvals", "/spec/status", "/spec/review")
# Statuses of a change whose plan has been carried out already.
CARRIED_OUT = ("implemented", "reviewed", "closed", "rolled-back")
OPENPGP_KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----"


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    emails: frozenset[str]
    signing_keys: tuple[str, ...]

    @property
    def ssh_keys(self) -> list[str]:
        return [k.strip() for k in self.signing_keys if not k.lstrip().startswith(OPENPGP_KEY)]

    @property
    def openpgp_keys(self) -> list[str]:
        return [k for k in self.signing_keys if k.lstrip().startswith(OPENPGP_KEY)]


@dataclass
class ApprovalVerdict:
    index: int
    by: str
    decision: str
    commit: str | None
    trusted: bool = True
    reasons: list[str] = field(default_factory=list)
    stale: bool = False
    forged: bool = False  # added on the branch by a commit that is not its person's own
    unproven: str | None = None  # counted as recorded, though its commit is not its own

    @property
    def genuine(self) -> bool:
        """Given by its person (own commit, signed when required, allowed to decide),
        whether or not it is stale: a genuine rejection still means someone said no."""
        return self.trusted or (self.stale and len(self.reasons) == 1)

    def distrust(self, reason: str) -> None:
        self.trusted = False
        self.reasons.append(reason)


@dataclass(frozen=True)
class Removal:
    """A decision the branch added or the base had, which the head no longer has, judged
    as if it were still there."""

    verdict: ApprovalVerdict
    key: Key
    commit: gitio.Commit | None  # the first commit of the branch without it, when known


@dataclass(frozen=True)
class ChangeHistory:
    """What history says of one change request within the pull request."""

    approvals: list[ApprovalVerdict]
    authors: frozenset[str]  # emails of commits that shaped the change or its targets
    removed: list[Removal] = field(default_factory=list)
    # (commit, status before, status after) for each commit of the range that changes
    # the change request's status, oldest first.
    status_steps: list[tuple[gitio.Commit, str | None, str | None]] = field(default_factory=list)
    review: ApprovalVerdict | None = None  # the head's spec.review, judged
    implemented_at: str | None = None  # date of the commit that set status implemented
    # Decisions the base branch's tip holds and the head does not (a rejection given on
    # main after the branch forked): judged, so that a genuine rejection still refuses.
    on_base: list[ApprovalVerdict] = field(default_factory=list)


@dataclass(frozen=True)
class Judge:
    """Who may decide, under which policy: the base revision's facts."""

    people: dict[str, Person]
    requester: str | None
    separation_of_duties: bool
    require_signatures: bool
    reviewers: frozenset[str] = frozenset()  # who may record the review
    # Judging one squash commit after the fact (audit): its decisions lost their own
    # commits, so they count as recorded, each marked `unproven`.
    recorded: bool = False


def examine(
    root: Path,
    blobs: gitio.BlobReader,
    facts: RangeFacts,
    change_id: str,
    change_path: str,
    touch_paths: Sequence[str],
    judge: Judge,
) -> ChangeHistory:
    """Judge every decision of the change request at the head, and every decision the
    branch added or the base had that the head no longer has."""
    versions = Versions(blobs)
    tip_path = facts.on_base.get(change_id)  # main may have moved it
    paths = sorted({*facts.paths_of_change(change_id, change_path), *filter(None, [tip_path])})
    record = ChangeRecord.read(root, versions, facts, paths)
    head_spec = versions.spec(facts.head, change_path)
    base_spec = versions.spec(facts.merge_base, change_path)
    touched = frozenset(touch_paths)
    authors, target_edits = _authorship(facts, versions, paths, touched)
    tip_spec = versions.spec(facts.base, tip_path) if tip_path else {}
    examination = _Examination(
        root,
        facts,
        versions,
        record,
        judge,
        change_path,
        paths,
        touched,
        frozenset(authors),
        target_edits,
        tip_spec,
        _carried_out(base_spec, tip_spec),
    )
    try:
        present = keys(head_spec.get("approvals"))
        verdicts = [examination.judged(i, key) for i, key in enumerate(present)]
        gone = (set(record.in_range) | set(keys(base_spec.get("approvals")))) - set(present)
        removals = [
            Removal(examination.judged(-1, key), key, record.removed_by.get(key))
            for key in sorted(gone)
            if key[2] != "review"
        ]
        on_tip = set(keys(tip_spec.get("approvals"))) - set(present) - gone
        elsewhere = [examination.judged(-1, key) for key in sorted(on_tip)]
        review = review_key(head_spec)
        review_verdict = examination.judged(-1, review) if review else None
    finally:
        examination.close()
    implemented = record.implemented_by.date if record.implemented_by else None
    return ChangeHistory(
        verdicts,
        frozenset(authors),
        removals,
        _status_steps(facts, versions, change_path),
        review_verdict,
        implemented,
        elsewhere,
    )


def _authorship(
    facts: RangeFacts, versions: Versions, paths: Sequence[str], touched: frozenset[str]
) -> tuple[set[str], list[gitio.Commit]]:
    """The emails (author and committer) of the branch's commits that wrote the change
    request, other than to record decisions, or a file it may touch; and the commits
    that wrote such a file."""
    authors: set[str] = set()
    target_edits: list[gitio.Commit] = []
    for commit in facts.writing([*paths, *touched]):
        wrote = facts.wrote[commit.sha]
        if wrote & touched:
            target_edits.append(commit)
        if not _record_only(versions, commit, wrote, paths):
            authors |= {commit.author_email, commit.committer_email}
    return authors, target_edits


def _status_steps(
    facts: RangeFacts, versions: Versions, path: str
) -> list[tuple[gitio.Commit, str | None, str | None]]:
    steps = []
    for commit in facts.writing([path]):
        was = versions.spec(_parent(commit), path).get("status")
        now = versions.spec(commit.sha, path).get("status")
        if was != now and versions.data(commit.sha, path) is not None:
            steps.append((commit, _str(was), _str(now)))
    return steps


@dataclass
class _Examination:
    """The facts one change's decisions are judged by."""

    root: Path
    facts: RangeFacts
    versions: Versions
    record: ChangeRecord
    judge: Judge
    path: str  # the change request's path at the head
    paths: Sequence[str]  # every path that held it
    touched: frozenset[str]  # the files the change may touch
    authors: frozenset[str]
    target_edits: list[gitio.Commit]
    tip: dict[str, Any]  # the change request's spec at the base branch's tip
    carried: str | None  # how the change was carried out on the base already

    def __post_init__(self) -> None:
        self.verifier = _Verifier(self.judge.people) if self.judge.require_signatures else None
        self.on_base = decisions(self.tip)
        self.head_substance = _substance(self.versions.spec(self.facts.head, self.path))

    def close(self) -> None:
        if self.verifier is not None:
            self.verifier.close()

    def judged(self, index: int, key: Key) -> ApprovalVerdict:
        by, _at, decision, _n = key
        adder = self.record.added_by.get(key)
        verdict = ApprovalVerdict(index, by, decision, adder.sha if adder else None)
        if adder is None:
            verdict.distrust("no commit adds it")
            verdict.forged = True
            return verdict
        # On the base, from a commit not its person's own: a squash or rebase merge
        # rewrote it, and the gate judged it when it landed.
        landed = key in self.on_base and key not in self.record.in_range
        person = self.judge.people.get(by)
        if person is None:
            verdict.distrust(f"{by} is not a person in the base revision's policies/")
            verdict.forged = not landed
        else:
            problem = _provenance_problem(adder, person)
            if problem is None and self.verifier is not None:
                problem = self.verifier.problem(self.root, adder.sha, person)
            if problem and not landed and self.judge.recorded:
                verdict.unproven = problem
            elif problem and not landed:
                verdict.distrust(problem)
                verdict.forged = True
            for reason in self._duties(person, decision):
                verdict.distrust(reason)
        if decision != "review":
            stale = self.staleness(key, adder)
            if stale:
                verdict.stale = True
                verdict.distrust(stale)
        return verdict

    def _duties(self, person: Person, decision: str) -> list[str]:
        """Why this person may not make this decision on this change, if they may not."""
        out = []
        if decision == "review" and person.id not in self.judge.reviewers:
            out.append(f"{person.id} is not among the reviewers the policy names")
        if self.judge.separation_of_duties:
            if person.id == self.judge.requester:
                out.append(f"{person.id} requested the change")
            elif person.emails & self.authors:
                out.append(f"{person.id} authored commits of the change")
        return out

    def staleness(self, key: Key, adder: gitio.Commit) -> str | None:
        """Why a decision added by `adder` no longer stands for what is at the head."""
        facts, versions, paths = self.facts, self.versions, self.paths
        given = _substance(versions.spec(adder.sha, _holder(versions, adder, paths, key)))
        if given != self.head_substance:
            return (
                f"stale: the change request changed after it was given "
                f"({_first_change(self.root, versions, given, adder, facts.head, paths)})"
            )
        if key in self.record.in_range or adder.sha in facts.shas:
            moved = _differing(self.root, adder.sha, facts.head, self.touched)
            if moved:
                return (
                    f"stale: its targets changed after it was given in {adder.sha[:10]} "
                    f"({', '.join(moved)} differ at the head)"
                )
            return None
        # Given before the branch: it approved a plan, which the branch may carry out once.
        tip = self.tip
        if facts.base and facts.base != facts.merge_base and tip and _substance(tip) != given:
            return (
                "stale: the change request changed on the base revision after it was "
                f"given ({_first_change(self.root, versions, given, adder, facts.base, paths)}),"
                " and this branch does not carry that change"
            )
        if not self.target_edits:
            return None  # lifecycle steps only: nothing new to approve
        first = self.target_edits[0]
        edits = (
            f"this branch's new edits of its targets (in {first.sha[:10]} by {first.author_email})"
        )
        if self.carried:
            return f"stale: it approved a plan already carried out ({self.carried}), not {edits}"
        created = self.record.created_by
        before = created.parents[0] if created and created.parents else None
        done = _differing(self.root, before, adder.sha, self.touched) if before else []
        if done:
            return (
                f"stale: it approved edits already made when it was given "
                f"({', '.join(done)}), not {edits}"
            )
        for where, rev in (
            ("on the base before this branch forked", facts.merge_base),
            ("on the base", facts.base),
        ):
            moved = _differing(self.root, adder.sha, rev, self.touched) if rev else []
            if moved:
                return (
                    f"stale: its targets changed {where}, after it was given "
                    f"({', '.join(moved)}), so it did not see {edits}"
                )
        return None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _parent(commit: gitio.Commit) -> str | None:
    return commit.parents[0] if commit.parents else None


def _substance(spec: dict[str, Any]) -> list[Any]:
    return [spec.get(k) for k in SUBSTANCE]


def _holder(versions: Versions, commit: gitio.Commit, paths: Sequence[str], key: Key) -> str:
    """The path at which `commit` holds the decision `key` (the first path otherwise)."""
    return next((p for p in paths if key in decisions(versions.spec(commit.sha, p))), paths[0])


def _first_change(
    root: Path,
    versions: Versions,
    given: list[Any],
    adder: gitio.Commit,
    end: str,
    paths: Sequence[str],
) -> str:
    """The first commit after `adder` up to `end` whose change request's substance is
    not `given`, as "in <commit> by <email>"."""
    for commit in gitio.log(root, f"{adder.sha}..{end}", paths, reverse=True, full_history=True):
        if any(
            _substance(versions.spec(commit.sha, p)) != given
            for p in paths
            if versions.data(commit.sha, p) is not None
        ):
            return f"in {commit.sha[:10]} by {commit.author_email}"
    return "in a merge"


def _differing(root: Path, old: str, new: str, paths: AbstractSet[str]) -> list[str]:
    """Of `paths`, those whose blob (or absence) differs between two commits."""
    if not paths:
        return []
    before = gitio.tree_blobs_of(root, old, paths) or {}
    after = gitio.tree_blobs_of(root, new, paths) or {}
    return sorted(p for p in paths if before.get(p) != after.get(p))


def _carried_out(base_spec: dict[str, Any], tip_spec: dict[str, Any]) -> str | None:
    """How the change was carried out on the base already, by its status, if it was."""
    for where, spec in (("before this branch", base_spec), ("on the base revision", tip_spec)):
        if spec.get("status") in CARRIED_OUT:
            return f"the change was {spec['status']} {where}"
    return None


def _provenance_problem(adder: gitio.Commit, person: Person) -> str | None:
    """Why the commit that added a decision is not the approver's own, if it is not."""
    author, committer = adder.author_email, adder.committer_email
    if author in person.emails and committer in person.emails:
        return None
    if author == committer:
        who = f"added by {author}"
    else:
        who = " and ".join(
            f"{role} by {email}"
            for role, email in (("authored", author), ("committed", committer))
            if email not in person.emails
        )
    return (
        f"it was {who} in {adder.sha[:10]}, not by {person.id} ({', '.join(sorted(person.emails))})"
    )


def _record_only(
    versions: Versions, commit: gitio.Commit, wrote: frozenset[str], paths: Sequence[str]
) -> bool:
    """A commit that only appends decisions (and sets the status) on this change request;
    removing or rewriting a recorded decision is authorship, not approval. A merge that
    wrote anything itself is authorship."""
    if not wrote <= set(paths) or len(commit.parents) != 1:
        return False
    for path in wrote:
        old, new = versions.data(commit.parents[0], path), versions.data(commit.sha, path)
        if old is None or new is None:
            return False
        before, after = versions.spec(commit.parents[0], path), versions.spec(commit.sha, path)
        kept = all(a in (after.get("approvals") or []) for a in before.get("approvals") or [])
        review_kept = before.get("review") in (None, after.get("review"))
        if not (
            kept and review_kept and all(c.path.startswith(RECORD_FIELDS) for c in diff(old, new))
        ):
            return False
    return True


class _Verifier:
    """Checks signatures against the base's people's keys: an allowed-signers file for SSH
    keys and a throw-away GnuPG home holding their OpenPGP keys, made on first use."""

    def __init__(self, people: dict[str, Person]) -> None:
        self._people = people
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.gnupghome: Path | None = None
        self.owners: dict[str, set[str]] = {}  # OpenPGP primary fingerprint → person ids

    def _allowed_signers(self) -> Path:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory()
            people = self._people.values()
            allowed = Path(self._tmp.name) / "allowed_signers"
            allowed.write_text(
                "".join(
                    f'{email} namespaces="git" {key}\n'
                    for p in people
                    for email in sorted(p.emails)
                    for key in p.ssh_keys
                )
            )
            if any(p.openpgp_keys for p in people):
                self.gnupghome = Path(self._tmp.name) / "gnupg"
                self.gnupghome.mkdir(mode=0o700)
                gitio.gpg_home(self.gnupghome)
                for p in people:  # one import per key: a fingerprint names its owners
                    for key in p.openpgp_keys:
                        for fingerprint in gitio.gpg_import(self.gnupghome, key):
                            self.owners.setdefault(fingerprint, set()).add(p.id)
        return Path(self._tmp.name) / "allowed_signers"

    def problem(self, root: Path, sha: str, person: Person) -> str | None:
        if not person.signing_keys:
            return f"signatures are required but {person.id} has no signingKeys in policies/"
        signature = gitio.verify_commit(root, sha, self._allowed_signers(), self.gnupghome)
        if not signature.good:
            return (
                f"signatures are required but {sha[:10]} is not validly signed ({signature.detail})"
            )
        if signature.fingerprint is not None:
            owners = self.owners.get(signature.fingerprint, set())
            if person.id not in owners:
                return (
                    f"{sha[:10]} is signed by OpenPGP key {signature.fingerprint} "
                    f"({', '.join(sorted(owners)) or 'nobody'}), not by {person.id}"
                )
            return None
        if signature.principal not in person.emails:
            return f"{sha[:10]} is signed by {signature.principal}, not by {person.id}"
        return None

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
