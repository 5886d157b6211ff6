"""The cache of parsed CIs (cmdbctl/drift/cache.py) never changes a report: cold, warm
and with CMDBCTL_NO_CACHE=1 a diff prints the same bytes, across edits, renames, a file
made the same as another, a file that does not parse, a kind change, values JSON cannot
give back, in this process and in workers; and a warm run parses nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cmdbctl.drift import cache, desired, run_diff
from cmdbctl.drift.report import plain
from cmdbctl.workspace import Workspace
from tests.drift.kit import Estate, item

NOW = datetime(2026, 11, 22, 10, tzinfo=UTC)
SAME = {"os": {"name": "Debian", "version": "12"}, "memoryMb": 65536}

NO_ID = """\
apiVersion: cmdb/v1
kind: Server
metadata:
  owner: team-ops
spec:
  status: active
  hostname: {host}
  memoryMb: 65536
"""


class Runs:
    """Reports of one estate, and how many files each run parsed (in this process)."""

    def __init__(self, estate: Estate, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
        self.estate, self.monkeypatch, self.jobs = estate, monkeypatch, jobs
        self.parsed = 0
        real = desired.load

        def counting(path: str, raw: bytes) -> Any:
            self.parsed += 1
            return real(path, raw)

        monkeypatch.setattr(desired, "load", counting)
        if jobs > 1:  # workers for a handful of files, two files a run
            monkeypatch.setattr(desired, "PARALLEL_THRESHOLD", 1)
            monkeypatch.setattr(desired, "_CHUNK", 2)
        self.snapshot = estate.snapshot(
            [
                item(serial="CZ1", hostname="db-01", attributes=SAME),
                item(serial="CZ2", hostname="db-02", attributes={**SAME, "memoryMb": 1024}),
                item(hostname="anon-a", attributes={"memoryMb": 65536}),
                item(hostname="anon-b", attributes={"memoryMb": 2048}),
                item(serial="NEW", hostname="web-01", attributes=SAME),
            ]
        )

    def report(self, *, cached: bool = True) -> bytes:
        with self.monkeypatch.context() as env:
            if not cached:
                env.setenv("CMDBCTL_NO_CACHE", "1")
            result = run_diff(Workspace(self.estate.path), [self.snapshot], NOW, self.jobs)
            desired.settle()  # the cache written by a worker, if one did
        # stdlib json: it writes what orjson refuses (NaN, integers past 64 bits)
        return json.dumps(plain(result, explain=True), indent=1, default=repr).encode()

    def kept(self) -> Path:
        found = cache.location(self.estate.path)
        assert found is not None
        return found

    def all_three(self, parsed: int = 0) -> bytes:
        """The report cold (no cache), warm (`parsed` files not kept, parsed again), and
        without the cache, all the same."""
        self.kept().unlink(missing_ok=True)
        cold = self.report()
        assert self.kept().exists()
        self.parsed = 0
        warm = self.report()
        if self.jobs == 1:
            assert self.parsed == parsed  # every other file from the cache
        uncached = self.report(cached=False)
        assert cold == warm == uncached
        return cold


def _estate(estate: Estate) -> None:
    estate.server("db-01", hostname="db-01", serial="CZ1")
    estate.server("db-02", hostname="db-02", serial="CZ2")
    estate.server("db-03", hostname="db-03", serial="CZ3")
    estate.write("inventory/servers/anon-a.yaml", NO_ID.format(host="anon-a"))
    estate.write("inventory/servers/anon-b.yaml", NO_ID.format(host="anon-b"))
    estate.commit_all()


EDITS: list[tuple[str, Callable[[Estate], None]]] = [
    ("nothing", lambda e: None),
    ("an edit", lambda e: e.server("db-03", hostname="db-03", serial="CZ3", status="retired")),
    (
        "a rename",
        lambda e: (e.path / "inventory/servers/anon-a.yaml").rename(
            e.path / "inventory/servers/anon-c.yaml"
        ),
    ),
    (
        "a file made the same as another (no metadata id: named by their paths)",
        lambda e: e.write("inventory/servers/anon-b.yaml", NO_ID.format(host="anon-a")),
    ),
    ("a file that does not parse", lambda e: e.write("inventory/servers/db-03.yaml", "kind: [\n")),
    (
        "a kind change",
        lambda e: e.edit("inventory/servers/db-01.yaml", "kind: Server", "kind: Service"),
    ),
    (
        "a kind that is not text, a spec that is a list",
        lambda e: e.write("inventory/servers/db-01.yaml", "kind: 3\nspec: [1]\n"),
    ),
    (
        "values JSON cannot give back",
        lambda e: e.write(
            "inventory/servers/odd.yaml",
            'kind: Server\nmetadata: {id: odd, labels: {a: "\\ud800"}}\n'
            "spec: {hostname: web-01, memoryMb: .nan, cpu: .inf, serial: 123456789012345678901234}\n",
        ),
    ),
]


@pytest.mark.parametrize("jobs", [1, 2])
def test_cold_warm_and_uncached_reports_are_the_same_bytes_across_edits(
    estate: Estate, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    _estate(estate)
    runs = Runs(estate, monkeypatch, jobs)
    reports = []
    for name, edit in EDITS:  # each on top of the last
        edit(estate)
        reports.append(runs.all_three(parsed=int(name == "values JSON cannot give back")))
    assert len(set(reports)) > 3  # the edits changed the report


def test_a_warm_run_parses_only_what_changed(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    _estate(estate)
    runs = Runs(estate, monkeypatch, 1)
    first = runs.report()
    runs.parsed = 0
    estate.server("db-03", hostname="db-03", serial="CZ3", status="retired")  # not missing
    (estate.path / "inventory/servers/db-01.yaml").rename(estate.path / "inventory/servers/x.yaml")
    second = runs.report()
    assert runs.parsed == 1  # the edit; the rename has the same bytes
    assert first != second
    runs.parsed = 0
    assert runs.report() == second and runs.parsed == 0


def test_values_json_cannot_give_back_are_not_kept() -> None:
    for essence in [
        ("Server", "a", {}, {"x": float("nan")}),
        ("Server", "a", {}, {"x": float("inf")}),
        ("Server", "a", {}, {"x": 2**70}),
        ("Server", "a", {"l": "\ud800"}, {}),
    ]:
        assert cache.exact(essence) is None
    for essence in [None, (None, None, {}, {}), ("Server", "a", {"n": None}, {"x": -0.0})]:
        value = cache.exact(essence)
        assert value is not None and cache.loads(value) == essence


def _broken(runs: Runs, spoil: Callable[[Path], None]) -> None:
    expected = runs.all_three()  # leaves the cache filled
    spoil(runs.kept())
    assert runs.report() == expected  # said nothing, exited as ever
    runs.jobs = 1  # counted in this process
    runs.parsed = 0
    assert runs.report() == expected
    assert runs.parsed == 0  # put right by the run before


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a database " * 1000)


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _swapped(path: Path) -> None:
    """Each row given another's value and CRC: no row checks out."""
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None)
    rows = db.execute("SELECT key, value, crc FROM loaded ORDER BY key").fetchall()
    db.executemany(
        "UPDATE loaded SET value = ?, crc = ? WHERE key = ?",
        [(v, c, k) for (k, _, _), (_, v, c) in zip(rows, rows[1:] + rows[:1])],
    )
    db.close()


