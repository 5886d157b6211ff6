"""The verdict cache is safe: broken, raced, outdated or fooled, it never changes a verdict.

Every test works on a real git repository (`cmdbctl init`'s, plus a few documents with
findings) and compares a warm `validate` (cache present) with a cold one
(CMDBCTL_NO_CACHE=1) on the same work tree. Where it matters, the test also checks that
the cache was really used (its generation number grew) or really rebuilt (back to 0), so
a test cannot pass by the cache quietly being off.

The repository's files and folders are dated an hour back and the index refreshed before
the cache is primed: git then trusts its stat data without racy-clean re-reads, and the
cache trusts its folder listings, so the shortcuts under test are really taken.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from cmdbctl import gitio
from cmdbctl.loading.source import MAX_FILE_BYTES
from cmdbctl.scaffold import init_repository
from cmdbctl.validate import cache as cache_module
from cmdbctl.validate import validate
from cmdbctl.validate.verdicts import WorktreeReader
from cmdbctl.workspace import DOCUMENT_DIRS, find_workspace

Snapshot = Callable[..., dict[str, Any]]
RunCli = Callable[..., Any]

# A Server whose memory is negative: a schema finding of its own (the "doc-flagged"
# files, whose cached verdict every warm run reads back).
NEGATIVE_MEMORY = """\
apiVersion: cmdb/v1
kind: Server
metadata:
  id: bad-mem
  owner: team-ops
spec:
  memoryMb: -1
  location: rack-a01
"""
# A Server in a rack that does not exist: an estate finding (ref.dangling), rechecked
# by every warm run.
DANGLING = """\
apiVersion: cmdb/v1
kind: Server
metadata:
  id: web-02
  owner: team-ops
spec:
  location: rack-zz
"""
# Two Servers in a sub-folder that others refer to (web-04 is the target of db-02).
WEB_03 = """\
apiVersion: cmdb/v1
kind: Server
metadata:
  id: web-03
  owner: team-ops
spec:
  location: rack-a01
"""
WEB_04 = WEB_03.replace("web-03", "web-04")
DB_02 = """\
apiVersion: cmdb/v1
kind: Database
metadata:
  id: db-02
  owner: team-ops
spec:
  engine: postgresql
  runsOn: web-04
"""


# -- helpers ---------------------------------------------------------------------------


def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    return proc.stdout


def _commit(root: Path, message: str = "step") -> None:
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", message, "--allow-empty")


def _age(root: Path, seconds: int = 3600) -> None:
    """Date every file and folder of the estate `seconds` back and refresh the index, so
    that git trusts its stat data and the cache trusts its folder listings."""
    then = time.time_ns() - seconds * 1_000_000_000
    for top in (*DOCUMENT_DIRS, "schemas", "store"):
        start = root / top
        if not start.exists():
            continue
        for folder, dirs, files in os.walk(start, topdown=False):
            for name in [*files, *dirs]:
                os.utime(Path(folder) / name, ns=(then, then), follow_symlinks=False)
        os.utime(start, ns=(then, then))
    subprocess.run(["git", "update-index", "-q", "--refresh"], cwd=root, check=False)


def _findings(root: Path) -> list[tuple[Any, ...]]:
    result = validate(find_workspace(root), jobs=1)
    return [
        (f.path, f.code, f.message, f.severity, f.pointer, f.line, f.column, f.hint)
        for f in result.findings
    ]


def _cold(root: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    with monkeypatch.context() as m:
        m.setenv("CMDBCTL_NO_CACHE", "1")
        return _findings(root)


def _warm_is_cold(
    root: Path, monkeypatch: pytest.MonkeyPatch, what: str = ""
) -> list[tuple[Any, ...]]:
    """Run warm, then cold, assert both agree; the findings."""
    warm = _findings(root)
    cold = _cold(root, monkeypatch)
    assert warm == cold, what
    return cold


def _codes(findings: list[tuple[Any, ...]]) -> set[tuple[str, str]]:
    return {(path, code) for path, code, *_ in findings}


def _inventory_codes(findings: list[tuple[Any, ...]]) -> set[tuple[str, str]]:
    """The codes of inventory/: what `cmdbctl init` writes elsewhere (its example change
    request, policies) may refer to the CIs a test turns into links."""
    return {(path, code) for path, code in _codes(findings) if path.startswith("inventory/")}


def _cache_dir(root: Path) -> Path:
    return root / ".git" / "cmdbctl"


def _cache_file(root: Path) -> Path:
    [path] = _cache_dir(root).glob("cache-*.sqlite")
    return path


def _state(root: Path) -> dict[str, Any]:
    with closing(sqlite3.connect(_cache_file(root))) as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
    return dict(json.loads(row[0]))


def _generation(root: Path) -> int:
    """How many warm runs wrote their changes since the cache was last rebuilt."""
    return int(_state(root)["generation"])


def _sql(root: Path, *statements: str) -> None:
    with closing(sqlite3.connect(_cache_file(root), isolation_level=None)) as db:
        for statement in statements:
            db.execute(statement)


def _assert_usable(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache is sound: readable, and the next warm run updates it (and is right)."""
    with closing(sqlite3.connect(_cache_file(root))) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    before = _generation(root)
    _warm_is_cold(root, monkeypatch, "the run after the recovery")
    assert _generation(root) == before + 1


