"""Cleaning what hardware and operating systems report, the same way for every adapter.

Firmware fills DMI fields it has no value for with placeholders ("To Be Filled By
O.E.M.", "Default string", ...) and Ansible writes "NA" where it could not read one (a
serial is readable by root only); such a value is unknown, never an identifier.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDERS = frozenset(
    {
        "",
        "na",
        "n/a",
        "none",
        "null",
        "unknown",
        "not specified",
        "not available",
        "not applicable",
        "not present",
        "to be filled by o.e.m.",
        "to be filled by oem",
        "default string",
        "system serial number",
        "system manufacturer",
        "system product name",
        "chassis serial number",
        "invalid",
        "oem",
        "o.e.m.",
        "0",
        "00000000",
        "0123456789",
        "123456789",
    }
)
_BLANK_MAC = "00:00:00:00:00:00"
_MAC = re.compile(r"[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}")


def known(value: object) -> str | None:
    """The value as a string, or None for a placeholder or anything not a string."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return None if text.lower() in _PLACEHOLDERS else text


def mac(value: object) -> str | None:
    """A hardware address as the system prints it, or None when it is none (a tunnel,
    all zeros) or not a MAC (InfiniBand's 20 octets)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not _MAC.fullmatch(text) or text.replace("-", ":") == _BLANK_MAC:
        return None
    return text


def size_gb(size_bytes: int) -> float:
    """Bytes as decimal gigabytes (disk vendors' GB), to one decimal place."""
    return round(size_bytes / 1e9, 1)


def short_hostname(name: str) -> str:
    """The host name without its domain: `db-01.example.net` → `db-01`."""
    return name.split(".", 1)[0]


def fqdn(name: object) -> str | None:
    """A fully qualified name, or None for a bare name or a loopback name
    (`localhost`, `localhost.localdomain`), which says nothing about the host."""
    text = known(name)
    if text is None or "." not in text.strip("."):
        return None
    if short_hostname(text).lower() in {"localhost", "localhost6", "ip6-localhost"}:
        return None
    return text


_INT64 = range(-(2**63), 2**63)
_MAX_DEPTH = 128  # well inside what JSON readers take (orjson: 255 levels)


def unfit(value: Any) -> tuple[str, str] | None:
    """What in `value` cannot be snapshot data, or None when all can: an integer beyond
    the signed 64 bits JSON readers take (orjson, `cmdbctl diff`'s reader, refuses it),
    NaN or an infinity (JSON has neither), text with a lone surrogate (half a character,
    which a YAML or JSON escape can spell but no UTF-8 holds), or nesting deeper than 128
    levels. The answer is where inside `value` (`[1].sizeGb`, "" for `value` itself) and
    what is wrong."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, at, depth = stack.pop()
        if depth > _MAX_DEPTH:
            shown = at if len(at) <= 40 else f"{at[:40]}..."
            return shown, f"nests deeper than {_MAX_DEPTH} levels"
        if isinstance(node, bool):
            continue
        if isinstance(node, int):
            if node not in _INT64:
                # `str` refuses integers beyond 4300 digits (14,000 bits is fewer)
                digits = str(node) if node.bit_length() < 14_000 else "an integer of 4000+ digits"
                return at, beyond_64_bits(digits)
        elif isinstance(node, float):
            if not math.isfinite(node):
                return at, f"{node} is not a number JSON can hold"
        elif isinstance(node, str):
            if not is_text(node):
                return at, _HALF
        elif isinstance(node, Mapping):
            for key in node:
                if isinstance(key, str) and not is_text(key):
                    return f"{at}.{key}", f"its name {_HALF}"
            stack.extend((v, f"{at}.{k}", depth + 1) for k, v in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((v, f"{at}[{i}]", depth + 1) for i, v in enumerate(node))
    return None


_HALF = "holds a lone surrogate (half a character, from an escape): not text JSON can hold"


def is_text(text: str) -> bool:
    """Whether UTF-8 can hold the text: not if it has a lone surrogate."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def beyond_64_bits(digits: str) -> str:
    """What is wrong with an integer (its digits) beyond the signed 64 bits."""
    shown = digits if len(digits) <= 28 else f"{digits[:12]}... ({len(digits)} characters)"
    return f"{shown} is beyond the signed 64-bit integers (-2^63 to 2^63-1) a snapshot holds"
