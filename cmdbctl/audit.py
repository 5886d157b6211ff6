"""`cmdbctl audit`: every commit that landed on the branch, judged as the gate would
have judged it when it landed.

The first-parent line of HEAD (`--since REV`: `REV..HEAD`) is the branch's record: each
commit on it that changed a governed folder (`inventory/`, `changes/`, `policies/`,
`schemas/`, or the CI wiring) is judged by `gate.run_gate` with its first parent as the
base, so under the rules of that parent, as of its committer date (when it landed):

* a merge commit (`merge`): its merged branch and its own edits, every approval commit
  still in history;
* a commit that brings decisions (approvals, rejections, reviews) with it: `recorded`,
  since a squash merge replaced their own commits; a decision that is not its person's
  own commit counts as recorded, with the warning `gate.approval.unproven` (the kind
  is then `squash`; git cannot tell a squash merge from a direct push that brought
  the same lines, which is why the warning stays on the record);
* any other commit (`direct`): a push straight to the branch, judged as a branch of
  one commit.

The root commit has no parent whose rules could apply: it is the import, the baseline
every later commit is judged from, and is reported as such, not judged.

A commit's verdict depends only on the commit (its tree, its history, its date) and the
tool, so verdicts are kept (`AuditCache`) by commit id, judgement and a fingerprint of
the tool's code: a re-run judges only commits it has not judged. Post-implementation
reviews overdue at `now` depend on `now` and are never kept (`overdue_reviews`).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any, get_args

import orjson

from cmdbctl import __version__, gitio
from cmdbctl.errors import CommandError
from cmdbctl.findings import Finding, Severity, summarize
from cmdbctl.gate import CI_WIRING, registry_at, run_gate
from cmdbctl.gate.evaluate import change_scope
from cmdbctl.gate.facts import GOVERNED, ChangeRecord, RangeFacts, Versions, decisions
from cmdbctl.gate.policy import parse_change, read_rules
from cmdbctl.gate.rules import Case, ChangeVerdict
from cmdbctl.gate.rules import review as review_rule
from cmdbctl.gate.trust import ChangeHistory
from cmdbctl.kinds import KindRegistry
from cmdbctl.loading import load
from cmdbctl.revision import ReferenceIndex, Snapshot
from cmdbctl.validate.cache import enabled as cache_enabled

CODES: dict[str, str] = {
    "audit.history.roots": "the branch's first-parent line starts at a root commit while "
    "history holds others: a parentless commit may have replaced what came before, unjudged",
}

WATCHED = (*GOVERNED, *CI_WIRING)
Judgement = str  # "merge" | "recorded" (decisions counted as recorded) | "plain"
Progress = Callable[[int], Callable[[int], None]]


@dataclass(frozen=True)
class AuditedCommit:
    sha: str
    parents: tuple[str, ...]
    author: str
    email: str
    date: str  # the committer date: when it landed, the instant it is judged at
    subject: str
    kind: str  # merge | squash | direct
    verdict: str  # passed | refused
    findings: list[Finding]
    cached: bool = False  # the verdict came from the cache

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.sha,
            "parents": list(self.parents),
            "author": self.author,
            "email": self.email,
            "date": self.date,
            "subject": self.subject,
            "kind": self.kind,
            "verdict": self.verdict,
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass
class AuditResult:
    head: str
    since: str | None  # the resolved --since
    now: datetime
    commits: list[AuditedCommit]  # newest first, as git log
    reviews: list[Finding]  # post-implementation reviews at HEAD, as of `now`
    walked: int  # commits on the first-parent line of the range
    judged: int  # verdicts reached by this run (the rest came from the cache)
    baseline: gitio.Commit | None = None  # the root commit, not judged
    cache: str | None = None  # the cache file, when there is one
    history: list[Finding] = field(default_factory=list)  # about the line itself

    @property
    def refused(self) -> list[AuditedCommit]:
        return [c for c in self.commits if c.verdict == "refused"]

    @property
    def findings(self) -> list[Finding]:
        """Every finding: the commits' and the reviews'."""
        return [f for c in self.commits for f in c.findings] + self.reviews + self.history

    @property
    def summary(self) -> dict[str, Any]:
        counts = summarize(self.findings, 0)
        del counts["files"]
        overdue = sum(f.severity == "error" for f in self.reviews)
        return {
            "verdict": "refused" if self.refused or overdue or self.history else "passed",
            "walked": self.walked,
            "audited": len(self.commits),
            "passed": len(self.commits) - len(self.refused),
            "refused": len(self.refused),
            "kinds": {
                k: sum(c.kind == k for c in self.commits) for k in ("merge", "squash", "direct")
            },
            "reviewsOverdue": overdue,
            "judged": self.judged,
            "cached": sum(c.cached for c in self.commits),
            **counts,
            "baseline": self.baseline.sha if self.baseline else None,
        }

    def details(self) -> dict[str, Any]:
        return {
            "head": self.head,
            "since": self.since,
            "now": self.now.isoformat(),
            "commits": [c.to_json() for c in self.commits],
        }


def run_audit(
    root: Path,
    since: str | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    jobs: int | None = None,
) -> AuditResult:
    """Judge every governed commit of HEAD's first-parent line (`since..HEAD`), then the
    reviews due at HEAD as of `now`. Commits the cache lacks are judged by `jobs`
    processes (default: one per CPU, past a few commits)."""
    gitio.require_work_tree(root)
    now = now or datetime.now(UTC)
    if gitio.output(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}") is None:
        raise CommandError(
            "the current branch has no commits yet: there is nothing to audit",
            "commit the repository first (git add -A && git commit)",
        )
    head = gitio.resolve(root, "HEAD")
    gitio.require_full_history(root)
    start = gitio.resolve(root, since) if since is not None else None
    line = gitio.first_parent_line(root, f"{start}..{head}" if start else head)
    dates = _landed(line)
    commits = gitio.read_commits(root, [sha for sha, _ in line])
    changes = gitio.first_parent_diffs(
        root, [(c.sha, c.parents[0] if c.parents else None) for c in commits], WATCHED
    )
    governed = [c for c in commits if c.sha in changes]
    with gitio.BlobReader(root) as blobs:
        judgements = {c.sha: _judgement(c, changes[c.sha], blobs) for c in governed if c.parents}
    kept = AuditCache.open(root)
    by_sha = {c.sha: c for c in governed}
    found = {
        sha: hit
        for sha, j in judgements.items()
        if (hit := kept.get(by_sha[sha], j, dates[sha])) is not None
    }
    todo = [c for c in governed if c.sha in judgements and c.sha not in found]
    if todo:  # the history walks of every judgement, each over the whole history
        gitio.index_changed_paths(root)
    update = progress(len(todo)) if progress and todo else None
    for audited in _judge_all(root, todo, judgements, dates, jobs):
        found[audited.sha] = audited
        kept.put(audited, judgements[audited.sha])
        if update:
            update(1)
    kept.flush()
    reviews = overdue_reviews(root, head, now)
    history = _roots(root, head, commits) if start is None else []
    return AuditResult(
        head,
        start,
        now,
        [found[c.sha] for c in governed if c.sha in found],
        reviews,
        len(line),
        len(todo),
        next((c for c in governed if not c.parents), None),
        str(kept.path) if kept.path else None,
        history,
    )


def _roots(root: Path, head: str, line: list[gitio.Commit]) -> list[Finding]:
    """The line's first commit is the import only when history has no other root: a
    parentless commit made later and merged as first parent would replace everything
    before it, unjudged."""
    roots = gitio.run(root, "rev-list", "--max-parents=0", head).split()
    start = line[-1] if line and not line[-1].parents else None
    if start is None or len(roots) < 2:
        return []
    others = ", ".join(r[:10] for r in roots if r != start.sha)
    return [
        Finding(
            ".",
            "audit.history.roots",
            f"the first-parent line starts at {start.sha[:10]} ({start.subject}, by "
            f"{start.author_email}), but history has other root commits ({others}): which "
            "one is the import cannot be told, so nothing before the line's start was judged",
            line=1,
            column=1,
            hint="audit from the real import with --since, and find out how a second root "
            "reached the branch",
        )
    ]


# Past this many commits to judge, worker processes share them (each run of the gate
# costs a hundred milliseconds or more at 10^4 CIs; starting a worker, a few tens).
_PARALLEL_FROM = 4

# What each blob refers to, by kind-registry fingerprint: the revisions judged share
# nearly every blob. Filled before the workers fork, which inherit it. Reading every
# blob costs about ten searches, so a run of fewer commits searches instead.
_REFERENCES: dict[str, ReferenceIndex] = {}
_INDEX_FROM = 10


def _judge_all(
    root: Path,
    todo: list[gitio.Commit],
    judgements: dict[str, Judgement],
    dates: dict[str, str],
    jobs: int | None,
) -> Iterator[AuditedCommit]:
    """Each commit's verdict, in any order."""
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    if jobs <= 1 or len(todo) < _PARALLEL_FROM:
        for commit in todo:
            yield _judge(
                root,
                commit,
                judgements[commit.sha],
                dates[commit.sha],
                _REFERENCES if len(todo) >= _INDEX_FROM else None,
            )
        return
    method = "fork" if "fork" in get_all_start_methods() else "spawn"
    if method == "fork" and len(todo) >= _INDEX_FROM:
        _index_references(root, todo[0].sha)
    with ProcessPoolExecutor(min(jobs, len(todo)), mp_context=get_context(method)) as pool:
        futures = [
            pool.submit(_judged_elsewhere, root, c, judgements[c.sha], dates[c.sha]) for c in todo
        ]
        try:
            for future in as_completed(futures):
                answer = orjson.loads(future.result())
                if isinstance(answer, dict):  # the worker could not judge it
                    raise CommandError(*answer["error"])
                yield _decoded(*answer)
        finally:  # stopped early (Ctrl-C): what has not started does not start
            for future in futures:
                future.cancel()


