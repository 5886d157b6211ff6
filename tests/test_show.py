"""`cmdbctl show ID [--at REV-OR-DATE]`: a document as it stands, or stood, read from real
git repositories written by `cmdbctl init`, with commits at known times."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from cmdbctl.scaffold import init_repository
from cmdbctl.show import Absent, Version, show
from tests.conftest import GitRepo

RunCli = Callable[..., Result]  # the `run_cli` fixture of tests/conftest.py
APP = "inventory/app-01.yaml"


def at(day: int, hour: int = 12) -> int:
    """2026-11-<day> <hour>:00 UTC, as seconds."""
    return int(datetime(2026, 11, day, hour, tzinfo=UTC).timestamp())


pytestmark = pytest.mark.usefixtures("isolated_git")


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC for the test."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@dataclass
class Repo(GitRepo):
    """Committed by bob, at given moments."""

    def git(self, *args: str, as_: str = "bob", **options: Any) -> str:
        return super().git(*args, as_=as_, **options)

    def read(self, rel: str = APP) -> str:
        return super().read(rel)

    def memory(self, value: int) -> dict[str, str | None]:
        text = self.read()
        old = next(line for line in text.splitlines() if "memoryMb:" in line)
        return {APP: text.replace(old, f"  memoryMb: {value}")}

    def show(self, *args: str) -> Result:
        return self.cli("show", *args)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """init on Nov 2; app-01 gets 128 GiB on Nov 5 and 256 GiB on Nov 10 (12:00 UTC)."""
    made = Repo.scaffold(tmp_path / "cmdb", as_="bob", when=at(2))
    made.commit("bob", "double", made.memory(131072), when=at(5))
    made.commit("bob", "double again", made.memory(262144), when=at(10))
    return made


def test_the_work_tree_version_is_printed_byte_for_byte(repo: Repo) -> None:
    (repo.path / APP).write_text(repo.read() + "# not committed yet\n")
    result = repo.show("app-01")
    assert result.exit_code == 0
    assert result.stdout == repo.read()
    assert result.stderr == f"# {APP} in the work tree\n"


def test_at_a_revision(repo: Repo) -> None:
    result = repo.show("app-01", "--at", "HEAD~1")
    assert result.exit_code == 0
    assert "memoryMb: 131072" in result.stdout
    assert result.stdout.startswith("apiVersion: cmdb/v1\nkind: Server\n")
    first = repo.git("rev-list", "--max-parents=0", "HEAD")
    assert "memoryMb: 65536" in repo.show("app-01", "--at", first[:12]).stdout
    assert repo.show("app-01", "--at", "main").stdout == repo.read()


@pytest.mark.parametrize(
    ("when", "memory"),
    [
        ("2026-11-05T12:00:00Z", 131072),  # at a commit's own time: that commit
        ("2026-11-05T11:59:59Z", 65536),
        ("2026-11-05T13:00:00+01:00", 131072),
        ("2026-11-05", 131072),  # a date alone: the end of that day
        ("2026-11-09", 131072),
        ("2026-11-10T12:30", 262144),  # no offset: local time (UTC here)
        ("2026-11-10T11:30", 131072),
        ("2026-11-30", 262144),
        ("2030-01-01 00:00:00z", 262144),
        ("9999-12-31T23:59:59-12:00", 262144),
        ("2026-11-05T12:00:00,5+00:00", 131072),
    ],
)
def test_at_a_date_the_last_commit_at_or_before_it(
    repo: Repo, when: str, memory: int, utc: None
) -> None:
    result = repo.show("app-01", "--at", when)
    assert result.exit_code == 0, result.stderr
    assert f"memoryMb: {memory}\n" in result.stdout
    assert "(committed 2026-11-" in result.stderr


def test_a_date_resolves_on_the_first_parent_line(repo: Repo) -> None:
    """A side branch's commit of Nov 11, merged on Nov 14: on Nov 12 the branch (main)
    still had Nov 10's version."""
    repo.git("checkout", "--quiet", "-b", "side")
    repo.commit("bob", "side edit", repo.memory(524288), when=at(11))
    repo.git("checkout", "--quiet", "main")
    repo.git("merge", "--quiet", "--no-ff", "--no-edit", "side", when=at(14))
    assert "memoryMb: 262144\n" in repo.show("app-01", "--at", "2026-11-12").stdout
    assert "memoryMb: 524288\n" in repo.show("app-01", "--at", "2026-11-14").stdout


def test_before_it_existed_is_exit_1_saying_when_it_was_added(repo: Repo) -> None:
    repo.commit(
        "bob",
        "a new server",
        {"inventory/app-02.yaml": repo.read().replace("app-01", "app-02")},
        when=at(12),
    )
    added = repo.head()
    result = repo.show("app-02", "--at", "2026-11-11")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("cmdbctl: app-02 did not exist yet at 2026-11-11 (commit ")
    assert (
        f"added on 2026-11-12T12:00:00+00:00 in commit {added[:10]} by Bob Example" in result.stderr
    )
    by_rev = repo.show("app-02", "--at", "HEAD~1")
    assert by_rev.exit_code == 1
    assert "did not exist yet at HEAD~1" in by_rev.stderr


