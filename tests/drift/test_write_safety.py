"""`cmdbctl diff --write` never writes through a link, over something in the way, or a
record that says more than it did: every path checked from the repository root down
before anything changes, the undo tolerant of what was in the way, the discovered status
kept, commit messages one line per trailer, branch names git reads as they are, strings
YAML would fold written as escapes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from cmdbctl import gitio
from cmdbctl.drift import confined
from cmdbctl.editing import edit
from cmdbctl.putback import PutBack
from cmdbctl.recording import commit_message
from tests.conftest import GitRepo, snapshot
from tests.drift.kit import Estate, item, parsed, unchanged, with_db, write

pytestmark = pytest.mark.filterwarnings(r"ignore:unclosed file <_io.BufferedReader")


@pytest.fixture
def db(estate: Estate) -> Estate:
    return with_db(estate)


def new_ci(estate: Estate) -> str:
    return estate.snapshot([item(hostname="web-09", attributes={"memoryMb": 8192})])


# --- paths checked before anything changes -------------------------------------------------


def test_a_folder_link_inside_the_repository_is_never_written_through(db: Estate) -> None:
    os.symlink("servers", db.path / "inventory/discovered")  # stays inside, still refused
    db.commit_all("a folder link")
    before, head = snapshot(db.path, ignore=(".git",)), db.head()
    result = write(db, new_ci(db), "--add-unmanaged")
    assert result.exit_code == 2, result.stderr
    assert "inventory/discovered is a symlink" in result.stderr
    assert not (db.path / "inventory/servers/web-09.yaml").exists()
    unchanged(db, before, head)


def test_a_dangling_link_at_the_new_ci_path_is_refused_and_kept(db: Estate) -> None:
    (db.path / "inventory/discovered").mkdir()
    os.symlink("../../../nowhere.yaml", db.path / "inventory/discovered/web-09.yaml")
    db.commit_all("a dangling link")
    before, head = snapshot(db.path, ignore=(".git",)), db.head()
    result = write(db, new_ci(db), "--add-unmanaged")
    assert result.exit_code == 2, result.stderr
    assert "inventory/discovered/web-09.yaml is a symlink" in result.stderr
    assert not (db.path.parent / "nowhere.yaml").exists()
    unchanged(db, before, head)


@pytest.mark.parametrize("what", ["folder", "fifo"])
def test_something_not_a_file_at_the_new_ci_path_is_refused(db: Estate, what: str) -> None:
    target = db.path / "inventory/discovered/web-09.yaml"
    target.parent.mkdir()
    if what == "folder":
        db.write("inventory/discovered/web-09.yaml/keep", "mine\n")
        db.commit_all("a folder in the way")
    else:
        os.mkfifo(target)  # never opened: the check refuses it first (git ignores FIFOs)
    before, head = snapshot(db.path, ignore=(".git",)), db.head()
    result = write(db, new_ci(db), "--add-unmanaged")
    assert result.exit_code == 2, result.stderr
    assert "inventory/discovered/web-09.yaml exists already" in result.stderr
    assert snapshot(db.path, ignore=(".git",)) == before
    assert db.head() == head and db.git("branch", "--show-current").strip() == "main"


def test_a_link_anywhere_under_changes_is_never_written_through(db: Estate) -> None:
    victim = db.path.parent / "precious.txt"
    victim.write_text("precious\n")
    (db.path / "changes/old").mkdir()
    os.symlink(victim, db.path / "changes/old/CHG-2026-0002.yaml")
    db.commit_all("a link")
    snap = db.snapshot([item(serial="CZ1234", attributes={"memoryMb": 8192})])
    before, head = snapshot(db.path, ignore=(".git",)), db.head()
    result = write(db, snap)
    assert result.exit_code == 1, result.stderr  # validate refuses the link itself
    assert victim.read_text() == "precious\n"
    unchanged(db, before, head)


def test_any_name_under_changes_claims_its_id(db: Estate) -> None:
    db.write("changes/CHG-2026-0002.yaml/README", "a folder named like a change\n")
    db.commit_all("odd, but no link")
    snap = db.snapshot([item(serial="CZ1234", attributes={"memoryMb": 8192})])
    result = write(db, snap, "--branch", "drift/x")
    assert result.exit_code == 0, result.stderr
    assert "changes/CHG-2026-0003.yaml" in result.stderr
    assert db.read("changes/CHG-2026-0002.yaml/README") == "a folder named like a change\n"


def test_problem_names_each_thing_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a/file.yaml").write_text("x\n")
    (tmp_path / "f").write_text("not a folder\n")
    os.symlink("a", tmp_path / "link")
    assert confined.problem(tmp_path, "a/new/deeper/x.yaml", new=True) is None
    assert confined.problem(tmp_path, "a/file.yaml", new=False) is None
    assert "exists already" in (confined.problem(tmp_path, "a/file.yaml", new=True) or "")
    assert "is not there" in (confined.problem(tmp_path, "a/gone.yaml", new=False) or "")
    assert "where a folder is needed" in (confined.problem(tmp_path, "f/x.yaml", new=True) or "")
    assert "link is a symlink" in (confined.problem(tmp_path, "link/file.yaml", new=False) or "")
    assert "not a regular file" in (confined.problem(tmp_path, "a", new=False) or "")
    for bad in ("../x.yaml", "/etc/passwd", "a//x.yaml", "a/./x.yaml", ""):
        assert "not a path inside" in (confined.problem(tmp_path, bad, new=True) or "")


def test_a_link_put_in_place_after_the_check_is_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.yaml").write_text("theirs\n")
    root = tmp_path / "repo"
    root.mkdir()
    os.symlink(outside, root / "folder")
    os.symlink(outside / "x.yaml", root / "x.yaml")
    for path, new in [("folder/x.yaml", False), ("folder/y.yaml", True), ("x.yaml", False)]:
        with pytest.raises(OSError):
            confined.write(root, path, b"ours\n", new=new)
    with pytest.raises(OSError):
        confined.read(root, "folder/x.yaml")
    assert (outside / "x.yaml").read_text() == "theirs\n"
    assert sorted(p.name for p in outside.iterdir()) == ["x.yaml"]


def test_an_edit_keeps_the_file_and_its_mode(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    target = tmp_path / "a/x.yaml"
    target.write_text("old, and longer than the new text\n")
    target.chmod(0o640)
    inode = target.stat().st_ino
    confined.write(tmp_path, "a/x.yaml", b"new\n", new=False)
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_ino == inode and target.stat().st_mode & 0o777 == 0o640
    confined.write(tmp_path, "b/c/new.yaml", b"made\n", new=True)
    assert confined.read(tmp_path, "b/c/new.yaml") == b"made\n"
    with pytest.raises(FileExistsError):
        confined.write(tmp_path, "b/c/new.yaml", b"again\n", new=True)


# --- the undo -------------------------------------------------------------------------------


def test_the_undo_removes_only_what_was_not_there_and_tolerates_a_file_in_the_way(
    tmp_path: Path, isolated_git: None
) -> None:
    repo = GitRepo.scaffold(tmp_path / "repo")
    repo.write("inventory/discovered", "not a folder\n")
    (repo.path / "changes/keep.yaml").symlink_to("../README.md")
    repo.git("add", "-A")
    repo.commit(message="in the way")
    head = repo.head()
    undo = PutBack(
        repo.path,
        head,
        "refs/heads/main",
        None,
        [],
        ["inventory/discovered/web-09.yaml", "changes/keep.yaml", "inventory/new/x.yaml"],
    )
    (repo.path / "inventory/new").mkdir()
    (repo.path / "inventory/new/x.yaml").write_text("made by the run\n")
    undo.run("--write")
    assert repo.read("inventory/discovered") == "not a folder\n"
    assert os.readlink(repo.path / "changes/keep.yaml") == "../README.md"
    assert not (repo.path / "inventory/new").exists()
    assert repo.git("status", "--porcelain") == ""


# --- what the new CI says -----------------------------------------------------------------


def test_the_status_discovery_reports_is_the_new_cis(db: Estate) -> None:
    snap = db.snapshot([item(hostname="web-09", attributes={"status": "maintenance"})])
    result = write(db, snap, "--add-unmanaged", "--branch", "drift/x")
    assert result.exit_code == 0, result.stderr
    spec = parsed(db.read("inventory/discovered/web-09.yaml"))["spec"]
    assert spec["status"] == "maintenance"
    assert next(iter(spec)) == "status"
    again = db.diff("-d", snap)[1]
    assert again["summary"]["drifted"] == 0 and again["summary"]["unmanaged"] == 0


def test_a_status_the_schema_refuses_changes_nothing(db: Estate) -> None:
    snap = db.snapshot([item(hostname="web-09", attributes={"status": "melted"})])
    before, head = snapshot(db.path, ignore=(".git",)), db.head()
    result = write(db, snap, "--add-unmanaged")
    assert result.exit_code == 1, result.stderr
    unchanged(db, before, head)


def test_a_new_ci_without_status_is_active(db: Estate) -> None:
    result = write(db, new_ci(db), "--add-unmanaged", "--branch", "drift/x")
    assert result.exit_code == 0, result.stderr
    assert parsed(db.read("inventory/discovered/web-09.yaml"))["spec"]["status"] == "active"


# --- commit messages ------------------------------------------------------------------------


def test_commit_message_puts_subject_and_trailers_on_one_line_each() -> None:
    message = commit_message(
        "Approve",
        "CHG-2026-0001",
        "Resize\nChange-Id: CHG-2026-0009",
        "why:\n\nbecause",
        [("Approved-by", "Bob\r\nSigned-off-by: Eve <eve@example.com>\u2028x\x85y")],
    )
    subject, _, rest = message.partition("\n")
    assert subject == "Approve CHG-2026-0001: Resize Change-Id: CHG-2026-0009"
    assert rest.startswith("\nwhy:\n\nbecause\n\n")  # the body is the user's, as written
    assert gitio.trailers(message) == {
        "change-id": ["CHG-2026-0001"],
        "approved-by": ["Bob Signed-off-by: Eve <eve@example.com> x y"],
    }
    with pytest.raises(ValueError):
        commit_message("Approve", "CHG-2026-0001", None, None, [("Bad key", "x")])


def test_a_snapshot_source_that_is_a_plain_name_is_in_the_trailer(db: Estate) -> None:
    for n, source in enumerate(["ansible prod", "weird: name\nX-Other: 1"]):
        snap = db.snapshot([item(serial="CZ1234", attributes={"memoryMb": 8192 + n})], source)
        result = write(db, snap, "--branch", f"drift/{n}")
        assert result.exit_code == 0, result.stderr
        trailer = db.git("log", "-1", "--format=%(trailers:key=Snapshot,valueonly)").strip()
        digest = trailer.split()[-1]
        assert digest.startswith("sha256:")
        assert trailer == (f"ansible prod {digest}" if n == 0 else digest)
        assert db.git("log", "-1", "--format=%(trailers:key=X-Other)").strip() == ""
        change = parsed(db.read("changes/CHG-2026-0002.yaml"))
        assert change["metadata"]["annotations"]["snapshot/0"] == f"{source} {digest}"
        db.git("checkout", "-q", "main")


# --- branch names -----------------------------------------------------------------------


def test_branch_names_git_would_read_as_something_else(db: Estate) -> None:
    db.git("tag", "v1")
    db.git("branch", "taken")
    short = db.head()[:12]
    for name in ["@", "refs/heads/main", "refs/x", "v1", short, "@{-1}", "a@{b}", "-x"]:
        assert gitio.new_branch_problem(db.path, name), name
    assert "exists already" in (gitio.new_branch_problem(db.path, "taken") or "")
    for name in ["drift/2026-11-22", "x@", "@x", "a.b"]:
        assert gitio.new_branch_problem(db.path, name) is None, name


def test_rollback_refuses_such_a_branch_name_too(db: Estate) -> None:
    result = db.cli("rollback", "CHG-2026-0001", "--reason", "x", "--branch", "@", as_="alice")
    assert result.exit_code == 2, result.stderr
    assert "'@' names a revision already" in result.stderr
    assert db.git("branch", "--format=%(refname:short)").split() == ["main"]


# --- strings YAML would fold ---------------------------------------------------------------


@pytest.mark.parametrize("value", ["a\x85b", "\u2028", "x\u2029", "trailing\x85", "é plain"])
def test_strings_with_line_breaks_only_escapes_keep_are_double_quoted(value: str) -> None:
    def change(data: Any) -> None:
        data["spec"]["name"] = value

    text = edit("apiVersion: cmdb/v1\nspec:  # kept\n  a: 'x'\n", "x.yaml", change)
    assert parsed(text)["spec"] == {"a": "x", "name": value}
    assert "# kept" in text and "a: 'x'" in text
    line = text.splitlines()[-1]
    assert line.startswith('  name: "') == (value != "é plain"), line
