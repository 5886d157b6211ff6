"""The IP addresses of this machine's interfaces, asked of the Linux kernel over netlink.

One RTM_GETADDR dump (rtnetlink(7)) lists every address with its interface and scope,
primary and secondary addresses alike, without a subprocess or a new dependency; it is a
local socket to the kernel, not the network. Elsewhere, or when the kernel refuses,
`addresses` returns None and the local adapter reports no addresses.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct

_RTM_GETADDR = 22
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_RT_SCOPE_LINK = 253
_RT_SCOPE_HOST = 254
_HEADER = struct.Struct("=LHHLL")  # nlmsghdr: length, type, flags, sequence, port id
_IFADDRMSG = struct.Struct("=BBBBi")  # family, prefix length, flags, scope, interface index
_RTATTR = struct.Struct("=HH")  # length, type


def addresses() -> dict[str, list[str]] | None:
    """Interface name → its addresses (IPv4 first, in the kernel's order), without link
    and host scoped ones (fe80::/10, ::1), as `ip addr` would list them; None when netlink
    cannot be asked."""
    if not hasattr(socket, "AF_NETLINK"):
        return None
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
            sock.settimeout(5)  # the kernel answers at once; never hang on a broken stack
            request = _HEADER.pack(
                _HEADER.size + _IFADDRMSG.size,
                _RTM_GETADDR,
                _NLM_F_REQUEST | _NLM_F_DUMP,
                1,
                0,
            ) + _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
            sock.sendto(request, (0, 0))
            found: list[tuple[int, int, str]] = []
            while not _read(sock.recv(1 << 16), found):
                pass
    except OSError:
        return None
    by_name: dict[str, list[str]] = {}
    # IPv4 before IPv6, as `ip addr` and Ansible's facts list them
    for index, _family, address in sorted(found, key=lambda f: (f[0], f[1] != socket.AF_INET)):
        name = _name(index)
        if name is not None and address not in by_name.setdefault(name, []):
            by_name[name].append(address)
    return by_name


def _read(buffer: bytes, found: list[tuple[int, int, str]]) -> bool:
    """Parse one datagram of the dump into `found`; True once the dump is complete."""
    offset = 0
    while offset + _HEADER.size <= len(buffer):
        length, kind, _flags, _seq, _port = _HEADER.unpack_from(buffer, offset)
        if length < _HEADER.size:
            return True
        if kind == _NLMSG_DONE:
            return True
        if kind == _NLMSG_ERROR:
            raise OSError("netlink refused the address dump")
        body = offset + _HEADER.size
        family, _prefix, _flags, scope, index = _IFADDRMSG.unpack_from(buffer, body)
        attributes = _attributes(buffer[body + _IFADDRMSG.size : offset + length])
        # IFA_LOCAL is the address itself; IFA_ADDRESS is the peer on point-to-point links
        raw = attributes.get(_IFA_LOCAL) or attributes.get(_IFA_ADDRESS)
        if raw is not None and scope not in (_RT_SCOPE_LINK, _RT_SCOPE_HOST):
            with contextlib.suppress(ValueError):
                found.append((index, family, str(ipaddress.ip_address(raw))))
        offset += (length + 3) & ~3
    return False


def _attributes(data: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    offset = 0
    while offset + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size:
            break
        out.setdefault(kind, data[offset + _RTATTR.size : offset + length])
        offset += (length + 3) & ~3
    return out


def _name(index: int) -> str | None:
    try:
        return socket.if_indextoname(index)
    except OSError:  # the interface went away during the dump
        return None
