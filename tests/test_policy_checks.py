"""`cmdbctl validate` on the governance documents: one ChangePolicy, standard change models.

Every case runs in a real repository written by `cmdbctl init` (which ships the
ChangePolicy and the StandardChange `os-patch`), through the real CLI; warm runs read
the verdict cache a committed repository keeps.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SECOND_POLICY = """\
apiVersion: cmdb/v1
kind: ChangePolicy
metadata:
  id: {id}
spec:
  separationOfDuties: false
"""


def _commit(repo: Path) -> None:
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=Alice",
            "-c",
            "user.email=alice@example.net",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-qm",
            "estate",
        ],
        cwd=repo,
        check=True,
    )


def _codes(report: Any) -> list[tuple[str, str, int, int]]:
    return sorted((f["path"], f["code"], f["line"], f["column"]) for f in report.findings)


def _no_cold_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, a validate that cannot use the cache fails the test."""

    def cold(*args: object, **kwargs: object) -> None:
        raise AssertionError("judged everything: the cache was not used")

    monkeypatch.setattr("cmdbctl.validate._judge_everything", cold)


# --- policy.duplicate ----------------------------------------------------------------


def test_a_second_change_policy_is_an_error(
    cmdb_repo: Path, write_file: Callable[..., Any], validate_json: Callable[..., Any]
) -> None:
    write_file(cmdb_repo, "policies/relaxed.yaml", SECOND_POLICY.format(id="relaxed"))

    report = validate_json(cmdb_repo)

    assert report.exit_code == 1
    assert _codes(report) == [("policies/relaxed.yaml", "policy.duplicate", 2, 7)]
    [finding] = report.findings
    assert finding["severity"] == "error"
    assert finding["message"] == (
        "policies/change-policy.yaml is already the ChangePolicy; exactly one may exist (the "
        "gate applies the first by path and refuses to judge merges while there are several)"
    )
    assert finding["hint"] == (
        "merge its rules into policies/change-policy.yaml and delete this file"
    )


def test_every_change_policy_after_the_first_by_path_is_flagged(
    cmdb_repo: Path, write_file: Callable[..., Any], validate_json: Callable[..., Any]
) -> None:
    write_file(cmdb_repo, "policies/a/early.yaml", SECOND_POLICY.format(id="early"))
    write_file(cmdb_repo, "policies/zz.yaml", SECOND_POLICY.format(id="zz"))

    report = validate_json(cmdb_repo)

    assert _codes(report) == [
        ("policies/change-policy.yaml", "policy.duplicate", 2, 7),
        ("policies/zz.yaml", "policy.duplicate", 2, 7),
    ]
    assert {f["message"].split(" is already")[0] for f in report.findings} == {
        "policies/a/early.yaml"
    }


def test_a_change_policy_outside_policies_is_not_counted(
    cmdb_repo: Path, write_file: Callable[..., Any], validate_json: Callable[..., Any]
) -> None:
    # The gate reads the policy from policies/ only; elsewhere it governs nothing.
    write_file(cmdb_repo, "inventory/stray.yaml", SECOND_POLICY.format(id="stray"))
    write_file(cmdb_repo, "policies/zz.yaml", SECOND_POLICY.format(id="zz"))

    report = validate_json(cmdb_repo)

    assert _codes(report) == [("policies/zz.yaml", "policy.duplicate", 2, 7)]
    assert report.findings[0]["message"].startswith("policies/change-policy.yaml is already")


