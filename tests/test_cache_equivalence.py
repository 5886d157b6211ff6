"""The verdict cache never changes a verdict.

A real git repository (the benchmark's synthetic estate, small) goes through random
edits, renames, deletions, additions and commits; after each step a warm `validate`
(cache primed by the previous step) must report exactly what a cold one does. The warm
run rechecks only the entries an edit could touch, so the edits aim at what that
shortcut could get wrong: ids that appear, vanish or collide, references that start or
stop resolving, files that stop parsing.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from cmdbctl.validate import validate
from cmdbctl.workspace import find_workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from generate import generate


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("estate") / "repo"
    generate(200, root, commits=1, seed=3, force=True, quiet=True)
    return root


def _findings(root: Path) -> list[tuple[Any, ...]]:
    result = validate(find_workspace(root), jobs=1)
    return [
        (f.path, f.code, f.message, f.severity, f.pointer, f.line, f.column, f.hint)
        for f in result.findings
    ]


def _documents(root: Path) -> list[Path]:
    return sorted(p for p in (root / "inventory").rglob("*.yaml"))


def _ids(root: Path) -> list[str]:
    return [p.stem for p in _documents(root)]


def _rewrite(path: Path, change: Any) -> None:
    """Apply `change` to the document's data and write it back as JSON (which is YAML)."""
    import yaml_rs

    data = yaml_rs.loads(path.read_text("utf-8"), parse_datetime=False)
    change(data)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")


OPERATIONS = (
    "retarget",
    "dangle",
    "duplicate-id",
    "new-id",
    "break",
    "rename",
    "delete",
    "add",
    "commit",
)


def _step(root: Path, rng: random.Random, op: str) -> str:
    docs = _documents(root)
    path = rng.choice(docs)
    ids = _ids(root)
    if op == "retarget" or op == "dangle":
        target = rng.choice(ids) if op == "retarget" else f"ghost-{rng.randrange(10**6)}"

        def retarget(data: dict[str, Any]) -> None:
            spec = data.setdefault("spec", {})
            for key in ("runsOn", "dependsOn", "location"):
                if key in spec:
                    spec[key] = [target] if isinstance(spec[key], list) else target
                    return
            data.setdefault("metadata", {})["owner"] = target

        _rewrite(path, retarget)
    elif op in ("duplicate-id", "new-id"):
        new = rng.choice(ids) if op == "duplicate-id" else f"fresh-{rng.randrange(10**6)}"
        _rewrite(path, lambda data: data["metadata"].__setitem__("id", new))
    elif op == "break":
        path.write_text("apiVersion: cmdb/v1\nkind: [\n", "utf-8")
    elif op == "rename":
        path.rename(path.with_name(f"moved-{rng.randrange(10**6)}.yaml"))
    elif op == "delete":
        path.unlink()
    elif op == "add":
        new = f"added-{rng.randrange(10**6)}"
        text = path.read_text("utf-8")
        (path.parent / f"{new}.yaml").write_text(
            text.replace(f"id: {path.stem}\n", f"id: {new}\n"), "utf-8"
        )
    else:
        subprocess.run(["git", "add", "-A"], cwd=root, check=True)
        subprocess.run(
            [
                "git",
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "commit",
                "-qm",
                "step",
                "--allow-empty",
            ],
            cwd=root,
            check=True,
        )
    return f"{op} {path.relative_to(root)}"


@pytest.mark.parametrize("seed", [1, 2])
def test_warm_runs_report_what_cold_runs_report(
    seed: int, estate: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(estate), str(root)], check=True)
    rng = random.Random(seed)
    _findings(root)  # prime the cache
    steps, seen = [], set()
    operations = list(OPERATIONS) * 3  # each one three times, in a random order
    rng.shuffle(operations)
    for op in operations:
        steps.append(_step(root, rng, op))
        warm = _findings(root)
        with monkeypatch.context() as m:
            m.setenv("CMDBCTL_NO_CACHE", "1")
            cold = _findings(root)
        assert warm == cold, f"after steps {steps}"
        seen |= {code for _, code, *_ in cold}
    # the warm runs really read (and updated) the cache, not judged everything afresh
    assert _generation(root) >= len(operations) // 2, steps
    # The walk did reach the estate checks' findings, not only clean runs.
    assert {"ref.dangling", "id.duplicate", "id.file-name"} <= seen, seen


