"""The drift cache (cmdbctl/drift/cache.py) never changes a report.

Every test works on a real git repository (`cmdbctl init`'s, plus Servers) and, after
each change, compares a warm `cmdbctl diff --format json --explain` (cache present)
with a cold one (CMDBCTL_NO_CACHE=1) on the same work tree. It also counts, with
`desired.reading` as `diff` calls it, the inventory files the cache knew unchanged and
did not read: every file untouched since the cache was primed must be one, no changed
file may be, so a test cannot pass by the cache quietly doing nothing.

The cache keeps a file only once its ctime is two seconds older than the run that read
it (no one can set a ctime back): each test writes its files, sleeps once, then goes
through its changes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
import zlib
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from cmdbctl import drift
from cmdbctl.discovery.snapshot import read_snapshot
from cmdbctl.drift.desired import reading
from cmdbctl.kinds import load_registry
from cmdbctl.scaffold import init_repository
from cmdbctl.workspace import Workspace
from tests.conftest import run_cli, snapshot
from tests.drift.kit import NOW, Estate, changes_by_id, item, server_yaml

SETTLE = 2.1  # seconds: the cache keeps files whose ctime is 2 s older than the run
SAME = {"os": {"name": "Debian", "version": "12"}, "memoryMb": 65536}
MACS = ["00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5f"]
NO_CACHE = {"CMDBCTL_NO_CACHE": "1"}


def ci(n: int) -> str:
    return f"inventory/servers/db-{n:02d}.yaml"


def cache_file(estate: Estate) -> Path:
    return estate.path / ".git" / "cmdbctl" / "drift-v1.cache"


def inventory(root: Path) -> set[str]:
    """The regular files under inventory/ (what `cached` counts among)."""
    return {
        p.relative_to(root).as_posix()
        for p in (root / "inventory").rglob("*.yaml")
        if p.is_file() and not p.is_symlink()
    }


def diff(estate: Estate, snapshots: Iterable[str], *, cold: bool = False) -> tuple[int, Any]:
    """`cmdbctl diff --format json --explain --exit-code`: its exit status and report."""
    args = [a for s in snapshots for a in ("-d", s)]
    options = ["--format", "json", "--explain", "--exit-code", "--now", NOW, *args]
    result = estate.cli("diff", *options, env=NO_CACHE if cold else None)
    assert result.exit_code in (0, 1), result.output + result.stderr
    return result.exit_code, json.loads(result.stdout)


def agree(estate: Estate, *snapshots: str) -> dict[str, Any]:
    """The warm report, once it is shown to be the cold one (exit status included)."""
    status, warm = diff(estate, snapshots)
    cold_status, cold = diff(estate, snapshots, cold=True)
    assert warm == cold
    assert status == cold_status
    report: dict[str, Any] = warm
    return report


def hits(estate: Estate, *snapshots: str) -> int:
    """The inventory files a run (`reading`, as `diff` calls it: the same kinds, so the
    same cache) took from the cache and did not read."""
    ws = Workspace(estate.path)
    kinds = load_registry(ws.root)
    wanted = frozenset(k for k, kind in kinds.kinds.items() if kind.is_ci)
    with reading(ws, kinds, wanted) as pending:
        read = [read_snapshot(s) for s in snapshots]
        pending.share(drift.reported_fields(read, drift.spec_fields(kinds)))
        return pending.result().cached


def step(estate: Estate, *snapshots: str) -> tuple[int, dict[str, Any]]:
    """`hits`, then warm and cold reports compared, the warm run finding the cache as
    the counting run found it (it is put back in between)."""
    place = cache_file(estate)
    before = place.read_bytes() if place.exists() else None
    found = hits(estate, *snapshots)
    if before is None:
        place.unlink(missing_ok=True)
    else:
        place.write_bytes(before)
    return found, agree(estate, *snapshots)


@dataclass
class Runs:
    """An estate going through changes, a warm run after each."""

    estate: Estate
    snapshots: list[str]
    touched: set[str] = field(default_factory=set)  # files changed since the priming

    def prime(self, runs: int = 1) -> None:
        """Sleep until every file is settled, then fill the cache."""
        time.sleep(SETTLE)
        for _ in range(runs):
            agree(self.estate, *self.snapshots)

    def after(self, *changed: str) -> dict[str, Any]:
        """The report once `changed` (paths written since the last run) changed: warm
        equals cold; every file not touched since the priming was a hit, no changed one
        was."""
        self.touched.update(changed)
        found, report = step(self.estate, *self.snapshots)
        files = inventory(self.estate.path)
        untouched, unchanged = files - self.touched, files - set(changed)
        assert len(untouched) <= found <= len(unchanged), (found, len(files), changed)
        return report

    def switch(self, *snapshots: str) -> dict[str, Any]:
        """The report against snapshots that report other fields: every file read."""
        self.snapshots = list(snapshots)
        found, report = step(self.estate, *self.snapshots)
        assert found == 0
        return report

    def write(self, rel: str, text: str) -> str:
        self.estate.write(rel, text)
        return rel

    def edit(self, rel: str, old: str, new: str) -> str:
        return self.write(rel, self.estate.edit(rel, old, new))


def servers(estate: Estate, fillers: int = 0) -> list[dict[str, Any]]:
    """db-00..db-09 (db-09 is found by no item: missing), `fillers` more Servers each
    found unchanged, committed; the snapshot's items (web-01 and db-10 unmanaged)."""
    items = []
    for n in range(10):
        estate.server(
            f"db-{n:02d}", hostname=f"db-{n:02d}", serial=f"CZ{n}", macs=MACS if n == 0 else ()
        )
        if n == 2:  # found by its serial alone
            items.append(item(serial="CZ2", attributes=SAME))
        elif n < 9:
            items.append(item(serial=f"CZ{n}", hostname=f"db-{n:02d}", attributes=SAME))
    for n in range(fillers):  # plain writes: 2,000 files in a blink
        host = f"fill-{n:04d}"
        estate.write(f"inventory/fill/{n // 500}/{host}.yaml", server_yaml(host, serial=host))
        items.append(item(serial=host, attributes=SAME))
    items += [
        item(serial="CZ10", hostname="db-10", attributes=SAME),
        item(hostname="web-01", attributes=SAME),
    ]
    estate.commit_all()
    return items


