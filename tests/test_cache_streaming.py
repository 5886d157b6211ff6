"""A run that judges everything streams its verdicts into the new cache as they come
(`cmdbctl.validate.cache.Rebuild`) and keeps only the entries and the findings to print.

Whatever the worker count and the size of the runs it streams, it reports what a cold
run reports and leaves the same cache; a run that fails midway, or a cache that cannot
be written midway, leaves the cache as it was and no temporary file.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest

from cmdbctl.kinds import load_registry
from cmdbctl.scaffold import init_repository
from cmdbctl.validate import cache as cache_module
from cmdbctl.validate import validate
from cmdbctl.validate import verdicts as verdicts_module
from cmdbctl.validate.verdicts import WorktreeReader, judge_all, judge_chunks
from cmdbctl.workspace import DOCUMENT_DIRS, find_workspace

SERVER = """\
apiVersion: cmdb/v1
kind: Server
metadata:
  id: {id}
  owner: team-ops
spec:
  location: {rack}
  memoryMb: {memory}
"""


def _server(doc_id: str, rack: str = "rack-a01", memory: int = 1024) -> str:
    return SERVER.format(id=doc_id, rack=rack, memory=memory)


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def _age(root: Path) -> None:
    """Date the estate an hour back, so that git and the folder listings are trusted."""
    then = time.time_ns() - 3600 * 1_000_000_000
    for top in (*DOCUMENT_DIRS, "schemas"):
        for folder, dirs, files in os.walk(root / top, topdown=False):
            for name in [*files, *dirs]:
                os.utime(Path(folder) / name, ns=(then, then), follow_symlinks=False)
        os.utime(root / top, ns=(then, then))
    subprocess.run(["git", "update-index", "-q", "--refresh"], cwd=root, check=False)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cmdbctl init`'s repository plus servers over several folders: one with a finding
    of its own (a negative memory), some with estate findings (dangling racks, one
    file's bytes twice), one whose rack is a lone surrogate (no JSON holds its verdict),
    one untracked, one edited."""
    root = init_repository(tmp_path_factory.mktemp("template") / "repo").root
    inventory = root / "inventory"
    for n in range(30):
        folder = inventory / f"hw{n % 3}"
        folder.mkdir(exist_ok=True)
        (folder / f"srv-{n:02}.yaml").write_text(
            _server(
                f"srv-{n:02}",
                rack="rack-zz" if n == 7 else "rack-a01",
                memory=-1 if n == 11 else 1024,
            )
        )
    (inventory / "hw0" / "copy.yaml").write_text(_server("srv-01"))  # same bytes as srv-01
    (inventory / "half.yaml").write_text(
        "apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: half\n  owner: team-ops\n"
        'spec:\n  location: "\\ud800"\n'
    )
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "estate")
    (inventory / "hw1" / "new.yaml").write_text(_server("new"))  # untracked
    (inventory / "hw2" / "srv-02.yaml").write_text(_server("srv-02", memory=2048))  # edited
    return root


