"""`--adapter ansible`: real facts of this machine, gathered by real Ansible, checked
against what /proc, /sys and os say; the three layouts of a facts folder; hosts that
cannot be used; and a real run over an inventory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from cmdbctl.discovery.snapshot import Snapshot, read_snapshot
from tests.conftest import RunCli, RunCmdbctl
from tests.discovery.conftest import (
    Run,
    cached_facts,
    hostname,
    macs,
    mem_total_mb,
    physical_cores,
    same_os,
)


def _discover(run_cli: RunCli, tmp_path: Path, *args: str) -> tuple[Snapshot, str]:
    out = tmp_path / "snapshot.json"
    result = run_cli("discover", "--adapter", "ansible", *args, "-o", str(out))
    assert result.exit_code == 0, result.output
    return read_snapshot(out), result.stderr


def _assert_is_this_machine(snapshot: Snapshot) -> None:
    [item] = snapshot.items
    assert item.kind == "Server"
    assert item.identifiers["hostname"] == hostname() == item.attributes["hostname"]
    assert item.attributes["cpu"]["cores"] == physical_cores()
    assert item.attributes["cpu"]["cores"] <= (os.cpu_count() or 0)
    assert abs(item.attributes["memoryMb"] - mem_total_mb()) <= 0.02 * mem_total_mb()
    assert set(item.identifiers["macs"]) == macs()
    assert {i["mac"] for i in item.attributes["interfaces"] if "mac" in i} == macs()
    assert "lo" not in {i["name"] for i in item.attributes["interfaces"]}
    assert same_os(item.attributes["os"]["name"]), item.attributes["os"]
    assert item.attributes["os"]["version"]


def test_the_fact_cache_of_a_real_run_is_this_machine(
    real_facts: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    snapshot, stderr = _discover(run_cli, tmp_path, "--facts", str(real_facts))
    _assert_is_this_machine(snapshot)
    assert snapshot.source == "ansible"
    # the snapshot is dated when the facts were gathered, not when they were read
    clock = cached_facts(real_facts)["ansible_date_time"]
    assert snapshot.discovered_at.timestamp() == int(clock["epoch"])
    assert "1 item from ansible written to" in stderr


def test_every_layout_of_a_facts_folder_is_read_alike(
    real_facts: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    """--tree's module results, the cache of ansible-core before 2.19 (the facts) and
    from 2.19 (a payload): the same host, the same item, in one folder or apart."""
    facts = cached_facts(real_facts)
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "tree-host").write_bytes(orjson.dumps({"ansible_facts": facts, "changed": False}))
    (folder / "old-cache-host").write_bytes(orjson.dumps(facts))
    (folder / "s1_new-cache-host").write_bytes(
        orjson.dumps({"__payload__": orjson.dumps(facts).decode()})
    )
    snapshot, stderr = _discover(run_cli, tmp_path, "--facts", str(folder))
    assert len(snapshot.items) == 3
    assert [i.identifiers for i in snapshot.items] == [snapshot.items[0].identifiers] * 3
    assert [i.attributes for i in snapshot.items] == [snapshot.items[0].attributes] * 3
    assert "warning" not in stderr
    one, _ = _discover(run_cli, tmp_path, "--facts", str(folder / "tree-host"))
    _assert_is_this_machine(one)


def _facts(**overrides: Any) -> dict[str, Any]:
    """A host's facts as the setup module reports them, for the mapping cases."""
    facts: dict[str, Any] = {
        "ansible_hostname": "db-01",
        "ansible_fqdn": "db-01.example.net",
        "ansible_product_serial": "CZ1234",
        "ansible_system_vendor": "Dell Inc.",
        "ansible_product_name": "PowerEdge R650",
        "ansible_distribution": "Debian",
        "ansible_distribution_version": "12.5",
        "ansible_processor_cores": 16,
        "ansible_processor_count": 2,
        "ansible_memtotal_mb": 128793,
        "ansible_devices": {
            "sda": {"virtual": 0, "removable": "0", "sectors": 937703088, "sectorsize": "512"},
            "nvme0n1": {"removable": "0", "sectors": 937703088, "sectorsize": "4096"},
            "sr0": {"removable": "1", "sectors": 2097151, "sectorsize": "2048"},
            "loop0": {"virtual": 1, "removable": "0", "sectors": 10, "sectorsize": "512"},
        },
        "ansible_interfaces": ["lo", "eno1", "bond-0", "wg0", "eno1.100"],
        "ansible_lo": {"device": "lo", "type": "loopback", "macaddress": "00:00:00:00:00:00"},
        "ansible_eno1": {
            "device": "eno1",
            "type": "ether",
            "macaddress": "f4:02:70:c1:3d:08",
            "ipv4": {"address": "10.0.0.5", "prefix": "24"},
            "ipv4_secondaries": [{"address": "10.0.0.6", "prefix": "24"}],
            "ipv6": [
                {"address": "fe80::f602:70ff:fec1:3d08", "scope": "link"},
                {"address": "2001:db8::5", "scope": "global"},
            ],
        },
        "ansible_bond_0": {
            "device": "bond-0",
            "type": "bonding",
            "macaddress": "f4:02:70:c1:3d:09",
        },
        "ansible_wg0": {"device": "wg0", "type": "tunnel", "ipv4": {"address": "10.9.0.1"}},
        # a VLAN's fact, whatever Ansible version names it how, is found by its device
        "ansible_eno1_100": {"device": "eno1.100", "macaddress": "f4:02:70:c1:3d:08"},
    }
    facts.update(overrides)
    return facts


