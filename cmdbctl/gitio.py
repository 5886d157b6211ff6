"""The one place git runs: every git process starts in `_start`, in an environment
without what a git hook inherits (`environment`); a missing git is `GitMissing` (exit 2)
where a command needs git, and no answer where it only asks (`output`, `is_work_tree`).

We drive the `git` executable rather than a binding: the gate needs exactly git's own
behaviour (merge bases, rename detection, `verify-commit` with SSH and OpenPGP
signatures, shallow clones), batching through `cat-file --batch` keeps it fast, and
nothing else must be installed (gpg only to check OpenPGP-signed approvals). Every
failure a user can cause becomes a `CommandError` naming the revision.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Self

from cmdbctl.errors import CommandError

# Ours: messages we parse are git's own words, git never waits for a password, and a
# read-only command never takes the index lock from a `git commit` running beside it.
_ENV = {"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}

# What a git hook inherits points git at the repository and index of the command that
# runs the hook (GIT_DIR, GIT_INDEX_FILE, GIT_WORK_TREE, GIT_PREFIX, GIT_OBJECT_DIRECTORY,
# GIT_CONFIG_PARAMETERS, ...). So every GIT_* variable is dropped, as pre-commit's
# `no_git_env` drops them (pre-commit/pre-commit#300), except those it keeps (how to
# reach a remote, configuration given as GIT_CONFIG_KEY_*) and two sets it does not:
# the identity `git commit` records (GIT_AUTHOR_*, GIT_COMMITTER_*; CI sets identities
# that way), and GIT_CONFIG_GLOBAL/SYSTEM/NOSYSTEM, which choose the configuration files
# as GIT_CONFIG_KEY_* adds to them: a user's (or a test suite's) choice, never a hook's.
_KEPT = frozenset(
    {
        "GIT_EXEC_PATH",
        "GIT_CONFIG_COUNT",
        "GIT_HTTP_PROXY_AUTHMETHOD",
        "GIT_ALLOW_PROTOCOL",
        "GIT_ASKPASS",
        "GIT_CONFIG_GLOBAL",
        "GIT_CONFIG_SYSTEM",
        "GIT_CONFIG_NOSYSTEM",
    }
)
_KEPT_PREFIXES = (
    "GIT_CONFIG_KEY_",
    "GIT_CONFIG_VALUE_",
    "GIT_SSH",
    "GIT_SSL_",
    "GIT_AUTHOR_",
    "GIT_COMMITTER_",
)


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every process started here runs in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GIT_") or k in _KEPT or k.startswith(_KEPT_PREFIXES)
    }
    return {**env, **_ENV, **(extra or {})}


class GitMissing(CommandError):
    """No git to run: every command that reads history needs it (exit 2)."""

    def __init__(self) -> None:
        super().__init__(
            "git is not installed or not on PATH",
            "install git (https://git-scm.com) or add the folder that holds it to PATH",
        )


def _start(
    root: Path | None,
    args: Sequence[str],
    program: str = "git",
    env: Mapping[str, str] | None = None,
    **streams: Any,
) -> subprocess.Popen[bytes]:
    """Every process this module runs starts here: `program ARGS` in `root`, in
    `environment(env)`. A missing git is `GitMissing`; a missing other program (gpg)
    is the caller's FileNotFoundError."""
    try:
        return subprocess.Popen([program, *args], cwd=root, env=environment(env), **streams)
    except FileNotFoundError as exc:
        if program == "git" and exc.filename == program:  # not a missing `root`
            raise GitMissing() from exc
        raise


@dataclass(frozen=True, slots=True)
class _Done:
    returncode: int
    stdout: bytes
    stderr: bytes