def _index_references(root: Path, rev: str) -> None:
    """Read what `rev`'s inventory refers to into `_REFERENCES`, once for every worker."""
    with gitio.BlobReader(root) as blobs:
        kinds = registry_at(root, rev, blobs)
        index = _REFERENCES.setdefault(kinds.fingerprint, ReferenceIndex())
        Snapshot(root, rev, blobs).use_index(index, kinds)


def _judged_elsewhere(
    root: Path, commit: gitio.Commit, judgement: Judgement, committed: str
) -> bytes:
    """`_judge` in a worker process, sent back as JSON (a `CommandError` as its message
    and hint: not every one survives pickling)."""
    try:
        audited = _judge(root, commit, judgement, committed, _REFERENCES or None)
    except CommandError as exc:
        return orjson.dumps({"error": [exc.message, exc.hint]})
    return orjson.dumps(
        [
            audited.sha,
            list(audited.parents),
            audited.author,
            audited.email,
            audited.date,
            audited.subject,
            audited.kind,
            audited.verdict,
            [f.to_json() for f in audited.findings],
        ]
    )


def _decoded(
    sha: str,
    parents: list[str],
    author: str,
    email: str,
    date: str,
    subject: str,
    kind: str,
    verdict: str,
    findings: list[dict[str, Any]],
) -> AuditedCommit:
    return AuditedCommit(
        sha,
        tuple(parents),
        author,
        email,
        date,
        subject,
        kind,
        verdict,
        [Finding(**f) for f in findings],
    )