def unmanaged(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [u["identifiers"] for u in report["unmanaged"]]


def go_through_changes(runs: Runs) -> None:
    """The changes a warm run must see, in turn, on one estate."""
    # nothing changed: nothing read (`after` asserts it)
    report = runs.after()
    assert report["summary"]["drifted"] == 0 and report["summary"]["matched"] > 8
    assert [m["id"] for m in report["missing"]] == ["app-01", "db-09"]  # app-01: init's

    # memory edited: drift; edited back: gone
    report = runs.after(runs.edit(ci(1), "memoryMb: 65536", "memoryMb: 131072"))
    assert changes_by_id(report) == {"db-01": {"spec.memoryMb": (131072, 65536)}}
    report = runs.after(runs.edit(ci(1), "memoryMb: 131072", "memoryMb: 65536"))
    assert report["drifted"] == []
    # a file changed less than two seconds before a run is not kept: read again
    assert step(runs.estate, *runs.snapshots)[0] == len(inventory(runs.estate.path)) - 1

    # same size, mtime put back: the ctime still tells
    path = runs.estate.path / ci(3)
    before = path.stat()
    runs.edit(ci(3), "memoryMb: 65536", "memoryMb: 65537")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    report = runs.after(ci(3))
    assert changes_by_id(report) == {"db-03": {"spec.memoryMb": (65537, 65536)}}

    # another file edited in the same second as that run (no sleep): seen; and db-03
    # edited back, same size and mtime: seen too
    runs.edit(ci(0), "memoryMb: 65536", "memoryMb: 65535")
    runs.edit(ci(3), "memoryMb: 65537", "memoryMb: 65536")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    report = runs.after(ci(0), ci(3))
    assert changes_by_id(report) == {"db-00": {"spec.memoryMb": (65535, 65536)}}

    # a serial changed to another CI's: the old one identifies nothing, the new one two
    report = runs.after(runs.edit(ci(2), 'serial: "CZ2"', 'serial: "CZ3"'))
    assert {"serial": "CZ2"} in unmanaged(report)
    assert [a["candidates"] for a in report["ambiguous"]] == [["db-02", "db-03"]]

    # renamed, deleted, added, and an id changed
    os.rename(runs.estate.path / ci(4), runs.estate.path / "inventory/servers/renamed.yaml")
    os.unlink(runs.estate.path / ci(5))
    runs.write(ci(10), server_yaml("db-10", hostname="db-10", serial="CZ10"))
    runs.edit(ci(6), "id: db-06", "id: db-66")
    report = runs.after("inventory/servers/renamed.yaml", ci(10), ci(6))
    matched = {e["ci"] for e in report["explain"] if e["outcome"] == "matched"}
    assert {"db-04", "db-10", "db-66"} <= matched and not {"db-05", "db-06"} & matched
    assert {"serial": "CZ5", "hostname": "db-05"} in unmanaged(report)

    # unreadable YAML: a finding, its item unmanaged; then fixed
    good = runs.estate.read(ci(7))
    report = runs.after(runs.write(ci(7), "kind: [unclosed\n"))
    assert [(f["path"], f["code"]) for f in report["findings"]] == [(ci(7), "drift.unread")]
    assert {"serial": "CZ7", "hostname": "db-07"} in unmanaged(report)
    report = runs.after(runs.write(ci(7), good))
    assert report["findings"] == [] and {"serial": "CZ7", "hostname": "db-07"} not in unmanaged(
        report
    )

    # a file replaced by a symlink to another CI's file (never read: db-08 goes)
    (runs.estate.path / ci(8)).unlink()
    (runs.estate.path / ci(8)).symlink_to("db-01.yaml")
    report = runs.after()
    assert {"serial": "CZ8", "hostname": "db-08"} in unmanaged(report)

    # a snapshot that reports a field the other did not: compared, not taken from
    # digests of the other fields; then back
    plain = runs.snapshots
    items = json.loads(Path(plain[0]).read_text())["items"]
    items[1]["attributes"] = {**SAME, "location": "rack-b02"}  # db-01's item
    report = runs.switch(runs.estate.snapshot(items, name="located.json"))
    assert changes_by_id(report)["db-01"] == {"spec.location": (None, "rack-b02")}
    assert runs.after()["drifted"] == report["drifted"]
    assert list(changes_by_id(runs.switch(*plain))) == ["db-00"]


def test_a_warm_run_reports_what_a_cold_one_does_after_each_change(estate: Estate) -> None:
    """In-process reading (< 2,000 files): each change is seen, the rest is not read."""
    runs = Runs(estate, [estate.snapshot(servers(estate))])
    runs.prime()
    go_through_changes(runs)


def test_the_same_holds_when_worker_processes_read_the_files(estate: Estate) -> None:
    """2,000 files and more: read in worker processes, the same. A cold start writes only
    the files its workers read after the snapshot's fields were known; a second run
    fills in the rest."""
    runs = Runs(estate, [estate.snapshot(servers(estate, fillers=2100))])
    assert len(inventory(estate.path)) >= 2000
    runs.prime(runs=2)
    go_through_changes(runs)


def test_two_files_with_one_id_are_listed_as_a_cold_run_lists_them(estate: Estate) -> None:
    """Two files that claim one metadata.id, one read and the other known to the cache:
    both reported, in a cold run's order."""
    runs = Runs(estate, [estate.snapshot(servers(estate))])
    runs.prime()
    # db-01's file (not read) and db-00's (read): the items of both find db-01
    report = runs.after(runs.edit(ci(0), "id: db-00", "id: db-01"))
    assert [a["candidates"] for a in report["ambiguous"]] == [["db-01"], ["db-01"]]
    # db-09's file (read, after app-01's in a cold run's order) and init's app-01 (not
    # read), both missing
    report = runs.after(runs.edit(ci(9), "id: db-09", "id: app-01"))
    missing = {(m["id"], m["path"]) for m in report["missing"]}
    assert missing == {("app-01", "inventory/app-01.yaml"), ("app-01", ci(9))}


@pytest.mark.parametrize("where", ["file name", "identifier"])
def test_text_json_cannot_hold_leaves_the_report_as_it_is(estate: Estate, where: str) -> None:
    """A file name that is not UTF-8 (as git checks out one made on another system), or
    an identifier with a lone surrogate (a YAML escape), which JSON cannot hold: the
    cache does without that file, which is read each time, keeps the others, and the
    report is a cold run's."""
    items = servers(estate)
    if where == "file name":
        folder = os.fsencode(estate.path / "inventory" / "servers")
        with open(folder + b"/caf\xe9.yaml", "w", encoding="utf-8") as out:
            out.write(server_yaml("cafe", hostname="cafe", serial="CZ42"))
        items.append(item(serial="CZ42", attributes={**SAME, "memoryMb": 1024}))
        odd = os.fsdecode(b"inventory/servers/caf\xe9.yaml")
    else:  # not reported by any item: kept in the cache's tables
        odd = ci(3)
        estate.write(odd, server_yaml("db-03", fqdn='"db-03.\\uDCE9"', serial="CZ3"))
    runs = Runs(estate, [estate.snapshot(items)])
    runs.prime()
    report = runs.after(odd)
    assert runs.after(odd) == report


POLICY = """\
apiVersion: cmdb/v1
kind: DiscoveryPolicy
metadata: {{id: discovery, name: Discovery policy, owner: team-ops}}
spec:
  identification:
    Server: {rules}
"""


def test_new_identification_rules_or_reported_fields_read_every_file_again(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache is of one set of identification rules and one set of reported fields:
    under others every file is read (the serial table the old rules had no use for is
    built; a newly reported field is compared), and the cache is then of the new ones."""
    estate.write("policies/discovery.yaml", POLICY.format(rules="[hostname]"))
    for n in range(4):
        estate.server(
            f"db-{n:02d}", hostname=f"db-{n:02d}", serial=f"CZ{n}", extra="  location: rack-a01\n"
        )
    estate.commit_all()
    # serial says db-02, host name db-01: ambiguous once serial is a rule
    who = item(serial="CZ2", hostname="db-01", attributes=SAME)
    plain = estate.snapshot([who, item(serial="CZ3", hostname="db-03", attributes=SAME)])
    where = {**SAME, "location": "rack-b02"}  # db-03 is in rack-a01
    located = estate.snapshot(
        [who, item(serial="CZ3", hostname="db-03", attributes=where)], name="located.json"
    )
    files = len(inventory(estate.path))
    time.sleep(SETTLE)
    agree(estate, plain)
    found, report = step(estate, plain)
    assert found == files
    first = report["explain"][0]
    assert (first["outcome"], first["ci"]) == ("matched", "db-01")

    estate.write("policies/discovery.yaml", POLICY.format(rules="[serial, hostname]"))
    found, report = step(estate, plain)
    assert found == 0
    assert [a["candidates"] for a in report["ambiguous"]] == [["db-02", "db-01"]]
    assert step(estate, plain)[0] == files

    found, report = step(estate, located)
    assert found == 0
    assert changes_by_id(report) == {"db-03": {"spec.location": ("rack-a01", "rack-b02")}}
    assert step(estate, located)[0] == files
    found, report = step(estate, plain)
    assert found == 0 and report["drifted"] == []
    assert step(estate, plain)[0] == files

    # CMDBCTL_NO_CACHE: the cache is neither read nor written
    place = cache_file(estate)
    kept = place.read_bytes(), place.stat().st_mtime_ns
    monkeypatch.setenv("CMDBCTL_NO_CACHE", "1")
    assert hits(estate, plain) == 0
    assert (place.read_bytes(), place.stat().st_mtime_ns) == kept


def test_git_checkout_and_stash_are_seen(estate: Estate) -> None:
    """Files git writes (a branch checked out, a stash and its pop) are read again."""
    items = servers(estate)
    estate.branch("other")
    estate.commit(
        message="other",
        files={
            ci(1): estate.edit(ci(1), "memoryMb: 65536", "memoryMb: 98304"),
            ci(2): None,
            ci(10): server_yaml("db-10", hostname="db-10", serial="CZ10"),
        },
    )
    estate.checkout("main")
    runs = Runs(estate, [estate.snapshot(items)])
    runs.prime()
    assert runs.after()["drifted"] == []

    estate.checkout("other")
    report = runs.after(ci(1), ci(10))
    assert changes_by_id(report) == {"db-01": {"spec.memoryMb": (98304, 65536)}}
    assert {"serial": "CZ2"} in unmanaged(report)
    estate.checkout("main")
    report = runs.after(ci(1), ci(2))
    assert report["drifted"] == [] and {"serial": "CZ2"} not in unmanaged(report)

    report = runs.after(runs.edit(ci(3), "memoryMb: 65536", "memoryMb: 32768"))
    assert list(changes_by_id(report)) == ["db-03"]
    estate.git("stash", "--quiet")
    assert runs.after(ci(3))["drifted"] == []
    estate.git("stash", "pop", "--quiet")
    assert list(changes_by_id(runs.after(ci(3)))) == ["db-03"]


# Where the payload's rows end, as offsets into the file (so counting the header's bytes).
OFFSETS = ("extras", "digests")


def _sealed(rest: bytes) -> bytes:
    """A cache file of these bytes, with the checksum `save` writes before them (a
    hand-edit that fixes it: what the reader then checks is the content)."""
    return b"%08x\n" % zlib.crc32(rest) + rest


def _header(change: Callable[[dict[str, Any]], Any], seal: bool = True) -> Callable[[bytes], bytes]:
    """A corruption of the cache's JSON header (the line after the checksum) and of
    nothing else: the payload's offsets move by as much as the header's length changes.
    `seal`: with the checksum fixed (else the old one stays)."""

    def corrupt(raw: bytes) -> bytes:
        head, _, body = raw.partition(b"\n")[2].partition(b"\n")
        data = orjson.loads(head)
        change(data)
        delta = len(orjson.dumps(data)) - len(head)
        for name in OFFSETS:
            ends = array("q", bytes.fromhex(data[name]))
            data[name] = array("q", (end + delta for end in ends)).tobytes().hex()
        rest = orjson.dumps(data) + b"\n" + body
        return _sealed(rest) if seal else raw.partition(b"\n")[0] + b"\n" + rest

    return corrupt


def _moved_offset(head: dict[str, Any]) -> None:
    """The first row's spec one byte shorter, its digest one longer: every offset still
    lies within the payload and in order, but the payload is no longer cut where it was
    written."""
    ends = array("q", bytes.fromhex(head["extras"]))
    ends[0] -= 1
    head["extras"] = ends.tobytes().hex()


def _garbled_payload(raw: bytes) -> bytes:
    """Random bytes for the rows, the checksum left as it was."""
    check, _, rest = raw.partition(b"\n")
    head, _, body = rest.partition(b"\n")
    return check + b"\n" + head + b"\n" + random.Random(5).randbytes(len(body))


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda raw: b"",
    "truncated": lambda raw: raw[: len(raw) // 2],
    "payload short": lambda raw: raw[:-3],
    "random bytes": lambda raw: random.Random(3).randbytes(len(raw)),
    "other format": _header(lambda h: h.update(format="drift-v0")),
    "header a JSON list": lambda raw: _sealed(b"[]\n" + raw.split(b"\n", 2)[2]),
    "a table a number": _header(lambda h: h["tables"].update({next(iter(h["tables"])): 7})),
    "tables a list": _header(lambda h: h.update(tables=[])),
    "ids numbers": _header(lambda h: h.update(ids=list(range(len(h["ids"]))))),
    "reported a list": _header(lambda h: h.update(reported=["Server"])),
    "a column short": _header(lambda h: h.update(stats=h["stats"][:-64])),
    # A payload cut where it was not written is found by the checksum alone.
    "an offset moved": _header(_moved_offset, seal=False),
    "payload garbled": _garbled_payload,
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_broken_cache_is_as_no_cache_and_is_written_again(
    estate: Estate, corrupt: Callable[[bytes], bytes]
) -> None:
    """Whatever is wrong with the cache file: the report of a cold run (drift, missing
    and unmanaged CIs included), no traceback, and a cache the next run can use."""
    items = servers(estate)
    items[1]["attributes"] = {**SAME, "memoryMb": 131072}  # db-01 drifted
    snap = estate.snapshot(items)
    files = len(inventory(estate.path))
    time.sleep(SETTLE)
    expected = agree(estate, snap)
    assert hits(estate, snap) == files
    place = cache_file(estate)
    broken = corrupt(place.read_bytes())
    place.write_bytes(broken)

    assert agree(estate, snap) == expected
    assert place.read_bytes() != broken
    assert hits(estate, snap) == files


def test_no_cache_when_turned_off(estate: Estate) -> None:
    """CMDBCTL_NO_CACHE=1: no cache file written, an existing one left as it is."""
    snap = estate.snapshot(servers(estate))
    place = cache_file(estate)
    cold = diff(estate, [snap], cold=True)
    assert not place.exists()
    assert diff(estate, [snap]) == cold
    assert place.exists()
    place.write_bytes(b"not a cache")
    assert diff(estate, [snap], cold=True) == cold
    assert place.read_bytes() == b"not a cache"


def test_no_cache_outside_a_git_repository(tmp_path: Path, isolated_git: None) -> None:
    """A repository that is no git work tree: the diff runs, writes nothing anywhere."""
    root = init_repository(tmp_path / "repo").root
    shutil.rmtree(root / ".git")
    (root / "inventory/servers").mkdir()
    (root / "inventory/servers/db-01.yaml").write_text(
        server_yaml("db-01", hostname="db-01", serial="CZ1")
    )
    snap = tmp_path / "ansible.json"
    snap.write_text(
        json.dumps(
            {
                "source": "ansible",
                "discoveredAt": "2026-11-22T08:00:00Z",
                "items": [item(serial="CZ1", attributes={**SAME, "memoryMb": 1024})],
            }
        )
    )
    before = snapshot(tmp_path, ignore=())
    reports = []
    for env in ({}, NO_CACHE):
        result = run_cli(
            "diff", "--format", "json", "--now", NOW, "-d", str(snap), repo=root, env=env
        )
        assert result.exit_code == 0, result.stderr
        reports.append(json.loads(result.stdout))
    assert reports[0] == reports[1]
    assert list(changes_by_id(reports[0])) == ["db-01"]
    assert snapshot(tmp_path, ignore=()) == before