@pytest.fixture
def estate(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(template, root, symlinks=True)
    _age(root)
    return root


def _findings(root: Path, jobs: int = 1) -> list[tuple[Any, ...]]:
    result = validate(find_workspace(root), jobs=jobs)
    return [
        (f.path, f.code, f.message, f.severity, f.pointer, f.line, f.column, f.hint)
        for f in result.findings
    ]


def _cold(root: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    with monkeypatch.context() as m:
        m.setenv("CMDBCTL_NO_CACHE", "1")
        return _findings(root)


def _cache_dir(root: Path) -> Path:
    return root / ".git" / "cmdbctl"


def _cache_file(root: Path) -> Path:
    [path] = _cache_dir(root).glob("cache-*.sqlite")
    return path


def _contents(root: Path) -> dict[str, Any]:
    """Every row of the cache, and its state but for the lineage (new on every rebuild)."""
    with closing(sqlite3.connect(_cache_file(root))) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = {
            t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
            for t in ("files", "verdicts", "refs")
        }
        state = orjson.loads(db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()[0])
    del state["lineage"]
    return {**tables, "state": state}


def _small_runs(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """Stream in runs of `size` files, in worker processes whatever the estate's size."""
    monkeypatch.setattr(verdicts_module, "_CHUNK", size)
    monkeypatch.setattr(verdicts_module, "PARALLEL_THRESHOLD", 1)


@pytest.mark.parametrize(("jobs", "size"), [(1, 3), (2, 1), (2, 4)])
def test_any_split_leaves_the_same_cache_and_findings(
    jobs: int, size: int, estate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = _cold(estate, monkeypatch)
    assert {(p, c) for p, c, *_ in cold} >= {
        ("inventory/hw1/srv-07.yaml", "ref.dangling"),
        ("inventory/hw2/srv-11.yaml", "schema.minimum"),
        ("inventory/hw0/copy.yaml", "id.duplicate"),
        ("inventory/half.yaml", "ref.dangling"),
    }
    assert _findings(estate) == cold  # one process, the default runs: the reference
    reference = _contents(estate)
    assert set(reference["state"]["dirty"]) == {  # read again by the next run
        "inventory/half.yaml",  # its verdict cannot be kept
        "inventory/hw1/new.yaml",
        "inventory/hw2/srv-02.yaml",
    }  # untracked, edited
    assert reference["state"]["generation"] == 0
    shutil.rmtree(_cache_dir(estate))

    with monkeypatch.context() as m:
        _small_runs(m, size)
        assert _findings(estate, jobs) == cold
    assert _contents(estate) == reference
    assert [p.name for p in _cache_dir(estate).iterdir()] == [_cache_file(estate).name]
    assert _findings(estate) == cold  # and a warm run from it
    assert _findings(estate, jobs) == cold


class _Failed(Exception):
    pass


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("before", ["no cache", "a broken cache", "another schema's"])
def test_a_run_that_fails_midway_leaves_the_cache_as_it_was(
    jobs: int, before: str, estate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Judging stops with an error after the first runs were written: the temporary
    file goes, whatever was in place stays, and the next run rebuilds as usual."""
    cold = _cold(estate, monkeypatch)
    folder = _cache_dir(estate)
    if before != "no cache":
        _findings(estate)
        if before == "a broken cache":
            _cache_file(estate).write_bytes(b"not a database\n" * 100)
        else:
            _cache_file(estate).rename(folder / "cache-v4-0123456789abcdef.sqlite")
    kept = {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}
    judge_path = verdicts_module.judge_path

    def failing(path: str, *args: Any) -> Any:
        if path == "inventory/hw2/srv-08.yaml":
            raise _Failed(path)
        return judge_path(path, *args)

    with monkeypatch.context() as m:
        _small_runs(m, 2)
        m.setattr(verdicts_module, "judge_path", failing)
        with pytest.raises(_Failed):
            _findings(estate, jobs)
    now = {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}
    assert now == kept
    assert _findings(estate) == cold
    assert [p.name for p in folder.iterdir()] == [_cache_file(estate).name]
    assert _findings(estate) == cold


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_cache_that_cannot_be_written_midway_costs_only_speed(
    jobs: int, estate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills while the new cache is written (SQLite's page limit stands in for
    it): the findings are whole, the old cache stays, no temporary file is left."""
    cold = _cold(estate, monkeypatch)
    assert _findings(estate) == cold
    old = _cache_file(estate)
    old.write_bytes(b"not a database\n" * 100)  # so that the next run rebuilds
    opened = cache_module.Rebuild._open
    full = []

    def open_full(self: cache_module.Rebuild) -> sqlite3.Connection:
        db = opened(self)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        full.append(db)
        return db

    with monkeypatch.context() as m:
        _small_runs(m, 3)
        m.setattr(cache_module.Rebuild, "_open", open_full)
        assert _findings(estate, jobs) == cold
    assert full, "no rebuild was written"
    assert [p.name for p in _cache_dir(estate).iterdir()] == [old.name]
    assert old.read_bytes() == b"not a database\n" * 100
    assert _findings(estate) == cold  # rebuilt now
    assert _findings(estate) == cold  # and read


def test_workers_run_only_a_few_runs_ahead(estate: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the workers return waits for the caller only a few runs deep: the parent
    holds a bounded number of results, not the estate's."""
    submitted: list[int] = []

    class Counting(ProcessPoolExecutor):
        def submit(self, *args: Any, **kwargs: Any) -> Any:
            submitted.append(1)
            return super().submit(*args, **kwargs)

    monkeypatch.setattr(verdicts_module, "ProcessPoolExecutor", Counting)
    _small_runs(monkeypatch, 1)
    kinds = load_registry(estate)
    names = sorted(p.relative_to(estate).as_posix() for p in estate.glob("inventory/**/*.yaml"))
    read = WorktreeReader(estate)
    stream = judge_chunks(names, read, kinds, jobs=2)
    taken = 0
    with closing(stream):
        for chunk, judged in stream:
            taken += 1
            assert len(chunk) == len(judged) == 1
            assert len(submitted) <= taken + verdicts_module._AHEAD * 2
    assert taken == len(submitted) == len(names)
    assert judge_all(names, read, kinds, jobs=2) == judge_all(names, read, kinds, jobs=1)


def test_a_rebuild_sweeps_only_what_rebuilds_leave(estate: Path) -> None:
    """Other fingerprints' caches (never read again) and temporary files a crash left
    an hour ago go; another run's rebuild in progress and files no rebuild wrote stay."""
    folder = _cache_dir(estate)
    folder.mkdir(parents=True)
    other = folder / "cache-v4-0123456789abcdef.sqlite"
    older_format = folder / "cache-v3-0123456789abcdef.sqlite"
    crashed = folder / ".cache-crashed.tmp"
    running = folder / ".cache-running.tmp"
    foreign = folder / "verdicts-notes.json"
    for path in (other, older_format, crashed, running, foreign):
        path.write_bytes(b"x")
    hour_ago = time.time() - 3700
    os.utime(crashed, (hour_ago, hour_ago))
    _findings(estate)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [_cache_file(estate).name, running.name, foreign.name]
    )
