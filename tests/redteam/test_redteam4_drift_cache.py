"""Red team 4: the drift cache of `cmdbctl diff` (cmdbctl/drift/cache.py, as desired.py
uses it), the fork of identification (halves.py) and identification's fast path
(`Identifier.facts`).

The safe behaviour, asserted throughout: a warm `cmdbctl diff` (cache present) reports
exactly what a cold one (CMDBCTL_NO_CACHE=1) reports on the same work tree and
snapshots, never crashes, and writes nothing outside the git directory. Attacks that
tests/drift/test_cache.py already covers (edits, renames, deletions, id changes,
symlinks, policy and field changes, duplicate ids, same-size-same-mtime edits, git
operations, corrupt cache files) are not repeated here. Each test was first written as
an attack that got through (xfail); each is now closed and guards against its return.

The cache keeps a file only once its ctime is two seconds older than the run that read
it: a test that needs cached entries writes its files, then sleeps once (SETTLE).
"""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cmdbctl import drift
from cmdbctl.discovery.snapshot import Item
from cmdbctl.drift import desired, halves
from cmdbctl.drift.identify import Identifier, Tables, _identify, add_keys, item_keys
from cmdbctl.drift.policy import DiscoveryPolicy
from tests.conftest import snapshot
from tests.drift.kit import NOW, Estate, changes_by_id, item, server_yaml
from tests.drift.test_cache import (
    SAME,
    SETTLE,
    _header,
    agree,
    cache_file,
    ci,
    diff,
    inventory,
    servers,
    step,
)


def fill(estate: Estate, count: int) -> None:
    """`count` more Servers (fill-0000, serial F0000, ...): enough files (2,000) and
    `reading` reads them in worker processes. Plain writes, no commit: diff reads the
    work tree."""
    for n in range(count):
        host = f"fill-{n:04d}"
        estate.write(f"inventory/fill/{n // 500}/{host}.yaml", server_yaml(host, serial=f"F{n}"))