def _edited(path: Path) -> None:
    """A value edited by hand, its CRC left as it was."""
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE loaded SET value = replace(value, '65536', '65537')")
    db.close()


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("spoil", [_garbage, _truncated, _swapped, _edited])
def test_a_spoilt_cache_changes_no_report_and_is_put_right(
    estate: Estate, monkeypatch: pytest.MonkeyPatch, jobs: int, spoil: Callable[[Path], None]
) -> None:
    _estate(estate)
    _broken(Runs(estate, monkeypatch, jobs), spoil)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_locked_cache_costs_speed_only(
    estate: Estate, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    import sqlite3

    _estate(estate)
    runs = Runs(estate, monkeypatch, jobs)
    expected = runs.all_three()
    monkeypatch.setattr(cache, "_READ_TIMEOUT", 0.05)
    monkeypatch.setattr(cache, "_WRITE_TIMEOUT", 0.05)
    estate.server("db-03", hostname="db-03", serial="CZ3", status="retired")  # a write due
    unlocked = runs.report(cached=False)
    locker = sqlite3.connect(runs.kept(), isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than we wait
    try:
        assert runs.report() == unlocked != expected
    finally:
        locker.close()
    assert runs.report() == unlocked


def test_no_cache_where_it_cannot_be_written(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    _estate(estate)
    runs = Runs(estate, monkeypatch, 1)
    folder = runs.kept().parent
    folder.rmdir() if folder.exists() else None
    folder.write_text("a file where the cache's folder would be")  # as if read-only
    uncached = runs.report(cached=False)
    assert runs.report() == uncached
    assert folder.is_file()
    monkeypatch.setattr(cache, "writable", lambda path: False)  # a read-only .git
    folder.unlink()
    assert runs.report() == uncached
    assert not runs.kept().exists()  # nothing written


def test_cmdbctl_no_cache_neither_reads_nor_writes(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    _estate(estate)
    runs = Runs(estate, monkeypatch, 1)
    runs.report(cached=False)
    assert not runs.kept().exists()
    runs.report()
    _garbage(runs.kept())
    runs.report(cached=False)
    assert runs.kept().read_bytes().startswith(b"not a database")  # not even put right


def test_another_fingerprint_is_another_file_and_the_old_one_goes(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    _estate(estate)
    runs = Runs(estate, monkeypatch, 1)
    expected = runs.all_three()
    old = runs.kept()
    monkeypatch.setattr(cache, "fingerprint", lambda: "0123456789abcdef")
    monkeypatch.setattr(cache, "_fingerprint_crc", lambda: 7)
    runs.parsed = 0
    assert runs.report() == expected
    assert runs.parsed > 0  # nothing of the other version's read
    assert runs.kept() != old and runs.kept().exists() and not old.exists()


def test_validate_leaves_the_cache_of_parsed_cis_alone(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    _estate(estate)
    runs = Runs(estate, monkeypatch, 1)
    runs.report()
    estate.cli("validate")  # a full rebuild of its own cache sweeps its folder
    assert runs.kept().exists()


def test_diffs_and_a_validate_at_once(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two diffs filling the cache at once, a validate sweeping its folder meanwhile, then
    two diffs writing what changed into it at once: every report is the one without the
    cache, and the cache left checks out."""
    _estate(estate)
    for n in range(40):
        estate.server(f"bulk-{n:02d}", hostname=f"bulk-{n:02d}", serial=f"B{n}")
    runs = Runs(estate, monkeypatch, 1)
    argv = ["diff", "-d", runs.snapshot, "--format", "json", "--now", "2026-11-22T10:00:00Z"]
    for _ in range(2):
        alone = estate.cli(*argv, env={"CMDBCTL_NO_CACHE": "1"})
        at_once = [
            subprocess.Popen(
                [sys.executable, "-m", "cmdbctl", *command, "--repo", str(estate.path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={k: v for k, v in os.environ.items() if k != "CMDBCTL_NO_CACHE"},
            )
            for command in (argv, argv, ["validate"], argv)
        ]
        outputs = [p.communicate(timeout=120) for p in at_once]
        codes = [p.returncode for p in at_once]
        assert codes[:2] + codes[3:] == [alone.exit_code] * 3 and codes[2] in (0, 1)
        diffs = [(out.decode(), err.decode()) for i, (out, err) in enumerate(outputs) if i != 2]
        assert diffs == [(alone.stdout, alone.stderr)] * 3  # not a word about the cache
        runs.parsed = 0
        assert runs.report() == runs.report(cached=False)
        for n in range(0, 40, 3):  # what the second round writes
            estate.server(
                f"bulk-{n:02d}", hostname=f"bulk-{n:02d}", serial=f"B{n}", status="retired"
            )
    runs.parsed = 0
    runs.report()
    assert runs.parsed == 0