def test_warm_runs_report_what_cold_runs_do(
    cmdb_repo: Path,
    write_file: Callable[..., Any],
    validate_json: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_file(cmdb_repo, "policies/relaxed.yaml", SECOND_POLICY.format(id="relaxed"))
    _commit(cmdb_repo)
    cold = validate_json(cmdb_repo)
    assert list((cmdb_repo / ".git" / "cmdbctl").glob("cache-*.sqlite")), "no cache left"
    _no_cold_run(monkeypatch)

    warm = validate_json(cmdb_repo)

    assert warm.data == cold.data
    assert _codes(warm) == [("policies/relaxed.yaml", "policy.duplicate", 2, 7)]


def test_warm_runs_see_a_second_policy_come_and_go(
    cmdb_repo: Path,
    write_file: Callable[..., Any],
    validate_json: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _commit(cmdb_repo)
    assert validate_json(cmdb_repo).findings == []  # leaves the cache
    _no_cold_run(monkeypatch)

    # The new file holds no id the policy has or refers to: only the whole-estate fact
    # can tell the warm run about the first one.
    write_file(cmdb_repo, "policies/a/early.yaml", SECOND_POLICY.format(id="early"))
    assert _codes(validate_json(cmdb_repo)) == [
        ("policies/change-policy.yaml", "policy.duplicate", 2, 7)
    ]
    assert _codes(validate_json(cmdb_repo)) == [  # and again, from the cache it left
        ("policies/change-policy.yaml", "policy.duplicate", 2, 7)
    ]

    # Its kind changes: no second policy any more.
    write_file(
        cmdb_repo,
        "policies/a/early.yaml",
        "apiVersion: cmdb/v1\nkind: Group\nmetadata:\n  id: early\nspec:\n  members: [alice]\n",
    )
    assert validate_json(cmdb_repo).findings == []

    write_file(cmdb_repo, "policies/zz.yaml", SECOND_POLICY.format(id="zz"))
    assert _codes(validate_json(cmdb_repo)) == [("policies/zz.yaml", "policy.duplicate", 2, 7)]
    (cmdb_repo / "policies" / "zz.yaml").unlink()
    assert validate_json(cmdb_repo).findings == []


# --- standard changes ------------------------------------------------------------------


def change_request(type_: str, model: str | None) -> str:
    return (
        "apiVersion: cmdb/v1\n"
        "kind: ChangeRequest\n"
        "metadata:\n"
        "  id: CHG-2026-0200\n"
        "spec:\n"
        f"  type: {type_}\n"
        "  category: system\n"
        "  requester: alice\n"
        "  reason: Monthly OS patch\n"
        "  targets: [app-01]\n"
        "  risk: low\n"
        "  status: submitted\n" + (f"  model: {model}\n" if model is not None else "")
    )


CHANGE = "changes/2026/CHG-2026-0200.yaml"


def test_the_scaffold_ships_a_model_a_standard_change_can_name(
    cmdb_repo: Path, write_file: Callable[..., Any], validate_json: Callable[..., Any]
) -> None:
    assert "kind: StandardChange" in (cmdb_repo / "policies" / "os-patch.yaml").read_text()
    write_file(cmdb_repo, CHANGE, change_request("standard", "os-patch"))

    report = validate_json(cmdb_repo)

    assert (report.exit_code, report.findings) == (0, [])


def test_a_standard_change_without_a_model(
    cmdb_repo: Path, write_file: Callable[..., Any], validate_json: Callable[..., Any]
) -> None:
    write_file(cmdb_repo, CHANGE, change_request("standard", None))

    report = validate_json(cmdb_repo)

    assert report.exit_code == 1
    assert _codes(report) == [(CHANGE, "change.model-missing", 6, 9)]
    [finding] = report.findings
    assert finding["severity"] == "error"
    assert finding["message"] == (
        "standard change names no model: it is pre-approved only "
        "for what a StandardChange in policies/ lists"
    )


def test_a_normal_change_naming_a_model_is_a_warning(
    cmdb_repo: Path, write_file: Callable[..., Any], validate_json: Callable[..., Any]
) -> None:
    write_file(cmdb_repo, CHANGE, change_request("normal", "os-patch"))

    report = validate_json(cmdb_repo)

    assert report.exit_code == 0
    assert _codes(report) == [(CHANGE, "change.model-unused", 13, 10)]
    [finding] = report.findings
    assert finding["severity"] == "warning"
    assert finding["message"] == (
        "normal change names model 'os-patch', which only a standard change follows"
    )


def test_a_model_no_document_has(
    cmdb_repo: Path, write_file: Callable[..., Any], validate_json: Callable[..., Any]
) -> None:
    write_file(cmdb_repo, CHANGE, change_request("standard", "os-patches"))

    report = validate_json(cmdb_repo)

    assert _codes(report) == [(CHANGE, "ref.dangling", 13, 10)]
    [finding] = report.findings
    assert finding["message"] == "'os-patches' refers to no document (expected StandardChange)"
    assert finding["hint"] == "did you mean 'os-patch'?"


def test_a_model_must_be_a_standard_change(
    cmdb_repo: Path, write_file: Callable[..., Any], validate_json: Callable[..., Any]
) -> None:
    write_file(cmdb_repo, CHANGE, change_request("standard", "change-managers"))

    report = validate_json(cmdb_repo)

    assert _codes(report) == [(CHANGE, "ref.kind", 13, 10)]
    assert report.findings[0]["message"] == (
        "'change-managers' is a Group, but this field refers to StandardChange"
    )


def test_a_model_that_lists_no_fields_is_refused(
    cmdb_repo: Path, write_file: Callable[..., Any], validate_json: Callable[..., Any]
) -> None:
    write_file(
        cmdb_repo,
        "policies/os-patch.yaml",
        "apiVersion: cmdb/v1\nkind: StandardChange\nmetadata:\n  id: os-patch\n"
        "spec:\n  targetKinds: [Server]\n  fields: [os.version]\n",
    )

    report = validate_json(cmdb_repo)

    assert _codes(report) == [("policies/os-patch.yaml", "schema.pattern", 7, 12)]
