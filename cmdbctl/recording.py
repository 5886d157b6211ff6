"""A record about a change request, committed: a round-trip edit of its file committed as
the current identity (put back as it was when no commit is made), with the message and
the time such a record carries. `approve`, `review` and `rollback` record this way."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cmdbctl import gitio
from cmdbctl.editing import edit
from cmdbctl.errors import CommandError


def commit_message(
    action: str,
    change_id: str,
    name: str | None,
    body: str | None,
    trailers: Sequence[tuple[str, str]],
) -> str:
    """The message of a commit that records something about a change request: the
    subject `<action> <id>: <name>`, the body, then `Change-Id:` and `trailers`.

    The subject and each trailer value are collapsed to one line: they carry text from
    documents and snapshots (a change's name, a snapshot's source), and a line break there
    would start a line git reads as a trailer of its own (`Change-Id:` of another change,
    `Signed-off-by:`) or split the subject. Collapsed rather than refused: the record is
    still true, and the text a user cannot always change (another person's document)
    never blocks an approval. A trailer key is ours, never data: a bad one is a bug."""
    subject = _one_line(f"{action} {change_id}" + (f": {name}" if name else ""))
    lines = []
    for key, value in (("Change-Id", change_id), *trailers):
        if not _TRAILER_KEY.fullmatch(key):
            raise ValueError(f"not a trailer key: {key!r}")
        lines.append(f"{key}: {_one_line(value)}\n")
    return subject + (f"\n\n{body}" if body else "") + "\n\n" + "".join(lines)


_TRAILER_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


def _one_line(text: str) -> str:
    """`text` on one line: every run of white space, line breaks of any kind included
    (CR, NEL, LS, PS, ...), made one space."""
    return " ".join(text.split())


def timestamp(now: datetime | None = None) -> str:
    """`now` (default: this moment, in local time) as a record's `at`: ISO 8601 to the
    second, with its offset."""
    return (now or datetime.now().astimezone()).isoformat(timespec="seconds")


def commit_edit(
    root: Path, path: str, change: Callable[[Any], None], message: str, sign: bool, why_signed: str
) -> str:
    """Apply `change` to the file's round-trip tree (comments kept) and commit just that
    file as the current identity. When no commit is made (git fails, or the user
    interrupts a signing prompt) the file, its times and the index are as they were.
    Returns the commit id."""
    absolute = root / path
    original = absolute.read_bytes()
    times = absolute.stat()
    text = edit(original.decode("utf-8"), path, change)
    head = gitio.resolve(root, "HEAD")
    absolute.write_text(text, encoding="utf-8")
    try:
        return gitio.commit_file(root, path, message, sign)
    except BaseException as exc:
        if (
            gitio.output(root, "rev-parse", "--verify", "--quiet", "HEAD") == f"{head}\n".encode()
        ):  # no commit made: leave the repository as it was
            absolute.write_bytes(original)
            os.utime(absolute, ns=(times.st_atime_ns, times.st_mtime_ns))
            gitio.run(root, "reset", "--quiet", "--", path, check=False)
        if (
            sign
            and isinstance(exc, gitio.GitFailed)
            and exc.message.startswith("git commit failed")
        ):
            raise _signing_failed(root, exc, why_signed) from exc
        raise


def _signing_failed(root: Path, exc: gitio.GitFailed, why_signed: str) -> CommandError:
    def config(key: str) -> str | None:
        value = gitio.output(root, "config", "--get", key)
        return value.decode("utf-8", "replace").strip() if value else None

    fmt = config("gpg.format") or "openpgp"
    key = config("user.signingkey")
    return CommandError(
        f"could not make the signed commit ({why_signed}) with gpg.format={fmt}, "
        f"user.signingkey={key or '(not set)'}: {exc.message}",
        "point git at your key: `git config user.signingkey <OpenPGP key id, or the path "
        "of your SSH key>` and, for an SSH key, `git config gpg.format ssh` "
        "(gpg.format=ssh); nothing was committed and the file is as it was",
    )
