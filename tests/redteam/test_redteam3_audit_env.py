"""Red team: `cmdbctl audit` against the gate it claims to replay, the environment's
hold on `gate`/`audit` verdicts, and shell completion.

`audit` judges each first-parent commit as `cmdbctl gate --base <first parent> --head
<commit> --now <committer date>` would; a run of 10+ commits answers "who refers to this
id" from a shared index of parsed references, a shorter run (and the gate) from git grep.
A history written so that the two disagree shows one of them judging wrong. Each test
asserts the safe behaviour; those marked xfail are holes still open.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GitRepo, identity, run_cli, run_cmdbctl

pytestmark = pytest.mark.filterwarnings(r"ignore:unclosed file <_io.BufferedReader")

NOW = "2026-11-22T10:00:00Z"
MONDAY = ("2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z")  # outside sla-standard's sat window
CHANGE = "changes/CHG-2026-0042.yaml"

# Ways to write the reference `app-01` that YAML reads as app-01 and `git grep -w app-01`
# does not find.
HIDDEN = {
    "hex-escape": '"app\\x2d01"',
    "unicode-escape": '"app\\u002d01"',
    "escaped-line-break": '"app-\\\n    01"',
}


def change_yaml(window: tuple[str, str] = MONDAY, status: str = "submitted") -> str:
    return (
        "apiVersion: cmdb/v1\nkind: ChangeRequest\nmetadata:\n  id: CHG-2026-0042\n"
        "  name: Double memory on app-01\nspec:\n  type: normal\n  category: system\n"
        "  requester: alice\n  reason: swaps at peak\n  targets: [app-01]\n  risk: medium\n"
        "  plan: [add DIMMs]\n"
        f"  window: {{start: {window[0]}, end: {window[1]}}}\n"
        "  rollbackPlan: remove them\n"
        f"  status: {status}\n"
    )


def hide_references(repo: GitRepo, written: str) -> dict[str, str]:
    """shop-web and shop-db run on app-01, the reference written as `written`."""
    web = repo.read("inventory/shop-web.yaml").replace("runsOn: [app-01]", f"runsOn: [{written}]")
    db = repo.read("inventory/shop-db.yaml").replace("runsOn: app-01", f"runsOn: {written}")
    assert written == "app-01" or "app-01" not in web + db
    return {"inventory/shop-web.yaml": web, "inventory/shop-db.yaml": db}


def memory_change(repo: GitRepo) -> dict[str, str]:
    app = repo.read("inventory/app-01.yaml").replace("memoryMb: 65536", "memoryMb: 131072")
    return {"inventory/app-01.yaml": app, CHANGE: change_yaml()}


def gate_json(repo: GitRepo, base: str, head: str, now: str = NOW) -> tuple[int, dict[str, Any]]:
    result = run_cli(
        "gate", "--base", base, "--head", head, "--format", "json", "--now", now,
        repo=repo.path, env=identity("alice"),
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


def codes(report: dict[str, Any]) -> list[str]:
    return sorted(f["code"] for f in report["findings"])


@pytest.fixture
def repo(tmp_path: Path, isolated_git: None) -> GitRepo:
    return GitRepo.scaffold(tmp_path / "repo", when="2026-11-01T10:00:00Z")


# --- the gate and a reference grep cannot see ----------------------------------------------


@pytest.mark.parametrize("written", list(HIDDEN.values()), ids=list(HIDDEN))
def test_gate_sees_a_dependent_however_its_reference_is_written(
    repo: GitRepo, written: str
) -> None:
    repo.commit("alice", "rewrite references", hide_references(repo, written))
    repo.git("checkout", "--quiet", "-b", "feature")
    repo.commit("alice", "do it\n\nChange-Id: CHG-2026-0042", memory_change(repo))
    _, report = gate_json(repo, "main", "feature")
    assert "gate.window.outside" in codes(report)  # shop runs on app-01: its window applies


def test_gate_verdict_is_the_same_with_and_without_a_validate_before_it(repo: GitRepo) -> None:
    repo.commit("alice", "rewrite references", hide_references(repo, HIDDEN["hex-escape"]))
    repo.git("checkout", "--quiet", "-b", "feature")
    repo.commit("alice", "do it\n\nChange-Id: CHG-2026-0042", memory_change(repo))
    _, cold = gate_json(repo, "main", "feature")
    assert run_cli("validate", repo=repo.path).exit_code in (0, 1)
    _, warm = gate_json(repo, "main", "feature")
    assert codes(cold) == codes(warm)


def test_gate_sees_a_plain_dependent(repo: GitRepo) -> None:
    repo.git("checkout", "--quiet", "-b", "feature")
    repo.commit("alice", "do it\n\nChange-Id: CHG-2026-0042", memory_change(repo))
    _, report = gate_json(repo, "main", "feature")
    assert "gate.window.outside" in codes(report)


def _history(repo: GitRepo, fillers: int, written: str) -> None:
    for n in range(fillers):
        repo.commit(
            "alice",
            f"filler {n}",
            {
                f"inventory/filler-{n}.yaml": "apiVersion: cmdb/v1\nkind: Server\nmetadata:\n"
                f"  id: filler-{n}\n  owner: team-ops\nspec:\n  status: planned\n"
            },
            when=f"2026-11-02T{10 + n}:00:00Z",
        )
    repo.commit("alice", "rewrite", hide_references(repo, written), when="2026-11-03T10:00:00Z")
    repo.commit(
        "alice",
        "do it\n\nChange-Id: CHG-2026-0042",
        memory_change(repo),
        when="2026-11-04T10:00:00Z",
    )


def _audit_against_gate(repo: GitRepo) -> dict[str, tuple[list[str], list[str]]]:
    """Per commit audited: (audit's finding codes, the gate's for the same commit)."""
    result = run_cli(
        "audit", "--format", "json", "--now", NOW, "-j", "1",
        repo=repo.path, env={**identity("alice"), "CMDBCTL_NO_CACHE": "1"},
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.stderr
    out = {}
    for commit in json.loads(result.stdout)["commits"]:
        _, gate = gate_json(repo, commit["parents"][0], commit["commit"], commit["date"])
        out[commit["subject"]] = (sorted(f["code"] for f in commit["findings"]), codes(gate))
    return out


def test_audit_of_many_commits_judges_each_as_the_gate_does(repo: GitRepo) -> None:
    _history(repo, 9, HIDDEN["hex-escape"])
    compared = _audit_against_gate(repo)
    assert len(compared) >= 10
    assert {s: a for s, (a, g) in compared.items() if a != g} == {}


def test_audit_of_few_commits_judges_each_as_the_gate_does(repo: GitRepo) -> None:
    _history(repo, 0, HIDDEN["hex-escape"])
    compared = _audit_against_gate(repo)
    assert {s: a for s, (a, g) in compared.items() if a != g} == {}


def test_audit_of_many_commits_with_plain_references_agrees(repo: GitRepo) -> None:
    _history(repo, 9, "app-01")
    compared = _audit_against_gate(repo)
    assert len(compared) >= 10
    assert {s: a for s, (a, g) in compared.items() if a != g} == {}
    assert "gate.window.outside" in compared["do it"][0]


def test_audit_and_gate_agree_on_a_commit_with_a_file_that_does_not_parse(repo: GitRepo) -> None:
    for n in range(9):
        repo.commit(
            "alice",
            f"filler {n}",
            {f"inventory/filler-{n}.yaml": f"apiVersion: cmdb/v1\nkind: Server\n# {n}\n"},
            when=f"2026-11-02T{10 + n}:00:00Z",
        )
    broken = "apiVersion: cmdb/v1\nkind: Application\nmetadata: {id: shop-web\nspec: [app-01\n"
    repo.commit("alice", "break", {"inventory/shop-web.yaml": broken}, when="2026-11-03T10:00:00Z")
    repo.commit(
        "alice",
        "do it\n\nChange-Id: CHG-2026-0042",
        memory_change(repo),
        when="2026-11-04T10:00:00Z",
    )
    compared = _audit_against_gate(repo)
    assert {s: a for s, (a, g) in compared.items() if a != g} == {}


# --- the environment -------------------------------------------------------------------------


@pytest.fixture
def unapproved(repo: GitRepo) -> GitRepo:
    """Branch feature edits app-01 with no change request: the gate refuses it."""
    repo.git("checkout", "--quiet", "-b", "feature")
    app = repo.read("inventory/app-01.yaml").replace("memoryMb: 65536", "memoryMb: 1")
    repo.commit("alice", "unapproved", {"inventory/app-01.yaml": app})
    return repo


def test_the_gate_refuses_the_unapproved_branch(unapproved: GitRepo) -> None:
    assert gate_json(unapproved, "main", "HEAD")[0] == 1


@pytest.mark.parametrize(
    ("variable", "value", "args"),
    [
        ("CMDBCTL_GATE_HEAD", "main", ("--base", "main")),
        ("CMDBCTL_GATE_BASE", "HEAD", ()),
    ],
)
def test_a_gate_verdict_changed_by_the_environment_says_so(
    unapproved: GitRepo, variable: str, value: str, args: tuple[str, ...]
) -> None:
    result = run_cli(
        "gate", *args, "--now", NOW, repo=unapproved.path,
        env={**identity("alice"), variable: value},
    )  # fmt: skip
    assert result.exit_code == 1 or variable in result.stdout + result.stderr


def test_an_audit_narrowed_by_the_environment_says_so(unapproved: GitRepo) -> None:
    result = run_cli(
        "audit", "--now", NOW, repo=unapproved.path,
        env={**identity("alice"), "CMDBCTL_AUDIT_SINCE": "HEAD", "CMDBCTL_NO_CACHE": "1"},
    )  # fmt: skip
    assert result.exit_code == 1 or "CMDBCTL_AUDIT_SINCE" in result.stdout + result.stderr


def test_a_flag_wins_over_the_environment_in_the_gate(unapproved: GitRepo) -> None:
    result = run_cli(
        "gate", "--base", "main", "--head", "HEAD", "--now", NOW, repo=unapproved.path,
        env={**identity("alice"), "CMDBCTL_GATE_HEAD": "main", "CMDBCTL_GATE_BASE": "HEAD"},
    )  # fmt: skip
    assert result.exit_code == 1


def test_a_bad_value_from_the_environment_names_the_variable(unapproved: GitRepo) -> None:
    result = run_cli(
        "gate", "--base", "main", repo=unapproved.path,
        env={**identity("alice"), "CMDBCTL_GATE_NOW": "not a date"},
    )  # fmt: skip
    assert result.exit_code == 2
    assert "CMDBCTL_GATE_NOW" in result.stderr


# --- shell completion ---------------------------------------------------------------------------


def _complete(cwd: Path, *words: str, env: dict[str, str] | None = None) -> list[str]:
    environment = {
        "_CMDBCTL_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(["cmdbctl", *words]),
        "COMP_CWORD": str(len(words)),
        **(env or {}),
    }
    proc = run_cmdbctl(cwd=cwd, env=environment)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return [line.partition(",")[2] for line in proc.stdout.split()]


def test_completion_lists_no_names_from_a_folder_link_leaving_the_repository(
    repo: GitRepo, tmp_path: Path
) -> None:
    away = tmp_path / "private"
    away.mkdir()
    (away / "secret-name.yaml").write_text("x: 1\n")
    os.symlink(away, repo.path / "inventory/linked")
    assert "secret-name" not in _complete(repo.path, "show", "")
    os.rename(repo.path / "changes", tmp_path / "changes-moved")
    os.symlink(away, repo.path / "changes")
    assert "secret-name" not in _complete(repo.path, "approve", "")


def test_completion_runs_nothing_a_document_or_ref_names(repo: GitRepo, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    name = f"$(touch {marker})"
    repo.write(f"changes/{name}.yaml", "x: 1\n")
    repo.git("branch", "x$(touch${IFS}" + str(marker) + ")", check=False)
    _complete(repo.path, "approve", "")
    _complete(repo.path, "gate", "--base", "")
    _complete(repo.path, "show", "--at", "")
    assert not marker.exists()
