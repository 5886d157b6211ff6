"""The kit of the `cmdbctl diff` tests (tests/drift/): a real git repository written by `cmdbctl init`
plus the Servers and network devices each test describes, hand-made snapshots written
to files, and the real CLI driven in-process.

* `estate` — an `Estate` (a `GitRepo` on main, the scaffold committed by alice, its
  work tree clean); `estate.server(id, ...)` writes a Server document and
  `estate.commit()` commits it; `estate.snapshot(items, source=...)` writes a snapshot
  file beside the repository and returns its path; `estate.diff(*args)` runs
  `cmdbctl diff --format json` and returns `(exit status, JSON)`.
* `item(kind="Server", attributes=..., **identifiers)` — one snapshot item.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from ruamel.yaml import YAML

from tests.conftest import GitRepo, snapshot

NOW = "2026-11-22T10:00:00Z"


def item(
    kind: str = "Server", attributes: Mapping[str, Any] | None = None, **ids: Any
) -> dict[str, Any]:
    return {"kind": kind, "identifiers": ids, "attributes": dict(attributes or {})}


def server_yaml(
    ci: str,
    *,
    hostname: str | None = None,
    fqdn: str | None = None,
    serial: str | None = None,
    macs: Sequence[str] = (),
    status: str = "active",
    labels: str = "{env: prod}",
    extra: str = "",
) -> str:
    lines = [
        "apiVersion: cmdb/v1",
        "kind: Server",
        "metadata:",
        f"  id: {ci}",
        "  owner: team-ops",
        f"  labels: {labels}",
        "spec:",
        f"  status: {status}",
    ]
    if hostname:
        lines.append(f"  hostname: {hostname}")
    if fqdn:
        lines.append(f"  fqdn: {fqdn}")
    if serial:
        lines.append(f'  serial: "{serial}"')
    lines += ['  os: {name: Debian, version: "12"}', "  memoryMb: 65536   # sized for 2026"]
    if macs:
        lines.append("  interfaces:")
        lines += [
            f'    - {{name: eth{n}, mac: "{m}", ips: [10.0.0.{n + 1}]}}' for n, m in enumerate(macs)
        ]
    return "\n".join(lines) + "\n" + extra


@dataclass
class Estate(GitRepo):
    snapshots: Path = Path()

    def server(self, ci: str, **fields: Any) -> str:
        rel = f"inventory/servers/{ci}.yaml"
        self.write(rel, server_yaml(ci, **fields))
        return rel

    def commit_all(self, message: str = "servers") -> str:
        self.git("add", "-A")
        return self.commit(message=message)

    def snapshot(
        self,
        items: Sequence[Mapping[str, Any]],
        source: str = "ansible",
        name: str | None = None,
        discovered_at: str = "2026-11-22T08:00:00Z",
    ) -> str:
        path = self.snapshots / (name or f"{source}.json")
        path.write_text(
            json.dumps({"source": source, "discoveredAt": discovered_at, "items": list(items)}),
            encoding="utf-8",
        )
        return str(path)

    def run(self, *args: str, as_: str = "alice") -> Result:
        return self.cli("diff", *args, as_=as_)

    def diff(self, *args: str) -> tuple[int, dict[str, Any]]:
        result = self.run("--format", "json", "--now", NOW, *args)
        assert result.exit_code in (0, 1), result.output + result.stderr
        return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def estate(tmp_path: Path, isolated_git: None) -> Estate:
    repo = GitRepo.scaffold(tmp_path / "repo")
    found = Estate(repo.path, tmp_path / "snapshots")
    found.snapshots.mkdir()
    return found


def with_db(estate: Estate) -> Estate:
    """The estate with one Server, db-01 (serial CZ1234), committed: what `--write`
    attacks change."""
    estate.server("db-01", hostname="db-01", serial="CZ1234")
    estate.commit_all()
    return estate


def write(estate: Estate, snap: str, *args: str) -> Result:
    """`cmdbctl diff -d SNAP --write ...`."""
    return estate.run("-d", snap, "--write", "--now", NOW, *args)


def unchanged(estate: Estate, before: dict[str, Any], head: str) -> None:
    """The repository is as it was: files, HEAD's branch and commit, no new branch."""
    assert snapshot(estate.path, ignore=(".git",)) == before
    assert estate.git("status", "--porcelain") == ""
    assert estate.git("branch", "--show-current").strip() == "main"
    assert estate.head() == head
    assert estate.git("branch", "--format=%(refname:short)").split() == ["main"]


def parsed(text: str) -> Any:
    """YAML as plain data, safely."""
    return YAML(typ="safe", pure=True).load(text)


def changes_by_id(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """drifted as {id: {path: (desired, discovered)}}."""
    return {
        d["id"]: {c["path"]: (c["desired"], c["discovered"]) for c in d["changes"]}
        for d in report["drifted"]
    }