def _landed(line: list[tuple[str, str]]) -> dict[str, str]:
    """When each commit of the first-parent line (newest first) landed, as far as git
    can tell: its committer date, but never before its parent's. A commit dated before
    the one it was committed on top of was backdated (to slip out of a freeze, say)."""
    landed: dict[str, str] = {}
    latest: datetime | None = None
    for sha, committed in reversed(line):
        moment = datetime.fromisoformat(committed)
        if latest is not None and moment < latest:
            landed[sha] = latest.isoformat()
        else:
            landed[sha], latest = committed, moment
    return landed


def _judgement(
    commit: gitio.Commit, changes: list[gitio.FileChange], blobs: gitio.BlobReader
) -> Judgement:
    if len(commit.parents) > 1:
        return "merge"
    return "recorded" if _brings_decisions(changes, blobs) else "plain"


def _brings_decisions(changes: list[gitio.FileChange], blobs: gitio.BlobReader) -> bool:
    """Whether a commit adds a decision to any change request (a squash merge does)."""
    for change in changes:
        if not change.path.startswith("changes/") or change.new_blob is None:
            continue
        # read_optional: the entry may be no blob at all (a gitlink named like a file)
        new = decisions(_spec(change.path, blobs.read_optional(change.new_blob) or b""))
        old = decisions(_spec(change.path, blobs.read_optional(change.old_blob or "") or b""))
        if new - old:
            return True
    return False


def _spec(path: str, raw: bytes) -> dict[str, Any]:
    data = load(path, raw).data
    spec = data.get("spec") if isinstance(data, dict) else None
    return spec if isinstance(spec, dict) else {}


def _judge(
    root: Path,
    commit: gitio.Commit,
    judgement: Judgement,
    committed: str,
    references: dict[str, ReferenceIndex] | None = None,
) -> AuditedCommit:
    """The gate's verdict on the commit as it landed: base its first parent, at its
    committer date. `references`: see `run_gate`."""
    result = run_gate(
        root,
        commit.parents[0],
        commit.sha,
        datetime.fromisoformat(committed),
        recorded=judgement == "recorded",
        references=references,
    )
    verdict = "refused" if result.summary["verdict"] == "refused" else "passed"
    return _audited(commit, committed, _kind(judgement, result.findings), verdict, result.findings)