def _cli_report(run_cli: RunCli, root: Path, cached: bool = True) -> tuple[int, Any]:
    """`cmdbctl validate --format json`: its exit code and parsed output."""
    env = {} if cached else {"CMDBCTL_NO_CACHE": "1"}
    result = run_cli("validate", "--format", "json", repo=root, env=env)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cmdbctl init`'s repository (as the `cmdb_repo` fixture writes it), plus a file
    with a schema finding, one with a dangling reference and a sub-folder that another
    file refers into; committed. Built once, copied for each test."""
    root = init_repository(tmp_path_factory.mktemp("template") / "repo").root
    (root / "inventory" / "bad-mem.yaml").write_text(NEGATIVE_MEMORY)
    (root / "inventory" / "web-02.yaml").write_text(DANGLING)
    (root / "inventory" / "hw").mkdir()
    (root / "inventory" / "hw" / "web-03.yaml").write_text(WEB_03)
    (root / "inventory" / "hw" / "web-04.yaml").write_text(WEB_04)
    (root / "inventory" / "db-02.yaml").write_text(DB_02)
    _commit(root, "estate")
    return root


@pytest.fixture
def estate(template: Path, tmp_path: Path) -> Path:
    """A copy of `template` of its own, aged, with no cache yet."""
    root = tmp_path / "repo"
    shutil.copytree(template, root, symlinks=True)
    _age(root)  # and the index's stat data, which the copy made stale, refreshed
    return root


@pytest.fixture
def primed(estate: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`estate` with a cache written by a full run and updated by one warm run."""
    first = _findings(estate)
    assert _generation(estate) == 0  # a full run wrote it
    assert _codes(first) == {
        ("inventory/bad-mem.yaml", "schema.minimum"),
        ("inventory/web-02.yaml", "ref.dangling"),
    }
    assert _findings(estate) == first
    assert _generation(estate) == 1  # a warm run read and updated it
    return estate


# -- 1. a broken cache -----------------------------------------------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xffnot a database\n" * 512)


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _sqlite(*statements: str) -> Callable[[Path], None]:
    def corrupt(path: Path) -> None:
        with closing(sqlite3.connect(path, isolation_level=None)) as db:
            for statement in statements:
                db.execute(statement)

    return corrupt


def _state_field(key: str, value: Any) -> Callable[[Path], None]:
    """The state row, valid JSON, with one field of the wrong shape."""

    def corrupt(path: Path) -> None:
        with closing(sqlite3.connect(path, isolation_level=None)) as db:
            state = json.loads(db.execute("SELECT value FROM meta").fetchone()[0])
            state[key] = value
            db.execute(
                "UPDATE meta SET value = ? WHERE key = 'state'", (json.dumps(state).encode(),)
            )

    return corrupt


def _hot_journal(path: Path) -> None:
    """A junk rollback journal beside the database, as a crashed writer might leave."""
    Path(f"{path}-journal").write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"\xff" * 600)


NO_VERDICT = "0" * 40  # a blob id no verdict is kept under
CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "garbage bytes": _garbage,
    "truncated to half": _truncate,
    "empty file": _empty,
    "junk verdicts (x'00')": _sqlite("UPDATE verdicts SET verdict = x'00'"),
    "junk verdicts (half of each)": _sqlite(
        "UPDATE verdicts SET verdict = substr(verdict, 1, length(verdict) / 2)"
    ),
    "verdicts of the wrong shape ('abcd')": _sqlite("""UPDATE verdicts SET verdict = '"abcd"'"""),
    "verdicts of the wrong shape ([1,2,3,4])": _sqlite(
        "UPDATE verdicts SET verdict = '[1, 2, 3, 4]'"
    ),
    "verdicts as integers": _sqlite("UPDATE verdicts SET verdict = 7"),
    "verdicts with findings of the wrong types": _sqlite(
        "UPDATE verdicts SET verdict = '[null, null, null, [[1, 2, 3, 4, 5, 6, 7]]]'"
    ),
    "verdicts table dropped": _sqlite("DROP TABLE verdicts"),
    "state: invalid JSON": _sqlite("UPDATE meta SET value = x'7b2274726565223a'"),
    "state: JSON object without keys": _sqlite("UPDATE meta SET value = '{}'"),
    "state: folders of the wrong shape": _state_field("folders", []),
    "state: folder names not a list": _state_field(
        "folders", {"inventory": [None, "app-01.yaml", [], [], []]}
    ),
    "state: dirty is a number": _state_field("dirty", 5),
    "state: tree is a number": _state_field("tree", 5),
    "state: tree not in the repository": _state_field("tree", "1" * 40),
    "state: tree is an option of git's": _state_field("tree", "--output=inventory/zz.yaml"),
    "state: generation is text": _state_field("generation", "1"),
    "state row deleted": _sqlite("DELETE FROM meta"),
    "a doc-flagged file's row names a blob with no verdict": _sqlite(
        f"UPDATE files SET blob = '{NO_VERDICT}' WHERE path = 'inventory/bad-mem.yaml'"
    ),
    "an estate-flagged file's row names a blob with no verdict": _sqlite(
        f"UPDATE files SET blob = '{NO_VERDICT}' WHERE path = 'inventory/web-02.yaml'"
    ),
    "a doc-flagged file's verdict deleted": _sqlite(
        "DELETE FROM verdicts WHERE blob = "
        "(SELECT blob FROM files WHERE path = 'inventory/bad-mem.yaml')"
    ),
    "junk rollback journal beside it": _hot_journal,
}
HARMLESS = {"junk rollback journal beside it"}  # SQLite ignores it: no rebuild needed


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS))
def test_a_corrupt_cache_changes_no_verdict_and_is_rebuilt(
    corrupt: str, primed: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli, snapshot: Snapshot
) -> None:
    """A cache damaged on disk (a crash, a full disk, a hand edit, junk rows) must be
    noticed: trusting it would report findings of files that no longer have them, or
    drop the findings of files that do; crashing on it would break `validate` for good."""
    root = primed
    cold = _cli_report(run_cli, root, cached=False)
    CORRUPTIONS[corrupt](_cache_file(root))
    before = snapshot(root)

    assert _cli_report(run_cli, root) == cold  # exit code and findings
    assert snapshot(root) == before  # nothing in the work tree (or .git outside the cache)
    # noticed and rebuilt (generation 0), not luckily harmless; or truly harmless
    assert _generation(root) == (2 if corrupt in HARMLESS else 0)
    _assert_usable(root, monkeypatch)


def test_a_corrupt_cache_is_noticed_when_an_edit_needs_it(
    primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Junk in a verdict that only an edit makes the run read (a file that refers to the
    edited one) must be caught then, not silently decoded or skipped."""
    root = primed
    _sql(
        root,
        "UPDATE verdicts SET verdict = x'00' WHERE blob = "
        "(SELECT blob FROM files WHERE path = 'inventory/db-02.yaml')",
    )
    hw = root / "inventory" / "hw" / "web-04.yaml"
    hw.write_text(hw.read_text().replace("id: web-04", "id: web-05"))  # db-02 now dangles
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/db-02.yaml", "ref.dangling") in _codes(found)
    assert _generation(root) == 0  # noticed, and rebuilt
    _assert_usable(root, monkeypatch)


def test_a_folder_where_the_cache_file_belongs_costs_only_speed(
    primed: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli, snapshot: Snapshot
) -> None:
    """A directory in the cache file's place can neither be read nor replaced: every run
    must judge afresh, right, without an error, and leave no temporary files behind;
    once the directory is gone, the next run writes a cache again."""
    root = primed
    cold = _cli_report(run_cli, root, cached=False)
    path = _cache_file(root)
    path.unlink()
    path.mkdir()
    (path / "something").write_text("x")
    before = snapshot(root)
    for _ in range(2):
        assert _cli_report(run_cli, root) == cold
    assert snapshot(root) == before
    assert sorted(p.name for p in _cache_dir(root).iterdir()) == [path.name]
    shutil.rmtree(path)
    _warm_is_cold(root, monkeypatch)
    assert _generation(root) == 0
    _assert_usable(root, monkeypatch)


def test_a_file_where_the_cache_folder_belongs_costs_only_speed(
    primed: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli, snapshot: Snapshot
) -> None:
    """.git/cmdbctl that is a file (works as root, unlike a read-only folder): no cache
    can be written, and `validate` must neither fail nor touch that file."""
    root = primed
    cold = _cli_report(run_cli, root, cached=False)
    shutil.rmtree(_cache_dir(root))
    _cache_dir(root).write_text("not a folder\n")
    before = snapshot(root, ignore=())
    for _ in range(2):
        assert _cli_report(run_cli, root) == cold
    assert snapshot(root, ignore=()) == before
    _cache_dir(root).unlink()
    _warm_is_cold(root, monkeypatch)
    _assert_usable(root, monkeypatch)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root writes into a read-only folder anyway",
)
def test_a_read_only_cache_folder_costs_only_speed(
    primed: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli, snapshot: Snapshot
) -> None:
    """A cache folder that cannot be written (a read-only mount, another user's
    clone): warm runs still answer right, from the cache or afresh."""
    root = primed
    (root / "inventory" / "bad-mem.yaml").write_text(NEGATIVE_MEMORY.replace("-1", "2"))
    cold = _cli_report(run_cli, root, cached=False)
    folder = _cache_dir(root)
    folder.chmod(0o500)
    _cache_file(root).chmod(0o400)
    try:
        before = snapshot(root)
        for _ in range(2):
            assert _cli_report(run_cli, root) == cold
        assert snapshot(root) == before
    finally:
        folder.chmod(0o700)
        _cache_file(root).chmod(0o600)
    _assert_usable(root, monkeypatch)


def test_a_cache_locked_by_another_process_is_left_alone(
    primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holding the database locked longer than the run waits (a hung
    run, a sqlite3 shell): the run must not hang or fail, and must still be right; it
    must not replace the file under the other process either (whose journal, named
    after the file, could later be played back into the new one)."""
    root = primed
    monkeypatch.setattr(cache_module, "_TIMEOUT", 0.2)
    (root / "inventory" / "web-02.yaml").write_text(DANGLING.replace("rack-zz", "rack-a01"))
    with closing(sqlite3.connect(_cache_file(root), isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        found = _warm_is_cold(root, monkeypatch)
        holder.execute("ROLLBACK")
    assert _codes(found) == {("inventory/bad-mem.yaml", "schema.minimum")}
    assert _generation(root) == 1  # as primed: neither updated nor replaced
    _assert_usable(root, monkeypatch)


def test_a_cache_reserved_by_another_writer_is_left_alone(
    primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process in the middle of a write: the run may read, must answer right,
    and must skip its own write rather than wait forever or write over the other one."""
    root = primed
    monkeypatch.setattr(cache_module, "_TIMEOUT", 0.2)
    (root / "inventory" / "web-02.yaml").write_text(DANGLING.replace("rack-zz", "rack-a01"))
    with closing(sqlite3.connect(_cache_file(root), isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        _warm_is_cold(root, monkeypatch)
        holder.execute("ROLLBACK")
    assert _generation(root) == 1  # read, but not written
    _assert_usable(root, monkeypatch)


def test_a_blob_in_the_id_column_is_junk_not_an_id(
    primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite keeps whatever a row is given: an id stored as a BLOB (x'6162') never
    equals the text a lookup asks for, and comes back as bytes, not str. Trusted, it
    hides the holders of ids and mixes bytes into the estate's ids (which then cannot
    even be sorted): the run must take it for junk, not crash and not miss the
    reference an edit left dangling."""
    root = primed
    _sql(root, "UPDATE files SET id = x'6162'")
    db02 = root / "inventory" / "db-02.yaml"
    db02.write_text(DB_02.replace("runsOn: web-04", "runsOn: web-99"))  # now dangles
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/db-02.yaml", "ref.dangling") in _codes(found)


def test_a_cached_sub_folder_name_that_leads_out_of_the_repository(
    primed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached folder listing stands while the folder's time stamp is unchanged, and the
    walk goes on into the sub-folders it names. A name such as `../../outside` (junk, a
    hand edit, a planted cache) would lead the walk out of the repository, to YAML files
    no cold run reads: nothing there may be read or reported."""
    root = primed
    outside = tmp_path / "outside"  # beside the repository
    outside.mkdir()
    (outside / "evil.yaml").write_text(NEGATIVE_MEMORY.replace("bad-mem", "evil"))
    escape = os.path.relpath(outside, root / "inventory")
    assert escape.startswith("..") and (root / "inventory" / escape / "evil.yaml").is_file()
    with closing(sqlite3.connect(_cache_file(root), isolation_level=None)) as db:
        state = json.loads(db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()[0])
        state["folders"]["inventory"][4].append(escape)  # its sub-folders
        db.execute("UPDATE meta SET value = ? WHERE key = 'state'", (json.dumps(state).encode(),))
    read: list[str] = []
    original = WorktreeReader.__call__

    def spy(self: WorktreeReader, path: str) -> bytes:
        read.append(path)
        return original(self, path)

    monkeypatch.setattr(WorktreeReader, "__call__", spy)
    found = _warm_is_cold(root, monkeypatch)
    assert not [p for p in read if ".." in p.split("/")], "read outside the repository"
    assert not [p for p, _ in _codes(found) if ".." in p.split("/")]


# -- 2. concurrent runs ----------------------------------------------------------------


def _spawn(root: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cmdbctl", "validate", "--format", "json", "--repo", str(root)],
        cwd=root,
        env=env,
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _edits() -> Iterator[Callable[[Path], None]]:
    """Between rounds: edits that change findings, listings, the tree and the cache."""

    def untracked_bad(root: Path) -> None:
        (root / "inventory" / "new.yaml").write_text(NEGATIVE_MEMORY.replace("bad-mem", "new"))

    def fix_and_break(root: Path) -> None:
        (root / "inventory" / "bad-mem.yaml").write_text(NEGATIVE_MEMORY.replace("-1", "8"))
        (root / "inventory" / "hw" / "web-04.yaml").rename(root / "inventory" / "hw" / "x.yaml")

    def commit_and_delete_a_folder(root: Path) -> None:
        _commit(root)
        shutil.rmtree(root / "inventory" / "hw")
        (root / "inventory" / "new.yaml").unlink()

    def schema_change(root: Path) -> None:
        schema = root / "schemas" / "server.schema.json"
        schema.write_text(
            schema.read_text().replace(
                '"title": "Server specification",',
                '"title": "Server specification", "required": ["hostname"],',
                1,
            )
        )

    yield from (untracked_bad, fix_and_break, commit_and_delete_a_folder, schema_change)


def test_concurrent_runs_each_report_what_a_cold_run_reports(estate: Path, run_cli: RunCli) -> None:
    """Runs that start together race for the cache: full rebuilds renamed over each
    other, warm runs reading while others write, updates from a stale generation. Each
    must still report what a cold run does for the state it saw, and leave a readable
    cache. Edits happen only between rounds, so each round sees one fixed state."""
    root = estate
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "CI", "FORCE_COLOR")}
    env.pop("CMDBCTL_NO_CACHE", None)
    rounds = [lambda root: None, *_edits()]
    for number, edit in enumerate(rounds):
        edit(root)
        cold = _cli_report(run_cli, root, cached=False)
        procs = [_spawn(root, env) for _ in range(3)]
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert "Traceback" not in err and "internal error" not in err, err
            assert (proc.returncode, json.loads(out)) == cold, f"round {number}"
        with closing(sqlite3.connect(_cache_file(root))) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        generation = _generation(root)  # readable, and the next run updates it:
        assert _cli_report(run_cli, root) == cold, f"after round {number}"
        assert _generation(root) == generation + 1
    leftovers = [p.name for p in _cache_dir(root).iterdir() if not p.name.endswith(".sqlite")]
    assert leftovers == []


def test_a_warm_run_does_not_write_over_a_cache_rebuilt_meanwhile(
    estate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm run writes back only if no other run wrote since it read: the generation
    number says so. But every full rebuild starts at generation 0 again, so a warm run
    that read generation 0, then another run that found the cache unreadable and rebuilt
    it from a newer work tree (generation 0 again), let the first run's state (its dirty
    and flagged files) land on the other run's rows. Here the other run saw
    app-01.yaml edited; the first run's state, written over it, says the file has no
    findings, and the next warm run, finding the row's blob unchanged, believes it."""
    root = estate
    app = root / "inventory" / "app-01.yaml"
    assert _findings(root)  # a full run: generation 0
    assert _generation(root) == 0
    original = cache_module.VerdictCache.update
    interleaved: list[bool] = []

    def update(self: Any, *args: Any, **kwargs: Any) -> None:
        if not interleaved:  # between this run's read and its write, once:
            interleaved.append(True)
            app.write_text(app.read_text().replace("memoryMb: 65536", "memoryMb: -2"))
            _garbage(_cache_file(root))  # another run finds the cache broken and
            _findings(root)  # rebuilds it from the edited work tree (generation 0)
            assert _generation(root) == 0
        original(self, *args, **kwargs)

    monkeypatch.setattr(cache_module.VerdictCache, "update", update)
    _findings(root)  # the warm run that was overtaken
    assert interleaved
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/app-01.yaml", "schema.minimum") in _codes(found)


def _editing_before_read(monkeypatch: pytest.MonkeyPatch, path: Path, stage: bool) -> list[bool]:
    """Edit `path` (and `git add` it if `stage`) just before the run reads it: after
    git looked at the work tree and the tree, as an editor saving at that moment would."""
    original = WorktreeReader.__call__
    edited: list[bool] = []

    def read(self: WorktreeReader, rel: str) -> bytes:
        if self.root / rel == path and not edited:
            edited.append(True)
            path.write_text(path.read_text().replace("memoryMb: 65536", "memoryMb: -2"))
            if stage:
                _git(self.root, "add", rel)
        return original(self, rel)

    monkeypatch.setattr(WorktreeReader, "__call__", read)
    return edited


@pytest.mark.parametrize("stage", [False, True], ids=["edited", "edited and staged"])
def test_a_file_edited_while_a_full_run_reads_it_and_then_put_back(
    stage: bool, estate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full run learns from git what HEAD's tree holds, then reads the files. A file
    edited (or edited and staged) in between is judged and cached with its new bytes;
    if it were not marked dirty, then after `git reset --hard` puts it back git would
    call it clean, nothing would make the warm run read it, and the cached verdict of
    bytes the file no longer has would stand: a finding a cold run does not report."""
    root = estate
    with monkeypatch.context() as m:
        edited = _editing_before_read(m, root / "inventory" / "app-01.yaml", stage)
        during = _findings(root)  # a full run
    assert edited
    assert ("inventory/app-01.yaml", "schema.minimum") in _codes(during)
    _git(root, "reset", "-q", "--hard")  # file (and index) back to HEAD
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/app-01.yaml", "schema.minimum") not in _codes(found)


# Another run writing to the cache, stopped in the middle of its transaction: its page
# cache is kept small, so that its changes spill into the database file before a commit
# (the journal beside it holds the pages to put back).
_SPILLING_WRITER = """\
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA cache_size = 10")
db.execute("BEGIN IMMEDIATE")
db.execute(sys.argv[2])
db.execute("CREATE TABLE ballast(x)")
db.executemany("INSERT INTO ballast VALUES (?)", ((bytes(300),) for _ in range(2000)))
print("written", flush=True)
sys.stdin.readline()
"""


def test_a_rebuild_leaves_the_live_databases_journal_alone(
    primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild renames its new file into place, then deletes what it takes for stale
    files beside it. A `-journal` beside the live name may by then belong to the new
    file: another run that opened it right after the rename and is writing to it. That
    run's changes can be in the file before it commits; its journal is what puts them
    back if it dies. Deleted, and that run then killed, its half-done write (here a
    clean verdict put over bad-mem.yaml's) stands, and the next warm run trusts it."""
    root = primed
    path = _cache_file(root)
    _garbage(path)  # so that the next run rebuilds
    half_done = (
        "UPDATE verdicts SET verdict = (SELECT verdict FROM verdicts WHERE blob = "
        "(SELECT blob FROM files WHERE path = 'inventory/app-01.yaml')) WHERE blob = "
        "(SELECT blob FROM files WHERE path = 'inventory/bad-mem.yaml')"
    )
    writers: list[subprocess.Popen[str]] = []

    class OsWithAWriterAfterRename:
        """The os module, but right after the cache is renamed into place another run
        starts writing to it."""

        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        def replace(self, src: Any, dst: Any) -> None:
            os.replace(src, dst)
            if not writers and Path(dst) == path:
                writer = subprocess.Popen(
                    [sys.executable, "-c", _SPILLING_WRITER, str(path), half_done],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                writers.append(writer)
                assert writer.stdout is not None and writer.stdout.readline() == "written\n"
                assert Path(f"{path}-journal").exists()

    try:
        with monkeypatch.context() as m:
            m.setattr(cache_module, "os", OsWithAWriterAfterRename())
            _findings(root)  # the rebuild
        assert writers, "the rebuild renamed no file into place"
    finally:
        for writer in writers:  # dies in the middle of its write
            writer.kill()
            writer.communicate()
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/bad-mem.yaml", "schema.minimum") in _codes(found)


# -- 3. a changed schema ---------------------------------------------------------------


def test_a_changed_schema_gets_a_cache_of_its_own(
    primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verdicts depend on the schemas: after a schema edit, a cached verdict of the old
    schema would hide the new requirement (or report a lifted one). The edit must lead
    to a new cache file, and the full run that writes it removes the old one."""
    root = primed
    old = _cache_file(root)
    schema = root / "schemas" / "server.schema.json"
    original = schema.read_text()
    schema.write_text(
        original.replace(
            '"title": "Server specification",',
            '"title": "Server specification", "required": ["hostname"],',
            1,
        )
    )

    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/web-02.yaml", "schema.required") in _codes(found)
    new = _cache_file(root)  # the only one: the old file is gone
    assert new != old and not old.exists()
    assert _generation(root) == 0
    _assert_usable(root, monkeypatch)

    # tightened further: a pattern the example server does not match
    schema.write_text(
        schema.read_text().replace(
            '"serial": {"title": "Serial number", "type": "string"}',
            '"serial": {"title": "Serial number", "type": "string", "pattern": "^X"}',
            1,
        )
    )
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/app-01.yaml", "schema.pattern") in _codes(found)
    assert _cache_file(root) not in (old, new)

    schema.write_text(original)  # back: the first name again, and the old verdicts
    found = _warm_is_cold(root, monkeypatch)
    assert _cache_file(root) == old
    assert _codes(found) == {
        ("inventory/bad-mem.yaml", "schema.minimum"),
        ("inventory/web-02.yaml", "ref.dangling"),
    }


# -- 4. what git does not see ----------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_created_after_the_cache_is_reported(
    primed: Path, monkeypatch: pytest.MonkeyPatch, snapshot: Snapshot
) -> None:
    """git does not track FIFOs, and reading one would hang: a cache that only asks git
    would miss it, one that hashes it would block."""
    root = primed
    for folder in ("inventory", "inventory/hw"):
        os.mkfifo(root / folder / "x.yaml")
        found = _warm_is_cold(root, monkeypatch, folder)
        assert (f"{folder}/x.yaml", "file.not-regular") in _codes(found)
    (root / "inventory" / "x.yaml").unlink()
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/x.yaml", "file.not-regular") not in _codes(found)
    assert ("inventory/hw/x.yaml", "file.not-regular") in _codes(found)
    assert _generation(root) == 4


def _link_store(root: Path, name: str) -> Path:
    """Move inventory/<name> to store/<name> and put a symlink to it in its place; the
    moved file."""
    store = root / "store"
    store.mkdir(exist_ok=True)
    target = store / name
    (root / "inventory" / name).rename(target)
    (root / "inventory" / name).symlink_to(f"../store/{name}")
    return target


def test_a_symlinked_documents_target_edited_changes_nothing(
    estate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A symlinked document is a finding and its target is never read: editing the
    target changes no verdict, warm or cold (the link's blob, which git sees, is the
    link text, which does not change either)."""
    root = estate
    target = _link_store(root, "app-01.yaml")
    _commit(root)
    _age(root)
    first = _findings(root)  # primes the cache
    assert first == _cold(root, monkeypatch)
    assert _inventory_codes(first) == {
        ("inventory/bad-mem.yaml", "schema.minimum"),
        ("inventory/web-02.yaml", "ref.dangling"),
        ("inventory/app-01.yaml", "file.symlink"),
        ("inventory/shop-db.yaml", "ref.dangling"),  # app-01 is none
        ("inventory/shop-web.yaml", "ref.dangling"),
    }

    text = target.read_text()
    for edited in (
        text.replace("memoryMb: 65536", "memoryMb: -5"),
        text.replace("id: app-01", "id: app-99"),
        text,
    ):
        target.write_text(edited)
        assert _warm_is_cold(root, monkeypatch) == first
    assert _generation(root) == 3


def _replace_with_link(path: Path, target: str) -> None:
    path.unlink()
    path.symlink_to(target)


def _replace_with_file(path: Path, content: bytes) -> None:
    path.unlink()
    path.write_bytes(content)


def test_a_file_replaced_by_a_symlink_and_back(
    primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document that becomes a link stops being a document (its id goes, who refers
    to it dangles); one that becomes a file again is judged again. Warm runs see both,
    committed or not, and the cache is used all along."""
    root = primed
    first = _findings(root)
    generation = _generation(root)
    app = root / "inventory" / "app-01.yaml"
    web04 = root / "inventory" / "hw" / "web-04.yaml"
    app_bytes, web04_bytes = app.read_bytes(), web04.read_bytes()
    store = root / "store"
    store.mkdir()
    (store / "app-01.yaml").write_bytes(app_bytes)

    app_linked = {
        ("inventory/app-01.yaml", "file.symlink"),
        ("inventory/shop-db.yaml", "ref.dangling"),  # app-01 is no document
        ("inventory/shop-web.yaml", "ref.dangling"),
    }
    web04_linked = {
        ("inventory/hw/web-04.yaml", "file.symlink"),
        ("inventory/db-02.yaml", "ref.dangling"),
    }  # web-04 is none
    steps: list[tuple[str, Callable[[], None], set[tuple[str, str]]]] = [
        (
            "app-01 linked out of the document folders",
            lambda: _replace_with_link(app, "../store/app-01.yaml"),
            app_linked,
        ),
        (
            "web-04 linked to web-03, a document of its own",
            lambda: _replace_with_link(web04, "web-03.yaml"),
            app_linked | web04_linked,
        ),
        ("the links committed", lambda: _commit(root), app_linked | web04_linked),
        ("app-01 a file again", lambda: _replace_with_file(app, app_bytes), web04_linked),
        ("web-04 a file again", lambda: _replace_with_file(web04, web04_bytes), set()),
        ("the files committed", lambda: _commit(root), set()),
    ]
    for what, step, extra in steps:
        step()
        found = _warm_is_cold(root, monkeypatch, what)
        assert _inventory_codes(found) == _inventory_codes(first) | extra, what
        assert _generation(root) == generation + 1, what  # the cache was used
        generation += 1
    assert _findings(root) == first


def test_a_folder_replaced_by_a_symlink_and_back(
    primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sub-folder that becomes a link is not entered (its documents go); a document
    folder that becomes one is a finding. Warm runs see them go and come back."""
    root = primed
    first = _findings(root)
    generation = _generation(root)
    hw, changes = root / "inventory" / "hw", root / "changes"
    store = root / "store"
    store.mkdir()

    def link(folder: Path, target: str) -> None:
        folder.rename(store / folder.name)
        folder.symlink_to(target, target_is_directory=True)

    def unlink(folder: Path) -> None:
        folder.unlink()
        (store / folder.name).rename(folder)

    for what, step, extra in [
        (
            "inventory/hw linked",
            lambda: link(hw, "../store/hw"),
            {("inventory/db-02.yaml", "ref.dangling")},
        ),
        (
            "changes linked",
            lambda: link(changes, "store/changes"),
            {("inventory/db-02.yaml", "ref.dangling"), ("changes", "file.symlink")},
        ),
        ("changes back", lambda: unlink(changes), {("inventory/db-02.yaml", "ref.dangling")}),
        ("inventory/hw back", lambda: unlink(hw), set()),
    ]:
        step()
        found = _warm_is_cold(root, monkeypatch, what)
        assert _codes(found) == _codes(first) | extra, what
        assert _generation(root) == generation + 1, what  # the cache was used
        generation += 1
    assert _findings(root) == first


def _edit_keeping_stat(path: Path, old: str, new: str) -> None:
    """Replace `old` by `new` (same length) and put the file's times back."""
    assert len(old) == len(new)
    info = path.stat()
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (info.st_size, info.st_mtime_ns)


def test_an_untracked_file_edited_with_size_and_time_kept_is_judged_again(
    primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git has no stat data for an untracked file, so only hashing it every run can
    tell its new bytes; size and time stamp say nothing changed."""
    root = primed
    path = root / "inventory" / "new.yaml"
    path.write_text(NEGATIVE_MEMORY.replace("bad-mem", "new").replace("-1", "+1"))
    then = time.time_ns() - 3600 * 1_000_000_000
    os.utime(path, ns=(then, then))
    os.utime(path.parent, ns=(then, then))
    assert ("inventory/new.yaml", "schema.minimum") not in _codes(_findings(root))

    _edit_keeping_stat(path, "memoryMb: +1", "memoryMb: -1")
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/new.yaml", "schema.minimum") in _codes(found)
    _edit_keeping_stat(path, "memoryMb: -1", "memoryMb: +2")
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/new.yaml", "schema.minimum") not in _codes(found)
    assert _generation(root) == 4


def _wait_until(seconds: float) -> None:
    """Sleep until the clock (and the file system's coarser one) is past `seconds`."""
    time.sleep(max(0.0, seconds - time.time()) + 0.05)


def _edit_in_the_second_git_looked(root: Path, path: Path, old: str, new: str) -> None:
    """Have git refresh the file's index entry early in a fresh second, then edit it
    (size and modification time kept) within that same second."""
    for _ in range(3):
        _wait_until(int(time.time()) + 1)
        info = path.stat()
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # moves the change time
        _git(root, "update-index", "-q", "--refresh")  # git records it
        looked = int(path.stat().st_ctime)
        _edit_keeping_stat(path, old, new)
        if int(path.stat().st_ctime) == looked:
            return
        _edit_keeping_stat(path, new, old)  # too slow: the second went by
    pytest.skip("could not edit a file within the second git refreshed it")


@pytest.mark.parametrize("when", ["a second after git last looked"])
def test_a_tracked_file_edited_with_size_and_time_kept(
    when: str, primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only git's stat data says a tracked file is unchanged. An edit that keeps size and
    modification time still changes the change time, which git compares, but in whole
    seconds (unless git was built with USE_NSEC). A second after git last refreshed the
    entry, `diff-index` names the file; within that second, git (and `git status`)
    calls it clean, and a warm run that trusts git keeps the old verdict."""
    root = primed
    path = root / "inventory" / "app-01.yaml"
    if when == "a second after git last looked":
        _wait_until(int(path.stat().st_ctime) + 1)
        _edit_keeping_stat(path, "memoryMb: 65536", "memoryMb: -6553")
    else:
        _edit_in_the_second_git_looked(root, path, "memoryMb: 65536", "memoryMb: -6553")
    tree = gitio.head_tree(root)
    assert tree is not None
    git_says = gitio.differing(root, tree, DOCUMENT_DIRS)
    found = _warm_is_cold(root, monkeypatch, f"git diff-index names {git_says}")
    assert ("inventory/app-01.yaml", "schema.minimum") in _codes(found)
    # and back, now that it is among the last run's dirty files
    _edit_keeping_stat(path, "memoryMb: -6553", "memoryMb: 65536")
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/app-01.yaml", "schema.minimum") not in _codes(found)
    assert _generation(root) == 3


def test_a_cmdb_in_a_sub_folder_of_the_git_repository(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CMDB need not be the top of its git repository (a monorepo's cmdb/). git
    names paths from its top (cmdb/inventory/...), not from the CMDB's folder: a warm
    run that takes them for its own misses every edit git reports."""
    parent = tmp_path / "parent"
    root = parent / "cmdb"
    shutil.copytree(template, root, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    _git(parent, "init", "-q")
    _commit(parent, "the CMDB in a sub-folder")
    _age(root)
    first = _findings(root)  # primes the cache (in parent/.git)
    assert _findings(root) == first == _cold(root, monkeypatch)
    assert _dangle_db02_and_put_back(root, monkeypatch) == first


@pytest.mark.parametrize("flag", ["--assume-unchanged", "--skip-worktree"])
def test_a_tracked_file_git_is_told_not_to_look_at_is_edited(
    flag: str, primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`git update-index --assume-unchanged` (or `--skip-worktree`, as sparse checkouts
    set it) tells git to stop looking at a file: `diff-index` and `git status` call it
    unchanged whatever it holds, and a warm run that asks only git keeps its old verdict."""
    root = primed
    _git(root, "update-index", flag, "inventory/db-02.yaml")
    found = _dangle_db02_and_put_back(root, monkeypatch)
    assert ("inventory/db-02.yaml", "ref.dangling") not in _codes(found)


def _dangle_db02_and_put_back(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> list[tuple[Any, ...]]:
    """Edit db-02 in place so its reference dangles, then put it back; warm runs must
    agree with cold ones both times. The findings after putting it back."""
    db02 = root / "inventory" / "db-02.yaml"
    db02.write_text(DB_02.replace("runsOn: web-04", "runsOn: web-99"))  # now dangles
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/db-02.yaml", "ref.dangling") in _codes(found)
    db02.write_text(DB_02)
    return _warm_is_cold(root, monkeypatch, "put back")


def _refuse_reading(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a file unreadable: no permissions; and where the tests run as root (who
    reads it anyway), the work-tree reader is refused it as the OS refuses anyone else."""
    path.chmod(0)
    if not (hasattr(os, "geteuid") and os.geteuid() == 0):
        return
    original = WorktreeReader.__call__
    denied = path.as_posix()

    def refuse(self: WorktreeReader, rel: str) -> bytes:
        if f"{self.root}/{rel}" == denied:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), denied)
        return original(self, rel)

    monkeypatch.setattr(WorktreeReader, "__call__", refuse)


@pytest.mark.parametrize("kind", ["larger than the size limit", "unreadable"])
def test_an_untracked_file_with_no_cachable_verdict_costs_only_its_own_reading(
    kind: str, primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose verdict is never cached under a blob id (too large to be read whole,
    or unreadable) is read again by every run. Each run must report what a cold run
    does, and the file must not turn every later run into a full one (the cache dropped
    and rebuilt): the generation goes on growing."""
    root = primed
    path = root / "inventory" / "odd.yaml"
    if kind == "unreadable":
        path.write_text(NEGATIVE_MEMORY.replace("bad-mem", "odd"))
        _refuse_reading(path, monkeypatch)
        code = "file.unreadable"
    else:
        path.write_bytes(b"# " + b"x" * MAX_FILE_BYTES + b"\n")
        code = "file.too-large"
    try:
        for run in range(3):
            found = _warm_is_cold(root, monkeypatch, f"warm run {run + 1}")
            assert ("inventory/odd.yaml", code) in _codes(found)
            assert _generation(root) == 2 + run, f"warm run {run + 1} was a full run"
    finally:
        path.chmod(0o644)


# -- 5. git moving the work tree -------------------------------------------------------


@pytest.fixture
def branches(estate: Path) -> Path:
    """`estate` with a branch `other` that differs in many ways: files renamed, deleted,
    added, edited (ids, references, schema errors), a folder moved."""
    root = estate
    _git(root, "branch", "-M", "main")
    _git(root, "checkout", "-q", "-b", "other")
    inv = root / "inventory"
    (inv / "bad-mem.yaml").write_text(NEGATIVE_MEMORY.replace("-1", "4"))  # fixed
    (inv / "app-01.yaml").write_text(
        (inv / "app-01.yaml").read_text().replace("memoryMb: 65536", "memoryMb: -3")
    )
    (inv / "shop-db.yaml").unlink()  # shop-web now dangles
    (inv / "hw").rename(inv / "servers")
    (inv / "servers" / "web-05.yaml").write_text(WEB_03.replace("web-03", "web-05"))
    (inv / "db-02.yaml").write_text(DB_02.replace("web-04", "web-05"))
    (inv / "dup.yaml").write_text(WEB_03)  # id web-03 twice
    (root / "policies" / "bob.yaml").rename(root / "policies" / "robert.yaml")
    _commit(root, "other")
    _git(root, "checkout", "-q", "main")
    _age(root)
    return root


def test_checking_out_another_branch_and_back(
    branches: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout moves HEAD's tree and rewrites many files at once: the warm run must
    compare with the tree the cache was measured against, not only with the index."""
    root = branches
    main = _warm_is_cold(root, monkeypatch)
    _git(root, "checkout", "-q", "other")
    other = _warm_is_cold(root, monkeypatch, "main → other")
    assert {"ref.dangling", "id.duplicate", "schema.minimum"} <= {c for _, c in _codes(other)}
    _git(root, "checkout", "-q", "main")
    assert _warm_is_cold(root, monkeypatch, "other → main") == main
    _git(root, "checkout", "-q", "other", "--", "inventory/app-01.yaml")  # staged only
    _warm_is_cold(root, monkeypatch, "one file checked out from other")
    _git(root, "reset", "-q", "--hard")
    assert _warm_is_cold(root, monkeypatch, "reset") == main
    assert _generation(root) == 4  # every run after the first was warm


def test_stash_and_stash_pop(branches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`git stash` puts edited files back to HEAD (and `pop` brings the edits back):
    files the last run saw edited must be read again even though git now calls them
    clean."""
    root = branches
    _warm_is_cold(root, monkeypatch)
    inv = root / "inventory"
    (inv / "shop-web.yaml").write_text(
        (inv / "shop-web.yaml").read_text().replace("shop-db", "nothing")
    )
    (inv / "bad-mem.yaml").write_text(NEGATIVE_MEMORY.replace("-1", "1"))
    (inv / "hw" / "web-04.yaml").unlink()
    _git(root, "add", "inventory/bad-mem.yaml")  # one of them staged
    edited = _warm_is_cold(root, monkeypatch, "edited")
    _git(root, "stash", "-q")
    stashed = _warm_is_cold(root, monkeypatch, "stashed")
    _git(root, "stash", "pop", "-q")
    assert _warm_is_cold(root, monkeypatch, "popped") == edited
    assert edited != stashed
    assert _generation(root) == 3


def test_reset_hard_to_the_parent(branches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`git reset --hard HEAD~1` moves HEAD back over a commit: files that commit added,
    changed or removed differ from the cached tree, not from the index."""
    root = branches
    _git(root, "merge", "-q", "--ff-only", "other")
    _age(root)
    merged = _warm_is_cold(root, monkeypatch, "merged")
    _git(root, "reset", "-q", "--hard", "HEAD~1")
    back = _warm_is_cold(root, monkeypatch, "reset to HEAD~1")
    assert back != merged
    _git(root, "reset", "-q", "--hard", "other")
    assert _warm_is_cold(root, monkeypatch, "reset to other") == merged
    assert _generation(root) == 2


def test_commit_amend_and_the_old_tree_collected(
    branches: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`git commit --amend` replaces HEAD's tree; after gc the tree the cache was
    measured against is gone, and the cache must not be trusted without it."""
    root = branches
    _warm_is_cold(root, monkeypatch)
    inv = root / "inventory"
    (inv / "web-02.yaml").write_text(DANGLING.replace("rack-zz", "rack-a01"))
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "--amend", "--no-edit")
    found = _warm_is_cold(root, monkeypatch, "amended")
    assert ("inventory/web-02.yaml", "ref.dangling") not in _codes(found)
    assert _generation(root) == 1

    (inv / "web-02.yaml").write_text(DANGLING)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "--amend", "--no-edit")
    _git(root, "branch", "-D", "other")
    _git(root, "reflog", "expire", "--expire=now", "--all")
    _git(root, "gc", "-q", "--prune=now")
    assert gitio.output(root, "cat-file", "-e", _state(root)["tree"]) is None  # gone
    found = _warm_is_cold(root, monkeypatch, "amended, old tree collected")
    assert ("inventory/web-02.yaml", "ref.dangling") in _codes(found)
    assert _generation(root) == 0  # judged afresh
    _assert_usable(root, monkeypatch)


# -- 6. files moved, folders deleted ---------------------------------------------------


def test_a_file_moved_into_a_new_sub_folder(primed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new folder is listed by nobody yet, and its parent's listing changes: the moved
    file must be found there and nowhere else."""
    root = primed
    deep = root / "inventory" / "new" / "deeper"
    deep.mkdir(parents=True)
    (root / "inventory" / "bad-mem.yaml").rename(deep / "bad-mem.yaml")
    (root / "inventory" / "hw" / "web-04.yaml").rename(deep / "web-04.yaml")
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/new/deeper/bad-mem.yaml", "schema.minimum") in _codes(found)
    assert not any(p == "inventory/bad-mem.yaml" for p, _ in _codes(found))
    _commit(root)
    _age(root)
    _warm_is_cold(root, monkeypatch, "committed")
    (deep / "web-04.yaml").rename(root / "inventory" / "new" / "web-04.yaml")
    _warm_is_cold(root, monkeypatch, "moved up a level")
    assert _generation(root) == 4


def test_a_folder_deleted_with_its_files(primed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deleted sub-folder is never listed again: its files' ids must vanish (the
    references to them now dangle) and their cached findings must not be reported."""
    root = primed
    (root / "inventory" / "hw" / "bad.yaml").write_text(NEGATIVE_MEMORY.replace("bad-mem", "bad"))
    _commit(root)
    _age(root)
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/hw/bad.yaml", "schema.minimum") in _codes(found)

    shutil.rmtree(root / "inventory" / "hw")
    found = _warm_is_cold(root, monkeypatch, "deleted")
    assert ("inventory/db-02.yaml", "ref.dangling") in _codes(found)
    assert not any(p.startswith("inventory/hw/") for p, _ in _codes(found))
    _git(root, "checkout", "--", "inventory/hw")  # back again
    found = _warm_is_cold(root, monkeypatch, "restored")
    assert ("inventory/hw/bad.yaml", "schema.minimum") in _codes(found)
    assert _generation(root) == 4


def test_a_folder_renamed_into_the_place_of_one_with_the_same_time_stamp(
    estate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder's cached listing stands while the time stamp at its path is unchanged.
    A folder renamed into the place of another (deleted) keeps its own time stamp; when
    that equals the old folder's (made in the same tick, copied with its times, `touch
    -r`, a tool that dates files), the path's time looks unchanged and the old folder's
    listing is taken for the new one's files: web-b.yaml is looked for, web-a.yaml and
    its finding are missed."""
    root = estate
    a, b = root / "inventory" / "a", root / "inventory" / "b"
    a.mkdir()
    b.mkdir()
    (a / "web-a.yaml").write_text(NEGATIVE_MEMORY.replace("bad-mem", "web-a"))
    (b / "web-b.yaml").write_text(WEB_03.replace("web-03", "web-b"))
    _commit(root)
    _age(root)
    stamp = a.stat().st_mtime_ns
    os.utime(b, ns=(stamp, stamp))
    first = _findings(root)
    assert ("inventory/a/web-a.yaml", "schema.minimum") in _codes(first)
    assert _findings(root) == first
    assert _generation(root) == 1  # primed

    shutil.rmtree(b)
    os.rename(a, b)
    if b.stat().st_mtime_ns != stamp:  # a file system that dates a moved folder
        os.utime(b, ns=(stamp, stamp))
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/b/web-a.yaml", "schema.minimum") in _codes(found)
    assert not any(
        p.startswith("inventory/a/") or p == "inventory/b/web-b.yaml" for p, _ in _codes(found)
    )


# -- git settings and attributes under which stat data says too little -----------------


def test_content_git_converts_turns_the_cache_off(
    primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an attribute that converts content, a file git checks out again holds other
    bytes for the same blob, and git then calls it clean: a cached verdict of the old
    bytes would stand. Such a work tree gets no warm runs."""
    root = primed
    (root / ".gitattributes").write_text("inventory/app-01.yaml working-tree-encoding=UTF-16\n")
    (root / "inventory" / "app-01.yaml").unlink()
    _git(root, "checkout", "--", "inventory/app-01.yaml")
    assert gitio.differing(root, str(gitio.head_tree(root)), DOCUMENT_DIRS) == set()
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/app-01.yaml", "file.binary") in _codes(found)
    # The attribute goes; git still calls the converted file clean. A state from before
    # the conversion must not be trusted now.
    (root / ".gitattributes").unlink()
    assert gitio.stat_data_trusted(root, DOCUMENT_DIRS)
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/app-01.yaml", "file.binary") in _codes(found)


def test_an_untracked_attributes_file_in_a_document_folder_turns_the_cache_off(
    primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git reads .gitattributes from the work tree, tracked or not; git cannot list an
    untracked one without a scan of every folder, so the walk looks for them."""
    root = primed
    (root / "inventory" / "hw" / ".gitattributes").write_text("*.yaml ident\n")
    assert gitio.stat_data_trusted(root, DOCUMENT_DIRS)  # git alone does not tell
    _warm_is_cold(root, monkeypatch)
    assert not list((root / ".git" / "cmdbctl").glob("cache-*"))  # no state to trust later


@pytest.mark.parametrize(
    "setting",
    [
        ("core.trustctime", "false"),
        ("core.checkStat", "minimal"),
        ("core.ignoreStat", "true"),
        ("core.fsmonitor", "true"),
    ],
)
def test_settings_that_weaken_stat_checks_turn_the_cache_off(
    setting: tuple[str, str], primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A same-size rewrite with its time put back (cp -p, rsync -t, tar x) shows only in
    the change time; with git told not to look at it, git calls the file clean."""
    root = primed
    _git(root, "config", *setting)
    assert not gitio.stat_data_trusted(root, DOCUMENT_DIRS)
    path = root / "inventory" / "app-01.yaml"
    _wait_until(int(path.stat().st_ctime) + 1)
    _edit_keeping_stat(path, "memoryMb: 65536", "memoryMb: -6553")
    found = _warm_is_cold(root, monkeypatch)
    assert ("inventory/app-01.yaml", "schema.minimum") in _codes(found)


@pytest.mark.parametrize(
    "setting",
    [("core.fsmonitor", "false"), ("core.trustctime", "true"), ("core.ignoreStat", "false")],
)
def test_settings_that_say_no_keep_the_cache(
    setting: tuple[str, str], primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A setting turned off explicitly is no reason to judge everything every time."""
    root = primed
    _git(root, "config", *setting)
    assert gitio.stat_data_trusted(root, DOCUMENT_DIRS)
    _warm_is_cold(root, monkeypatch)
    assert _generation(root) >= 1


def test_a_journal_left_beside_no_database_is_not_played_into_a_new_one(
    primed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that crashed left its journal; the database was then deleted. The next
    full run writes a new database: the old journal must not be played back into it."""
    root = primed
    cache = _cache_file(root)
    journal = cache.with_name(cache.name + "-journal")
    journal.write_bytes(cache.read_bytes()[:4096])  # what a hot journal could hold
    cache.unlink()
    _warm_is_cold(root, monkeypatch)  # rebuilt
    assert not journal.exists()
    with closing(sqlite3.connect(_cache_file(root))) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    _assert_usable(root, monkeypatch)