def test_facts_map_to_the_server_schema_s_fields(run_cli: RunCli, tmp_path: Path) -> None:
    folder = tmp_path / "facts"
    folder.mkdir()
    (folder / "db-01").write_bytes(orjson.dumps({"ansible_facts": _facts()}))
    snapshot, _ = _discover(run_cli, tmp_path, "--facts", str(folder))
    [item] = snapshot.items
    assert item.identifiers == {
        "hostname": "db-01",
        "fqdn": "db-01.example.net",
        "serial": "CZ1234",
        "macs": ["f4:02:70:c1:3d:08", "f4:02:70:c1:3d:09"],
    }
    assert item.attributes == {
        "hostname": "db-01",
        "fqdn": "db-01.example.net",
        "serial": "CZ1234",
        "vendor": "Dell Inc.",
        "model": "PowerEdge R650",
        "os": {"name": "Debian", "version": "12.5"},
        "cpu": {"cores": 32},
        "memoryMb": 128793,
        "disks": [{"name": "nvme0n1", "sizeGb": 3840.8}, {"name": "sda", "sizeGb": 480.1}],
        "interfaces": [
            {"name": "bond-0", "mac": "f4:02:70:c1:3d:09"},
            {
                "name": "eno1",
                "mac": "f4:02:70:c1:3d:08",
                "ips": ["10.0.0.5", "10.0.0.6", "2001:db8::5"],
            },
            {"name": "eno1.100", "mac": "f4:02:70:c1:3d:08"},
            {"name": "wg0", "ips": ["10.9.0.1"]},
        ],
    }


@pytest.mark.parametrize("placeholder", ["NA", "To Be Filled By O.E.M.", "Not Specified", " "])
def test_placeholders_are_unknown_never_identifiers(
    placeholder: str, run_cli: RunCli, tmp_path: Path
) -> None:
    folder = tmp_path / "facts"
    folder.mkdir()
    facts = _facts(
        ansible_product_serial=placeholder,
        ansible_system_vendor=placeholder,
        ansible_product_name=placeholder,
        ansible_fqdn="localhost.localdomain",
    )
    (folder / "db-01").write_bytes(orjson.dumps(facts))
    snapshot, _ = _discover(run_cli, tmp_path, "--facts", str(folder))
    [item] = snapshot.items
    assert set(item.identifiers) == {"hostname", "macs"}
    assert not {"serial", "vendor", "model", "fqdn"} & set(item.attributes)