def _complete(
    root: Path | None,
    args: Sequence[str],
    input: bytes | None = None,
    program: str = "git",
    env: Mapping[str, str] | None = None,
) -> _Done:
    """Run to the end, as subprocess.run: output captured, stdin `input` or nothing. On
    any exception here (Ctrl-C) the process is killed, never waited for."""
    stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
    with _start(
        root, args, program, env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        try:
            out, err = proc.communicate(input)
        except BaseException:
            proc.kill()
            raise
    return _Done(proc.returncode, out, err)


def run(root: Path, *args: str, input: bytes | None = None, check: bool = True) -> str:
    return run_bytes(root, *args, input=input, check=check).decode("utf-8", "replace")


def run_bytes(root: Path, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
    proc = _complete(root, args, input)
    if check and proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitFailed(
            f"git {args[0]} failed: {message[-1] if message else proc.returncode}", proc.returncode
        )
    return proc.stdout


def output(root: Path, *args: str, input: bytes | None = None) -> bytes | None:
    """What a git command printed, or None when it failed (not a repository, ...) or
    there is no git: the caller only asks, and does without the answer."""
    try:
        proc = _complete(root, args, input)
    except GitMissing:
        return None
    return proc.stdout if proc.returncode == 0 else None


def _path(raw: bytes) -> str:
    # as os.fsdecode does: a file name that is no UTF-8 still round-trips
    return raw.decode("utf-8", "surrogateescape")


EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's id of the empty tree


# `ls-files -v` tags: lower case is "assume unchanged", S is "skip worktree"
_UNWATCHED = re.compile(rb"\0[hsmrckS] ")
_ATTRIBUTES = re.compile(rb"[ /]\.gitattributes\0")


_FALSE = {b"", b"false", b"no", b"off", b"0"}
# Settings under which stat data says less than git status needs, or the file's bytes
# need not be what the tree's blob holds once git calls it clean (content conversion).
_UNSAFE = {
    b"core.ignorestat": lambda v: v not in _FALSE,
    b"core.fsmonitor": lambda v: v not in _FALSE,
    b"core.usebuiltinfsmonitor": lambda v: v not in _FALSE,
    b"core.trustctime": lambda v: v in _FALSE,
    b"core.checkstat": lambda v: v == b"minimal",
    b"core.autocrlf": lambda v: v not in _FALSE,
    b"core.attributesfile": lambda v: True,
}


def stat_data_trusted(root: Path, folders: Sequence[str]) -> bool:
    """Whether a file git calls unchanged against a tree (`differing`) holds exactly
    that tree's blob: `root` is the top of a work tree (paths git prints are then
    `root`'s); git looks at every file's stat data in full (no assume-unchanged or
    skip-worktree marks, fsmonitor, ignoreStat, trustctime off, checkStat minimal);
    and git converts no content (autocrlf, attributes: a file it re-checks out could
    then hold other bytes for the same blob). Untracked .gitattributes inside the
    document folders are the walk's to find (`Listing.attributes`)."""
    where = output(
        root, "rev-parse", "--is-inside-work-tree", "--show-prefix", "--absolute-git-dir"
    )
    if where is None or not where.startswith(b"true\n\n"):
        return False
    settings = output(root, "config", "-z", "--get-regexp", r"^core\.") or b""
    for item in settings.split(b"\0"):
        key, _, value = item.partition(b"\n")
        if key.lower() in _UNSAFE and _UNSAFE[key.lower()](value.strip().lower()):
            return False
    git_dir = Path(_path(where[6:].strip()))
    user_attributes = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    if (
        (root / ".gitattributes").exists()
        or (git_dir / "info" / "attributes").exists()
        or (user_attributes / "git" / "attributes").exists()
    ):
        return False
    flags = output(root, "ls-files", "-v", "-z", "--", *folders)
    return (
        flags is not None and not _UNWATCHED.search(b"\0" + flags) and not _ATTRIBUTES.search(flags)
    )


def head_tree(root: Path) -> str | None:
    """The tree id of HEAD (the empty tree before the first commit); None: no repository."""
    out = output(root, "rev-parse", "--verify", "--quiet", "HEAD^{tree}")
    if out:
        return out.decode().strip()
    return EMPTY_TREE if output(root, "rev-parse", "--git-dir") is not None else None


def _names(out: bytes) -> set[str]:
    return {_path(p) for p in out.split(b"\0") if p}


def differing(root: Path, tree: str, folders: Sequence[str]) -> set[str] | None:
    """Paths under `folders` whose work-tree file (judged by the index's stat data, as
    `git status` does) is not `tree`'s blob: edited, added, staged or deleted. Untracked
    files are not among them. None: `tree` is not there."""
    out = output(root, "diff-index", "--name-only", "--no-renames", "-z", tree, "--", *folders)
    return None if out is None else _names(out)


def tree_differences(root: Path, old: str, new: str, folders: Sequence[str]) -> set[str] | None:
    """Paths under `folders` that differ between two trees; None: one is not there."""
    out = output(
        root, "diff-tree", "-r", "--name-only", "--no-renames", "-z", old, new, "--", *folders
    )
    return None if out is None else _names(out)


def tree_blobs_of(root: Path, tree: str, paths: Iterable[str]) -> dict[str, str] | None:
    """path → blob id in `tree`, of those of `paths` it holds as files."""
    paths = list(paths)
    asked = [p for p in paths if "\n" not in p]  # cat-file reads one path per line
    found = {}
    if asked:
        lines = "".join(f"{tree}:{p}\n" for p in asked).encode("utf-8", "surrogateescape")
        out = output(root, "cat-file", "--batch-check=%(objecttype) %(objectname)", input=lines)
        if out is None:
            return None
        for path, answer in zip(asked, out.split(b"\n")):
            kind, _, blob = answer.partition(b" ")
            if kind == b"blob":
                found[path] = blob.decode()
    for path in paths:
        if "\n" in path and (blob_id := blob_at(root, tree, path)):
            found[path] = blob_id
    return found


def blob_at(root: Path, rev: str, path: str) -> str | None:
    """The blob id of `path` at `rev`, for any path, even one no line protocol can name."""
    out = output(root, "ls-tree", "-z", "--full-tree", rev, "--", f":(literal){path}")
    meta, _, found = (out or b"").rstrip(b"\0").partition(b"\t")
    return meta.split()[2].decode() if b" blob " in meta and _path(found) == path else None


class GitFailed(CommandError):
    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


def is_work_tree(path: Path) -> bool:
    """Whether `path` is in a git work tree; False also when there is no git."""
    try:
        return _in_work_tree(path)
    except GitMissing:
        return False


def _in_work_tree(path: Path) -> bool:
    if not path.is_dir():
        return False
    proc = _complete(path, ["rev-parse", "--is-inside-work-tree"])
    return proc.returncode == 0 and proc.stdout.strip() == b"true"


def init(path: Path) -> None:
    run(path, "init", "--quiet")


def require_work_tree(root: Path) -> None:
    """Exit 2 unless `root` is in a git work tree, saying so when git is missing."""
    if not _in_work_tree(root):
        raise CommandError(
            f"{root} is not a git work tree; this command reads git history",
            "run it inside a clone of the CMDB repository",
        )


def resolve(root: Path, rev: str) -> str:
    """The commit id of `rev`, or exit 2 naming it."""
    proc = _complete(
        root, ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"]
    )
    if proc.returncode != 0:
        hint = "fetch it first (git fetch origin)" if "/" in rev else "check the name with git log"
        raise CommandError(f"revision {rev!r} is not there", hint)
    return proc.stdout.decode().strip()


def ls_tree(
    root: Path, rev: str, folders: Sequence[str], links: set[str] | None = None
) -> dict[str, str]:
    """path → blob id of every file under `folders` at `rev`; the paths that are
    symbolic links (whose blob is the link's text) are added to `links` when given."""
    out = run_bytes(root, "ls-tree", "-r", "-z", "--full-tree", rev, "--", *folders)
    # Decoded once, not per path: the same strings as `_path` gives (UTF-8 never puts a
    # NUL or TAB inside a character), at half the cost for 10^5 records.
    found = {}
    for record in out.decode("utf-8", "surrogateescape").split("\0")[:-1]:
        meta, _, path = record.partition("\t")  # "<mode> <type> <object>", the path
        if " blob " in meta:
            found[path] = meta[meta.rfind(" ") + 1 :]
            if links is not None and meta.startswith("120000"):
                links.add(path)
    return found


# Past this many bytes, one alternation gets slow in the C library's regex (10^4 ids:
# 4.7 s as one pattern, 0.7 s as five). Many -F patterns are slower still: git tries
# each in turn (2,000 ids: 21 s).
_PATTERN_BYTES = 20_000
_NOT_WORD = re.compile(rb"[^0-9A-Za-z_]")  # what git's -w takes for a word boundary
_GREP_RECORD = re.compile(rb"([^\0]*)\0([^\n]*)\n")  # "<rev>:<path>\0<line>\n"


def grep_words(
    root: Path, rev: str, words: Sequence[str], *folders: Sequence[str]
) -> list[tuple[str, str]]:
    """(path, word) for each of `words` that a file under `folders` at `rev` holds as a
    whole word. git finds the lines in C; each `folders` argument (a list of pathspecs)
    is searched by a single-threaded git process of its own, all at once: git's threads
    contend for the object store (on 2 cores, 2 threads take longer than 1), separate
    processes do not."""
    wanted = {w.encode("utf-8", "surrogateescape"): w for w in words if w and "\n" not in w}
    if not wanted:
        return []
    patterns = b"".join(p + b"\n" for p in _alternations(wanted))
    # -a: attributes (read from the checkout, which may be the branch under review)
    # must not hide a file from the search as binary.
    args = [
        "grep",
        "--threads=1",
        "--no-color",
        "--no-line-number",
        "--no-column",
        "-z",
        "-a",
        "-w",
        "-E",
        "-f",
        "-",
        rev,
        "--",
    ]
    folders = folders or ((),)  # no folders: the whole tree

    def search(pathspecs: Sequence[str]) -> _Done:
        return _complete(root, [*args, *pathspecs], patterns)

    with ThreadPoolExecutor(len(folders)) as pool:
        runs = list(pool.map(search, folders))
    lengths = sorted({len(w) for w in wanted})
    found: dict[tuple[str, str], None] = {}
    prefix = len(rev) + 1  # "<rev>:<path>\0<line>\n"
    for proc in runs:
        if proc.returncode not in (0, 1):  # 1: nothing found
            message = proc.stderr.decode("utf-8", "replace").strip()
            raise GitFailed(f"git grep failed: {message or 'no answer'}", proc.returncode)
        for path, line in _GREP_RECORD.findall(proc.stdout):
            # Every word of the line, not only one (as -o would): one word may overlap
            # another ("a, srv" in "a, srv-1"), and each counts.
            cuts = [m.start() for m in _NOT_WORD.finditer(line)]
            ends = {*cuts, len(line)}
            for start in (0, *(c + 1 for c in cuts)):
                for n in lengths:
                    if start + n in ends and (word := wanted.get(line[start : start + n])):
                        found[(_path(path[prefix:]), word)] = None
    return list(found)


def _alternations(words: Iterable[bytes]) -> list[bytes]:
    """POSIX extended regexes (a|b|...) that together match `words` literally. A word
    never shares one with a longer word it begins: at a place where both match, the
    regex takes the longer, and when -w refuses that one, git moves on without trying
    the shorter, which may be a whole word there."""
    present = set(words)
    levels: list[list[bytes]] = []
    for word in sorted(present):
        level = sum(word[:n] in present for n in range(1, len(word)))
        levels += [[] for _ in range(level + 1 - len(levels))]
        levels[level].append(_ERE_SPECIAL.sub(rb"\\\g<0>", word))
    out = []
    for same in levels:
        start = 0
        while start < len(same):  # in pieces of less than _PATTERN_BYTES
            end, size = start, 0
            while end < len(same) and (end == start or size + len(same[end]) < _PATTERN_BYTES):
                size += len(same[end]) + 1
                end += 1
            out.append(b"(" + b"|".join(same[start:end]) + b")")
            start = end
    return out


# Escaped, these match themselves in a POSIX ERE; `]` and `}` alone already do.
_ERE_SPECIAL = re.compile(rb"[.\[\\()*+?{|^$]")


class BlobReader:
    """Reads many blobs through one `git cat-file --batch` process."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._proc = _start(
            root, ["cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def read(self, blob: str) -> bytes:
        data = self.read_optional(blob)
        if data is None:
            raise CommandError(f"object {blob} is not in the repository")
        return data

    def read_optional(self, name: str) -> bytes | None:
        """A blob by id or `<rev>:<path>`; None when there is no such object."""
        assert self._proc.stdin and self._proc.stdout
        if "\n" in name:  # cat-file reads names a line each: ask for the blob's id
            rev, _, path = name.partition(":")
            blob = blob_at(self._root, rev, path)
            if blob is None:
                return None
            name = blob
        try:
            self._proc.stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
            self._proc.stdin.flush()
        except BrokenPipeError as exc:  # ours, not stdout's: never a quiet `| head` exit
            raise GitFailed("git cat-file ended early", self._proc.poll() or -1) from exc
        header = self._proc.stdout.readline().split()
        if len(header) < 3 or header[1] != b"blob":
            return None
        data = self._proc.stdout.read(int(header[2]))
        self._proc.stdout.read(1)  # the newline after the content
        return data

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        if self._proc.stdout:  # drained first: git may still be writing an answer
            self._proc.stdout.read()
            self._proc.stdout.close()
        self._proc.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    email: str


def current_identity(root: Path) -> Identity:
    """Who `git commit` would record as author: environment first, then config."""
    proc = _complete(root, ["var", "GIT_AUTHOR_IDENT"])
    text = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0 or "<" not in text:
        raise CommandError(
            "no git identity is set", 'set one with git config user.name "..." and user.email "..."'
        )
    name, _, rest = text.partition("<")
    return Identity(name.strip(), rest.partition(">")[0].strip())


def is_shallow(root: Path) -> bool:
    return run(root, "rev-parse", "--is-shallow-repository").strip() == "true"


def remotes(root: Path) -> list[str]:
    return run(root, "remote").split()


def is_ancestor(root: Path, ancestor: str, descendant: str) -> bool:
    return _complete(root, ["merge-base", "--is-ancestor", ancestor, descendant]).returncode == 0


def merge_bases(root: Path, base: str, head: str) -> list[str]:
    """Every best common ancestor: more than one after criss-cross merges."""
    return (output(root, "merge-base", "--all", base, head) or b"").decode().split()


def merge_base(root: Path, base: str, head: str) -> str | None:
    found = output(root, "merge-base", base, head)
    return found.decode().strip() if found is not None else None


def deepen(root: Path, remote: str, depth: int) -> None:
    run(root, "fetch", "--quiet", f"--deepen={depth}", remote)


def history_base(root: Path, base: str, head: str) -> str:
    """The merge base of `base` and `head`, deepening a shallow clone until it is there.

    Never guesses: without the merge base, a verdict could miss commits.
    """
    found = merge_base(root, base, head)
    if found:
        return found
    if not is_shallow(root):
        raise CommandError(
            f"{base!r} and {head!r} share no history",
            "pass --base the branch this one will be merged into",
        )
    remote = next(iter(remotes(root)), None)
    if remote is None:
        raise CommandError(
            f"this clone is shallow and the merge base of {base!r} and {head!r} is not in it",
            "fetch the history first: git fetch --unshallow (or --deepen=100) origin",
        )
    depth = 50
    while is_shallow(root):
        deepen(root, remote, depth)
        found = merge_base(root, base, head)
        if found:
            return found
        depth *= 2
    found = merge_base(root, base, head)
    if not found:
        raise CommandError(f"{base!r} and {head!r} share no history")
    return found


@dataclass(frozen=True, slots=True)
class FileChange:
    status: str  # A added, M modified, D deleted, R renamed (git's letters)
    old_path: str | None
    new_path: str | None
    old_blob: str | None
    new_blob: str | None

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


_NULL = "0" * 40


def diff_tree(root: Path, old: str, new: str, folders: Sequence[str]) -> list[FileChange]:
    """Files changed between two revisions under `folders`, renames detected."""
    out = run_bytes(
        root, "diff-tree", "-r", "-z", "-M", "--no-commit-id", "--raw", old, new, "--", *folders
    )
    fields = out.split(b"\0")
    changes: list[FileChange] = []
    i = 0
    while i < len(fields) - 1:
        meta = fields[i].decode().lstrip(":").split()
        status = meta[4][0]
        old_blob = None if meta[2] == _NULL else meta[2]
        new_blob = None if meta[3] == _NULL else meta[3]
        old_path: str | None
        new_path: str | None
        if status in "RC":
            old_path, new_path = _path(fields[i + 1]), _path(fields[i + 2])
            i += 3
        else:
            old_path = new_path = _path(fields[i + 1])
            i += 2
        if status == "A":
            old_path = None
        if status == "D":
            new_path = None
        changes.append(FileChange(status, old_path, new_path, old_blob, new_blob))
    return changes


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
    proc = _complete(root, ["cat-file", "--batch"], "".join(f"{s}\n" for s in shas).encode())
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
        zone = timezone(sign * timedelta(hours=int(parts[1][1:3]), minutes=int(parts[1][3:])))
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


def wrote(root: Path, shas: Sequence[str], folders: Sequence[str]) -> dict[str, frozenset[str]]:
    """Paths under `folders` each commit wrote itself: differing from its parent, or for a
    merge from every parent (an evil merge's own edits; what it merely takes from one
    side is that side's commits' doing). Commits that wrote nothing there are left out."""
    if not shas:
        return {}
    out = run_bytes(
        root,
        "diff-tree",
        "--stdin",
        "-r",
        "-c",
        "--root",
        "--name-only",
        "-z",
        "--no-renames",
        "--",
        *folders,
        input="".join(f"{s}\n" for s in shas).encode(),
    )
    found: dict[str, set[str]] = {}
    current: set[str] | None = None
    for item in out.split(b"\0"):
        if not item:
            continue
        if b"/" not in item:  # a commit id: every path under `folders` has a slash
            current = found.setdefault(item.decode("ascii", "replace"), set())
        elif current is not None:
            current.add(_path(item))
    return {sha: frozenset(paths) for sha, paths in found.items() if paths}


def changed_paths(root: Path, commit: Commit) -> list[str]:
    """Paths a commit changed against its first parent (all of them for a root commit)."""
    args = ["diff-tree", "-r", "-z", "--no-commit-id", "--name-only", "-M"]
    if not commit.parents:
        args.append("--root")
    out = run_bytes(root, *args, commit.sha)
    return [_path(p) for p in out.split(b"\0") if p]


@dataclass(frozen=True, slots=True)
class Signature:
    good: bool
    principal: str | None  # SSH: the allowed-signers principal (an email) that signed
    detail: str
    fingerprint: str | None = None  # OpenPGP: the primary key fingerprint that signed


def gpg_home(home: Path) -> None:
    """Make `home` (a fresh, private folder) a throw-away GnuPG home: every key in it is
    one we imported on purpose (so trusted), and no agent is started for it."""
    (home / "gpg.conf").write_text("trust-model always\nno-autostart\n")


def gpg_import(home: Path, armored: str) -> frozenset[str]:
    """Import armored OpenPGP public keys into `home`; the primary fingerprints imported
    (none when gpg is not installed or the text holds no key)."""
    try:
        proc = _complete(
            None,
            ["--homedir", str(home), "--batch", "--no-tty", "--status-fd", "1", "--import"],
            armored.encode(),
            program="gpg",
        )
    except FileNotFoundError:
        return frozenset()
    return frozenset(
        line.split()[3]
        for line in proc.stdout.decode("ascii", "replace").splitlines()
        if line.startswith("[GNUPG:] IMPORT_OK ")
    )


# gpg's status words for a signature that does not verify, in the words we report.
_GPG_PROBLEMS = {
    "NO_PUBKEY": "signed with an OpenPGP key that is in no signingKeys",
    "BADSIG": "bad OpenPGP signature",
    "EXPKEYSIG": "expired OpenPGP key",
    "REVKEYSIG": "revoked OpenPGP key",
    "EXPSIG": "expired OpenPGP signature",
}


def verify_commit(
    root: Path, sha: str, allowed_signers: Path, gnupghome: Path | None = None
) -> Signature:
    """Verify a commit's signature with git's own machinery: SSH signatures against an
    allowed-signers file, OpenPGP signatures against the keys in `gnupghome`."""
    # minTrustLevel: a user's stricter setting must not refuse keys we chose to trust.
    proc = _complete(
        root,
        [
            "-c",
            f"gpg.ssh.allowedSignersFile={allowed_signers}",
            "-c",
            "gpg.minTrustLevel=undefined",
            "verify-commit",
            "--raw",
            sha,
        ],
        env={"GNUPGHOME": str(gnupghome)} if gnupghome else None,
    )
    text = (proc.stderr + proc.stdout).decode("utf-8", "replace")
    principal = fingerprint = None
    detail = next(
        (line for line in text.splitlines() if line.strip() and not line.startswith("[GNUPG:]")),
        "no signature",
    )
    for line in text.splitlines():
        # ssh-keygen: 'Good "git" signature for bob@example.com with ED25519 key SHA256:...'
        if line.startswith('Good "git" signature for '):
            principal = line[len('Good "git" signature for ') :].split(" with ")[0].strip()
        # gpg: '[GNUPG:] VALIDSIG <signing key fpr> <date> ... <primary key fpr>'
        words = line.split()
        if line.startswith("[GNUPG:] VALIDSIG ") and len(words) >= 12:
            fingerprint = words[-1]
        elif words[1:2] and words[1] in _GPG_PROBLEMS and line.startswith("[GNUPG:]"):
            detail = _GPG_PROBLEMS[words[1]]
    return Signature(
        proc.returncode == 0 and (principal or fingerprint) is not None,
        principal,
        detail,
        fingerprint,
    )


def dirty_paths(root: Path) -> list[str]:
    """Uncommitted changes (staged, unstaged or untracked) in the work tree."""
    out = run(root, "status", "--porcelain", "--untracked-files=normal")
    return [line[3:] for line in out.splitlines() if line.strip()]


def require_clean(root: Path) -> None:
    dirty = dirty_paths(root)
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise CommandError(
            f"the work tree has uncommitted changes: {shown}",
            "commit or stash them first; this command commits its own edit",
        )


def commit_file(root: Path, path: str, message: str, sign: bool) -> str:
    """Commit one file with `message`; return the new commit id."""
    run(root, "add", "--", path)
    run(root, "commit", "--quiet", "-m", message, *(["-S"] if sign else []), "--", path)
    return run(root, "rev-parse", "HEAD").strip()


# -- the first-parent history of a branch (cmdbctl audit) ---------------------------------


def first_parent_line(root: Path, rev_range: str) -> list[tuple[str, str]]:
    """(commit id, committer date in ISO 8601) of each commit on the first-parent line of
    `rev_range` ("a..b" of resolved ids, or one id), newest first. The committer date is
    when a commit landed: a merge's is the moment it was merged."""
    out = run(root, "rev-list", "--first-parent", "--format=%cI", rev_range, "--")
    found: list[tuple[str, str]] = []
    lines = out.split("\n")
    for header, date in zip(lines[0::2], lines[1::2]):
        if header.startswith("commit "):
            found.append((header[7:].strip(), date.strip()))
    return found


def first_parent_diffs(
    root: Path, commits: Sequence[tuple[str, str | None]], folders: Sequence[str]
) -> dict[str, list[FileChange]]:
    """What each (commit, first parent) changed under `folders` against that parent, in
    one `git diff-tree --stdin` (a parent of None: a root commit, against the empty
    tree). A merge's changes are its merged branch's and its own. Commits that changed
    nothing there are left out."""
    if not commits:
        return {}
    lines = "".join(f"{sha} {parent}\n" if parent else f"{sha}\n" for sha, parent in commits)
    out = run_bytes(
        root,
        "diff-tree",
        "--stdin",
        "-r",
        "-z",
        "--raw",
        "--no-renames",
        "--root",
        "--",
        *folders,
        input=lines.encode(),
    )
    found: dict[str, list[FileChange]] = {}
    current: list[FileChange] | None = None
    fields = out.split(b"\0")
    i = 0
    while i < len(fields):
        item = fields[i]
        if item.startswith(b":") and current is not None and i + 1 < len(fields):
            meta = item.decode().lstrip(":").split()
            old_blob = None if meta[2] == _NULL else meta[2]
            new_blob = None if meta[3] == _NULL else meta[3]
            path = _path(fields[i + 1])
            status = meta[4][0]
            current.append(
                FileChange(
                    status,
                    None if status == "A" else path,
                    None if status == "D" else path,
                    old_blob,
                    new_blob,
                )
            )
            i += 2
            continue
        if item:  # a commit id: every record of it follows
            current = found.setdefault(item.decode("ascii", "replace").strip(), [])
        i += 1
    return {sha: changes for sha, changes in found.items() if changes}


def require_full_history(root: Path) -> None:
    """In a shallow clone, fetch the rest of the history from the first remote, or exit 2
    with the `git fetch` that gets it: judging a commit reads every earlier commit of the
    change requests it touches (who added each approval), and a clone cut short would
    show the cut as their author. Never a verdict from missing history."""
    if not is_shallow(root):
        return
    remote = next(iter(remotes(root)), None)
    hint = f"fetch the whole history first: git fetch --unshallow {remote or 'origin'}"
    if remote is None:
        raise CommandError("this clone is shallow: the history to audit is not all in it", hint)
    try:
        run(root, "fetch", "--quiet", "--unshallow", remote)
    except GitFailed as exc:
        raise CommandError(
            f"this clone is shallow and fetching its history from {remote} failed ({exc.message})",
            hint,
        ) from exc
    if is_shallow(root):
        raise CommandError("this clone is still shallow after fetching its history", hint)


# -- one document's history (cmdbctl history, cmdbctl show) --------------------------------


def diff_each(
    root: Path, lines: Sequence[Sequence[str]], paths: Sequence[str], renames_only: bool = False
) -> list[list[FileChange]]:
    """What each line's commit changed under `paths` (pathspecs, magic allowed), renames
    detected, one list per line in order, in one `git diff-tree --stdin`. A line is
    `(commit,)`, against its parent (a root commit: against the empty tree), or
    `(commit, other)`, against `other` (a merge against one of its parents).
    `renames_only`: only the renames (detected among every file under `paths`)."""
    if not lines:
        return []
    text = "".join(" ".join(line) + "\n" for line in lines)
    out = run_bytes(
        root,
        "diff-tree",
        "--stdin",
        "--always",
        "-r",
        "-z",
        "-M",
        "--raw",
        "--root",
        *(["--diff-filter=R"] if renames_only else []),
        "--",
        *paths,
        input=text.encode(),
    )
    found: list[list[FileChange]] = []
    fields = out.split(b"\0")
    i = 0
    while i < len(fields):
        item = fields[i]
        if item.startswith(b":") and found:  # "<modes> <blobs> <status>", then its paths
            meta = item.decode().lstrip(":").split()
            status = meta[4][0]
            count = 2 if status in "RC" else 1
            names = [_path(f) for f in fields[i + 1 : i + 1 + count]]
            old_blob = None if meta[2] == _NULL else meta[2]
            new_blob = None if meta[3] == _NULL else meta[3]
            found[-1].append(
                FileChange(
                    status,
                    None if status == "A" else names[0],
                    None if status == "D" else names[-1],
                    old_blob,
                    new_blob,
                )
            )
            i += 1 + count
            continue
        if item:  # --always: every line's commit id comes first, even with no records
            found.append([])
        i += 1
    if len(found) != len(lines):
        raise GitFailed(f"git diff-tree answered {len(found)} of {len(lines)} commits", 0)
    return found


def tree_files(root: Path, rev: str, paths: Sequence[str]) -> dict[str, str]:
    """path → blob id of the files of `rev` that match `paths`: ls-tree for pathspecs
    with magic (`:(glob)inventory/**/app-01.yaml`), which ls-tree itself refuses."""
    out = run_bytes(
        root, "diff-tree", "-r", "-z", "--raw", "--no-renames", EMPTY_TREE, rev, "--", *paths
    )
    fields = out.split(b"\0")
    return {
        _path(path): meta.split()[3].decode()
        for meta, path in zip(fields[0::2], fields[1::2])
        if meta.startswith(b":")
    }


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


# --- `cmdbctl rollback`: reverting into the index, and putting everything back ----------

_IN_PROGRESS = {
    "MERGE_HEAD": "a merge",
    "REVERT_HEAD": "a revert",
    "CHERRY_PICK_HEAD": "a cherry-pick",
    "sequencer": "a revert or cherry-pick",
    "rebase-merge": "a rebase",
    "rebase-apply": "a rebase or `git am`",
    "BISECT_LOG": "a bisect",
}


def operation_in_progress(root: Path) -> str | None:
    """What git is in the middle of (a merge, a revert, a rebase, ...), if anything: a
    clean work tree can still be half way through one."""
    names = list(_IN_PROGRESS)
    out = run(root, "rev-parse", *(arg for n in names for arg in ("--git-path", n)))
    for name, where in zip(names, out.splitlines()):
        if (root / where).exists():
            return _IN_PROGRESS[name]
    return None


def symbolic_head(root: Path) -> str | None:
    """The ref HEAD points to (refs/heads/main); None when HEAD is detached."""
    out = output(root, "symbolic-ref", "--quiet", "HEAD")
    return out.decode("utf-8", "surrogateescape").strip() if out else None


def new_branch_problem(root: Path, name: str) -> str | None:
    """Why `name` cannot be made a new branch (not a valid name, or taken), if it cannot."""
    if output(root, "check-ref-format", "--branch", name) is None or name.startswith("-"):
        return f"{name!r} is not a valid branch name"
    if output(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}") is not None:
        return f"branch {name!r} exists already"
    return None


def first_parent_changes(root: Path, commits: Sequence[Commit]) -> dict[str, frozenset[str]]:
    """Every path each commit changed against its first parent (a merge: against its
    mainline; a root commit: all its files), renames as a deletion and an addition."""
    if not commits:
        return {}
    lines = "".join(f"{c.sha} {c.parents[0]}\n" if c.parents else f"{c.sha}\n" for c in commits)
    out = run_bytes(
        root,
        "diff-tree",
        "--stdin",
        "-r",
        "--root",
        "--always",
        "--name-only",
        "-z",
        "--no-renames",
        input=lines.encode(),
    )
    found: dict[str, set[str]] = {c.sha: set() for c in commits}
    ids = iter([c.sha for c in commits])
    expected, current = next(ids, None), None
    for item in out.split(b"\0"):  # each commit's id (--always), then its paths
        if not item:
            continue
        if expected is not None and item == expected.encode():
            current, expected = found[expected], next(ids, None)
        elif current is not None:
            current.add(_path(item))
    return {sha: frozenset(paths) for sha, paths in found.items()}


def revert_into_index(root: Path, sha: str, mainline: bool) -> list[str] | None:
    """`git revert --no-commit` of one commit (a merge against its first parent): None
    when it applied cleanly, else the paths it left in conflict. Any other failure is
    GitFailed. The revert stays "in progress" until `end_revert`."""
    proc = _complete(root, ["revert", "--no-commit", *(["-m", "1"] if mainline else []), sha])
    if proc.returncode == 0:
        return None
    conflicted = sorted(_names(output(root, "diff", "--name-only", "--diff-filter=U", "-z") or b""))
    if not conflicted:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitFailed(
            f"git revert failed: {message[-1] if message else proc.returncode}", proc.returncode
        )
    return conflicted


def end_revert(root: Path) -> None:
    """Forget the revert in progress (REVERT_HEAD, MERGE_MSG, the sequencer), keeping the
    index and the work tree as they are."""
    run(root, "revert", "--quit", check=False)


def restore_paths(root: Path, rev: str, pathspecs: Sequence[str]) -> None:
    """The index and work tree of `pathspecs` as `rev` has them (files it lacks removed),
    conflicts there resolved so."""
    run(root, "restore", f"--source={rev}", "--staged", "--worktree", "--", *pathspecs)


def staged_blobs(root: Path, paths: Iterable[str]) -> dict[str, str]:
    """path → blob id in the index (stage 0) of those of `paths` it holds."""
    wanted = [f":(literal){p}" for p in paths]
    if not wanted:
        return {}
    found = {}
    for record in run_bytes(root, "ls-files", "--stage", "-z", "--", *wanted).split(b"\0"):
        meta, _, path = record.partition(b"\t")  # "<mode> <blob> <stage>", the path
        fields = meta.split()
        if len(fields) == 3 and fields[2] == b"0":
            found[_path(path)] = fields[1].decode()
    return found


def reset_index_and_tree(root: Path, rev: str) -> None:
    """Index and tracked files exactly as `rev` has them, conflicts dropped, files it does
    not hold removed; no ref moves (unlike `git reset --hard`, not even ORIG_HEAD)."""
    run(root, "read-tree", "--reset", "-u", rev)


def refresh_index(root: Path) -> None:
    """Refresh the index's stat data of files whose times changed but not their bytes."""
    run(root, "update-index", "-q", "--refresh", check=False)


def commit_index(root: Path, message: str) -> str:
    """Commit what is staged as the current identity, hooks and all; the new commit id."""
    run(root, "commit", "--quiet", "-m", message)
    return run(root, "rev-parse", "HEAD").strip()


def update_ref(root: Path, ref: str, new: str, old: str) -> None:
    """Point `ref` at `new`, only if it still points at `old`."""
    run(root, "update-ref", ref, new, old)


def switch_new_branch(root: Path, name: str) -> None:
    """Create branch `name` at HEAD and check it out (the files do not change)."""
    run(root, "checkout", "--quiet", "-b", name)


def switch_back(root: Path, ref: str | None, sha: str) -> None:
    """Check out `ref` (refs/heads/...) again, or detach at `sha` when there was none."""
    if ref is not None and ref.startswith("refs/heads/"):
        run(root, "checkout", "--quiet", ref.removeprefix("refs/heads/"), "--")
    else:
        run(root, "checkout", "--quiet", "--detach", sha)


def delete_branch(root: Path, name: str) -> None:
    run(root, "branch", "--quiet", "-D", name)
