"""Putting back exactly what a failed rollback changed (HEAD and the branch, the index,
the work tree and its file times, the branch `--branch` made), Ctrl-C or not."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cmdbctl import gitio
from cmdbctl.errors import CommandError
from cmdbctl.rollback.plan import Plan


class Undo:
    """Puts back what a failed rollback changed, and only that."""

    def __init__(self, root: Path, plan: Plan, paths: set[str]) -> None:
        self.root, self.plan = root, plan
        self.times: dict[str, tuple[int, int]] = {}
        for path in paths:
            try:
                info = (root / path).lstat()
            except OSError:
                continue
            self.times[path] = (info.st_atime_ns, info.st_mtime_ns)

    def run(self) -> None:
        root, plan = self.root, self.plan
        try:
            with _uninterrupted():
                gitio.end_revert(root)
                now = gitio.resolve(root, "HEAD")
                if now != plan.head:  # the commit was made, then interrupted
                    gitio.update_ref(root, "HEAD", plan.head, now)
                gitio.reset_index_and_tree(root, plan.head)
                for path, (atime, mtime) in self.times.items():
                    if (root / path).is_file():
                        os.utime(root / path, ns=(atime, mtime), follow_symlinks=False)
                gitio.refresh_index(root)
                if plan.branch is not None:  # no such branch before: a branch by its name is ours
                    ref = f"refs/heads/{plan.branch}"
                    if gitio.symbolic_head(root) == ref:
                        gitio.switch_back(root, plan.current, plan.head)
                    if gitio.new_branch_problem(root, plan.branch):
                        gitio.delete_branch(root, plan.branch)
        except Exception as exc:
            back = (plan.current or "").removeprefix("refs/heads/") or plan.head
            raise CommandError(
                f"the rollback failed and the repository could not be put back: {exc}",
                f"put it back yourself: git revert --quit; git reset --hard {plan.head}"
                + (f"; git checkout {back}; git branch -D {plan.branch}" if plan.branch else ""),
            ) from exc


@contextmanager
def _uninterrupted() -> Iterator[None]:
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
