"""Which approvals can be trusted.

An approval line in a change request is only text; anyone can type `by: bob`. It counts
when the commit that added it was authored and committed by one of the approver's
emails (in the base revision's people), signed by one of their `signingKeys` when the
policy requires it (checked by `git verify-commit`: SSH keys through an allowed-signers
file, OpenPGP keys through a throw-away keyring, both built from the base's people), by
someone who is neither the requester nor an author of the change, and while it is fresh.

An approval is for what it saw, and what it saw depends on where it was given:

* A later commit that changes the change request's substance (`SUBSTANCE`: targets,
  plan, risk, window, rollback plan, ...) makes it stale, wherever that commit is.
* Given inside the range under review (merge base..head), the approver saw a concrete
  diff: a later commit in the range that edits a target CI makes it stale too.
* Given before the merge base (approved on main, carried out later on a branch that
  names the change in a `Change-Id:` trailer), the approver saw the plan, and the
  range's edits of the targets are that plan being carried out: they do not make it
  stale, unless the change had already been carried out (implemented or later) at the
  merge base or at the base revision itself (the tip of `--base`), when edits of its
  targets are new work nobody approved: branching from an old commit where the change
  was still approved does not revive a used-up approval. Likewise a commit on the base
  after the approval that changes the change's substance makes it stale.

Every step of the change request's status through the range (each commit that changes
the file, oldest first) is reported in `ChangeHistory.status_steps` so that the gate can
refuse a step the lifecycle forbids even when the head's status looks fine.

Commits that only append decisions (and set the status) are neither authorship nor a
reason for staleness. A commit that removes or rewrites a recorded decision is
authorship, and the decisions it removed are reported with who removed them, judged as
if they were still there: a trusted rejection keeps refusing the change.
"""

from __future__ import annotations

import tempfile
from collections import Counter
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
# Statuses of a change whose plan has been carried out already.
CARRIED_OUT = ("implemented", "reviewed", "closed", "rolled-back")
OPENPGP_KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----"

# (by, at, decision, n): the n-th entry with that by, at and decision, so that the same
# decision recorded twice in one second is still two records.
Key = tuple[str, str, str, int]


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
    """A decision a commit in the range removed, judged as if it were still there."""

    verdict: ApprovalVerdict
    key: Key
    commit: gitio.Commit


@dataclass(frozen=True)
class ChangeHistory:
    """What history says of one change request within the pull request."""

    approvals: list[ApprovalVerdict]
    authors: frozenset[str]  # emails of commits that shaped the change or its targets
    removed: list[Removal] = field(default_factory=list)
    # (commit, status before, status after) for each commit of the range that changes
    # the change request's status, oldest first.
    status_steps: list[tuple[gitio.Commit, str | None, str | None]] = field(
        default_factory=list)


def keys(approvals: Any) -> list[Key]:
    """The keys of a change request's raw `spec.approvals` entries, in order."""
    seen: Counter[tuple[str, str, str]] = Counter()
    out = []
    for a in approvals if isinstance(approvals, list) else []:
        key = ((str(a.get("by")), str(a.get("at")), str(a.get("decision")))
               if isinstance(a, dict) else ("", "", ""))
        seen[key] += 1
        out.append((*key, seen[key]))
    return out


class _Versions:
    """The change request as each commit has it, parsed once."""

    def __init__(self, blobs: gitio.BlobReader, path: str) -> None:
        self._blobs, self._path = blobs, path
        self._data: dict[str | None, dict[str, Any] | None] = {None: None}

    def data(self, rev: str | None) -> dict[str, Any] | None:
        if rev not in self._data:
            raw = self._blobs.read_optional(f"{rev}:{self._path}")
            loaded = load(self._path, raw).data if raw is not None else None
            self._data[rev] = loaded if isinstance(loaded, dict) else None
        return self._data[rev]

    def spec(self, rev: str | None) -> dict[str, Any]:
        spec = (self.data(rev) or {}).get("spec")
        return spec if isinstance(spec, dict) else {}


