"""Recording a decision on a change request as the current git identity's own commit:
the steps `approve` and `review` share.

The gate trusts a recorded decision only when the commit that adds it was authored and
committed by the person it names, and signed by them where the policy requires it. So
both commands refuse a dirty work tree; take who you are from what `git commit` would
record (author and committer must both be one of your Person's emails); read people,
groups and rules from the default branch (origin's HEAD, else main or master), as the
gate reads them from its base; find and parse the change request at HEAD; and commit a
round-trip edit of that one file (`recording`), putting the file and the index back as
they were when the commit fails (a signature git cannot make, a hook that says no).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cmdbctl import gitio
from cmdbctl.errors import CommandError
from cmdbctl.gate.evaluate import ChangeScope, change_history, change_scope
from cmdbctl.gate.facts import RangeFacts
from cmdbctl.gate.policy import Rules, parse_change, read_rules
from cmdbctl.gate.trust import ChangeHistory, Person
from cmdbctl.kinds import load_registry
from cmdbctl.loading import load
from cmdbctl.models import ChangeSpec
from cmdbctl.recording import commit_edit, commit_message
from cmdbctl.revision import Snapshot
from cmdbctl.validate.cache import VerdictCache


@dataclass(frozen=True)
class Desk:
    """One change request at HEAD, and who is about to decide on it under which rules."""

    root: Path
    change_id: str
    path: str
    name: str | None  # metadata.name, for the commit's subject
    change: ChangeSpec
    identity: gitio.Identity
    person: Person
    rules: Rules  # from the default branch when there is one, else from HEAD
    default: str | None  # the default branch
    where: str  # where people, groups and rules were read, for messages
    snap: Snapshot  # HEAD
    blobs: gitio.BlobReader

    def history(self) -> ChangeHistory:
        """The gate's judgement of the change's history (`trust.examine`) over every
        commit since the change request was created, or since HEAD forked from the
        default branch if that is earlier: a wider range than the gate's, so at least
        as strict. Judged once."""
        return self._history

    @cached_property
    def _history(self) -> ChangeHistory:
        facts = RangeFacts.read(
            self.root, _judged_since(self.root, self.path, self.default), "HEAD"
        )
        return change_history(
            self.root,
            self.blobs,
            self.change_id,
            self.change,
            self.path,
            facts,
            (self.snap,),
            self.rules,
            self.scope.rules,
        )

    @cached_property
    def scope(self) -> ChangeScope:
        """Targets, affected services, their owners and the rules that match, read at
        HEAD (the tree is clean: the verdict cache of a `validate` answers for it)."""
        kinds = load_registry(self.root)
        cache = VerdictCache(self.root, kinds.fingerprint)
        self.snap.use_cache(cache)
        rollback = self.change.status == "rolled-back" and self.change.rollback is not None
        scope = change_scope(
            self.change, self.snap, self.snap, self.rules, kinds, rollback=rollback
        )
        cache.finish()
        return scope

    def signature_problem(self) -> str | None:
        """Why a signed decision by this person cannot count, if signatures are
        required: the gate checks them against the person's `signingKeys`."""
        if self.rules.policy.require_signed_approvals and not self.person.signing_keys:
            return (
                f"the policy requires signed approvals but {self.person.id} has no "
                f"signingKeys in {self.where}"
            )
        return None

    def require_signing_key(self, otherwise: str) -> None:
        """Exit 2 when signatures are required and the person has no key to check them
        by; `otherwise` says what would follow."""
        problem = self.signature_problem()
        if problem:
            raise CommandError(
                f"{problem}; {otherwise}",
                "add your public key to your Person's signingKeys on the default branch first",
            )

    def commit(
        self, change: Callable[[Any], None], action: str, body: str | None, trailer: str, sign: bool
    ) -> tuple[str, bool]:
        """Commit `change` to the change request as the person deciding, under
        `<action> <id>: <name>`, `body`, and the trailers `Change-Id:` and `<trailer>:`
        naming them; signed when asked or when the policy requires signed approvals.
        The commit id, and whether it is signed."""
        signed = sign or self.rules.policy.require_signed_approvals
        who = f"{self.identity.name} <{self.identity.email}>"
        message = commit_message(action, self.change_id, self.name, body, [(trailer, who)])
        why = "--sign" if sign else "the policy requires signed approvals"
        return commit_edit(self.root, self.path, change, message, signed, why), signed


