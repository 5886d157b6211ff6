"""Red team: `cmdbctl diff --discovered SNAPSHOT [--write [--branch NAME] [--add-unmanaged]]`
fed hostile snapshots and hostile repositories.

A snapshot is untrusted input (any tool wrote it, or a compromised host reported its
own facts): nothing in it may write outside inventory/ and the draft, forge what the
commit says about itself, crash the command or leave the repository changed. Each test
asserts the safe behaviour; those marked xfail are holes still open.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.conftest import identity, run_cli, snapshot
from tests.drift.kit import NOW, Estate, item, parsed, unchanged, with_db, write

pytestmark = pytest.mark.filterwarnings(r"ignore:unclosed file <_io.BufferedReader")


@pytest.fixture
def estate(estate: Estate) -> Estate:
    return with_db(estate)


# --- --add-unmanaged: the new CI's id and file -------------------------------------------


def test_unmanaged_item_reporting_its_status_is_no_crash(estate: Estate) -> None:
    snap = estate.snapshot([item(hostname="web-09", attributes={"status": "retired"})])
    before, head = snapshot(estate.path, ignore=(".git",)), estate.head()
    result = write(estate, snap, "--add-unmanaged")  # run_cli fails on a traceback
    if result.exit_code == 0:
        added = parsed(estate.read("inventory/discovered/web-09.yaml"))
        assert added["spec"]["status"] in ("active", "retired")
    else:
        assert result.exit_code in (1, 2)
        unchanged(estate, before, head)


@pytest.mark.parametrize(
    "serial",
    [
        "../../policies/people",
        "/etc/passwd",
        "..",
        "a\x00b",
        "x\ny",
        "ＣＨＧ-2026-0001",  # full-width look-alikes
        "CHG-2026-0001",
        "change-policy.yaml",
        "inventory/app-01",
    ],
)
def test_add_unmanaged_names_new_files_only_under_inventory_discovered(
    estate: Estate, serial: str
) -> None:
    snap = estate.snapshot([item(serial=serial)])
    outside = estate.path.parent / "etc-passwd.yaml"
    before, head = snapshot(estate.path, ignore=(".git",)), estate.head()
    result = write(estate, snap, "--add-unmanaged", "--branch", "drift/x")
    assert not outside.exists()
    if result.exit_code != 0:
        assert result.exit_code in (1, 2), result.stderr
        unchanged(estate, before, head)
        return
    changed = estate.git("diff", "--name-only", "main", "drift/x").split()
    news = [p for p in changed if not p.startswith("changes/")]
    assert len(news) == 1 and news[0].startswith("inventory/discovered/"), changed
    assert "/" not in news[0].removeprefix("inventory/discovered/")
    assert [p for p in changed if p.startswith("changes/")] == ["changes/CHG-2026-0002.yaml"]
    assert estate.git("diff", "--name-only", "main", "drift/x", "--", "policies").strip() == ""


def test_add_unmanaged_never_writes_through_a_symlink(estate: Estate) -> None:
    victim = estate.path.parent / "precious.txt"
    victim.write_text("precious\n")
    (estate.path / "inventory/discovered").mkdir()
    os.symlink(victim, estate.path / "inventory/discovered/web-09.yaml")
    estate.commit_all("a link")
    snap = estate.snapshot([item(hostname="web-09", attributes={"memoryMb": 8192})])
    before, head = snapshot(estate.path, ignore=(".git",)), estate.head()
    result = write(estate, snap, "--add-unmanaged")
    assert result.exit_code in (1, 2)
    assert victim.read_text() == "precious\n"
    unchanged(estate, before, head)


def test_draft_change_request_never_written_through_a_symlink(estate: Estate) -> None:
    victim = estate.path.parent / "precious.txt"
    victim.write_text("precious\n")
    os.symlink(victim, estate.path / "changes/CHG-2026-0002.yaml")
    estate.commit_all("a link")
    snap = estate.snapshot([item(serial="CZ1234", attributes={"memoryMb": 8192})])
    before, head = snapshot(estate.path, ignore=(".git",)), estate.head()
    result = write(estate, snap)
    assert victim.read_text() == "precious\n"
    if result.exit_code == 0:  # another id was chosen: the link is untouched
        assert os.readlink(estate.path / "changes/CHG-2026-0002.yaml") == str(victim)
    else:
        unchanged(estate, before, head)


def test_add_unmanaged_into_a_folder_link_leaving_the_repository(estate: Estate) -> None:
    away = estate.path.parent / "away"
    away.mkdir()
    os.symlink(away, estate.path / "inventory/discovered")
    estate.commit_all("a folder link")
    snap = estate.snapshot([item(hostname="web-09", attributes={"memoryMb": 8192})])
    before, head = snapshot(estate.path, ignore=(".git",)), estate.head()
    result = write(estate, snap, "--add-unmanaged")
    assert result.exit_code in (1, 2)
    assert list(away.iterdir()) == []
    unchanged(estate, before, head)


# --- discovered values in the round-trip edit ----------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "Debian\nkind: ChangePolicy",
        "x: y",
        "Debian # not a comment",
        "!!python/object/apply:os.system ['id']",
        "&anchor Debian",
        "*alias",
        "'quoted' \"twice\"",
        "- a list?",
        "{flow: map}",
        "\u2028line\u2029separators",
        "%YAML 1.1",
        "---\n...",
    ],
)
def test_discovered_string_is_written_as_that_string(estate: Estate, value: str) -> None:
    snap = estate.snapshot([item(serial="CZ1234", attributes={"os": {"name": value}})])
    result = write(estate, snap, "--branch", "drift/x")
    assert result.exit_code in (0, 1), result.stderr
    if result.exit_code == 0:
        doc = parsed(estate.read("inventory/servers/db-01.yaml"))
        assert doc["spec"]["os"]["name"] == value
        assert doc["kind"] == "Server" and doc["metadata"]["id"] == "db-01"
        assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}


def test_next_line_character_survives_the_round_trip(estate: Estate) -> None:
    value = "line\x85break"
    snap = estate.snapshot([item(serial="CZ1234", attributes={"os": {"name": value}})])
    result = write(estate, snap, "--branch", "drift/x")
    assert result.exit_code == 0, result.stderr
    assert parsed(estate.read("inventory/servers/db-01.yaml"))["spec"]["os"]["name"] == value
    again = estate.run("-d", snap, "--now", NOW, "--format", "json")
    assert json.loads(again.stdout)["summary"]["drifted"] == 0


def test_deeply_nested_discovered_value_is_refused_or_written_whole(estate: Estate) -> None:
    deep: Any = "x"
    for _ in range(900):  # below orjson's depth limit, far beyond any schema
        deep = {"a": deep}
    snap = estate.snapshot([item(serial="CZ1234", attributes={"os": {"name": deep}})])
    before, head = snapshot(estate.path, ignore=(".git",)), estate.head()
    result = write(estate, snap)
    assert result.exit_code in (1, 2)
    unchanged(estate, before, head)


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_huge_integer_in_a_yaml_snapshot_is_no_crash(estate: Estate, fmt: str) -> None:
    path = estate.snapshots / "big.yaml"
    path.write_text(
        "source: a\ndiscoveredAt: '2026-11-22T08:00:00Z'\nitems:\n- kind: Server\n"
        "  identifiers: {serial: CZ1234}\n  attributes: {memoryMb: 1" + "0" * 400 + "}\n"
    )
    result = estate.run("-d", str(path), "--format", fmt, "--now", NOW)
    assert result.exit_code in (0, 1, 2)


def test_duplicate_keys_in_a_json_snapshot_are_an_error(estate: Estate) -> None:
    path = estate.snapshots / "dup.json"
    path.write_text(
        '{"source": "a", "discoveredAt": "2026-11-22T08:00:00Z", "items": [{"kind": "Server",'
        ' "identifiers": {"serial": "CZ1234", "serial": "OTHER"}, "attributes": {}}]}'
    )
    result = estate.run("-d", str(path), "--now", NOW)
    assert result.exit_code == 2
    assert "serial" in result.stderr and "more than once" in result.stderr


@pytest.mark.parametrize(
    "text",
    [
        (
            "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
            "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        ),
        "source: a\nsource: b\n",
        "items: " + "[" * 20000 + "]" * 20000 + "\n",
        "source: !!python/object/apply:os.system ['touch pwned']\n",
        (
            "source: a\ndiscoveredAt: '2026-11-22T08:00:00Z'\nitems:\n- kind: Server\n"
            "  identifiers: {serial: CZ1234}\n  attributes: {1: 2}\n"
        ),
    ],
    ids=["alias-bomb", "duplicate", "deep", "tag", "int-key"],
)
def test_hostile_yaml_snapshot_is_an_error_with_a_location(estate: Estate, text: str) -> None:
    path = estate.snapshots / "s.yaml"
    path.write_text(text)
    result = estate.run("-d", str(path), "--now", NOW)
    assert result.exit_code == 2
    assert "snapshot" in result.stderr and str(path) in result.stderr
    assert not (estate.path / "pwned").exists()


# --- what the commit says about itself ----------------------------------------------------


def test_snapshot_source_cannot_forge_commit_trailers(estate: Estate) -> None:
    snap = estate.snapshot(
        [item(serial="CZ1234", attributes={"memoryMb": 8192})],
        source="ansible\nChange-Id: CHG-2026-0001\nSigned-off-by: Bob <bob@example.com>\nX:",
    )
    result = write(estate, snap, "--branch", "drift/x")
    assert result.exit_code == 0, result.stderr
    ids = estate.git("log", "-1", "--format=%(trailers:key=Change-Id,valueonly)").split()
    assert ids == ["CHG-2026-0002"]
    assert "Signed-off-by" not in estate.git("log", "-1", "--format=%(trailers)")


def test_draft_change_request_stays_a_draft_whatever_the_snapshot_says(estate: Estate) -> None:
    hostile = 'ansible"\n  status: approved\n  approvals: [{by: bob, decision: approve}]\n#'
    snap = estate.snapshot(
        [item(serial="CZ1234", attributes={"memoryMb": 8192})],
        source=hostile,
        name="x\nstatus: approved.json",
    )
    result = write(estate, snap, "--branch", "drift/x")
    assert result.exit_code == 0, result.stderr
    change = parsed(estate.read("changes/CHG-2026-0002.yaml"))
    assert change["spec"]["status"] == "draft"
    assert "approvals" not in change["spec"]
    assert change["spec"]["targets"] == ["db-01"]
    gate = run_cli(
        "gate", "--base", "main", "--head", "drift/x", "--now", NOW, repo=estate.path,
        env=identity("bob"),
    )  # fmt: skip
    assert gate.exit_code == 1, gate.stdout


# --- branch names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["--force", "-D", "-", "main", "HEAD", "a..b", "x.lock", "a b", "x\ny", "@{-1}"]
)
def test_bad_branch_names_are_refused_changing_nothing(estate: Estate, name: str) -> None:
    snap = estate.snapshot([item(serial="CZ1234", attributes={"memoryMb": 8192})])
    before, head = snapshot(estate.path, ignore=(".git",)), estate.head()
    result = write(estate, snap, "--branch", name)
    assert result.exit_code == 2, result.stderr
    unchanged(estate, before, head)


@pytest.mark.parametrize("name", ["@", "refs/heads/main"])
def test_branch_names_git_reads_as_another_ref_are_refused(estate: Estate, name: str) -> None:
    snap = estate.snapshot([item(serial="CZ1234", attributes={"memoryMb": 8192})])
    before, head = snapshot(estate.path, ignore=(".git",)), estate.head()
    result = write(estate, snap, "--branch", name)
    assert result.exit_code == 2, result.stderr
    unchanged(estate, before, head)


# --- failure half way ----------------------------------------------------------------------


def test_a_failing_commit_hook_puts_everything_back(estate: Estate) -> None:
    hook = estate.path / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    snap = estate.snapshot(
        [item(serial="CZ1234", attributes={"memoryMb": 8192}), item(hostname="web-09")]
    )
    before, head = snapshot(estate.path, ignore=(".git",)), estate.head()
    result = write(estate, snap, "--add-unmanaged", "--branch", "drift/x")
    assert result.exit_code == 2
    unchanged(estate, before, head)


def test_a_file_in_the_way_of_the_new_cis_folder_changes_nothing(estate: Estate) -> None:
    estate.write("inventory/discovered", "not a folder\n")
    estate.commit_all("a file named like the folder")
    snap = estate.snapshot([item(hostname="web-09", attributes={"memoryMb": 8192})])
    before, head = snapshot(estate.path, ignore=(".git",)), estate.head()
    result = write(estate, snap, "--add-unmanaged")
    assert result.exit_code == 2
    assert "could not be put back" not in result.stderr
    unchanged(estate, before, head)


def test_an_ignored_file_at_the_draft_path_is_never_overwritten(estate: Estate) -> None:
    estate.commit(files={".gitignore": "changes/CHG-2026-0002.yaml\n"})
    estate.write("changes/CHG-2026-0002.yaml", "my notes\n")
    snap = estate.snapshot([item(serial="CZ1234", attributes={"memoryMb": 8192})])
    result = write(estate, snap)
    assert estate.read("changes/CHG-2026-0002.yaml") == "my notes\n"
    if result.exit_code == 0:
        assert "CHG-2026-0002" not in estate.git("show", "--stat", "HEAD")


def test_a_dirty_tree_is_refused(estate: Estate) -> None:
    estate.write(
        "inventory/servers/db-01.yaml", estate.read("inventory/servers/db-01.yaml") + "#\n"
    )
    snap = estate.snapshot([item(serial="CZ1234", attributes={"memoryMb": 8192})])
    result = write(estate, snap)
    assert result.exit_code == 2
    assert estate.read("inventory/servers/db-01.yaml").endswith("#\n")
    assert estate.git("branch", "--format=%(refname:short)").split() == ["main"]


def test_an_existing_branch_is_refused_and_kept(estate: Estate) -> None:
    estate.git("branch", "drift/x")
    kept = estate.head("drift/x")
    snap = estate.snapshot([item(serial="CZ1234", attributes={"memoryMb": 8192})])
    result = write(estate, snap, "--branch", "drift/x")
    assert result.exit_code == 2
    assert estate.head("drift/x") == kept
    assert estate.git("branch", "--show-current").strip() == "main"


# --- ignore rules -----------------------------------------------------------------------------

POLICY = """\
apiVersion: cmdb/v1
kind: DiscoveryPolicy
metadata:
  id: discovery