def examine(root: Path, blobs: gitio.BlobReader, merge_base: str | None, head: str,
            change_path: str, target_paths: Sequence[str], requester: str | None,
            people: dict[str, Person], separation_of_duties: bool,
            require_signatures: bool, base: str | None = None) -> ChangeHistory:
    """Judge every decision in the change request at `head`, and every decision a commit
    in `merge_base..head` removed (`merge_base` None: all of head's history). `base` is
    the tip of the base branch: what the change became there counts too."""
    versions = _Versions(blobs, change_path)
    paths = [change_path, *target_paths]
    # Who added each decision: the first commit (oldest first) whose version has it.
    added_by: dict[Key, gitio.Commit] = {}
    for commit in gitio.log(root, head, [change_path], reverse=True):
        before = set(keys(versions.spec(_parent(commit)).get("approvals")))
        for key in keys(versions.spec(commit.sha).get("approvals")):
            if key not in before:
                added_by.setdefault(key, commit)
    # The pull request's commits that touch the change or its targets.
    in_range = gitio.log(root, f"{merge_base}..{head}" if merge_base else head, paths)
    range_shas = {c.sha for c in in_range}
    target_edits: set[str] = set()  # shas of those that edit a target
    authors: set[str] = set()
    removed: dict[Key, gitio.Commit] = {}
    for commit in in_range:
        changed = set(gitio.changed_paths(root, commit))
        if changed & set(target_paths):
            target_edits.add(commit.sha)
        if not _approval_only(versions, commit, changed, change_path):
            authors.add(commit.author_email)
        old, new = versions.spec(_parent(commit)), versions.spec(commit.sha)
        removed.update((k, commit) for k in keys(old.get("approvals"))
                       if k not in keys(new.get("approvals")))
    status_steps = []
    for commit in reversed(in_range):  # oldest first
        was = versions.spec(_parent(commit)).get("status")
        now = versions.spec(commit.sha).get("status")
        if was != now and versions.data(commit.sha) is not None:
            status_steps.append((commit, _str(was), _str(now)))
    # Where the change was carried out already: at the merge base, else at the base tip.
    carried_at = None
    for where, rev in (("before this branch", merge_base),
                       ("on the base revision", base if base != merge_base else None)):
        status = versions.spec(rev).get("status") if rev else None
        if status in CARRIED_OUT and carried_at is None:
            carried_at = f"the change was {status} {where}"
    carried_out = carried_at is not None and bool(target_edits)
    verifier = _Verifier(people) if require_signatures else None

    def staleness(adder: gitio.Commit) -> str | None:
        """Why an approval added by `adder` no longer stands for what is at the head."""
        after = gitio.log(root, f"{adder.sha}..{head}", paths)
        for c in reversed(after):  # oldest first: name the first edit it did not see
            old, new = versions.spec(_parent(c)), versions.spec(c.sha)
            if any(old.get(k) != new.get(k) for k in SUBSTANCE):
                return (f"stale: the change request changed after it was given "
                        f"(in {c.sha[:10]} by {c.author_email})")
            if adder.sha in range_shas and c.sha in target_edits:
                return (f"stale: its targets changed after it was given "
                        f"(in {c.sha[:10]} by {c.author_email})")
        if base and merge_base and base != merge_base and adder.sha not in range_shas:
            # Approved before the branch forked: the base may have moved on since.
            on_base = gitio.log(root, f"{adder.sha}..{base}", [change_path])
            for c in reversed(on_base):
                old, new = versions.spec(_parent(c)), versions.spec(c.sha)
                if any(old.get(k) != new.get(k) for k in SUBSTANCE):
                    return (f"stale: the change request changed on the base revision after "
                            f"it was given (in {c.sha[:10]} by {c.author_email}), and this "
                            f"branch does not carry that change")
        if adder.sha not in range_shas and carried_out:
            return (f"stale: it approved a plan already carried out ({carried_at}), not "
                    f"this branch's new edits of its targets")
        return None

    def judge(index: int, key: Key) -> ApprovalVerdict:
        by, _at, decision, _n = key
        adder = added_by.get(key)
        verdict = ApprovalVerdict(index, by, decision, adder.sha if adder else None)
        person = people.get(by)
        if adder is None:
            verdict.distrust("no commit adds it")
            return verdict
        if person is None:
            verdict.distrust(f"{by} is not a person in the base revision's policies/")
        else:
            provenance = _provenance_problem(adder, person)
            if provenance:
                verdict.distrust(provenance)
            if separation_of_duties:
                if by == requester:
                    verdict.distrust(f"{by} requested the change")
                elif person.emails & authors:
                    verdict.distrust(f"{by} authored commits of the change")
            if verifier is not None:
                problem = verifier.problem(root, adder.sha, person)
                if problem:
                    verdict.distrust(problem)
        stale = staleness(adder)
        if stale:
            verdict.stale = True
            verdict.distrust(stale)
        return verdict

    try:
        present = keys(versions.spec(head).get("approvals"))
        verdicts = [judge(i, key) for i, key in enumerate(present)]
        removals = [Removal(judge(-1, key), key, commit) for key, commit in removed.items()
                    if key not in present]
    finally:
        if verifier is not None:
            verifier.close()
    return ChangeHistory(verdicts, frozenset(authors), removals, status_steps)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _parent(commit: gitio.Commit) -> str | None:
    return commit.parents[0] if commit.parents else None


def _provenance_problem(adder: gitio.Commit, person: Person) -> str | None:
    """Why the commit that added a decision is not the approver's own, if it is not."""
    author, committer = adder.author_email, adder.committer_email
    if author in person.emails and committer in person.emails:
        return None
    if author == committer:
        who = f"added by {author}"
    else:
        who = " and ".join(f"{role} by {email}" for role, email in
                           (("authored", author), ("committed", committer))
                           if email not in person.emails)
    return (f"it was {who} in {adder.sha[:10]}, not by {person.id} "
            f"({', '.join(sorted(person.emails))})")


def _approval_only(versions: _Versions, commit: gitio.Commit, paths: set[str],
                   change_path: str) -> bool:
    """A commit that only appends decisions (and sets the status) on this change request;
    removing or rewriting a recorded decision is authorship, not approval."""
    if paths != {change_path} or not commit.parents:
        return False
    old, new = versions.data(commit.parents[0]), versions.data(commit.sha)
    if old is None or new is None:
        return False
    before, after = versions.spec(commit.parents[0]), versions.spec(commit.sha)
    kept = all(a in (after.get("approvals") or []) for a in before.get("approvals") or [])
    return kept and all(c.path.startswith(APPROVAL_FIELDS) for c in diff(old, new))


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
            allowed.write_text("".join(
                f'{email} namespaces="git" {key}\n'
                for p in people for email in sorted(p.emails) for key in p.ssh_keys))
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
            return (f"signatures are required but {sha[:10]} is not validly signed "
                    f"({signature.detail})")
        if signature.fingerprint is not None:
            owners = self.owners.get(signature.fingerprint, set())
            if person.id not in owners:
                return (f"{sha[:10]} is signed by OpenPGP key {signature.fingerprint} "
                        f"({', '.join(sorted(owners)) or 'nobody'}), not by {person.id}")
            return None
        if signature.principal not in person.emails:
            return f"{sha[:10]} is signed by {signature.principal}, not by {person.id}"
        return None

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
