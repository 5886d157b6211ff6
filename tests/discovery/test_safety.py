"""What discover refuses that JSON cannot carry (integers beyond 64 bits, NaN, infinities,
duplicate keys), and where it never writes (inside a git directory)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import pytest

from cmdbctl.discovery.adapters import Discovery, Progress
from cmdbctl.discovery.run import discover
from cmdbctl.errors import CommandError
from tests.conftest import GitRepo, run_cli, snapshot

MAP = ("--map", "serial=Serial", "--map", "attributes.memoryMb=M")


def _discover_file(path: Path, *args: str) -> Any:
    return run_cli("discover", "--adapter", "file", *MAP, "--input", str(path), *args)


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("9223372036854775808", "9223372036854775808 is beyond the signed 64-bit"),
        ("-9223372036854775809", "-9223372036854775809 is beyond the signed 64-bit"),
        ("1" + "0" * 5000, "(5001 characters) is beyond"),  # more than int() reads
        ("00000000000000000000000000000042", None),  # zeros in front: 42
    ],
)
def test_an_integer_cell_beyond_64_bits_names_row_column_and_field(
    tmp_path: Path, cell: str, shown: str | None
) -> None:
    path = tmp_path / "assets.csv"
    path.write_text(f"Serial,M\nA1,1024\nA2,{cell}\n")
    result = _discover_file(path)
    if shown is None:
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["items"][1]["attributes"]["memoryMb"] == 42
        return
    assert result.exit_code == 2
    assert f"--input {path}: line 3, column 'M': attributes.memoryMb: " in result.stderr
    assert shown in result.stderr


def test_digits_beyond_64_bits_stay_text_where_the_schema_allows_text(
    tmp_path: Path, isolated_git: None
) -> None:
    repo = GitRepo.scaffold(tmp_path / "repo")
    schema_path = repo.path / "schemas" / "server.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["properties"]["spec"]["properties"]["assetNo"] = {"type": ["integer", "string"]}
    schema_path.write_text(json.dumps(schema))
    path = tmp_path / "assets.csv"
    path.write_text("Serial,assetNo\nA1,12\nA2,123456789012345678901234567890\n")
    result = run_cli(
        "discover", "--adapter", "file", "--map", "serial=Serial", "--input", str(path),
        "--repo", str(repo.path),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    found = [i["attributes"]["assetNo"] for i in json.loads(result.stdout)["items"]]
    assert found == [12, "123456789012345678901234567890"]


def test_the_64_bit_limits_themselves_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "assets.csv"
    path.write_text("Serial,M\nA1,9223372036854775807\nA2,-9223372036854775808\n")
    result = _discover_file(path)
    assert result.exit_code == 0, result.stderr
    values = [i["attributes"]["memoryMb"] for i in json.loads(result.stdout)["items"]]
    assert values == [2**63 - 1, -(2**63)]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"1e400"', "inf is not a number JSON can hold"),
        ('"NaN"', "nan is not a number JSON can hold"),
        ('"-inf"', "-inf is not a number JSON can hold"),
        ('"1' + "0" * 400 + '"', "(401 characters) is beyond the signed 64-bit"),
    ],
)
def test_a_number_field_refuses_what_json_cannot_hold(
    tmp_path: Path, value: str, problem: str
) -> None:
    path = tmp_path / "assets.json"
    path.write_text(f'[{{"Serial": "A1", "disks": [{{"name": "sda", "sizeGb": {value}}}]}}]')
    result = run_cli(
        "discover", "--adapter", "file", "--map", "serial=Serial", "--input", str(path)
    )
    assert result.exit_code == 2
    assert f"--input {path}: item 0, column 'disks': attributes.disks" in result.stderr
    assert problem in result.stderr


def test_a_float_beyond_64_bits_where_an_integer_goes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "assets.json"
    path.write_text('[{"Serial": "A1", "M": 1e300}]')
    result = _discover_file(path)
    assert result.exit_code == 2
    assert "item 0, column 'M': attributes.memoryMb: 1000000000" in result.stderr


def test_a_duplicate_key_anywhere_in_a_json_export_is_named(tmp_path: Path) -> None:
    path = tmp_path / "assets.json"
    path.write_text('{"items": [{"Serial": "A1", "os": {"name": "a", "name": "b"}}]}')
    result = _discover_file(path)
    assert result.exit_code == 2
    assert f"--input {path}: key 'name' appears more than once" in result.stderr


def test_a_json_export_nested_deeper_than_python_reads_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "assets.json"  # within orjson's limit, beyond Python's recursion
    path.write_text('[{"Serial": "A1", "x": ' + "[" * 1000 + "]" * 1000 + "}]")
    result = _discover_file(path)
    assert result.exit_code == 2
    assert f"--input {path}: not valid JSON" in result.stderr


class _Adapter:
    """An adapter of a package of someone else's, giving what it is told to."""

    summary = "test"

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def options(self) -> Sequence[click.Option]:
        return []

    def discover(self, options: Mapping[str, Any], progress: Progress | None) -> Discovery:
        return Discovery(source="other", items=self.items)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _item(attributes: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Server", "identifiers": {"hostname": "db-01"}, "attributes": attributes}


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"memoryMb": 2**64}, "attributes.memoryMb: 18446744073709551616 is beyond"),
        ({"memoryMb": 2**63}, "attributes.memoryMb: 9223372036854775808 is beyond"),
        ({"disks": [{"sizeGb": float("nan")}]}, "attributes.disks[0].sizeGb: nan is not"),
        ({"deep": _nested(300)}, "nests deeper than 128 levels"),  # orjson: 254
        ({"deep": _nested(200)}, "nests deeper than 128 levels"),  # orjson writes it
    ],
)
def test_any_adapter_s_numbers_are_checked_before_they_are_written(
    attributes: dict[str, Any], message: str
) -> None:
    adapter = _Adapter([_item({"memoryMb": 1}), _item(attributes)])
    with pytest.raises(CommandError) as raised:
        discover("other", adapter, {}, "-", "json")
    said = raised.value.message
    assert said.startswith("discovery adapter 'other': item 1 (Server db-01): attributes.")
    assert message in said