spec:
  ignores:
    - match: {{kind: Server}}
      fields: [spec.memoryMb]
      reason: accepted
      owner: alice
{expires}
"""


@pytest.mark.parametrize(
    "expires",
    ["", "      expires: never", "      expires: 2027-02-31", "      expires: 2026-13-01",
     "      expires: 20261201", "      expires: [2027-01-01]"],
    ids=["none", "never", "feb-31", "month-13", "compact", "list"],
)  # fmt: skip
def test_ignore_rules_that_never_expire_or_malformed_are_refused(
    estate: Estate, expires: str
) -> None:
    estate.commit(files={"policies/discovery.yaml": POLICY.format(expires=expires)})
    snap = estate.snapshot([item(serial="CZ1234", attributes={"memoryMb": 8192})])
    result = estate.run("-d", snap, "--now", NOW, "--format", "json")
    assert result.exit_code == 2, result.stdout
    assert "policies/discovery.yaml" in result.stderr


def test_an_expired_ignore_rule_hides_nothing(estate: Estate) -> None:
    estate.commit(
        files={"policies/discovery.yaml": POLICY.format(expires="      expires: 2026-11-21")}
    )
    snap = estate.snapshot([item(serial="CZ1234", attributes={"memoryMb": 8192})])
    code, report = estate.diff("-d", snap, "--exit-code")
    assert code == 1
    assert report["summary"]["expiredIgnores"] == 1
    assert [d["id"] for d in report["drifted"]] == ["db-01"]


# --- text output ---------------------------------------------------------------------------


def test_text_report_prints_no_terminal_escapes_from_the_snapshot(estate: Estate) -> None:
    snap = estate.snapshot(
        [item(serial="CZ1234", attributes={"memoryMb": 8192}), item(hostname="w\x1b]0;x\x07")],
        source="a\x1b[2J",
    )
    result = estate.run("-d", snap, "--now", NOW)
    assert result.exit_code in (0, 1)
    assert "\x1b" not in result.stdout + result.stderr


def test_snapshot_json_is_what_diff_reads(estate: Estate) -> None:
    data = {"source": "a", "discoveredAt": "2026-11-22T08:00:00Z", "items": []}
    path = estate.snapshots / "ok.json"
    path.write_text(json.dumps(data))
    assert estate.run("-d", str(path), "--now", NOW).exit_code == 0