@pytest.mark.parametrize("when", ["2020-01-01", "1969-12-31T23:59:59Z", "0001-01-01T00:00Z"])
def test_before_the_first_commit_is_exit_1(repo: Repo, when: str) -> None:
    result = repo.show("app-01", "--at", when)
    assert result.exit_code == 1
    assert f"app-01 did not exist yet at {when}, before the first commit" in result.stderr
    assert "added on 2026-11-02T12:00:00+00:00" in result.stderr


def test_after_its_deletion_is_exit_1_saying_when_it_was_deleted(repo: Repo) -> None:
    gone = repo.commit("bob", "retire\n\nChange-Id: CHG-2026-0099", {APP: None}, when=at(15))
    result = repo.show("app-01", "--at", "2026-11-16")
    assert result.exit_code == 1
    assert result.stderr.startswith("cmdbctl: app-01 no longer existed at 2026-11-16 (commit ")
    assert (
        f"deleted on 2026-11-15T12:00:00+00:00 in commit {gone[:10]} by Bob Example "
        "(CHG-2026-0099)" in result.stderr
    )
    now = repo.show("app-01")
    assert now.exit_code == 1
    assert "app-01 is not in the work tree: deleted on 2026-11-15" in now.stderr
    before = repo.show("app-01", "--at", "2026-11-14")
    assert before.exit_code == 0 and "memoryMb: 262144" in before.stdout


def test_deleted_in_the_work_tree_only(repo: Repo) -> None:
    (repo.path / APP).unlink()
    result = repo.show("app-01")
    assert result.exit_code == 1
    assert "HEAD has it as inventory/app-01.yaml" in result.stderr
    assert "--at HEAD" in result.stderr


def test_a_moved_document_is_found_where_it_was(repo: Repo) -> None:
    moved = "inventory/servers/app-01.yaml"
    (repo.path / "inventory/servers").mkdir()
    repo.git("mv", APP, moved)
    repo.git("commit", "--quiet", "-m", "move", when=at(12))
    assert repo.show("app-01").stderr == f"# {moved} in the work tree\n"
    old = repo.show("app-01", "--at", "2026-11-11")
    assert old.exit_code == 0 and old.stderr.startswith(f"# {APP} in commit ")


def test_a_renamed_document_says_so(repo: Repo) -> None:
    repo.git("mv", APP, "inventory/app-99.yaml")
    repo.git("commit", "--quiet", "-m", "rename", when=at(12))
    result = repo.show("app-01", "--at", "HEAD")
    assert result.exit_code == 1
    assert "no longer existed at HEAD" in result.stderr
    assert "renamed to app-99" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("app-01", "--at", "no-such-branch"), "revision 'no-such-branch' is not there"),
        (("app-01", "--at", "2026-13-45"), "'2026-13-45' is not a valid date"),
        (("app-01", "--at", "2026-02-30T10:00"), "is not a valid date"),
        (("app-01", "--at", "0000-01-01"), "is not a valid date"),
        (("app-01", "--at", "9999-12-31T25:00"), "is not a valid date"),
        (("app-1",), "no document 'app-1' in the history of HEAD"),
        (("app-1", "--at", "HEAD"), "no document 'app-1' in the history of HEAD"),
        (("inventory/app-01.yaml",), "is not an id"),
        (("",), "is not an id"),
        (("a*b", "--at", "2026-11-05"), "no document 'a*b'"),
    ],
)
def test_what_cannot_be_shown_is_exit_2(repo: Repo, args: tuple[str, ...], message: str) -> None:
    result = repo.show(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_without_git_the_work_tree_still_shows(tmp_path: Path, run_cli: RunCli) -> None:
    root = init_repository(tmp_path / "plain").root
    assert run_cli("show", "app-01", repo=root).stdout == (root / APP).read_text()
    result = run_cli("show", "app-01", "--at", "HEAD", repo=root)
    assert result.exit_code == 2
    assert "no commits yet" in result.stderr
    missing = run_cli("show", "app-99", repo=root)
    assert missing.exit_code == 2 and "no document 'app-99'" in missing.stderr
    (root / ".git").rename(root / "not-git")
    assert run_cli("show", "app-01", repo=root).exit_code == 0
    assert "not a git work tree" in run_cli("show", "app-01", "--at", "HEAD", repo=root).stderr


def test_a_symlinked_document_is_not_read(repo: Repo) -> None:
    (repo.path / APP).unlink()
    (repo.path / APP).symlink_to("/etc/hostname")
    result = repo.show("app-01")
    assert result.exit_code == 2
    assert "symbolic link" in result.stderr


def test_the_core_returns_values(repo: Repo) -> None:
    found = show(repo.path, "app-01", "HEAD~2")
    assert isinstance(found, Version)
    assert found.path == APP and b"memoryMb: 65536" in found.content
    assert isinstance(show(repo.path, "app-01", "2026-11-01"), Absent)


def test_help_has_examples(run_cli: RunCli) -> None:
    result = run_cli("show", "--help")
    assert result.exit_code == 0
    assert "cmdbctl show app-01 --at 2026-11-20" in result.stdout
