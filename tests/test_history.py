"""`cmdbctl history ID`: the audit trail of one document, read from real git repositories
written by `cmdbctl init` and committed by several people."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from cmdbctl import history as core
from cmdbctl.errors import CommandError
from cmdbctl.scaffold import init_repository
from tests.conftest import GitRepo

START = int(datetime(2026, 11, 1, 10, tzinfo=UTC).timestamp())
DAY = 86_400
APP = "inventory/app-01.yaml"
RunCli = Callable[..., Result]  # the `run_cli` fixture of tests/conftest.py


pytestmark = pytest.mark.usefixtures("isolated_git")


@dataclass
class Repo(GitRepo):
    """Commits made by named people, a day apart."""

    day: int = 0

    def commit(
        self,
        as_: str = "alice",
        message: str = "edit",
        files: Mapping[str, str | None] | None = None,
        **options: Any,
    ) -> str:
        self.day += 1
        return super().commit(as_, message, files, when=START + self.day * DAY, **options)

    def history(self, *args: str) -> dict[str, Any]:
        result = self.cli("history", *args, "--format", "json")
        assert result.exit_code == 0, result.stderr
        data: dict[str, Any] = json.loads(result.stdout)
        return data


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """`cmdbctl init`, committed by alice on main."""
    return Repo.scaffold(tmp_path / "cmdb")


def memory(repo: Repo, old: int, new: int, path: str = APP) -> dict[str, str | None]:
    return {path: repo.edit(path, f"memoryMb: {old}", f"memoryMb: {new}")}


def three_edits(repo: Repo) -> list[str]:
    """bob, carol and dave each change app-01 under their own change."""
    return [
        repo.commit("bob", "More memory\n\nChange-Id: CHG-2026-0042", memory(repo, 65536, 131072)),
        repo.commit(
            "carol",
            "Upgrade Debian\n\nChange-Id: CHG-2026-0043",
            {APP: repo.edit(APP, 'version: "12"', 'version: "13"')},
        ),
        repo.commit(
            "dave", "Even more memory\n\nChange-Id: CHG-2026-0044", memory(repo, 131072, 262144)
        ),
    ]


def test_three_people_three_changes_newest_first(repo: Repo) -> None:
    shas = three_edits(repo)
    found = repo.history("app-01")
    assert found["id"] == "app-01"
    entries = found["entries"]
    assert [e["commit"] for e in entries[:3]] == shas[::-1]
    assert [(e["author"], e["email"], e["changeId"]) for e in entries[:3]] == [
        ("Dave Example", "dave@example.com", "CHG-2026-0044"),
        ("Carol Example", "carol@example.com", "CHG-2026-0043"),
        ("Bob Example", "bob@example.com", "CHG-2026-0042"),
    ]
    assert entries[0]["changes"] == [{"path": "/spec/memoryMb", "old": 131072, "new": 262144}]
    assert entries[1]["changes"] == [{"path": "/spec/os/version", "old": "12", "new": "13"}]
    assert entries[0]["date"] == datetime.fromtimestamp(START + 4 * DAY, UTC).isoformat()
    assert entries[-1]["action"] == "added"
    assert entries[-1]["changeId"] is None  # init's example change targets shop-web
    assert len(entries) == 4
    assert set(entries[0]) >= {"commit", "author", "email", "date", "changeId", "changes"}


def test_text_output_reads_as_a_log_with_dotted_paths(repo: Repo) -> None:
    shas = three_edits(repo)
    result = repo.cli("history", "app-01")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.startswith("app-01: 4 commits changed it, newest first\n")
    assert (
        f"{shas[2][:10]}  2026-11-05 10:00:00+00:00  Dave Example <dave@example.com>  "
        "CHG-2026-0044" in text
    )
    assert "    spec.memoryMb: 131072 → 262144\n" in text
    assert '    spec.os.version: "12" → "13"\n' in text
    assert f"    added {APP}" in text
    assert text.index("CHG-2026-0044") < text.index("CHG-2026-0043") < text.index("CHG-2026-0042")


def test_field_narrows_to_who_set_the_value_and_under_which_change(repo: Repo) -> None:
    three_edits(repo)
    entries = repo.history("app-01", "--field", "spec.memoryMb")["entries"]
    assert [(e["changeId"], e["changes"]) for e in entries] == [
        ("CHG-2026-0044", [{"path": "/spec/memoryMb", "old": 131072, "new": 262144}]),
        ("CHG-2026-0042", [{"path": "/spec/memoryMb", "old": 65536, "new": 131072}]),
        (None, [{"path": "/spec/memoryMb", "old": None, "new": 65536}]),  # the creation
    ]
    below = repo.history("app-01", "--field", "spec.os")["entries"]
    assert [e["changes"] for e in below[:1]] == [
        [{"path": "/spec/os/version", "old": "12", "new": "13"}]
    ]
    assert below[-1]["changes"] == [
        {"path": "/spec/os", "old": None, "new": {"name": "Debian", "version": "12"}}
    ]
    pointer = repo.history("app-01", "--field", "/spec/memoryMb")["entries"]
    assert len(pointer) == 3
    text = repo.cli("history", "app-01", "--field", "spec.memoryMb").stdout
    assert text.startswith("app-01: 3 commits changed spec.memoryMb, newest first")
    assert "    spec.memoryMb: (none) → 65536" in text


def test_a_field_nobody_changed_is_an_empty_trail(repo: Repo) -> None:
    result = repo.cli("history", "app-01", "--field", "spec.nothing")
    assert result.exit_code == 0
    assert result.stdout == "app-01: no commit changed spec.nothing\n"
    assert repo.history("app-01", "--field", "spec.nothing")["entries"] == []


@pytest.mark.parametrize("bad", ["", "spec..memoryMb", ".spec", "spec.", " "])
def test_a_malformed_field_path_is_exit_2(repo: Repo, bad: str) -> None:
    result = repo.cli("history", "app-01", "--field", bad)
    assert result.exit_code == 2
    assert "is not a field path" in result.stderr
    assert "spec.memoryMb" in result.stderr  # the hint shows the form


def test_a_move_between_folders_keeps_the_trail(repo: Repo) -> None:
    three_edits(repo)
    moved = "inventory/servers/prod/app-01.yaml"
    move = repo.commit("erin", "File servers by env", moves={APP: moved})
    after = repo.commit(
        "bob", "Trim memory\n\nChange-Id: CHG-2026-0050", memory(repo, 262144, 196608, moved)
    )
    entries = repo.history("app-01")["entries"]
    assert [e["commit"] for e in entries[:2]] == [after, move]
    assert entries[1]["action"] == "moved"
    assert (entries[1]["previousFile"], entries[1]["file"]) == (APP, moved)
    assert entries[1]["changes"] == []
    assert entries[0]["file"] == moved
    assert len(entries) == 6  # the edits before the move are there too
    assert f"moved {APP} → {moved}" in repo.cli("history", "app-01").stdout


def test_a_move_with_heavy_edits_is_still_a_move(repo: Repo) -> None:
    """git pairs no rename below its similarity threshold: a deletion and an addition of
    the same file name in one commit are one document moved."""
    moved = "inventory/other/app-01.yaml"
    notes = "".join(f"# note {n}: rewritten by bob\n" for n in range(40))
    repo.commit("bob", "Rewrite and move", {APP: None, moved: notes + repo.read(APP)})
    entry = repo.history("app-01")["entries"][0]
    assert (entry["action"], entry["previousFile"], entry["file"]) == ("moved", APP, moved)


def test_a_rename_ends_the_trail_of_the_old_id_and_begins_the_new_one(repo: Repo) -> None:
    three_edits(repo)
    renamed = repo.commit("bob", "app-01 is app-02 now", moves={APP: "inventory/app-02.yaml"})
    old = repo.history("app-01")["entries"]
    assert old[0]["commit"] == renamed
    assert old[0]["action"] == "renamed"
    assert (old[0]["previousFile"], old[0]["file"]) == (APP, "inventory/app-02.yaml")
    assert "history of app-01 ends here" in old[0]["note"]
    assert len(old) == 5
    new = repo.history("app-02")["entries"]
    assert len(new) == 1
    assert new[0]["action"] == "added"
    assert new[0]["previousFile"] == APP
    assert "renamed from app-01" in new[0]["note"]
    text = repo.cli("history", "app-01").stdout
    assert f"renamed {APP} → inventory/app-02.yaml" in text
    assert "note: renamed to app-02" in text


def test_a_deleted_ci_keeps_its_trail_ending_with_the_deletion(repo: Repo) -> None:
    shas = three_edits(repo)
    gone = repo.commit("carol", "Retire app-01\n\nChange-Id: CHG-2026-0060", {APP: None})
    entries = repo.history("app-01")["entries"]
    assert [e["commit"] for e in entries[:4]] == [gone, *shas[::-1]]
    assert entries[0]["action"] == "deleted"
    assert entries[0]["changeId"] == "CHG-2026-0060"
    field = repo.history("app-01", "--field", "spec.memoryMb")["entries"]
    assert field[0]["changes"] == [{"path": "/spec/memoryMb", "old": 262144, "new": None}]


def test_a_merge_shows_both_sides_in_topological_order(repo: Repo) -> None:
    fork = repo.commit(
        "bob", "More memory\n\nChange-Id: CHG-2026-0042", memory(repo, 65536, 131072)
    )
    repo.git("checkout", "--quiet", "-b", "side")
    side_1 = repo.commit(
        "carol",
        "Debian 13\n\nChange-Id: CHG-2026-0043",
        {APP: repo.edit(APP, 'version: "12"', 'version: "13"')},
    )
    side_2 = repo.commit(
        "carol",
        "Two more cores\n\nChange-Id: CHG-2026-0043",
        {APP: repo.edit(APP, "cores: 16", "cores: 18")},
    )
    repo.git("checkout", "--quiet", "main")
    main_1 = repo.commit(
        "dave",
        "Rename host\n\nChange-Id: CHG-2026-0044",
        {APP: repo.edit(APP, "name: Application server 1", "name: App server 1")},
    )
    repo.git("merge", "--quiet", "--no-edit", "side", as_="erin", when=START + 20 * DAY)
    merge = repo.head()
    entries = repo.history("app-01")["entries"]
    shas = [e["commit"] for e in entries]
    assert merge not in shas  # a clean merge wrote nothing itself
    assert set(shas[:3]) == {side_1, side_2, main_1}
    assert shas.index(side_2) < shas.index(side_1)
    assert shas[3:] == [fork, shas[-1]]
    assert len(entries) == 5


def test_a_merge_that_resolves_a_conflict_has_an_entry_for_what_it_chose(repo: Repo) -> None:
    repo.git("checkout", "--quiet", "-b", "side")
    repo.commit("carol", "double", memory(repo, 65536, 131072))
    repo.git("checkout", "--quiet", "main")
    resolved = memory(repo, 65536, 196608)[APP]
    repo.commit("dave", "quadruple", memory(repo, 65536, 262144))
    conflict = repo.git("merge", "--quiet", "side", as_="erin", check=False)
    assert "CONFLICT" in conflict, conflict
    (repo.path / APP).write_text(resolved)
    repo.git("add", APP)
    repo.git("commit", "--quiet", "--no-edit", as_="erin")
    merge = repo.head()
    entries = repo.history("app-01")["entries"]
    assert entries[0]["commit"] == merge
    assert entries[0]["action"] == "merged"
    assert entries[0]["author"] == "Erin Example"
    assert entries[0]["changes"] == [{"path": "/spec/memoryMb", "old": 262144, "new": 196608}]
    assert len(entries) == 4


def test_a_move_on_a_side_branch_is_followed_back(repo: Repo) -> None:
    """The document is at its new path in HEAD; main edited it at the old path while the
    side branch moved it: every edit is found, whichever path it was made at."""
    repo.git("checkout", "--quiet", "-b", "side")
    moved = "inventory/servers/app-01.yaml"
    move = repo.commit("carol", "file it", moves={APP: moved})
    repo.git("checkout", "--quiet", "main")
    edit = repo.commit(
        "dave", "more memory\n\nChange-Id: CHG-2026-0044", memory(repo, 65536, 131072)
    )
    repo.git("merge", "--quiet", "--no-edit", "side", as_="erin")
    assert (repo.path / moved).exists()
    entries = repo.history("app-01")["entries"]
    assert {e["commit"] for e in entries[:2]} == {move, edit}
    assert len(entries) == 3


def test_the_change_request_changed_beside_it_names_the_change(repo: Repo) -> None:
    change = repo.read("changes/CHG-2026-0001.yaml").replace("CHG-2026-0001", "CHG-2026-0077")
    repo.commit(
        "bob",
        "no trailer",
        {
            **memory(repo, 65536, 131072),
            "changes/CHG-2026-0077.yaml": change.replace("[shop-web]", "[shop-web, app-01]"),
            "changes/CHG-2026-0078.yaml": change.replace("CHG-2026-0077", "CHG-2026-0078"),
        },
    )
    repo.commit(
        "bob",
        "unrelated change beside it",
        {
            **memory(repo, 131072, 65536),
            "changes/CHG-2026-0079.yaml": change.replace("CHG-2026-0077", "CHG-2026-0079"),
        },
    )
    entries = repo.history("app-01")["entries"]
    assert [e["changeId"] for e in entries[:2]] == [None, "CHG-2026-0077"]


def test_the_trail_of_a_change_request(repo: Repo) -> None:
    path = "changes/CHG-2026-0001.yaml"
    repo.commit("bob", "submit", {path: repo.edit(path, "status: draft", "status: submitted")})
    entries = repo.history("CHG-2026-0001")["entries"]
    assert [e["changeId"] for e in entries] == ["CHG-2026-0001"] * 2
    assert entries[0]["changes"] == [{"path": "/spec/status", "old": "draft", "new": "submitted"}]


def test_an_unreadable_version_is_said_not_crashed_on(repo: Repo) -> None:
    repo.commit("bob", "oops", {APP: "apiVersion: [\n"})
    repo.commit("bob", "fix", {APP: repo.read(APP).replace("[", "cmdb/v1")})
    entries = repo.history("app-01")["entries"]
    assert entries[0]["changes"] == [] and "could not be read" in entries[0]["note"]


def test_an_unknown_id_is_exit_2_naming_it_with_a_hint(repo: Repo) -> None:
    result = repo.cli("history", "app-1")
    assert result.exit_code == 2
    assert "no document 'app-1' in the history of HEAD" in result.stderr
    assert "did you mean app-01?" in result.stderr
    far = repo.cli("history", "zzzzzzzz")
    assert far.exit_code == 2 and "file name without .yaml" in far.stderr


@pytest.mark.parametrize(
    "odd",
    [
        "inventory/app-01.yaml",
        "app-01.yaml",
        "",
        ".",
        "..",
        "a*",
        "[x]",
        "-x",
        ":(glob)*",
        "a\nb",
        "ä-01",
        "a\\b",
    ],
)
def test_odd_ids_never_crash(repo: Repo, odd: str) -> None:
    result = repo.cli("history", "--", odd) if odd.startswith("-") else repo.cli("history", odd)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(("cmdbctl: error:", "Usage:"))


def test_an_id_with_wildcard_characters_is_matched_literally(repo: Repo) -> None:
    weird = "inventory/we[ir]d*.yaml"
    text = repo.read(APP).replace("id: app-01", "id: we[ir]d*")
    repo.commit("bob", "weird", {weird: text, "inventory/wed*.yaml": text})
    repo.commit("bob", "weird again", {weird: text.replace("65536", "1024")})
    entries = repo.history("we[ir]d*")["entries"]
    assert [e["file"] for e in entries] == [weird, weird]
    repo.commit("bob", "gone", {weird: None})
    assert len(repo.history("we[ir]d*")["entries"]) == 3


def test_outside_a_git_repository_or_before_any_commit_it_is_exit_2(
    tmp_path: Path, run_cli: RunCli
) -> None:
    plain = init_repository(tmp_path / "plain").root
    result = run_cli("history", "app-01", repo=plain)
    assert result.exit_code == 2
    assert "no commits yet" in result.stderr
    (plain / ".git").rename(plain / "not-git")
    result = run_cli("history", "app-01", repo=plain)
    assert result.exit_code == 2
    assert "not a git work tree" in result.stderr


def test_a_shallow_clone_fetches_the_rest_first(
    repo: Repo, tmp_path: Path, run_cli: RunCli
) -> None:
    three_edits(repo)
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", f"file://{repo.path}", str(clone)],
        check=True,
        capture_output=True,
    )
    result = run_cli("history", "app-01", "--format", "json", repo=clone)
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["entries"]) == 4


def test_the_core_raises_command_errors_only(repo: Repo) -> None:
    with pytest.raises(CommandError):
        core.history(repo.path, "nope")
    assert core.history(repo.path, "app-01", "spec.memoryMb").field == "/spec/memoryMb"


def test_help_has_examples(run_cli: RunCli) -> None:
    result = run_cli("history", "--help")
    assert result.exit_code == 0
    assert "cmdbctl history app-01 --field spec.memoryMb" in result.stdout


def test_without_git_on_path_it_says_so(
    repo: Repo, tmp_path: Path, run_cmdbctl: Callable[..., Any]
) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "python").symlink_to(sys.executable)
    result = run_cmdbctl("history", "app-01", cwd=repo.path, env={"PATH": str(folder)})
    assert result.returncode == 2
    assert result.stderr.startswith("cmdbctl: error: git is not installed or not on PATH\n")


def test_a_deleted_ci_whose_name_was_used_outside_the_document_folders(repo: Repo) -> None:
    """The newest commit touching a file of that name is not about the CI: every commit
    is searched then."""
    three_edits(repo)
    repo.commit("carol", "retire", {APP: None})
    repo.commit("carol", "keep a copy", {"archive/app-01.yaml": "old: copy\n"})
    entries = repo.history("app-01")["entries"]
    assert entries[0]["action"] == "deleted" and len(entries) == 5


def test_a_ci_deleted_after_a_move_keeps_its_whole_trail(repo: Repo) -> None:
    three_edits(repo)
    moved = "inventory/servers/app-01.yaml"
    repo.commit("erin", "file it", moves={APP: moved})
    repo.commit("erin", "retire", {moved: None})
    entries = repo.history("app-01")["entries"]
    assert [e["action"] for e in entries] == [
        "deleted",
        "moved",
        "modified",
        "modified",
        "modified",
        "added",
    ]