def _generation(root: Path) -> int:
    """How many warm runs wrote their changes into the cache."""
    [path] = (root / ".git" / "cmdbctl").glob("cache-*.sqlite")
    with closing(sqlite3.connect(path)) as db:
        return int(json.loads(db.execute("SELECT value FROM meta").fetchone()[0])["generation"])


def _commit(root: Path) -> None:
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "step"],
        cwd=root,
        check=True,
    )


def _warm_and_cold(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warm = _findings(root)
    with monkeypatch.context() as m:
        m.setenv("CMDBCTL_NO_CACHE", "1")
        assert warm == _findings(root)


def test_symlinked_document_deleted_and_replaced_is_rechecked_around(
    cmdb_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a symlinked document is a finding and claims no id: what refers to it dangles
    # while it is a link, and the warm runs must see it come and go as a file does
    store = cmdb_repo / "store"
    store.mkdir()
    link = cmdb_repo / "inventory" / "shop-db.yaml"
    link.rename(store / "shop-db.yaml")
    link.symlink_to("../store/shop-db.yaml")
    _commit(cmdb_repo)
    assert [(p, c) for p, c, *_ in _findings(cmdb_repo)] == [  # primes the cache
        ("inventory/shop-db.yaml", "file.symlink"),
        ("inventory/shop-web.yaml", "ref.dangling"),
    ]

    link.unlink()
    _warm_and_cold(cmdb_repo, monkeypatch)
    assert [(p, c) for p, c, *_ in _findings(cmdb_repo)] == [
        ("inventory/shop-web.yaml", "ref.dangling")
    ]

    link.write_bytes((store / "shop-db.yaml").read_bytes())
    _warm_and_cold(cmdb_repo, monkeypatch)
    assert _findings(cmdb_repo) == []

    link.unlink()
    link.symlink_to("../store/shop-db.yaml")
    _warm_and_cold(cmdb_repo, monkeypatch)
    assert [(p, c) for p, c, *_ in _findings(cmdb_repo)] == [
        ("inventory/shop-db.yaml", "file.symlink"),
        ("inventory/shop-web.yaml", "ref.dangling"),
    ]


def test_files_git_converts_are_never_judged_by_their_index_id(
    cmdb_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `ident` expands $Id$ in the work tree: the bytes read are not the blob's bytes
    # ("$Id: <sha> $" is no plain scalar, so the two bytes get different verdicts)
    app = cmdb_repo / "inventory" / "app-01.yaml"
    (cmdb_repo / ".gitattributes").write_text("inventory/app-01.yaml ident\n")
    app.write_text(app.read_text().replace("  hostname: app-01\n", "  hostname: $Id$\n"))
    _commit(cmdb_repo)
    subprocess.run(["git", "checkout", "--", "."], cwd=cmdb_repo, check=True)
    (cmdb_repo / "inventory" / "app-01.yaml").unlink()  # checked out again: expanded
    subprocess.run(["git", "checkout", "--", "inventory/app-01.yaml"], cwd=cmdb_repo, check=True)
    assert "$Id: " in app.read_text()
    # the same blob at a path without the attribute: its bytes are the blob's
    blob = subprocess.run(
        ["git", "show", "HEAD:inventory/app-01.yaml"],
        cwd=cmdb_repo,
        check=True,
        capture_output=True,
    ).stdout
    (cmdb_repo / "inventory" / "app-copy.yaml").write_bytes(blob)
    _commit(cmdb_repo)
    _findings(cmdb_repo)

    _warm_and_cold(cmdb_repo, monkeypatch)
