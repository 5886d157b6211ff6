"""One host's Ansible facts as a Server item (the schema's spec field names).

| spec field | fact |
| --- | --- |
| hostname | ansible_hostname |
| fqdn | ansible_fqdn, when it is a dotted name other than localhost |
| serial, vendor, model | ansible_product_serial, ansible_system_vendor, ansible_product_name, unless a placeholder ("NA", "To Be Filled By O.E.M.", ...) |
| os.name, os.version | ansible_distribution, ansible_distribution_version |
| cpu.cores | ansible_processor_cores x ansible_processor_count (physical cores) |
| memoryMb | ansible_memtotal_mb |
| disks | ansible_devices: the non-virtual, non-removable ones with a size |
| interfaces | ansible_interfaces but loopback: name, macaddress, ipv4 (and secondaries), ipv6 but link-local |

Identifiers: hostname, fqdn, serial (as above) and the interfaces' MACs.
"""

from __future__ import annotations

from typing import Any

from cmdbctl.discovery.values import fqdn, known, mac, short_hostname, size_gb

# Block devices that are no disk even when Ansible does not mark them virtual
_NOT_DISKS = ("sr", "fd", "loop", "ram", "zram", "dm-", "md", "nbd")


def server_item(facts: dict[str, Any]) -> dict[str, Any] | None:
    """The item, or None when the facts hold no identifier at all."""
    identifiers: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    hostname = known(_fact(facts, "hostname"))
    if hostname is not None:
        identifiers["hostname"] = attributes["hostname"] = short_hostname(hostname)
    full = fqdn(_fact(facts, "fqdn"))
    if full is not None:
        identifiers["fqdn"] = attributes["fqdn"] = full
    serial = known(_fact(facts, "product_serial"))
    if serial is not None:
        identifiers["serial"] = attributes["serial"] = serial
    for field, fact in (("vendor", "system_vendor"), ("model", "product_name")):
        value = known(_fact(facts, fact))
        if value is not None:
            attributes[field] = value
    system = {
        key: value
        for key, value in (
            ("name", known(_fact(facts, "distribution"))),
            ("version", known(_fact(facts, "distribution_version"))),
        )
        if value is not None
    }
    if system:
        attributes["os"] = system
    cores = _cores(facts)
    if cores is not None:
        attributes["cpu"] = {"cores": cores}
    memory = _fact(facts, "memtotal_mb")
    if isinstance(memory, int) and not isinstance(memory, bool) and memory > 0:
        attributes["memoryMb"] = memory
    disks = _disks(_fact(facts, "devices"))
    if disks:
        attributes["disks"] = disks
    interfaces = _interfaces(facts)
    if interfaces:
        attributes["interfaces"] = interfaces
        macs = sorted({i["mac"] for i in interfaces if "mac" in i})
        if macs:
            identifiers["macs"] = macs
    if not identifiers:
        return None
    return {"kind": "Server", "identifiers": identifiers, "attributes": attributes}


def _fact(facts: dict[str, Any], name: str) -> Any:
    """A fact by its name, whether the cache kept the `ansible_` prefix or not."""
    value = facts.get(f"ansible_{name}")
    return facts.get(name) if value is None else value


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _cores(facts: dict[str, Any]) -> int | None:
    per_socket = _count(_fact(facts, "processor_cores"))
    sockets = _count(_fact(facts, "processor_count"))
    if per_socket and sockets:
        return per_socket * sockets
    return None


def _disks(devices: Any) -> list[dict[str, Any]]:
    if not isinstance(devices, dict):
        return []
    disks = []
    for name in sorted(devices):
        device = devices[name]
        if not isinstance(device, dict) or name.startswith(_NOT_DISKS):
            continue
        if str(device.get("virtual", "0")) == "1" or str(device.get("removable", "0")) == "1":
            continue
        sectors, sector_size = _count(device.get("sectors")), _count(device.get("sectorsize"))
        if not sectors or not sector_size:
            continue
        disks.append({"name": name, "sizeGb": size_gb(sectors * sector_size)})
    return disks


def _interfaces(facts: dict[str, Any]) -> list[dict[str, Any]]:
    names = _fact(facts, "interfaces")
    if not isinstance(names, list):
        return []
    interfaces = []
    for name in sorted(n for n in names if isinstance(n, str)):
        data = _interface_facts(facts, name)
        if not isinstance(data, dict) or data.get("type") == "loopback" or name == "lo":
            continue
        interface: dict[str, Any] = {"name": name}
        address = mac(data.get("macaddress"))
        if address is not None:
            interface["mac"] = address
        ips = _ips(data)
        if ips:
            interface["ips"] = ips
        interfaces.append(interface)
    return interfaces


def _interface_facts(facts: dict[str, Any], name: str) -> Any:
    """The setup module names an interface's fact after it, `-` made `_` (bond-0:
    ansible_bond_0); where a name is spelled otherwise, the fact whose device it is."""
    data = _fact(facts, name.replace("-", "_"))
    if isinstance(data, dict):
        return data
    for value in facts.values():
        if isinstance(value, dict) and value.get("device") == name:
            return value
    return None


def _ips(data: dict[str, Any]) -> list[str]:
    """IPv4 (primary, then secondaries), then IPv6 but link-local and host scoped."""
    found: list[str] = []
    v4 = data.get("ipv4")
    v4s = [v4] if isinstance(v4, dict) else v4 if isinstance(v4, list) else []
    secondaries = data.get("ipv4_secondaries")
    if isinstance(secondaries, list):
        v4s = [*v4s, *secondaries]
    v6 = data.get("ipv6")
    v6s = [a for a in v6 if isinstance(a, dict)] if isinstance(v6, list) else []
    for entry in [*v4s, *(a for a in v6s if a.get("scope") not in ("link", "host"))]:
        address = entry.get("address") if isinstance(entry, dict) else None
        if isinstance(address, str) and address and address not in found:
            found.append(address)
    return found