def test_an_adapter_s_large_numbers_within_64_bits_are_written() -> None:
    adapter = _Adapter([_item({"memoryMb": 2**63 - 1, "note": None, "ratio": 0.5})])
    found = discover("other", adapter, {}, "-", "json")
    assert json.loads(found.data)["items"][0]["attributes"]["memoryMb"] == 2**63 - 1


# --- -o: never inside a git directory ---------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path, isolated_git: None) -> GitRepo:
    return GitRepo.scaffold(tmp_path / "repo")


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "ok.csv"
    path.write_text("Serial,M\nA1,1024\n")
    return path


def test_output_through_a_folder_link_into_the_git_directory_is_refused(
    repo: GitRepo, export: Path, tmp_path: Path
) -> None:
    os.symlink(repo.path / ".git" / "hooks", tmp_path / "innocent")
    before = snapshot(repo.path / ".git", ignore=("cmdbctl",))
    result = _discover_file(export, "-o", str(tmp_path / "innocent" / "pre-commit"))
    assert result.exit_code == 2
    assert "inside the git directory" in result.stderr and "hint:" in result.stderr
    assert snapshot(repo.path / ".git", ignore=("cmdbctl",)) == before


def test_output_climbing_out_of_a_folder_link_into_the_git_directory_is_refused(
    repo: GitRepo, export: Path, tmp_path: Path
) -> None:
    os.symlink(repo.path / ".git" / "hooks", tmp_path / "innocent")
    before = snapshot(repo.path / ".git", ignore=("cmdbctl",))
    result = _discover_file(export, "-o", f"{tmp_path}/innocent/../config")  # .git/config
    assert result.exit_code == 2
    assert snapshot(repo.path / ".git", ignore=("cmdbctl",)) == before


def test_output_over_a_linked_work_tree_s_git_file_is_refused(
    repo: GitRepo, export: Path, tmp_path: Path
) -> None:
    repo.git("worktree", "add", "--quiet", str(tmp_path / "wt"), "-b", "other")
    pointer = (tmp_path / "wt" / ".git").read_bytes()
    result = _discover_file(export, "-o", str(tmp_path / "wt" / ".git"))
    assert result.exit_code == 2
    assert (tmp_path / "wt" / ".git").read_bytes() == pointer


def test_output_into_a_git_directory_of_another_name_is_refused(
    export: Path, tmp_path: Path, isolated_git: None
) -> None:
    bare = tmp_path / "estate-mirror"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    before = snapshot(bare)
    result = _discover_file(export, "-o", str(bare / "config"))
    assert result.exit_code == 2
    assert f"inside the git directory {bare}" in result.stderr
    assert snapshot(bare) == before


def test_output_beside_the_git_directory_is_written(repo: GitRepo, export: Path) -> None:
    (repo.path / "snapshots").mkdir()
    result = _discover_file(export, "-o", str(repo.path / "snapshots" / "assets.json"))
    assert result.exit_code == 0, result.stderr
    assert json.loads((repo.path / "snapshots" / "assets.json").read_text())["items"]
