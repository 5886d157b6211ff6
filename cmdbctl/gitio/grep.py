"""Which files of a revision hold which ids as whole words: `git grep -w -E`, one
single-threaded process per group of folders."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cmdbctl.gitio.process import Completed, GitFailed, complete, decode_path

# Past this many bytes, one alternation gets slow in the C library's regex (10^4 ids:
# 4.7 s as one pattern, 0.7 s as five). Many -F patterns are slower still: git tries
# each in turn (2,000 ids: 21 s).
_PATTERN_BYTES = 20_000
_NOT_WORD = re.compile(rb"[^0-9A-Za-z_]")  # what git's -w takes for a word boundary
_GREP_RECORD = re.compile(rb"([^\0]*)\0([^\n]*)\n")  # "<rev>:<path>\0<line>\n"
ESCAPE = "\\"  # the "word" `grep_words(escapes=...)` reports for a file with a backslash


def grep_words(
    root: Path,
    rev: str,
    words: Sequence[str],
    *folders: Sequence[str],
    escapes: Sequence[str] | None = None,
) -> list[tuple[str, str]]:
    """(path, word) for each of `words` that a file under `folders` at `rev` holds as a
    whole word; with `escapes` (pathspecs), also (path, ESCAPE) for each file there
    holding a backslash, searched alongside (-w cannot find a backslash inside a word,
    and a pattern that can is several times slower than this second process). git
    finds the lines in C; each `folders` argument (a list of pathspecs) is searched by a
    single-threaded git process of its own, all at once: git's threads contend for the
    object store (on 2 cores, 2 threads take longer than 1), separate processes do not."""
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

    def search(pathspecs: Sequence[str]) -> Completed:
        return complete(root, [*args, *pathspecs], patterns)

    escaping = ["grep", "--threads=1", "-z", "-a", "-l", "-F", "-e", "\\", rev, "--"]
    with ThreadPoolExecutor(len(folders) + 1) as pool:
        backslashes = (
            pool.submit(complete, root, [*escaping, *escapes]) if escapes is not None else None
        )
        runs = list(pool.map(search, folders))
        backslashed = backslashes.result() if backslashes is not None else None
    lengths = sorted({len(w) for w in wanted})
    found: dict[tuple[str, str], None] = {}
    prefix = len(rev) + 1  # "<rev>:<path>\0<line>\n"
    for proc in runs:
        _require_found(proc)
        for path, line in _GREP_RECORD.findall(proc.stdout):
            # Every word of the line, not only one (as -o would): one word may overlap
            # another ("a, srv" in "a, srv-1"), and each counts.
            cuts = [m.start() for m in _NOT_WORD.finditer(line)]
            ends = {*cuts, len(line)}
            for start in (0, *(c + 1 for c in cuts)):
                for n in lengths:
                    if start + n in ends and (word := wanted.get(line[start : start + n])):
                        found[(decode_path(path[prefix:]), word)] = None
    if backslashed is not None:
        _require_found(backslashed)
        for path in backslashed.stdout.split(b"\0"):
            if path:
                found[(decode_path(path[prefix:]), ESCAPE)] = None
    return list(found)


def _require_found(proc: Completed) -> None:
    if proc.returncode not in (0, 1):  # 1: nothing found
        message = proc.stderr.decode("utf-8", "replace").strip()
        raise GitFailed(f"git grep failed: {message or 'no answer'}", proc.returncode)


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