def _kind(judgement: Judgement, findings: Iterable[Finding]) -> str:
    if judgement == "merge":
        return "merge"
    # A decision that is not its person's own commit came in by a squash merge (or was
    # typed in: git alone cannot tell, so the warning stays on the record).
    unproven = any(f.code == "gate.approval.unproven" for f in findings)
    return "squash" if judgement == "recorded" and unproven else "direct"


def _audited(
    commit: gitio.Commit,
    committed: str,
    kind: str,
    verdict: str,
    findings: list[Finding],
    cached: bool = False,
) -> AuditedCommit:
    return AuditedCommit(
        commit.sha,
        commit.parents,
        commit.author_name,
        commit.author_email,
        committed,
        commit.subject,
        kind,
        verdict,
        findings,
        cached,
    )


# -- reviews due at HEAD ----------------------------------------------------------------

_REVIEWABLE = ("approved", "implemented", "reviewed", "closed")


def overdue_reviews(root: Path, rev: str, now: datetime) -> list[Finding]:
    """The gate's review rule (`gate.review.overdue`, `.due`, `.clock`) on every change
    request at `rev` that a rule of `rev`'s policy asks to review and that records no
    review. A review it records was judged when it landed (the audit reports the commit
    if it was refused), as the gate takes decisions on its base."""
    with gitio.BlobReader(root) as blobs:
        rules = read_rules(Snapshot(root, rev, blobs, folders=["policies"]))
        asking = [r for r in rules.policy.rules if r.review_within is not None]
        if not asking:
            return []
        snap = Snapshot(root, rev, blobs)
        kinds: KindRegistry | None = None
        findings: list[Finding] = []
        for doc in snap.documents_under("changes"):
            change = parse_change(doc.data)
            if (
                change is None
                or not doc.id
                or change.status not in _REVIEWABLE
                or doc.spec.get("review") is not None
                or not any(_may_match(r.match, change) for r in asking)
            ):
                continue
            matched = [r for r in asking if _may_match(r.match, change)]
            if any(
                r.match.target_kinds is not None or r.match.criticality is not None for r in matched
            ):  # the rule depends on the targets and services
                kinds = kinds or registry_at(root, rev, blobs)
                scope = change_scope(change, snap, snap, rules, kinds)
                matched = [r for r in scope.rules if r.review_within is not None]
            if not matched:
                continue
            implemented = None
            if change.window is None:
                facts = RangeFacts(rev, rev, None, (), {})
                record = ChangeRecord.read(root, Versions(blobs), facts, [doc.path])
                implemented = record.implemented_by.date if record.implemented_by else None
            verdict = ChangeVerdict(
                doc.id, doc.path, change.status, change.category, list(change.targets)
            )
            review_rule(
                Case(
                    verdict,
                    change,
                    doc,
                    None,
                    ChangeHistory([], frozenset(), implemented_at=implemented),
                    matched,
                    {},
                    {},
                    (snap, snap),
                    rules,
                    {},
                    now,
                )
            )
            findings += snap.locate(verdict.findings)
    return sorted(findings, key=Finding.sort_key)


def _may_match(match: Any, change: Any) -> bool:
    """A rule's match on what the change request says of itself (type, category, risk);
    what depends on its targets and their services (kinds, criticality) is decided by
    `change_scope`, only for rules that ask."""
    return all(
        allowed is None or value in allowed
        for allowed, value in (
            (match.type, change.type),
            (match.category, change.category),
            (match.risk, change.risk),
        )
    )


# -- the verdict cache ------------------------------------------------------------------

_TABLE = """CREATE TABLE IF NOT EXISTS verdicts(
    commit_id TEXT NOT NULL, judgement TEXT NOT NULL, tool TEXT NOT NULL,
    verdict BLOB NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (commit_id, judgement, tool)) WITHOUT ROWID"""
_TIMEOUT = 5.0  # seconds to wait for another run's write
_BATCH = 16  # verdicts per write
_SEVERITIES = get_args(Severity)