def default_branch(root: Path) -> str | None:
    """The branch pull requests most likely merge into, when this clone has one."""
    return next(
        (
            b
            for b in ("refs/remotes/origin/HEAD", "main", "master")
            if gitio.output(root, "rev-parse", "--verify", "--quiet", f"{b}^{{commit}}")
        ),
        None,
    )


def _judged_since(root: Path, path: str, default: str | None) -> str | None:
    """Where the judgement starts (None: all history): before the change request was
    created, and before HEAD forked from the default branch when there is one."""
    created = gitio.log(root, "HEAD", [path], reverse=True)[0]
    if not created.parents:
        return None
    fork = gitio.merge_base(root, "HEAD", default) if default else None
    return gitio.merge_base(root, created.parents[0], fork) if fork else created.parents[0]


@contextmanager
def open_change(root: Path, change_id: str) -> Iterator[Desk]:
    """The change request `change_id` at HEAD and the person deciding on it, or exit 2
    saying why a decision cannot be recorded (dirty tree, no such change, a change
    request that does not parse, an identity that is no person, a committer who is
    not the author)."""
    gitio.require_work_tree(root)
    gitio.resolve(root, "HEAD")
    gitio.require_clean(root)
    identity = gitio.current_identity(root)
    with gitio.BlobReader(root) as blobs:
        snap = Snapshot(root, "HEAD", blobs)
        default = default_branch(root)
        rules = read_rules(
            Snapshot(root, default, blobs, folders=["policies"]) if default else snap
        )
        where = (
            f"policies/ (read from {default.removeprefix('refs/remotes/')}, as the "
            "gate reads its base)"
            if default
            else "policies/"
        )
        path, name, change = find_change(snap, blobs, change_id)
        person = rules.person_by_email(identity.email)
        if person is None:
            raise CommandError(
                f"your git identity {identity.email} is not a person in {where}",
                "set user.email to an address listed in your Person document's emails",
            )
        _require_own_committer(root, identity, person)
        yield Desk(
            root,
            change_id,
            path,
            name,
            change,
            identity,
            person,
            rules,
            default,
            where,
            snap,
            blobs,
        )


def find_change(
    snap: Snapshot, blobs: gitio.BlobReader, change_id: str
) -> tuple[str, str | None, ChangeSpec]:
    path = snap.by_id.get(change_id)  # by file name: a file that does not parse is found
    if path is None or not path.startswith("changes/"):
        raise CommandError(
            f"no change request {change_id} under changes/",
            "check the id; change requests are changes/**/<id>.yaml",
        )
    doc = snap.document(path)
    if doc is None:
        problems = load(path, blobs.read(snap.paths[path])).findings
        why = next(
            (
                f"{f.code} at line {f.line}: {f.message}" if f.line else f"{f.code}: {f.message}"
                for f in problems
            ),
            "no document",
        )
        raise CommandError(
            f"{path} (change request {change_id}) cannot be parsed ({why})",
            f"run `cmdbctl validate {path}` and fix it first",
        )
    change = parse_change(doc.data)
    if doc.kind != "ChangeRequest" or change is None:
        what = (
            "a ChangeRequest"
            if doc.kind == "ChangeRequest"
            else f"a {doc.kind or 'document without kind'}, not a ChangeRequest"
        )
        raise CommandError(
            f"{path} is {what} that does not validate",
            f"run `cmdbctl validate {path}` and fix it first",
        )
    return path, doc.name, change


def _require_own_committer(root: Path, identity: gitio.Identity, person: Person) -> None:
    """The gate trusts a decision only when its commit was authored *and* committed by
    the person: refuse when git would record someone else as committer."""
    try:
        text = gitio.run(root, "var", "GIT_COMMITTER_IDENT")
    except gitio.GitFailed as exc:
        raise CommandError(
            "no git committer identity is set",
            'set one with git config user.name "..." and user.email "..."',
        ) from exc
    committer = text.partition("<")[2].partition(">")[0].strip()
    if committer.lower() not in person.emails:
        raise CommandError(
            f"git would record {identity.email} as author but {committer} as committer; "
            f"the gate trusts a decision only when {person.id} both authored and "
            "committed it",
            "unset GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL, or set them (or user.email) "
            f"to one of {person.id}'s emails: {', '.join(sorted(person.emails))}",
        )