def unmanaged(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [u["identifiers"] for u in report["unmanaged"]]


def matched(report: dict[str, Any]) -> dict[str, str]:
    """serial of each matched item -> the CI it matched."""
    return {
        e["label"]: e["ci"]
        for e in report["explain"]
        if e["outcome"] == "matched" and e.get("ci") is not None
    }


def cache_inode(estate: Estate) -> int:
    """The cache file's inode: `save` writes a new file and renames it into place, so an
    unchanged inode says the run read no file and wrote no cache (every file a hit)."""
    return cache_file(estate).stat().st_ino


# --- status values the cache's columns cannot hold -----------------------------------------

# 2300-01-01, as `touch -d 2300-01-01` sets it: past 2262-04-11, the last instant a signed
# 64-bit count of nanoseconds holds (array("q"), the cache's status column). Any file
# system with 64-bit times takes it (ext4 to 2446, xfs with bigtime, btrfs, tmpfs).
YEAR_2300_NS = 10_413_792_000 * 10**9
YEAR_1906_NS = -2_000_000_000 * 10**9  # before 1970: negative, and held


@pytest.mark.parametrize(
    ("when", "kept"),
    [
        pytest.param(YEAR_1906_NS, True, id="mtime-1906"),
        pytest.param(YEAR_2300_NS, False, id="mtime-2300"),
    ],
)
def test_a_file_dated_far_from_now_is_no_crash(estate: Estate, when: int, kept: bool) -> None:
    """An inventory file whose modification time is set far back or far ahead (a restore
    from an archive, `touch -d`, a machine whose clock was wrong): the diff neither
    crashes nor reports otherwise. Before 1970 the cache keeps it; past 2262 (beyond the
    64-bit nanoseconds the cache stores) it is read every time."""
    snap = estate.snapshot(servers(estate))
    os.utime(estate.path / ci(1), ns=(when, when))
    assert os.stat(estate.path / ci(1)).st_mtime_ns == when
    files = len(inventory(estate.path))
    time.sleep(SETTLE)
    report = agree(estate, snap)
    assert step(estate, snap) == (files if kept else files - 1, report)


# --- names from the snapshot that JSON cannot hold ------------------------------------------

# A YAML snapshot (`-d found.yaml`): its `\uDCE9` escape is a lone surrogate, which Python
# strings hold, the report writes (escaped) and the cache's JSON header cannot.
ODD_SNAPSHOT = """\
source: ansible
discoveredAt: "2026-11-22T08:00:00Z"
items:
  - kind: Server
    identifiers: {{serial: CZ1, hostname: db-01}}
    attributes: {{os: {{name: Debian, version: "12"}}, memoryMb: 65536}}
  - kind: {kind}
    identifiers: {{serial: G1}}
    attributes: {{{field}: 1}}
"""


@pytest.mark.parametrize(
    ("kind", "field", "files"),
    [
        pytest.param("Gizmo", '"x\\uDCE9"', 0, id="attribute-name"),
        pytest.param('"Gizmo\\uDCE9"', "x", 0, id="kind-name"),
        pytest.param("Gizmo", '"x\\uDCE9"', 2100, id="attribute-name-workers"),
    ],
)
def test_a_snapshot_name_json_cannot_hold_is_refused_clearly(
    estate: Estate, kind: str, field: str, files: int
) -> None:
    """A snapshot is untrusted input: an item whose attribute or kind name is half a
    character (a YAML escape no UTF-8 holds) makes it unreadable, warm or cold alike:
    exit 2 naming the item and the field, no traceback, no cache written from it."""
    estate.server("db-01", hostname="db-01", serial="CZ1")
    fill(estate, files)
    snap = estate.snapshots / "found.yaml"
    snap.write_text(ODD_SNAPSHOT.format(kind=kind, field=field), encoding="utf-8")
    for env in ({"CMDBCTL_NO_CACHE": "1"}, None):
        result = estate.cli("diff", "-d", str(snap), "--now", NOW, env=env)
        assert result.exit_code == 2, result.output + result.stderr
        assert "item 1 (" in result.stderr and "lone surrogate" in result.stderr
        assert "Traceback" not in result.stderr
    assert not cache_file(estate).exists()


NETWORK_DEVICE = """\
apiVersion: cmdb/v1
kind: NetworkDevice
metadata:
  id: "sw-\\uDCE9"
  owner: team-ops
spec:
  serial: "SW1"
  status: active
"""


def test_an_uncovered_ci_whose_id_json_cannot_hold_is_no_crash(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2,000 files and more (worker processes), a NetworkDevice whose id is a YAML escape
    JSON cannot hold, a snapshot of Servers only: the device is no concern of this diff."""
    fill(estate, 2100)
    estate.write("inventory/network/sw.yaml", NETWORK_DEVICE)
    snap = estate.snapshot([item(serial="F0", attributes=SAME)])
    share = desired._Parallel.share

    def late(self: desired._Parallel, reported: Any) -> None:
        # As a large snapshot does: the workers have read their runs before it is read.
        list(self._chunks())
        share(self, reported)

    monkeypatch.setattr(desired._Parallel, "share", late)
    report = agree(estate, snap)
    assert report["summary"]["matched"] == 1


# --- where the cache lives ---------------------------------------------------------------


@pytest.mark.parametrize("what", ["symlink to a file outside", "a folder", "cmdbctl a file"])
def test_a_cache_place_that_is_no_plain_file_is_never_written_through(
    estate: Estate, tmp_path: Path, what: str
) -> None:
    """.git/cmdbctl/drift-v1.cache a symlink to a file outside the git directory (never
    written through: the rename replaces the link), a folder, or .git/cmdbctl a file:
    the report is a cold run's, and nothing outside the git directory changes."""
    snap = estate.snapshot(servers(estate))
    place = cache_file(estate)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target").write_bytes(b"not yours\n")
    if what == "symlink to a file outside":
        place.parent.mkdir(parents=True)
        place.symlink_to(outside / "target")
    elif what == "a folder":
        place.mkdir(parents=True)
    else:
        place.parent.parent.mkdir(exist_ok=True)
        place.parent.write_bytes(b"a file\n")
    before = snapshot(tmp_path, ignore=(".git",))
    time.sleep(SETTLE)
    first = agree(estate, snap)
    assert agree(estate, snap) == first
    assert snapshot(tmp_path, ignore=(".git",)) == before
    if what == "symlink to a file outside":
        assert stat.S_ISREG(place.lstat().st_mode)  # the link replaced, its target untouched
        assert step(estate, snap)[0] == len(inventory(estate.path))
    elif what == "a folder":
        assert place.is_dir() and not any(place.iterdir())
    else:
        assert place.parent.read_bytes() == b"a file\n"


def test_a_fifo_where_the_cache_belongs_does_not_stop_the_diff(estate: Estate) -> None:
    snap = estate.snapshot(servers(estate))
    place = cache_file(estate)
    place.parent.mkdir(parents=True)
    os.mkfifo(place)
    done = threading.Event()

    def unblock() -> None:  # a writer after 3 s, so that a blocked run ends
        if done.wait(3):
            return
        if stat.S_ISFIFO(place.lstat().st_mode):
            try:
                os.close(os.open(place, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass  # no reader: the run did not block on it

    helper = threading.Thread(target=unblock, daemon=True)
    helper.start()
    started = time.monotonic()
    try:
        warm = diff(estate, [snap])
    finally:
        done.set()
        helper.join()
    assert time.monotonic() - started < 2.5
    assert warm == diff(estate, [snap], cold=True)


def test_a_cache_whose_tables_name_a_ci_no_row_holds_is_refused(estate: Estate) -> None:
    """A well-formed, sealed cache file whose serial table says a value belongs to
    `ghost`, which no cached row is: a rogue item with that serial must stay unmanaged,
    not be matched to a CI the repository does not have (and so vanish from the report)."""
    snap = estate.snapshot([*servers(estate), item(serial="ROGUE-1", attributes=SAME)])
    time.sleep(SETTLE)
    assert {"serial": "ROGUE-1"} in unmanaged(agree(estate, snap))
    place = cache_file(estate)
    ghost = {"ROGUE-1": ["ghost"]}
    forge = _header(lambda head: head["tables"]["Server\0serial"][2].update(ghost))
    place.write_bytes(forge(place.read_bytes()))
    report = agree(estate, snap)
    assert {"serial": "ROGUE-1"} in unmanaged(report)


# --- what the status of a file says -------------------------------------------------------

NO_ID = """\
apiVersion: cmdb/v1
kind: Server
metadata:
  owner: team-ops
spec:
  status: active
  serial: "{serial}"
  os: {{name: Debian, version: "12"}}
  memoryMb: 65536
"""


def test_hard_links_and_a_file_replaced_by_rename_with_its_size_and_time(
    estate: Estate,
) -> None:
    """Two inventory files that are one inode (hard links; their ids are their names):
    written through one, both change. One then replaced by a rename (a new inode) with the
    same size and modification time: seen. The cache is used all along."""
    a, b = estate.path / "inventory/servers/a.yaml", estate.path / "inventory/servers/b.yaml"
    a.parent.mkdir(parents=True, exist_ok=True)
    a.write_text(NO_ID.format(serial="CZ1"))
    os.link(a, b)
    snap = estate.snapshot(
        [item(serial="CZ1", attributes=SAME), item(serial="CZ2", attributes=SAME)]
    )
    files = len(inventory(estate.path))
    time.sleep(SETTLE)
    report = agree(estate, snap)
    assert [x["candidates"] for x in report["ambiguous"]] == [["a", "b"]]
    assert step(estate, snap)[0] == files

    # written in place through a, same size: b is the same inode, so it says CZ2 too
    with open(a, "r+b") as out:
        out.write(NO_ID.format(serial="CZ2").encode())
    found, report = step(estate, snap)
    assert found == files - 2
    assert [x["candidates"] for x in report["ambiguous"]] == [["a", "b"]]
    assert unmanaged(report) == [{"serial": "CZ1"}]

    # b replaced by a rename: a file of b's size and modification time, another inode
    before = b.stat()
    temporary = b.parent / ".b.yaml.new"  # hidden: never a document
    temporary.write_text(NO_ID.format(serial="CZ1"))
    os.utime(temporary, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(temporary, b)
    after = b.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert after.st_ino != before.st_ino
    found, report = step(estate, snap)
    assert files - 2 <= found <= files - 1  # a too, unless it is settled by now
    assert report["ambiguous"] == [] and unmanaged(report) == []
    assert sorted(matched(report).values()) == ["a", "b"]


@pytest.mark.parametrize("what", ["fifo", "folder"])
def test_a_cached_file_replaced_by_a_fifo_or_a_folder(estate: Estate, what: str) -> None:
    """A cached CI file replaced by a FIFO (never read: its CI is gone, its item
    unmanaged, no hang) or by a folder of the same name holding the CI's file."""
    snap = estate.snapshot(servers(estate))
    time.sleep(SETTLE)
    agree(estate, snap)
    target = estate.path / ci(1)
    target.unlink()
    if what == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
        (target / "db-01.yaml").write_text(server_yaml("db-01", hostname="db-01", serial="CZ1"))
    report = agree(estate, snap)
    found = {"serial": "CZ1", "hostname": "db-01"} in unmanaged(report)
    assert found == (what == "fifo")


# --- runs side by side ---------------------------------------------------------------------


def _diff_process(estate: Estate, snap: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cmdbctl", "diff", "--format", "json", "--explain"]
        + ["--now", NOW, "-d", snap, "--repo", str(estate.path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def test_concurrent_warm_runs_each_report_what_a_cold_run_does(estate: Estate) -> None:
    """Three diffs at once, twice, each after an edit: each reports a cold run's report,
    no temporary file is left, and the cache they leave is whole and used."""
    snap = estate.snapshot(servers(estate))
    time.sleep(SETTLE)
    agree(estate, snap)
    for n in (1, 2):
        estate.write(ci(n), estate.edit(ci(n), "memoryMb: 65536", "memoryMb: 1024"))
        options = ("--format", "json", "--explain", "--now", NOW, "-d", snap)
        cold = estate.cli("diff", *options, env={"CMDBCTL_NO_CACHE": "1"})
        runs = [_diff_process(estate, snap) for _ in range(3)]
        for run in runs:
            out, err = run.communicate(timeout=60)
            assert run.returncode == 0 and "Traceback" not in err, err
            assert json.loads(out) == json.loads(cold.stdout)
    assert [p.name for p in cache_file(estate).parent.iterdir()] == ["drift-v1.cache"]
    files = len(inventory(estate.path))
    assert files - 2 <= step(estate, snap)[0] <= files  # the edited two may not be settled


# --- what the cache's key covers, and what it must not --------------------------------------

POLICY = """\
apiVersion: cmdb/v1
kind: DiscoveryPolicy
metadata: {{id: discovery, name: Discovery policy, owner: team-ops}}
spec:
  precedence: {{memoryMb: [{first}, {second}]}}
{ignores}"""
IGNORE_LAB = """\
  ignores:
    - match: {labels: {env: lab}}
      fields: [spec.memoryMb]
      reason: resized daily
      owner: team-ops
      expires: 2026-12-31
"""


def test_precedence_ignores_and_a_second_source_keep_the_cache_and_apply(estate: Estate) -> None:
    """What the DiscoveryPolicy says besides identification (precedence, ignores) and a
    second snapshot reporting the same fields are not part of the cache's key: every file
    stays a hit, and each is applied to the cached CIs (their labels included) as a cold
    run applies it."""
    for n in range(4):
        estate.server(f"db-{n:02d}", hostname=f"db-{n:02d}", serial=f"CZ{n}")
    estate.server("lab-01", hostname="lab-01", serial="CZ9", labels="{env: lab}")
    estate.commit_all()
    hosts = [(f"CZ{n}", f"db-{n:02d}") for n in range(4)] + [("CZ9", "lab-01")]
    ansible = estate.snapshot([item(serial=s, hostname=h, attributes=SAME) for s, h in hosts])
    bigger = {**SAME, "memoryMb": 131072}
    register = estate.snapshot(
        [item(serial=s, hostname=h, attributes=bigger) for s, h in hosts],
        source="asset-register",
    )
    files = len(inventory(estate.path))
    time.sleep(SETTLE)
    agree(estate, ansible)
    assert step(estate, ansible)[0] == files

    # a second source, trusted first for memoryMb: every CI drifted
    policy = "policies/discovery.yaml"
    estate.write(policy, POLICY.format(first="asset-register", second="ansible", ignores=""))
    found, report = step(estate, ansible, register)
    assert found == files
    assert sorted(changes_by_id(report)) == ["db-00", "db-01", "db-02", "db-03", "lab-01"]

    # an ignore rule by label: lab-01's drift hidden (its labels come from the cache)
    estate.write(
        policy, POLICY.format(first="asset-register", second="ansible", ignores=IGNORE_LAB)
    )
    found, report = step(estate, ansible, register)
    assert found == files
    assert sorted(changes_by_id(report)) == ["db-00", "db-01", "db-02", "db-03"]

    # the other source trusted first: no drift
    estate.write(policy, POLICY.format(first="ansible", second="asset-register", ignores=""))
    found, report = step(estate, ansible, register)
    assert found == files
    assert report["drifted"] == []


def test_a_repository_schema_that_makes_servers_no_cis_reads_everything_again(
    estate: Estate,
) -> None:
    """schemas/ is the repository's: a schema edited so that Server is no longer a CI
    class (x-cmdb-class group) changes the kind registry's fingerprint, so no cached
    Server row is used: every Server item is unmanaged, as a cold run says."""
    snap = estate.snapshot(servers(estate))
    time.sleep(SETTLE)
    before = agree(estate, snap)
    assert before["summary"]["matched"] > 8
    schema = estate.path / "schemas/server.schema.json"
    data = json.loads(schema.read_text())
    assert data["x-cmdb-class"] == "hardware"
    schema.write_text(json.dumps({**data, "x-cmdb-class": "group"}))
    found, report = step(estate, snap)
    assert found == 0
    assert report["summary"]["matched"] == 0 and report["missing"] == []


def test_a_repository_entered_through_a_symlink_or_a_linked_worktree(
    estate: Estate, tmp_path: Path
) -> None:
    """--repo through a symlink: the same repository, the same cache, every file a hit.
    A linked worktree (`git worktree add`): a cache of its own in its own git directory
    (git rev-parse --absolute-git-dir), the main one's left alone; an edit there is seen
    there and not here."""
    snap = estate.snapshot(servers(estate))
    link = tmp_path / "link"
    link.symlink_to(estate.path)
    estate.git("worktree", "add", "--quiet", "-b", "other", str(tmp_path / "other"))
    other = Estate(tmp_path / "other", estate.snapshots)
    time.sleep(SETTLE)
    mine = agree(estate, snap)
    assert agree(other, snap) == mine
    inode = cache_inode(estate)
    own = other.path.parent / "repo/.git/worktrees/other/cmdbctl/drift-v1.cache"
    assert own.is_file()

    via_link = Estate(link, estate.snapshots)
    assert agree(via_link, snap) == mine
    assert cache_inode(estate) == inode  # every file a hit: nothing read, nothing written

    other.write(ci(1), other.edit(ci(1), "memoryMb: 65536", "memoryMb: 1024"))
    assert list(changes_by_id(agree(other, snap))) == ["db-01"]
    assert agree(estate, snap) == mine
    assert cache_inode(estate) == inode


# --- halves.py: identification split with a fork -------------------------------------------


def big_snapshot(estate: Estate, count: int) -> str:
    """Servers db-00..db-05 and `count` items: most unmanaged, and at both ends and
    around the middle (wherever the split falls) items that match, drift, match one CI
    twice (one item in each part), disagree between rules, or whose MACs are on two CIs."""
    macs = ["00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5f"]
    for n in range(6):
        mine = [macs[n % 2]] if n >= 4 else []
        estate.server(f"db-{n:02d}", hostname=f"db-{n:02d}", serial=f"CZ{n}", macs=mine)
    items: list[dict[str, Any]] = [
        item(hostname=f"web-{n:05d}", attributes=SAME) for n in range(count)
    ]
    bigger = {**SAME, "memoryMb": 131072}
    special = {
        0: item(serial="CZ0", attributes=SAME),
        1: item(serial="CZ1", attributes=bigger),
        count // 2 - 1: item(serial="CZ2", hostname="db-03", attributes=SAME),
        count // 2: item(serial="CZ2", attributes=bigger),
        count // 2 + 1: item(serial="CZ3", attributes=SAME),
        count * 11 // 20: item(hostname="DB-04.", attributes=SAME),
        count * 11 // 20 + 1: item(macs=["00-1A-2B-3C-4D-5E", "001a.2b3c.4d5f"]),
        count - 2: item(serial="CZ0", hostname="db-00", attributes=SAME),
        count - 1: item(fqdn="db-05.example.net", macs=["00:1a:2b:3c:4d:5f"]),
    }
    for position, found in special.items():
        items[position] = found
    return estate.snapshot(items)


def test_identification_split_with_a_fork_reports_what_one_process_does(
    estate: Estate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot of more items than halves._WORTH: its identification and digests are
    split between this process and a fork (which must really run: it leaves a mark).
    The report, --explain included, is the one of a run that does all of it here."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # a fork even on one core
    snap = big_snapshot(estate, halves._WORTH + 500)
    mark = tmp_path / "forked"
    send = halves._send

    def marked(*args: Any) -> None:
        mark.write_text(f"{args[2]} {args[3]}")
        send(*args)

    monkeypatch.setattr(halves, "_send", marked)
    split = diff(estate, [snap])
    assert mark.exists()
    lo, hi = map(int, mark.read_text().split())
    assert 0 < lo < hi == halves._WORTH + 500
    monkeypatch.setattr(drift, "in_two", lambda work, n: work(0, n))
    whole = diff(estate, [snap])
    assert split == whole
    report = whole[1]
    assert [a["candidates"] for a in report["ambiguous"]] == [
        ["db-00"],
        ["db-02", "db-03"],
        ["db-04", "db-05"],
        ["db-00"],
    ]
    assert sorted(changes_by_id(report)) == ["db-01", "db-02", "db-05"]  # db-05: fqdn
    assert report["summary"]["unmanaged"] == halves._WORTH + 500 - 9


# --- Identifier.facts: the fast path against the full one ------------------------------------


def _value(rng: random.Random, rule: str) -> Any:
    """A value an item or a CI may hold for `rule`, in the spellings normalisation joins."""
    pool: dict[str, list[Any]] = {
        "serial": [" CZ1", "CZ1", "CZ2 ", "CZ3", "cz3", "CZ4"],
        "hostname": ["db-01", "DB-01.", "db-02", "db-03", "web-01"],
        "fqdn": ["db-01.example.net", "DB-01.EXAMPLE.NET.", "db-02.example.net"],
        "asset": ["A1", " A1", "A2", 7, "7"],
    }
    macs = ["00:1a:2b:3c:4d:5e", "00-1A-2B-3C-4D-5E", "001a.2b3c.4d5f", "00:1a:2b:3c:4d:60"]
    if rule in ("macs", "mac"):
        return rng.sample(macs, rng.randint(1, 3))
    return rng.choice(pool[rule])


def test_the_fast_path_of_identification_is_the_full_one() -> None:
    """Identifier.facts against _identify(item_keys(...)) on random CIs and items: one
    value on several CIs, values that find two CIs, rules that disagree, `mac` read from
    `macs`, values not strings, rules no CI has values for."""
    rng = random.Random(4)
    rules_pool = ["serial", "fqdn", "hostname", "macs", "mac", "asset"]
    for _ in range(300):
        rules = tuple(rng.sample(rules_pool, rng.randint(1, 4)))
        policy = DiscoveryPolicy(identification={"Server": rules})
        tables: Tables = {}
        for n in range(rng.randint(0, 6)):
            spec: dict[str, Any] = {}
            for rule in rng.sample(rules_pool, rng.randint(0, 4)):
                value = _value(rng, rule)
                if rule in ("macs", "mac"):
                    spec["interfaces"] = [{"mac": m} for m in value]
                else:
                    spec[rule] = value
            add_keys(tables, "Server", f"ci-{n}", spec, rules)
        plan = {r: tables[("Server", r)] for r in rules if ("Server", r) in tables}
        fast = Identifier(tables, policy)
        for position in range(20):
            ids: dict[str, Any] = {}
            for rule in rng.sample(rules_pool, rng.randint(1, 4)):
                ids[rule] = _value(rng, rule)
            found = Item("Server", ids, {}, position)
            full = _identify(0, found, plan, item_keys(found, rules))
            assert fast.facts(0, found) == tuple(full[2:]), (rules, tables, ids)
