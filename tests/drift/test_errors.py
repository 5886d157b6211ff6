"""What a user can get wrong: unreadable and malformed snapshots (exit 2 naming the file,
the item and the field), an invalid or doubled DiscoveryPolicy, options that do not go
together. Never a traceback, and nothing in the repository changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import snapshot
from tests.drift.kit import Estate, item


def refused(estate: Estate, *args: str) -> str:
    before = snapshot(estate.path)
    result = estate.run(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert snapshot(estate.path) == before
    return result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        (
            {"discoveredAt": "2026-11-22T08:00:00Z", "items": []},
            "field 'source' is missing",
        ),
        (
            {"source": "ansible", "discoveredAt": "yesterday", "items": []},
            "field 'discoveredAt' 'yesterday' is not an ISO 8601 instant",
        ),
        (
            {"source": "ansible", "discoveredAt": "2026-11-22T08:00:00Z", "items": [item()]},
            "item 0 (Server ?): field 'identifiers' is empty",
        ),
        (
            {
                "source": "ansible",
                "discoveredAt": "2026-11-22T08:00:00Z",
                "items": [item(hostname="db-01"), item(hostname="db-02", macs="00:11")],
            },
            "item 1 (Server db-02): field 'identifiers.macs' must be a list of strings",
        ),
        (
            {
                "source": "ansible",
                "discoveredAt": "2026-11-22T08:00:00Z",
                "items": [{"identifiers": {"hostname": "db-01"}}],
            },
            "item 0 (? db-01): field 'kind' is missing",
        ),
    ],
)
def test_a_bad_snapshot_is_exit_2_naming_file_item_and_field(
    estate: Estate, content: object, expected: str
) -> None:
    path = estate.snapshots / "snap.json"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif content is not None:
        path.write_text(json.dumps(content), encoding="utf-8")
    stderr = refused(estate, "-d", str(path))
    assert f"snapshot {path}" in stderr
    assert expected in stderr


def test_every_snapshot_is_read_before_anything_is_reported(estate: Estate) -> None:
    good = estate.snapshot([item(hostname="app-01")])
    stderr = refused(estate, "-d", good, "-d", str(estate.snapshots / "absent.json"))
    assert "absent.json: no such file" in stderr


POLICY = "apiVersion: cmdb/v1\nkind: DiscoveryPolicy\nmetadata: {{id: {id}}}\nspec:\n{spec}"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("  identification: {Server: []}\n", "/spec/identification/Server"),
        ("  ignores:\n    - {reason: x, owner: team-ops}\n", "/spec/ignores/0"),
        (
            "  ignores:\n    - {reason: x, owner: team-ops, expires: 2027-02-31}\n",
            "/spec/ignores/0",
        ),
        ("  precedence: {serial: ansible}\n", "/spec/precedence/serial"),
        ("  matching: {}\n", "/spec"),
    ],
)
def test_an_invalid_policy_is_exit_2_pointing_at_validate(
    estate: Estate, spec: str, expected: str
) -> None:
    estate.write("policies/discovery.yaml", POLICY.format(id="discovery", spec=spec))
    estate.commit_all()
    stderr = refused(estate, "-d", estate.snapshot([item(hostname="app-01")]))
    assert "policies/discovery.yaml is not a valid DiscoveryPolicy" in stderr
    assert expected in stderr
    assert "cmdbctl validate policies/discovery.yaml" in stderr


def test_validate_finds_what_diff_refuses(estate: Estate) -> None:
    estate.write(
        "policies/discovery.yaml",
        POLICY.format(id="discovery", spec="  identification: {Server: []}\n"),
    )
    result = estate.cli("validate", "--format", "json")
    assert result.exit_code == 1
    assert [f["code"] for f in json.loads(result.stdout)["findings"]] == ["schema.min-items"]


def test_two_policies_are_exit_2(estate: Estate) -> None:
    estate.write("policies/a.yaml", POLICY.format(id="a", spec="  ignores: []\n"))
    estate.write("policies/b.yaml", POLICY.format(id="b", spec="  ignores: []\n"))
    estate.commit_all()
    stderr = refused(estate, "-d", estate.snapshot([item(hostname="app-01")]))
    assert "2 DiscoveryPolicy documents: policies/a.yaml, policies/b.yaml" in stderr


@pytest.mark.parametrize("args", [["--branch", "x"], ["--add-unmanaged"]])
def test_write_options_without_write_are_usage_errors(estate: Estate, args: list[str]) -> None:
    stderr = refused(estate, "-d", estate.snapshot([item(hostname="app-01")]), *args)
    assert "go with --write" in stderr


def test_a_bad_now_is_exit_2(estate: Estate) -> None:
    stderr = refused(estate, "-d", estate.snapshot([item(hostname="app-01")]), "--now", "soon")
    assert "'--now': 'soon' is not an ISO 8601 instant" in stderr


def test_diff_needs_a_snapshot(estate: Estate) -> None:
    stderr = refused(estate)
    assert "--discovered" in stderr


def test_an_unwritable_output_is_exit_2(estate: Estate, tmp_path: Path) -> None:
    snap = estate.snapshot([item(hostname="app-01")])
    stderr = refused(estate, "-d", snap, "-o", str(tmp_path / "no" / "such" / "dir" / "r.txt"))
    assert "cannot write" in stderr
