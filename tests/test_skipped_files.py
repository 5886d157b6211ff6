"""Files `validate` does not read say so: a name that looks like a document but is not
one (`app-08.YAML`, `app-08.json`: `file.extension`, an error; `app-08.yaml~`,
`app-08.yaml.bak`: `file.leftover`, a warning), and the same on warm runs, whose folder
listings come from the cache. The rule is in `cmdbctl/workspace.py`'s docstring.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from cmdbctl.validate import validate
from cmdbctl.workspace import Folder, find_workspace

SERVER = """\
apiVersion: cmdb/v1
kind: Server
metadata:
  id: {id}
  owner: team-ops
spec:
  hostname: {id}
  location: rack-a01
"""

# name → (code, severity), or None: not a document and not reported
NAMES: dict[str, tuple[str, str] | None] = {
    "inventory/app-08.YAML": ("file.extension", "error"),
    "inventory/hw/app-09.Yml": ("file.extension", "error"),
    "inventory/app-10.json": ("file.extension", "error"),
    "changes/CHG-2026-0009.JSON": ("file.extension", "error"),
    "inventory/app-01.yaml~": ("file.leftover", "warning"),
    "policies/alice.yaml.bak": ("file.leftover", "warning"),
    "inventory/hw/app-09.yml.orig": ("file.leftover", "warning"),
    "inventory/README.md": None,
    "inventory/notes.txt": None,
    "inventory/.gitkeep": None,
    "inventory/.app-01.yaml.swp": None,  # hidden: an editor's, never a document
    "changes/Makefile": None,
}


def _write_near_misses(repo: Path, write_file: Callable[..., Path]) -> None:
    for rel in NAMES:
        name = rel.rsplit("/", 1)[1].split(".")[0] or "x"
        write_file(repo, rel, SERVER.format(id=name))


def test_names_that_look_like_documents_are_findings(
    cmdb_repo: Path, write_file: Callable[..., Path], validate_json: Callable[..., Any]
) -> None:
    init_documents = validate_json(cmdb_repo).data["summary"]["files"]
    _write_near_misses(cmdb_repo, write_file)
    # .yml is a document's suffix, as .yaml: read, and clean
    write_file(cmdb_repo, "inventory/app-11.yml", SERVER.format(id="app-11"))

    report = validate_json(cmdb_repo)

    assert {
        (f["path"], f["code"], f["severity"], f["line"], f["column"]) for f in report.findings
    } == {(rel, *expected, 1, 1) for rel, expected in NAMES.items() if expected}
    assert len(report.findings) == 7
    assert report.exit_code == 1
    assert report.data["summary"]["files"] == init_documents + 1  # app-11.yml only
    by_path = {f["path"]: f for f in report.findings}
    assert "is not read" in by_path["inventory/app-08.YAML"]["message"]
    assert "rename it to app-08.yaml" in by_path["inventory/app-08.YAML"]["hint"]
    assert "rename it to app-10.yaml" in by_path["inventory/app-10.json"]["hint"]
    assert "app-01.yaml" in by_path["inventory/app-01.yaml~"]["message"]
    assert "delete it" in by_path["policies/alice.yaml.bak"]["hint"]


def test_leftovers_alone_are_warnings(
    cmdb_repo: Path, write_file: Callable[..., Path], validate_json: Callable[..., Any]
) -> None:
    write_file(cmdb_repo, "inventory/app-01.yaml~", SERVER.format(id="app-01"))
    report = validate_json(cmdb_repo)
    assert [(f["path"], f["code"], f["severity"]) for f in report.findings] == [
        ("inventory/app-01.yaml~", "file.leftover", "warning")
    ]
    assert report.exit_code == 0


def test_a_skipped_file_is_never_read(
    cmdb_repo: Path, write_file: Callable[..., Path], validate_json: Callable[..., Any]
) -> None:
    # Bytes no document may hold: reading them would be a finding of their own.
    write_file(cmdb_repo, "inventory/app-08.YAML", b"\x00\xff" * 10)
    report = validate_json(cmdb_repo)
    assert [(f["path"], f["code"]) for f in report.findings] == [
        ("inventory/app-08.YAML", "file.extension")
    ]


# -- warm runs ------------------------------------------------------------------------


def _findings(root: Path) -> list[tuple[Any, ...]]:
    result = validate(find_workspace(root), jobs=1)
    return [
        (f.path, f.code, f.message, f.severity, f.pointer, f.line, f.column, f.hint)
        for f in result.findings
    ]


def _warm_is_cold(root: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    warm = _findings(root)
    with monkeypatch.context() as m:
        m.setenv("CMDBCTL_NO_CACHE", "1")
        cold = _findings(root)
    assert warm == cold
    return cold


def _commit(root: Path) -> None:
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "step"],
        cwd=root,
        check=True,
    )


def _generation(root: Path) -> int:
    """How many warm runs wrote their changes into the cache."""
    [path] = (root / ".git" / "cmdbctl").glob("cache-*.sqlite")
    with closing(sqlite3.connect(path)) as db:
        return int(json.loads(db.execute("SELECT value FROM meta").fetchone()[0])["generation"])


def _codes(found: list[tuple[Any, ...]]) -> set[tuple[str, str]]:
    return {(path, code) for path, code, *_ in found}


def test_warm_runs_report_skipped_files_as_cold_runs_do(
    cmdb_repo: Path, write_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_near_misses(cmdb_repo, write_file)
    _commit(cmdb_repo)
    expected = {(rel, code) for rel, found in NAMES.items() if found for code in found[:1]}
    assert _codes(_findings(cmdb_repo)) == expected  # a full run: primes the cache

    # Nothing changed: every folder listing comes from the cache, skipped names too.
    assert _codes(_warm_is_cold(cmdb_repo, monkeypatch)) == expected

    # Renamed as a document: read, and no longer reported.
    (cmdb_repo / "inventory" / "app-08.YAML").rename(cmdb_repo / "inventory" / "app-08.yaml")
    assert _codes(_warm_is_cold(cmdb_repo, monkeypatch)) == expected - {
        ("inventory/app-08.YAML", "file.extension")
    }

    # And back, in a folder the last run listed: reported again.
    (cmdb_repo / "inventory" / "app-08.yaml").rename(cmdb_repo / "inventory" / "app-08.Yaml")
    (cmdb_repo / "inventory" / "hw" / "app-09.Yml").unlink()
    assert _codes(_warm_is_cold(cmdb_repo, monkeypatch)) == expected - {
        ("inventory/app-08.YAML", "file.extension"),
        ("inventory/hw/app-09.Yml", "file.extension"),
    } | {("inventory/app-08.Yaml", "file.extension")}
    assert _generation(cmdb_repo) >= 2  # the warm runs read (and updated) the cache


def test_a_folder_listing_without_skipped_names_is_refused() -> None:
    # A cache an older cmdbctl wrote lists no skipped names: a warm run that trusted it
    # would forget them, so it is refused (the cache is rebuilt) rather than read.
    listing = Folder((1, 2, "3"), ("a.yaml",), (), (), ("sub",), False, ("b.YAML",))
    assert Folder.from_plain(json.loads(json.dumps(listing.plain()))) == listing
    with pytest.raises(ValueError):
        Folder.from_plain(json.loads(json.dumps(listing.plain()[:-1])))
