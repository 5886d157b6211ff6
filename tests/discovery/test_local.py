"""`--adapter local`: this machine as the operating system describes it, checked against
/proc, /sys and os read independently; and the parsing of what a different machine's
files would say (a folder laid out as /, with firmware placeholders, SMT and disks)."""

from __future__ import annotations

import ipaddress
import itertools
import socket
import sys
from pathlib import Path

import pytest

from cmdbctl.discovery.snapshot import Snapshot, read_snapshot
from cmdbctl.discovery.thishost import describe
from tests.conftest import RunCli, write_file
from tests.discovery.conftest import hostname, macs, mem_total_mb, os_release, physical_cores

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc and /sys")


@linux_only
def test_this_machine_as_proc_sys_and_os_release_say(run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "here.json"
    result = run_cli("discover", "--adapter", "local", "-o", str(out))
    assert result.exit_code == 0, result.output
    snapshot = read_snapshot(out)
    assert snapshot.source == "local"
    [item] = snapshot.items
    assert item.kind == "Server"
    assert item.identifiers["hostname"] == hostname() == item.attributes["hostname"]
    assert item.attributes["memoryMb"] == mem_total_mb()
    assert item.attributes["cpu"]["cores"] == physical_cores()
    assert set(item.identifiers.get("macs", [])) == macs()
    release = os_release()
    said = {"name": release.get("NAME"), "version": release.get("VERSION_ID")}  # sid has no version
    assert item.attributes["os"] == {k: v for k, v in said.items() if v}
    interfaces = item.attributes.get("interfaces", [])
    assert "lo" not in {i["name"] for i in interfaces}
    for interface in interfaces:
        for address in interface.get("ips", []):
            parsed = ipaddress.ip_address(address)
            assert not parsed.is_link_local and not parsed.is_loopback, address
            assert socket.if_nametoindex(interface["name"])  # a real interface of this host


@linux_only
def test_the_addresses_are_those_the_kernel_has(run_cli: RunCli, tmp_path: Path) -> None:
    """Every global IPv4 address of /proc/net/fib_trie's local table is an interface's."""
    result = run_cli("discover", "--adapter", "local")
    assert result.exit_code == 0
    [item] = read_snapshot_text(result.stdout, tmp_path).items
    reported = {ip for i in item.attributes.get("interfaces", []) for ip in i.get("ips", [])}
    local = _local_ipv4_addresses()
    assert {a for a in local if not a.startswith("127.")} <= reported


def read_snapshot_text(text: str, tmp_path: Path) -> Snapshot:
    path = tmp_path / "stdout.json"
    path.write_text(text, encoding="utf-8")
    return read_snapshot(path)


def _local_ipv4_addresses() -> set[str]:
    """The /32 host LOCAL entries of the kernel's routing trie: this host's addresses."""
    lines = Path("/proc/net/fib_trie").read_text(encoding="utf-8").splitlines()
    found = set()
    for before, line in itertools.pairwise(lines):
        if "/32 host LOCAL" in line:
            found.add(before.strip().split()[-1])
    return found


def _machine(root: Path, cpuinfo: str, serial: str) -> None:
    """The files of a machine unlike this one, laid out under `root` as under /."""
    write_file(root, "proc/meminfo", "MemTotal:       263842412 kB\nMemFree: 1 kB\n")
    write_file(root, "proc/cpuinfo", cpuinfo)
    write_file(root, "etc/os-release", 'NAME="Rocky Linux"\nVERSION_ID="9.3"\nID="rocky"\n')
    write_file(
        root,
        "etc/hosts",
        f"127.0.0.1 localhost\n10.0.0.5 {hostname()}.east.example.net {hostname()}  # it\n",
    )
    write_file(root, "sys/class/dmi/id/product_serial", serial + "\n")
    write_file(root, "sys/class/dmi/id/sys_vendor", "Dell Inc.\n")
    write_file(root, "sys/class/dmi/id/product_name", "To Be Filled By O.E.M.\n")
    write_file(root, "sys/block/sda/size", "937703088\n")
    write_file(root, "sys/block/sda/removable", "0\n")
    write_file(root, "sys/block/sr0/size", "2097151\n")
    write_file(root, "sys/block/sdb/size", "1000\n")
    write_file(root, "sys/block/sdb/removable", "1\n")  # a USB stick
    write_file(root, "sys/class/net/lo/type", "772\n")
    write_file(root, "sys/class/net/lo/address", "00:00:00:00:00:00\n")
    write_file(root, "sys/class/net/eno1/type", "1\n")
    write_file(root, "sys/class/net/eno1/address", "f4:02:70:c1:3d:08\n")
    write_file(root, "sys/class/net/wg0/type", "65534\n")


# Two sockets of two cores each, two threads per core: 8 processors, 4 cores
_SMT_CPUINFO = "\n\n".join(
    f"processor\t: {n}\nphysical id\t: {n // 4}\ncore id\t\t: {(n // 2) % 2}\n" for n in range(8)
)


def test_a_machine_s_files_parsed_as_its_os_would_say(tmp_path: Path) -> None:
    _machine(tmp_path, _SMT_CPUINFO, "5TQ9HM3")
    item = describe(tmp_path)
    assert item["identifiers"] == {
        "hostname": hostname(),
        "fqdn": f"{hostname()}.east.example.net",
        "serial": "5TQ9HM3",
        "macs": ["f4:02:70:c1:3d:08"],
    }
    attributes = item["attributes"]
    assert attributes["cpu"] == {"cores": 4}
    assert attributes["memoryMb"] == 263842412 // 1024
    assert attributes["os"] == {"name": "Rocky Linux", "version": "9.3"}
    assert attributes["vendor"] == "Dell Inc." and "model" not in attributes
    assert attributes["disks"] == [{"name": "sda", "sizeGb": 480.1}]
    assert attributes["interfaces"] == [
        {"name": "eno1", "mac": "f4:02:70:c1:3d:08"},
        {"name": "wg0"},
    ]


def test_no_topology_means_each_processor_is_a_core_and_placeholders_are_unknown(
    tmp_path: Path,
) -> None:
    cpuinfo = "\n\n".join(f"processor\t: {n}\nBogoMIPS\t: 50.00\n" for n in range(6))
    _machine(tmp_path, cpuinfo, "Not Specified")
    item = describe(tmp_path)
    assert item["attributes"]["cpu"] == {"cores": 6}
    assert "serial" not in item["identifiers"] and "serial" not in item["attributes"]
