"""This machine as a Server item, read from the operating system itself.

Linux: /etc/os-release, /proc/cpuinfo, /proc/meminfo, /sys/class/dmi/id, /sys/block,
/sys/class/net and a netlink address dump. Elsewhere: what Python's standard library
says (host name, OS name and release). Nothing here touches the network: the FQDN is
what /etc/hosts gives the host name (`socket.getfqdn` may ask DNS and hang), and a field
the system does not say is left out, never guessed.
"""

from __future__ import annotations

import os
import platform
import socket
from pathlib import Path
from typing import Any

from cmdbctl.discovery import netlink
from cmdbctl.discovery.values import fqdn, known, mac, short_hostname, size_gb

_ARPHRD_LOOPBACK = "772"  # /sys/class/net/*/type of a loopback interface
# Block devices that are no disk: CD/DVD drives and floppies (virtual ones, loop, dm-,
# md, zram, ram, nbd, live under /sys/devices/virtual and are skipped as such)
_NOT_DISKS = ("sr", "fd")


def describe(root: Path = Path("/")) -> dict[str, Any]:
    """The item for this machine, in the snapshot format. `root` is where /etc, /proc and
    /sys are read (the real root but in tests of the parsing)."""
    name = socket.gethostname()
    hostname = short_hostname(name)
    identifiers: dict[str, Any] = {"hostname": hostname}
    attributes: dict[str, Any] = {"hostname": hostname}
    full = fqdn(name) or _fqdn_from_hosts(root / "etc/hosts", hostname)
    if full is not None:
        identifiers["fqdn"] = attributes["fqdn"] = full
    linux = (root / "proc/meminfo").is_file()
    dmi = _dmi(root / "sys/class/dmi/id")
    if "serial" in dmi:
        identifiers["serial"] = dmi["serial"]
    attributes.update(dmi)
    system = _os(root) if linux else _os_elsewhere()
    if system:
        attributes["os"] = system
    if linux:
        cores = _cores(root / "proc/cpuinfo")
        if cores:
            attributes["cpu"] = {"cores": cores}
        memory = _memory_mb(root / "proc/meminfo")
        if memory is not None:
            attributes["memoryMb"] = memory
        disks = _disks(root / "sys/block")
        if disks:
            attributes["disks"] = disks
        interfaces = _interfaces(
            root / "sys/class/net", netlink.addresses() if root == Path("/") else None
        )
        if interfaces:
            attributes["interfaces"] = interfaces
            macs = sorted({i["mac"] for i in interfaces if "mac" in i})
            if macs:
                identifiers["macs"] = macs
    return {"kind": "Server", "identifiers": identifiers, "attributes": attributes}


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:  # absent, or readable by root only (product_serial)
        return None


def _fqdn_from_hosts(hosts: Path, hostname: str) -> str | None:
    """The first dotted name of the /etc/hosts line that names this host, as the
    resolver's files source answers `getfqdn` without asking DNS."""
    text = _read(hosts)
    if text is None:
        return None
    for line in text.splitlines():
        names = line.partition("#")[0].split()[1:]
        if hostname.lower() not in (n.lower() for n in names):
            continue
        for name in names:
            full = fqdn(name)
            if full is not None and short_hostname(full).lower() == hostname.lower():
                return full
    return None


def _dmi(folder: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for field, file in (
        ("serial", "product_serial"),
        ("vendor", "sys_vendor"),
        ("model", "product_name"),
    ):
        value = known(_read(folder / file))
        if value is not None:
            out[field] = value
    return out


def _os(root: Path) -> dict[str, str]:
    """NAME and VERSION_ID of os-release(5), as the system names itself."""
    text = _read(root / "etc/os-release") or _read(root / "usr/lib/os-release") or ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() in ("NAME", "VERSION_ID"):
            fields[key.strip()] = value.strip().strip("\"'")
    out = {}
    if fields.get("NAME"):
        out["name"] = fields["NAME"]
    if fields.get("VERSION_ID"):
        out["version"] = fields["VERSION_ID"]
    return out


def _os_elsewhere() -> dict[str, str]:
    if platform.system() == "Darwin":
        version = platform.mac_ver()[0]
        return {"name": "macOS", **({"version": version} if version else {})}
    system, release = platform.system(), platform.release()
    out = {"name": system} if system else {}
    if release:
        out["version"] = release
    return out


def _cores(cpuinfo: Path) -> int | None:
    """Physical cores: distinct (physical id, core id) pairs; where the kernel gives no
    topology (some ARM boards, some VMs) every processor entry is a core."""
    text = _read(cpuinfo)
    if text is None:
        return None
    pairs: set[tuple[str, str]] = set()
    processors = 0
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if "processor" in fields and fields["processor"].isdigit():
            processors += 1
            if "core id" in fields:
                pairs.add((fields.get("physical id", "0"), fields["core id"]))
    return len(pairs) or processors or None


def _memory_mb(meminfo: Path) -> int | None:
    for line in (_read(meminfo) or "").splitlines():
        key, _, value = line.partition(":")
        if key == "MemTotal":
            number, _, unit = value.strip().partition(" ")
            if number.isdigit() and unit == "kB":
                return int(number) // 1024
    return None


def _disks(block: Path) -> list[dict[str, Any]]:
    disks = []
    try:
        names = sorted(os.listdir(block))
    except OSError:
        return []
    for name in names:
        device = block / name
        if "/devices/virtual/" in os.path.realpath(device) or name.startswith(_NOT_DISKS):
            continue
        if _read(device / "removable") == "1":
            continue
        sectors = _read(device / "size")  # always in 512-byte units, whatever the disk's
        if sectors is None or not sectors.isdigit() or int(sectors) == 0:
            continue
        disks.append({"name": name, "sizeGb": size_gb(int(sectors) * 512)})
    return disks


def _interfaces(net: Path, ips: dict[str, list[str]] | None) -> list[dict[str, Any]]:
    interfaces = []
    try:
        names = sorted(os.listdir(net))
    except OSError:
        return []
    for name in names:
        if _read(net / name / "type") == _ARPHRD_LOOPBACK:
            continue
        interface: dict[str, Any] = {"name": name}
        address = mac(_read(net / name / "address"))
        if address is not None:
            interface["mac"] = address
        if ips and ips.get(name):
            interface["ips"] = ips[name]
        interfaces.append(interface)
    return interfaces
