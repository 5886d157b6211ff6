"""What history says, read once: the facts the gate's judgement is a function of.

`RangeFacts` holds the commits a branch brings (`merge_base..head`, every parent, no
history simplification, merge commits like any other) and the paths each commit wrote
itself. `ChangeRecord` holds, for one change request, who added each recorded decision
(approval, rejection, review) in which commit, which decisions the branch added or
dropped anywhere in its commits, and the versions of the change request at any
commit. Judging (`trust`) reads these values; it never walks history itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmdbctl import gitio
from cmdbctl.loading import load
from cmdbctl.workspace import YAML_SUFFIXES, file_id

GOVERNED = ("inventory", "changes", "policies", "schemas")

# (by, at, decision, n): the n-th entry with that by, at and decision, so that the same
# decision recorded twice in one second is still two records. A review is a decision
# too: (by, at, "review", 1).
Key = tuple[str, str, str, int]


def keys(approvals: Any) -> list[Key]:
    """The keys of a change request's raw `spec.approvals` entries, in order."""
    seen: Counter[tuple[str, str, str]] = Counter()
    out = []
    for a in approvals if isinstance(approvals, list) else []:
        key = (
            (str(a.get("by")), str(a.get("at")), str(a.get("decision")))
            if isinstance(a, dict)
            else ("", "", "")
        )
        seen[key] += 1
        out.append((*key, seen[key]))
    return out


def review_key(spec: dict[str, Any]) -> Key | None:
    review = spec.get("review")
    if not isinstance(review, dict):
        return None
    return (str(review.get("by")), str(review.get("at")), "review", 1)


def decisions(spec: dict[str, Any]) -> set[Key]:
    """Every decision a version of a change request records."""
    found = set(keys(spec.get("approvals")))
    review = review_key(spec)
    return found | {review} if review else found


@dataclass(frozen=True)
class RangeFacts:
    merge_base: str | None  # None: all of head's history is under review
    head: str
    base: str | None  # the tip of the base branch
    commits: tuple[gitio.Commit, ...]  # oldest first
    wrote: dict[str, frozenset[str]]  # sha → governed paths the commit wrote itself
    on_base: dict[str, str] = field(default_factory=dict)  # change id → its path at `base`

    @classmethod
    def read(
        cls, root: Path, merge_base: str | None, head: str, base: str | None = None
    ) -> RangeFacts:
        commits = gitio.log(root, f"{merge_base}..{head}" if merge_base else head, reverse=True)
        on_base: dict[str, str] = {}
        for path in sorted(gitio.ls_tree(root, base, ["changes"]) if base else ()):
            if path.endswith(YAML_SUFFIXES):  # a document, not a note beside it
                on_base.setdefault(file_id(path), path)
        return cls(
            merge_base,
            head,
            base,
            tuple(commits),
            gitio.wrote(root, [c.sha for c in commits], GOVERNED),
            on_base,
        )

    @property
    def shas(self) -> frozenset[str]:
        return frozenset(self.wrote) | {c.sha for c in self.commits}

    def writing(self, paths: Iterable[str]) -> list[gitio.Commit]:
        """The commits (oldest first) that wrote any of `paths`."""
        wanted = set(paths)
        return [c for c in self.commits if self.wrote.get(c.sha, frozenset()) & wanted]

    def paths_of_change(self, change_id: str, path: str) -> list[str]:
        """Every path under changes/ that held change `change_id` in the range, and `path`."""
        return sorted(
            {path}
            | {
                p
                for paths in self.wrote.values()
                for p in paths
                if p.startswith("changes/")
                and p.endswith(YAML_SUFFIXES)
                and file_id(p) == change_id
            }
        )


class Versions:
    """The change request as each commit has it, parsed once."""

    def __init__(self, blobs: gitio.BlobReader) -> None:
        self._blobs = blobs
        self._data: dict[tuple[str, str], dict[str, Any] | None] = {}

    def data(self, rev: str | None, path: str) -> dict[str, Any] | None:
        if rev is None:
            return None
        if (rev, path) not in self._data:
            raw = self._blobs.read_optional(f"{rev}:{path}")
            loaded = load(path, raw).data if raw is not None else None
            self._data[rev, path] = loaded if isinstance(loaded, dict) else None
        return self._data[rev, path]

    def spec(self, rev: str | None, path: str) -> dict[str, Any]:
        spec = (self.data(rev, path) or {}).get("spec")
        return spec if isinstance(spec, dict) else {}


@dataclass
class ChangeRecord:
    """The history of one change request's recorded decisions."""

    paths: list[str]  # every path that held the change request
    added_by: dict[Key, gitio.Commit] = field(default_factory=dict)  # oldest adder
    in_range: dict[Key, gitio.Commit] = field(default_factory=dict)  # added by the branch
    removed_by: dict[Key, gitio.Commit] = field(default_factory=dict)  # dropped by the branch
    implemented_by: gitio.Commit | None = None  # the first commit that set implemented
    created_by: gitio.Commit | None = None  # the first commit that wrote the change request

    @classmethod
    def read(
        cls, root: Path, versions: Versions, facts: RangeFacts, paths: Sequence[str]
    ) -> ChangeRecord:
        """Walk every commit (all of the head's and the base's history, every parent) that
        wrote one of the change request's paths: a decision is added by a commit whose version has it and
        none of whose parents' versions has it."""
        record = cls(list(paths))
        in_range = facts.shas
        # The base's history too: a decision given on main after the branch forked.
        tips = [facts.head] + ([facts.base] if facts.base else [])
        for commit in gitio.log(root, tips, paths, reverse=True, full_history=True):
            for path in paths:
                now_spec = versions.spec(commit.sha, path)
                now = decisions(now_spec)
                before = [versions.spec(p, path) for p in commit.parents]
                if record.created_by is None and versions.data(commit.sha, path) is not None:
                    record.created_by = commit
                had = set().union(*(decisions(s) for s in before))
                for key in sorted(now - had):
                    record.added_by.setdefault(key, commit)
                    if commit.sha in in_range:
                        record.in_range.setdefault(key, commit)
                if commit.sha in in_range:
                    for key in sorted(had - now):
                        record.removed_by.setdefault(key, commit)
                if (
                    record.implemented_by is None
                    and now_spec.get("status") == "implemented"
                    and all(s.get("status") != "implemented" for s in before)
                ):
                    record.implemented_by = commit
        return record