def test_hosts_that_cannot_be_used_are_warnings_and_the_rest_is_discovered(
    run_cli: RunCli, tmp_path: Path
) -> None:
    folder = tmp_path / "facts"
    folder.mkdir()
    (folder / "db-01").write_bytes(orjson.dumps({"ansible_facts": _facts()}))
    (folder / "gone").write_bytes(
        orjson.dumps({"unreachable": True, "msg": "Failed to connect to the host via ssh"})
    )
    (folder / "broken").write_bytes(orjson.dumps({"failed": True, "msg": "interpreter not found"}))
    (folder / "half").write_bytes(b'{"ansible_facts": {"ansible_host')
    (folder / "notes.txt").write_text("not facts", encoding="utf-8")
    (folder / "nameless").write_bytes(orjson.dumps({"ansible_facts": {"ansible_memtotal_mb": 1}}))
    (folder / ".hidden").write_text("editor swap", encoding="utf-8")
    with open(folder / "huge", "wb") as huge:  # sparse: no disk spent
        huge.truncate(65 << 20)
    snapshot, stderr = _discover(run_cli, tmp_path, "--facts", str(folder))
    assert [i.identifiers["hostname"] for i in snapshot.items] == ["db-01"]
    warnings = [ln for ln in stderr.splitlines() if ln.startswith("cmdbctl: warning:")]
    assert len(warnings) == 6, stderr
    for name, why in [
        ("gone", "unreachable: Failed to connect"),
        ("broken", "fact gathering failed: interpreter not found"),
        ("half", "not JSON"),
        ("notes.txt", "not JSON"),
        ("nameless", "no host name, serial or MAC"),
        ("huge", "larger than 64 MiB: not one host's facts"),
    ]:
        assert any(str(folder / name) in w and why in w for w in warnings), (name, stderr)
    assert ".hidden" not in stderr


def test_no_usable_host_is_exit_2_naming_why(run_cli: RunCli, tmp_path: Path) -> None:
    folder = tmp_path / "facts"
    folder.mkdir()
    (folder / "gone").write_bytes(orjson.dumps({"unreachable": True, "msg": "no route to host"}))
    out = tmp_path / "snapshot.json"
    result = run_cli("discover", "--adapter", "ansible", "--facts", str(folder), "-o", str(out))
    assert result.exit_code == 2
    assert "no host's facts could be used" in result.stderr
    assert "no route to host" in result.stderr
    assert not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("discover", "--adapter", "ansible", "--facts", str(empty))
    assert result.exit_code == 2 and "none found" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "needs either --facts PATH or --inventory FILE"),
        (("--facts", "a", "--inventory", "b"), "not both"),
        (("--facts", "{tmp}/missing"), "no such folder"),
        (("--facts", "{tmp}", "--limit", "web"), "--limit only go with --inventory"),
        (("--inventory", "{tmp}/missing.ini"), "no such file or folder"),
        (("--forks", "0", "--inventory", "x"), "--forks"),
    ],
)
def test_bad_options_are_exit_2(
    args: tuple[str, ...], message: str, run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli("discover", "--adapter", "ansible", *(a.format(tmp=tmp_path) for a in args))
    assert result.exit_code == 2
    assert message in result.stderr


def test_an_inventory_run_gathers_reachable_hosts_and_names_the_others(
    inventory_run: Run,
) -> None:
    assert inventory_run.returncode == 0, inventory_run.stderr
    snapshot = read_snapshot(inventory_run.output)
    _assert_is_this_machine(snapshot)  # only localhost: --limit left the others out
    stderr = inventory_run.stderr
    assert "cmdbctl: warning: gone: unreachable:" in stderr
    assert "cmdbctl: warning: nopython: fact gathering failed:" in stderr
    assert "left-out" not in stderr
    assert "1 item from ansible written to" in stderr


def test_an_inventory_that_targets_no_host_is_exit_2(
    ansible_env: dict[str, str], run_cmdbctl: RunCmdbctl, tmp_path: Path
) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("localhost ansible_connection=local\n", encoding="utf-8")
    proc = run_cmdbctl(
        "discover", "--adapter", "ansible", "--inventory", str(inventory), "--limit", "nomatch",
        cwd=tmp_path, env=ansible_env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Ansible targeted no host" in proc.stderr and "--limit nomatch" in proc.stderr


def test_without_ansible_installed_the_hint_says_how_to_install_it(
    ansible_env: dict[str, str], run_cmdbctl: RunCmdbctl, tmp_path: Path
) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("localhost\n", encoding="utf-8")
    env = {**ansible_env, "PATH": str(tmp_path)}  # no ansible-playbook on it
    proc = run_cmdbctl(
        "discover", "--adapter", "ansible", "--inventory", str(inventory), cwd=tmp_path, env=env
    )
    assert proc.returncode == 2
    assert "ansible-playbook is not installed" in proc.stderr
    assert "pip install ansible-core" in proc.stderr
