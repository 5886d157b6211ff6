"""The fast paths of `cmdbctl diff` give the report the slow ones give: CIs read in worker
processes or in this one, compared by digest or field by field, whatever the order in
which the workers learn what the sources report."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from cmdbctl.drift import desired, run_diff
from cmdbctl.drift.compare import digest
from cmdbctl.drift.report import plain
from cmdbctl.workspace import Workspace
from tests.drift.kit import Estate, item

MACS = ["00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5f"]
SAME = {"os": {"name": "Debian", "version": "12"}, "memoryMb": 65536}


@pytest.fixture
def snapshots(estate: Estate) -> list[str]:
    estate.server("db-01", hostname="db-01", serial="CZ1", macs=MACS)  # unchanged
    estate.server("db-02", hostname="db-02", serial="CZ2")  # memory drifted
    estate.server("db-03", hostname="db-03", serial="CZ3")  # host name case only
    estate.server("db-04", hostname="db-04", serial="CZ4")  # keys in another order
    estate.server("db-05", hostname="db-05", serial="CZ5")  # 65536.0: equal, not the same
    estate.server("db-06", hostname="db-06", serial="CZ6")  # missing
    estate.server("db-07", hostname="db-07", serial="CZ7", status="retired")
    estate.server("db-08", hostname="db-08", serial="CZ8")  # serial says 08, host 09
    estate.server("db-09", hostname="db-09", serial="CZ9")
    estate.server("db-10", hostname="db-10", serial="CZ10", labels="{env: test}")
    estate.write("inventory/servers/broken.yaml", "kind: [unclosed\n")
    estate.commit_all()
    macs = [m.upper().replace(":", "-") for m in MACS]
    ansible = [
        item(serial="CZ1", hostname="db-01", macs=macs, attributes=SAME),
        item(serial="CZ2", hostname="db-02", attributes={**SAME, "memoryMb": 131072}),
        item(serial="CZ3", hostname="DB-03.", attributes=SAME),
        item(serial="CZ4", hostname="db-04", attributes={"memoryMb": 65536, "os": SAME["os"]}),
        item(serial="CZ5", hostname="db-05", attributes={**SAME, "memoryMb": 65536.0}),
        item(serial="CZ8", hostname="db-09", attributes=SAME),
        item(serial="CZ10", hostname="db-10", attributes={"os": {"version": "13"}}),
        item(serial="NEW", hostname="web-01", attributes=SAME),
    ]
    register = [
        item(serial="CZ2", attributes={"os": {"version": "11"}, "vendor": "Dell"}),
        item(serial="CZ3", attributes={"memoryMb": "64 GiB"}),
    ]
    return [estate.snapshot(ansible), estate.snapshot(register, source="register")]


def _report(estate: Estate, paths: list[str], jobs: int) -> Any:
    now = datetime(2026, 11, 22, 10, tzinfo=UTC)
    result = run_diff(Workspace(estate.path), paths, now, jobs)
    return orjson.loads(orjson.dumps(plain(result, explain=True)))


@pytest.mark.parametrize("sources", [1, 2])
def test_workers_digests_and_the_field_by_field_path_agree(
    estate: Estate, snapshots: list[str], sources: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = snapshots[:sources]
    by_digest = _report(estate, paths, jobs=1)  # in this process, digests throughout
    monkeypatch.setattr(desired.Reading, "share", lambda self, reported: None)
    field_by_field = _report(estate, paths, jobs=1)  # never told: whole specs throughout
    monkeypatch.undo()
    monkeypatch.setattr(desired, "PARALLEL_THRESHOLD", 1)
    monkeypatch.setattr(desired, "_CHUNK", 2)
    in_workers = _report(estate, paths, jobs=2)  # some runs before the share, some after
    assert by_digest == field_by_field == in_workers
    drifted = {d["id"]: [c["path"] for c in d["changes"]] for d in by_digest["drifted"]}
    assert "db-01" not in drifted and "db-04" not in drifted and "db-05" not in drifted
    assert drifted["db-02"][0] == "spec.memoryMb"
    assert [m["id"] for m in by_digest["missing"]] == ["app-01", "db-06"]  # app-01: init's
    assert [a["candidates"] for a in by_digest["ambiguous"]] == [["db-08", "db-09"]]
    assert by_digest["summary"]["unread"] == 1


def test_a_digest_says_equal_only_of_equal_values() -> None:
    assert digest({"a": {"y": 1, "x": [1, 2]}, "b": "t"}) == digest(
        {"b": "t", "a": {"x": [1, 2], "y": 1}}
    )
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"a": 1}, {"a": 1.0}),
        ({"a": True}, {"a": 1}),
        ({"a": [1, 2]}, {"a": [2, 1]}),
    ]
    for one, other in pairs:
        assert digest(one) != digest(other)
    # orjson writes NaN as null, and a date as its text: no digest then, the slow way decides
    assert digest({"a": math.nan}) is None and digest({"a": None}) is None
    assert digest({"a": date(2026, 11, 22)}) is None
    assert digest({1: "a"}) is None  # type: ignore[dict-item]


def test_a_failed_snapshot_stops_the_workers(
    estate: Estate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(6):
        estate.server(f"db-{n:02d}", hostname=f"db-{n:02d}")
    estate.commit_all()
    bad = tmp_path / "bad.json"
    bad.write_text('{"source": "x", "items": []}', encoding="utf-8")
    monkeypatch.setattr(desired, "PARALLEL_THRESHOLD", 1)
    monkeypatch.setattr(desired, "_CHUNK", 1)
    with pytest.raises(Exception, match="discoveredAt"):
        run_diff(Workspace(estate.path), [str(bad)], datetime(2026, 11, 22, tzinfo=UTC), 2)
