"""From real Ansible facts to a drift: this machine, discovered by Ansible's setup module,
compared with a repository that describes it with one deliberately wrong field."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from cmdbctl.discovery.snapshot import read_snapshot
from tests.conftest import GitRepo, identity, run_cli
from tests.discovery.conftest import mem_total_mb

WRONG_MEMORY_MB = 1


@pytest.fixture
def described(tmp_path: Path, isolated_git: None, real_facts: Path) -> tuple[GitRepo, Path]:
    """`cmdbctl init`, plus inventory/this-host.yaml written from what Ansible found,
    except its memory; and the snapshot `discover` made of the facts."""
    snapshot = tmp_path / "facts.json"
    result = run_cli(
        "discover", "--adapter", "ansible", "--facts", str(real_facts), "-o", str(snapshot)
    )
    assert result.exit_code == 0, result.output
    [item] = read_snapshot(snapshot).items
    repo = GitRepo.scaffold(tmp_path / "cmdb")
    spec = {**json.loads(json.dumps(item.attributes)), "memoryMb": WRONG_MEMORY_MB}
    document = {
        "apiVersion": "cmdb/v1",
        "kind": "Server",
        "metadata": {"id": "this-host", "name": "This machine", "owner": "team-ops"},
        "spec": {**spec, "status": "active"},
    }
    text = io.StringIO()
    YAML().dump(document, text)
    files = {"inventory/this-host.yaml": text.getvalue()}
    repo.commit("alice", "This machine, as Ansible sees it but for its memory", files)
    assert run_cli("validate", repo=repo.path).exit_code == 0, "the described CI must be valid"
    return repo, snapshot


def test_the_wrong_field_and_only_it_is_drift(described: tuple[GitRepo, Path]) -> None:
    repo, snapshot = described
    result = run_cli(
        "diff", "--discovered", str(snapshot), "--format", "json", "--exit-code", repo=repo.path
    )
    assert result.exit_code == 1, result.output  # drift, with --exit-code
    report = json.loads(result.stdout)
    [drifted] = [d for d in report["drifted"] if d["id"] == "this-host"]
    [change] = drifted["changes"]
    assert change["path"] == "spec.memoryMb"
    assert change["desired"] == WRONG_MEMORY_MB
    assert abs(change["discovered"] - mem_total_mb()) <= 0.02 * mem_total_mb()
    assert "this-host" not in {m["id"] for m in report["missing"]}
    assert report["unmanaged"] == []  # the one discovered item is this machine, matched


def test_write_makes_the_repository_say_what_ansible_found(
    described: tuple[GitRepo, Path],
) -> None:
    repo, snapshot = described
    result = run_cli(
        "diff", "--discovered", str(snapshot), "--write", repo=repo.path, env=identity("alice")
    )
    assert result.exit_code == 0, result.output
    again = run_cli("diff", "--discovered", str(snapshot), "--format", "json", repo=repo.path)
    assert "this-host" not in {d["id"] for d in json.loads(again.stdout)["drifted"]}
