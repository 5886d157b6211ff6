"""Putting back exactly what a writing command changed when it fails half way (a
conflict, validate, a commit hook, Ctrl-C): HEAD and its branch, the index, the work tree
and its file times, the files and folders it created, the branch it made. `rollback` and
`diff --write` undo this way."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cmdbctl import gitio
from cmdbctl.errors import CommandError


class PutBack:
    """What a run may change, noted before it starts; `run` puts that back, and only that."""

    def __init__(
        self,
        root: Path,
        head: str,
        current: str | None,
        branch: str | None,
        paths: Iterable[str],
        created: Iterable[str] = (),
    ) -> None:
        """`head` and `current` (HEAD's branch, None when detached) as the run found
        them; `branch`: the new branch it makes, if any; `paths`: existing files it may
        change (their times are kept); `created`: files it will write that are not there."""
        self.root, self.head, self.current, self.branch = root, head, current, branch
        self.times: dict[str, tuple[int, int]] = {}
        for path in paths:
            try:
                info = (root / path).lstat()
            except OSError:
                continue
            self.times[path] = (info.st_atime_ns, info.st_mtime_ns)
        # Only what is not there now is the run's to remove: a path that is (a tracked
        # symlink, someone's file) stays whatever the run did.
        self.created = sorted(p for p in set(created) if not os.path.lexists(root / p))
        missing = {
            folder
            for p in self.created
            for folder in (root / p).parents
            if folder.is_relative_to(root) and not os.path.lexists(folder)
        }
        self.folders = sorted(missing, key=lambda f: len(f.parts), reverse=True)  # deepest first

    def run(self, what: str) -> None:
        """Put it all back; `what` failed ("the rollback", "--write")."""
        root, head = self.root, self.head
        try:
            with uninterrupted():
                gitio.end_revert(root)
                now = gitio.resolve(root, "HEAD")
                if now != head:  # the commit was made, then something failed
                    gitio.update_ref(root, "HEAD", head, now)
                gitio.reset_index_and_tree(root, head)
                for path in self.created:
                    try:
                        (root / path).unlink()
                    except (FileNotFoundError, NotADirectoryError):  # never made: a file
                        pass  # was where its folder should be, or the run stopped first
                for folder in self.folders:
                    try:
                        folder.rmdir()
                    except OSError:  # something of someone else's is in it: it stays
                        pass
                for path, (atime, mtime) in self.times.items():
                    if (root / path).is_file():
                        os.utime(root / path, ns=(atime, mtime), follow_symlinks=False)
                gitio.refresh_index(root)
                if self.branch is not None:  # no such branch before: one by its name is ours
                    if gitio.symbolic_head(root) == f"refs/heads/{self.branch}":
                        gitio.switch_back(root, self.current, head)
                    if gitio.new_branch_problem(root, self.branch):
                        gitio.delete_branch(root, self.branch)
        except Exception as exc:
            back = (self.current or "").removeprefix("refs/heads/") or head
            raise CommandError(
                f"{what} failed and the repository could not be put back: {exc}",
                f"put it back yourself: git revert --quit; git reset --hard {head}"
                + (f"; git checkout {back}; git branch -D {self.branch}" if self.branch else ""),
            ) from exc


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Ctrl-C is ignored while the repository is put back (the git processes started
    meanwhile inherit that): a second one must not leave it half restored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
