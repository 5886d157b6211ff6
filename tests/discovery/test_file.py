"""`--adapter file`: another tool's export (CSV, JSON, YAML) with a column mapping, typed
by the kind's schema; and every way an export or a mapping can be wrong (exit 2 naming
the row and the column)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cmdbctl.discovery.snapshot import Snapshot, read_snapshot
from tests.conftest import RunCli, write_file

# An asset register's export, as a spreadsheet saves it: a BOM, its own column names,
# a list of MACs in one cell, an empty row, a row nobody can identify
ASSETS_CSV = (
    "\ufeffSerial No,Host,OS,OS Version,RAM (MiB),Cores,MACs,Owner\r\n"
    'CZ1234,db-01,Debian,12,131072,16,"F4:02:70:C1:3D:08, F4:02:70:C1:3D:09",alice\r\n'
    ",,,,,,,\r\n"
    "CZ5678,web-01,Rocky Linux,9.3,,8,,bob\r\n"
    ",,Debian,,4096,,,carol\r\n"
)
ASSET_MAP = (
    "--map", "identifiers.serial=Serial No",
    "--map", "hostname=Host",
    "--map", "attributes.os.name=OS",
    "--map", "attributes.os.version=OS Version",
    "--map", "memoryMb=RAM (MiB)",
    "--map", "cpu.cores=Cores",
    "--map", "macs=MACs",
)  # fmt: skip


def _discover(run_cli: RunCli, tmp_path: Path, *args: str) -> tuple[Snapshot, str]:
    out = tmp_path / "snapshot.json"
    result = run_cli("discover", "--adapter", "file", *args, "-o", str(out))
    assert result.exit_code == 0, result.output
    return read_snapshot(out), result.stderr


def test_a_csv_export_mapped_column_by_column(run_cli: RunCli, tmp_path: Path) -> None:
    export = write_file(tmp_path, "assets.csv", ASSETS_CSV)
    snapshot, stderr = _discover(
        run_cli, tmp_path, "--input", str(export), "--source", "asset-register", *ASSET_MAP
    )
    assert snapshot.source == "asset-register"
    first, second = snapshot.items
    assert first.kind == "Server"
    assert first.identifiers == {
        "serial": "CZ1234",
        "hostname": "db-01",
        "macs": ["F4:02:70:C1:3D:08", "F4:02:70:C1:3D:09"],
    }
    assert first.attributes == {
        "hostname": "db-01",
        "os": {"name": "Debian", "version": "12"},
        "memoryMb": 131072,
        "cpu": {"cores": 16},
    }
    # an empty cell is a value the export does not know, not an empty string
    assert second.attributes == {
        "hostname": "web-01",
        "os": {"name": "Rocky Linux", "version": "9.3"},
        "cpu": {"cores": 8},
    }
    assert "line 5: no identifier" in stderr and "skipped" in stderr
    assert "columns not mapped, ignored: 'Owner'" in stderr


def test_columns_named_like_fields_need_no_mapping(run_cli: RunCli, tmp_path: Path) -> None:
    export = write_file(
        tmp_path,
        "hosts.csv",
        "hostname,SERIAL,fqdn,memoryMb,os.name,os.version,cpu.cores,vendor,rack\n"
        "db-01,CZ1,db-01.example.net,2048,Debian,12,4,Dell Inc.,A01\n",
    )
    snapshot, stderr = _discover(run_cli, tmp_path, "--input", str(export))
    [item] = snapshot.items
    assert snapshot.source == "file"
    assert item.identifiers == {"hostname": "db-01", "serial": "CZ1", "fqdn": "db-01.example.net"}
    assert item.attributes == {
        "hostname": "db-01",
        "serial": "CZ1",
        "fqdn": "db-01.example.net",
        "memoryMb": 2048,
        "os": {"name": "Debian", "version": "12"},
        "cpu": {"cores": 4},
        "vendor": "Dell Inc.",
    }
    assert "ignored: 'rack'" in stderr


def test_json_and_yaml_exports_nested_and_typed_by_the_schema(
    run_cli: RunCli, tmp_path: Path
) -> None:
    records = [
        {
            "asset": {"serial": "CZ1", "name": "db-01"},
            "os": {"name": "Debian", "version": 12},
            "memoryMb": "1024",
            "disks": [{"name": "sda", "sizeGb": "480"}],
            "interfaces": [{"name": "eno1", "mac": "f4:02:70:c1:3d:08", "ips": ["10.0.0.5"]}],
        }
    ]
    as_json = write_file(tmp_path, "cmdb.json", orjson.dumps({"items": records}))
    as_yaml = write_file(
        tmp_path,
        "cmdb.yaml",
        "- asset: {serial: CZ1, name: db-01}\n"
        "  os: {name: Debian, version: 12}\n"
        "  memoryMb: '1024'\n"
        "  disks: [{name: sda, sizeGb: '480'}]\n"
        "  interfaces:\n"
        "    - {name: eno1, mac: 'f4:02:70:c1:3d:08', ips: [10.0.0.5]}\n",
    )
    mapping = ("--map", "serial=asset.serial", "--map", "hostname=asset.name")
    from_json, _ = _discover(run_cli, tmp_path, "--input", str(as_json), *mapping)
    from_yaml, _ = _discover(run_cli, tmp_path, "--input", str(as_yaml), *mapping)
    [item] = from_json.items
    assert item.identifiers == {"serial": "CZ1", "hostname": "db-01"}
    assert item.attributes == {
        "serial": "CZ1",
        "hostname": "db-01",
        "os": {"name": "Debian", "version": "12"},
        "memoryMb": 1024,
        "disks": [{"name": "sda", "sizeGb": 480}],
        "interfaces": [{"name": "eno1", "mac": "f4:02:70:c1:3d:08", "ips": ["10.0.0.5"]}],
    }
    assert from_yaml.items == from_json.items


def test_records_shaped_as_snapshot_items_and_another_kind(run_cli: RunCli, tmp_path: Path) -> None:
    export = write_file(
        tmp_path,
        "switches.json",
        orjson.dumps(
            [
                {
                    "kind": "NetworkDevice",
                    "identifiers": {"serial": "FOC123", "assetTag": "A-77"},
                    "attributes": {"firmware": "17.9.4", "hostname": "sw-01"},
                }
            ]
        ),
    )
    snapshot, _ = _discover(run_cli, tmp_path, "--input", str(export), "--kind", "NetworkDevice")
    [item] = snapshot.items
    assert item.kind == "NetworkDevice"
    assert item.identifiers == {"serial": "FOC123", "assetTag": "A-77"}
    assert item.attributes == {"firmware": "17.9.4", "hostname": "sw-01"}


def test_the_repository_s_own_schema_types_the_fields(
    cmdb_repo: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    """A field a user added to the Server schema is mapped and typed like the others."""
    schema = cmdb_repo / "schemas" / "server.schema.json"
    data = orjson.loads(schema.read_bytes())
    data["properties"]["spec"]["properties"]["rackUnits"] = {"type": "integer"}
    schema.write_bytes(orjson.dumps(data))
    export = write_file(tmp_path, "racks.csv", "serial,rackUnits\nCZ1,2\nCZ2,two\n")
    out = tmp_path / "out.json"
    result = run_cli(
        "discover", "--adapter", "file", "--input", str(export), "--repo", str(cmdb_repo),
        "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "line 3, column 'rackUnits': 'two' does not fit rackUnits, which is an integer" in (
        result.stderr
    )
    assert not out.exists()
    write_file(tmp_path, "racks.csv", "serial,rackUnits\nCZ1,2\n")
    snapshot, _ = _discover(run_cli, tmp_path, "--input", str(export), "--repo", str(cmdb_repo))
    assert snapshot.items[0].attributes == {"serial": "CZ1", "rackUnits": 2}


@pytest.mark.parametrize(
    ("name", "content", "args", "message"),
    [
        ("a.csv", "serial,memoryMb\nCZ1,lots\n", (), "line 2, column 'memoryMb': 'lots' does not fit memoryMb, which is an integer"),
        ("a.csv", "serial,cpu.cores\nCZ1,2.5\n", (), "'2.5' does not fit cpu.cores"),
        ("a.csv", "serial,os\nCZ1,Debian\n", (), "column 'os': os is an object, not one value"),
        ("a.json", '[{"serial": "CZ1", "os": {"version": 12.1}}]', (), "item 0, column 'os': 12.1 does not fit os.version, which is a string"),
        ("a.json", '[{"serial": ["CZ1"], "macs": 5}]', (), "identifier macs must be text or a list of text"),
        ("a.json", '[{"serial": "CZ1", "kind": "Database"}]', (), "item 0: column 'kind' is 'Database', not Server"),
        ("a.csv", "serial,memoryMb\nCZ1,1,extra\n", (), "line 2: 3 cells, but the header names 2 columns"),
        ("a.csv", "serial,serial\nCZ1,CZ2\n", (), "column 'serial' appears twice"),
        ("a.csv", "", (), "empty: a CSV export needs a header row"),
        ("a.csv", "Owner\nalice\n", (), "no row has an identifier"),
        ("a.csv", "serial\nCZ1\n", ("--map", "serial"), "write FIELD=COLUMN"),
        ("a.csv", "serial\nCZ1\n", ("--map", "serial=Serial No"), "has no column 'Serial No'"),
        ("a.csv", "serial\nCZ1\n", ("--map", "attributes.colour=serial"), "'colour' is no identifier and no spec field of Server"),
        ("a.csv", "serial,sn\nCZ1,CZ1\n", ("--map", "identifiers.serial=sn", "--map", "serial=serial"), "identifiers.serial is already fed by column 'sn'"),
        ("a.csv", "serial\nCZ1\n", ("--kind", "Printer"), "--kind Printer: not a configuration item kind"),
        ("a.csv", "serial\nCZ1\n", ("--kind", "SLA"), "--kind SLA: not a configuration item kind"),
        ("a.csv", "serial\nCZ1\n", ("--delimiter", ";;"), "one character"),
        ("a.json", '{"serial": "CZ1"}', (), "holds no list of records"),
        ("a.json", "[1, 2]", (), "item 0: not an object of fields"),
        ("a.json", "[{", (), "not valid JSON"),
        ("a.yaml", "- !!python/object:os.system {serial: x}\n", (), "tag"),
        ("a.csv", b"serial\nCZ\xff1\n", (), "not UTF-8 text (byte 0xff"),
        ("a.txt", "serial\nCZ1\n", (), "cannot tell its format from its name"),
    ],
)  # fmt: skip
def test_a_bad_export_or_mapping_is_exit_2_naming_where(
    name: str,
    content: str | bytes,
    args: tuple[str, ...],
    message: str,
    run_cli: RunCli,
    tmp_path: Path,
) -> None:
    export = write_file(tmp_path, name, content)
    out = tmp_path / "out.json"
    result = run_cli("discover", "--adapter", "file", "--input", str(export), *args, "-o", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not out.exists()


def test_missing_input_is_exit_2(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("discover", "--adapter", "file")
    assert result.exit_code == 2 and "needs --input PATH" in result.stderr
    result = run_cli("discover", "--adapter", "file", "--input", str(tmp_path / "nope.csv"))
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_an_explicit_format_reads_a_file_of_any_name(run_cli: RunCli, tmp_path: Path) -> None:
    export = write_file(tmp_path, "export.txt", "serial;hostname\nCZ1;db-01\n")
    snapshot, _ = _discover(
        run_cli, tmp_path, "--input", str(export), "--input-format", "csv", "--delimiter", ";"
    )
    assert snapshot.items[0].identifiers == {"serial": "CZ1", "hostname": "db-01"}