@cache
def tool_fingerprint() -> str:
    """The version and every source and schema file of the installed cmdbctl: a verdict
    is the code's, and an edited checkout judges afresh."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".json")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass
class AuditCache:
    """Verdicts by (commit id, judgement, tool fingerprint), one SQLite file in
    `.git/cmdbctl/`. Each row carries a digest of its key and value: a row that does not
    match it, or does not decode to a verdict, is judged again and rewritten; a file
    SQLite cannot read is replaced by a fresh one. Read once at the start; new verdicts
    are written a few at a time, each batch in a transaction of its own connection (so
    no connection is open while worker processes fork, and an interrupted run keeps what
    it judged). A write that fails (locked past the timeout, a read-only `.git`) only
    costs speed. Never a wrong verdict: at worst a commit is judged again. Off with
    CMDBCTL_NO_CACHE=1 or outside a git directory."""

    path: Path | None
    rows: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    pending: list[tuple[str, str, str, bytes, str]] = field(default_factory=list)
    swept: bool = False  # rows of other tool fingerprints removed (on the first write)

    @classmethod
    def open(cls, root: Path) -> AuditCache:
        git_dir = gitio.output(root, "rev-parse", "--absolute-git-dir")
        if git_dir is None or not cache_enabled():
            return cls(None)
        kept = cls(Path(os.fsdecode(git_dir.strip())) / "cmdbctl" / "audit-v1.sqlite")
        try:
            with closing(kept._connect()) as db:
                rows = db.execute(
                    "SELECT commit_id, judgement, verdict, digest FROM verdicts WHERE tool = ?",
                    (tool_fingerprint(),),
                ).fetchall()
        except (OSError, sqlite3.Error):
            kept._fresh()
            return kept
        kept.rows = {
            (c, j): (v, d)
            for c, j, v, d in rows
            if isinstance(c, str)
            and isinstance(j, str)
            and isinstance(d, str)
            and isinstance(v, bytes)
        }
        return kept

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=_TIMEOUT, isolation_level=None)
        try:
            db.execute(_TABLE)
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _fresh(self) -> None:
        """Put an empty cache in place of one SQLite cannot read."""
        assert self.path is not None
        self.rows = {}
        try:
            for leftover in (self.path, self.path.with_name(self.path.name + "-journal")):
                leftover.unlink(missing_ok=True)
            self._connect().close()
        except (OSError, sqlite3.Error):
            self.path = None  # no cache this run

    def get(
        self, commit: gitio.Commit, judgement: Judgement, committed: str
    ) -> AuditedCommit | None:
        row = self.rows.get((commit.sha, judgement))
        if row is None:
            return None
        value, digest = row
        if _digest(commit.sha, judgement, value) != digest:
            return None
        try:
            data = orjson.loads(value)
            findings = [_finding(f) for f in data["findings"]]
            kind, verdict = data["kind"], data["verdict"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        if kind not in ("merge", "squash", "direct") or verdict not in ("passed", "refused"):
            return None
        return _audited(commit, committed, kind, verdict, findings, cached=True)

    def put(self, audited: AuditedCommit, judgement: Judgement) -> None:
        if self.path is None:
            return
        try:
            value = orjson.dumps(
                {
                    "kind": audited.kind,
                    "verdict": audited.verdict,
                    "findings": [f.to_json() for f in audited.findings],
                }
            )
        except TypeError:
            return  # text JSON cannot hold (a lone surrogate): judged again next time
        self.pending.append(
            (
                audited.sha,
                judgement,
                tool_fingerprint(),
                value,
                _digest(audited.sha, judgement, value),
            )
        )
        if len(self.pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the verdicts put since the last flush."""
        if self.path is None or not self.pending:
            return
        rows, self.pending = self.pending, []
        try:
            with closing(self._connect()) as db:
                db.execute("BEGIN IMMEDIATE")
                if not self.swept:  # verdicts of another version of the code
                    db.execute("DELETE FROM verdicts WHERE tool != ?", (tool_fingerprint(),))
                    self.swept = True
                db.executemany("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?)", rows)
                db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (
                sqlite3.SQLITE_BUSY,
                sqlite3.SQLITE_LOCKED,
                sqlite3.SQLITE_READONLY,
            ):
                self._fresh()  # another run left it corrupt: start a fresh one
            # else another run holds it, or it is read-only: only speed is lost
        except (OSError, sqlite3.Error):
            self._fresh()


def _digest(sha: str, judgement: str, value: bytes) -> str:
    key = f"{sha}\0{judgement}\0{tool_fingerprint()}\0".encode()
    return hashlib.sha256(key + value).hexdigest()


def _finding(data: Any) -> Finding:
    """A stored finding, every field checked."""
    finding = Finding(**data)
    if not (
        isinstance(finding.path, str)
        and isinstance(finding.code, str)
        and isinstance(finding.message, str)
        and finding.severity in _SEVERITIES
        and isinstance(finding.pointer, str)
        and all(v is None or type(v) is int for v in (finding.line, finding.column))
        and (finding.hint is None or isinstance(finding.hint, str))
    ):
        raise ValueError("junk finding")
    return finding
