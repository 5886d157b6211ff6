"""The repository `cmdbctl init` writes, used as its README says on day one: the first
pull request passes the gate once a change manager approves it, the example change
request is never judged, and a management change names the policies it changes."""

from __future__ import annotations

import datetime
import os
import re
import subprocess
from typing import Any

import pytest

SATURDAY = "2026-11-28"  # inside the scaffold SLA's window, a week after kit.NOW


def _block(readme: str, containing: str) -> str:
    """The ```sh block of the README that holds `containing`."""
    blocks = re.findall(r"^```sh\n(.*?)^```$", readme, flags=re.MULTILINE | re.DOTALL)
    [block] = [b for b in blocks if containing in b]
    return str(block)


def _bash(repo: Any, kit: Any, script: str) -> str:
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **kit.identity_env("alice")},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_readme_finds_next_saturday(repo: Any, kit: Any) -> None:
    block = _block(repo.read("README.md"), "cat > changes/")
    [line] = [li for li in block.splitlines() if li.startswith("SAT=")]
    printed = _bash(repo, kit, f"{line}\necho $SAT").strip()
    day = datetime.date.fromisoformat(printed)
    today = datetime.date.today()
    assert day.weekday() == 5 and today < day <= today + datetime.timedelta(days=7)


def test_the_readme_walk_through_passes_the_gate_once_a_change_manager_approves(
    repo: Any, kit: Any
) -> None:
    readme = repo.read("README.md")
    edit = _block(readme, "inventory/app-01.yaml")
    write = re.sub(
        r"^SAT=.*$", f"SAT={SATURDAY}", _block(readme, "cat > changes/"), flags=re.MULTILINE
    )  # a fixed Saturday: the gate runs at kit.NOW
    change_id = _bash(repo, kit, f"{edit}\n{write}\necho $CHG").strip()
    path = f"changes/{change_id}.yaml"
    assert re.fullmatch(r"CHG-\d{4}-0002", change_id)
    assert repo.cli("validate").exit_code == 0
    repo.git("add", "-A")
    repo.commit("alice", f"Double the memory of app-01\n\nChange-Id: {change_id}")

    code, report = repo.gate()
    assert code == 1
    missing = kit.one(report, "gate.approval.missing")
    assert (
        "rule normal needs 1 more approval from change-managers: bob, carol" in missing["message"]
    )  # as the README says
    assert missing["path"] == path

    approved = repo.approve(change_id, "-m", "ok for Saturday", as_="bob")
    assert approved.exit_code == 0, approved.stderr
    code, report = repo.gate()
    assert code == 0, report["findings"]
    assert [c["id"] for c in report["changes"]] == [change_id]
    assert "status: approved" in repo.read(path)


def test_a_fresh_repository_passes_the_gate_and_its_example_is_never_judged(
    repo: Any, kit: Any
) -> None:
    code, report = repo.gate()
    assert code == 0, report["findings"]
    assert report["changes"] == [] and report["findings"] == []

    kit_change = kit.change_yaml()
    repo.commit(
        "alice",
        f"more memory\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            ),
            kit.CHANGE_PATH: kit_change,
        },
    )
    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    code, report = repo.gate()
    assert code == 0, report["findings"]
    assert [c["id"] for c in report["changes"]] == [kit.CHANGE_ID]  # not CHG-2026-0001


@pytest.mark.parametrize(
    "targets",
    [
        ("change-managers",),
        ("carol", "change-managers"),
        ("change-policy",),
        ("os-patch",),
    ],
)
def test_a_management_change_targets_the_policies_it_changes(
    targets: tuple[str, ...], repo: Any, kit: Any
) -> None:
    edits = {
        "change-managers": (
            "policies/change-managers.yaml",
            "members: [bob, carol]",
            "members: [bob, carol, dave]",
        ),
        "carol": (
            "policies/carol.yaml",
            "emails: [carol@example.com]",
            "emails: [carol@example.com, carol@example.org]",
        ),
        "change-policy": ("policies/change-policy.yaml", "reviewWithin: P5D", "reviewWithin: P3D"),
        "os-patch": (
            "policies/os-patch.yaml",
            "targetKinds: [Server]",
            "targetKinds: [Server, Database]",
        ),
    }
    files = {path: repo.edit(path, old, new) for path, old, new in (edits[t] for t in targets)}
    files[kit.CHANGE_PATH] = kit.change_yaml(category="management", targets=targets)
    repo.commit("alice", f"policy edit\n\nChange-Id: {kit.CHANGE_ID}", files=files)

    check = repo.cli("validate", "--format", "json")
    assert check.exit_code == 0, check.stdout
    code, report = repo.gate()
    assert code == 1
    assert kit.codes(report) == {"gate.approval.missing", "gate.governance-edit"}

    assert repo.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    code, report = repo.gate()
    assert code == 0, report["findings"]
    [verdict] = report["changes"]
    assert "management" in verdict["rules"] and verdict["targets"] == list(targets)


def test_a_change_request_is_no_target(repo: Any, kit: Any) -> None:
    # Targets widened to people, groups and policies, and no further.
    repo.write(kit.CHANGE_PATH, kit.change_yaml(targets=("CHG-2026-0001",)))
    check = repo.cli("validate", "--format", "json")
    assert check.exit_code == 1
    assert '"ref.kind"' in check.stdout
