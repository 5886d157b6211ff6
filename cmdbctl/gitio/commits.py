"""Commits read from their objects: `rev-list` names them (hex only), `cat-file --batch`
reads them, and author, subject and trailers are parsed here, never split on bytes a
message may hold; the first-parent line of a branch, with committer dates."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from cmdbctl.errors import CommandError
from cmdbctl.gitio.process import complete, run


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    committer_email: str
    date: str  # the author date, ISO 8601 with its offset
    subject: str
    trailers: dict[str, list[str]]


def log(
    root: Path,
    rev_range: str | Sequence[str],
    paths: Sequence[str] = (),
    first_parent: bool = False,
    reverse: bool = False,
    full_history: bool = False,
) -> list[Commit]:
    """The commits of `rev_range` ("a..b", or several revisions whose history is wanted
    together), in topological order, newest first unless `reverse`.

    `git rev-list` names them (hex only) and each commit object is read and parsed
    here: author names, subjects and trailers are data, whatever bytes they hold, and
    never a separator. The parents are the object's own, never rewritten by path
    limiting. `full_history`: no history simplification, so a merge that keeps one
    side's version of a path does not hide the other side's commits.
    """
    args = ["rev-list", "--topo-order"]
    args += ["--first-parent"] * first_parent + ["--reverse"] * reverse
    args += ["--full-history"] * full_history
    revs = [rev_range] if isinstance(rev_range, str) else list(rev_range)
    shas = run(root, *args, *revs, "--", *paths).split()
    return read_commits(root, shas)


def read_commits(root: Path, shas: Sequence[str]) -> list[Commit]:
    if not shas:
        return []
    proc = complete(root, ["cat-file", "--batch"], "".join(f"{s}\n" for s in shas).encode())
    out, at, commits = proc.stdout, 0, []
    for sha in shas:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        size = int(header[2]) if len(header) == 3 and header[1] == b"commit" else None
        if size is None:
            raise CommandError(f"commit {sha} cannot be read from the repository")
        commits.append(parse_commit(sha, out[end + 1 : end + 1 + size]))
        at = end + 1 + size + 1
    return commits


def parse_commit(sha: str, raw: bytes) -> Commit:
    """A commit object: header lines up to the first empty line, then the message."""
    head, _, body = raw.partition(b"\n\n")
    parents: list[str] = []
    author = committer = b""
    for line in head.split(b"\n"):
        key, _, value = line.partition(b" ")
        if key == b"parent":
            parents.append(value.decode("ascii", "replace"))
        elif key == b"author" and not author:
            author = value
        elif key == b"committer" and not committer:
            committer = value
    author_name, author_email, date = _ident(author)
    message = body.decode("utf-8", "replace")
    subject = message.split("\n", 1)[0].strip()
    return Commit(
        sha,
        tuple(parents),
        author_name,
        author_email,
        _ident(committer)[1],
        date,
        subject,
        trailers(message),
    )


def _ident(value: bytes) -> tuple[str, str, str]:
    """name, lower-case email and ISO date of "Name <email> 1700000000 +0100"."""
    text = value.decode("utf-8", "replace")
    person, _, stamp = text.rpartition(">")
    name, _, email = person.rpartition("<")
    parts = stamp.split()
    date = ""
    if len(parts) == 2 and parts[0].isdigit() and re.fullmatch(r"[+-]\d{4}", parts[1]):
        sign = -1 if parts[1][0] == "-" else 1
        try:  # git stores any offset given, even "+2400", which no time zone is
            zone = timezone(sign * timedelta(hours=int(parts[1][1:3]), minutes=int(parts[1][3:])))
        except ValueError:
            zone = UTC
        try:
            date = datetime.fromtimestamp(int(parts[0]), zone).isoformat()
        except (OverflowError, ValueError, OSError):
            date = ""
    return name.strip(), email.strip().lower(), date


_TRAILER = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)")


def trailers(message: str) -> dict[str, list[str]]:
    """`Key: value` lines of the message's last paragraph (not its first), as git reads
    them: continuation lines (starting with white space) are unfolded; a paragraph with
    any other line holds no trailers. Keys are lower case."""
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", message.strip("\n")) if p.strip()]
    if len(paragraphs) < 2:
        return {}
    found: list[list[str]] = []
    for line in paragraphs[-1].split("\n"):
        match = _TRAILER.fullmatch(line)
        if match:
            found.append([match[1].lower(), match[2].strip()])
        elif line[:1] in (" ", "\t") and found:
            found[-1][1] = f"{found[-1][1]} {line.strip()}".strip()
        else:
            return {}
    out: dict[str, list[str]] = {}
    for key, value in found:
        out.setdefault(key, []).append(value)
    return out


def first_parent_line(root: Path, rev_range: str) -> list[tuple[str, str]]:
    """(commit id, committer date in ISO 8601) of each commit on the first-parent line of
    `rev_range` ("a..b" of resolved ids, or one id), newest first. The committer date is
    when a commit landed: a merge's is the moment it was merged."""
    # The stamp and its offset, read as `_ident` reads a commit's: an offset no time zone
    # can be (git stores "+2400" as given) is then read as UTC, never a crash.
    out = run(root, "rev-list", "--first-parent", "--format=%cd", "--date=raw", rev_range, "--")
    found: list[tuple[str, str]] = []
    lines = out.split("\n")
    for header, stamp in zip(lines[0::2], lines[1::2]):
        if header.startswith("commit "):
            found.append((header[7:].strip(), _ident(b"<> " + stamp.strip().encode())[2]))
    return found


def newest_touching(root: Path, rev: str, paths: Sequence[str]) -> str | None:
    """The newest commit (by date: git stops at the first it finds, no topological sort)
    of `rev`'s history that changed a file matching `paths` against any parent."""
    out = run(root, "rev-list", "--max-count=1", "--full-history", rev, "--", *paths).strip()
    return out or None


def last_commit_before(root: Path, rev: str, timestamp: int) -> tuple[str, str] | None:
    """(commit id, committer date in ISO 8601) of the newest commit on the first-parent
    line of `rev` committed at or before `timestamp` (seconds since the epoch); None:
    there is none."""
    out = run(
        root,
        "rev-list",
        "--first-parent",
        "--max-count=1",
        f"--min-age={timestamp}",
        "--format=%cI",
        rev,
        "--",
    ).split("\n")
    if len(out) < 2 or not out[0].startswith("commit "):
        return None
    return out[0][7:].strip(), out[1].strip()
