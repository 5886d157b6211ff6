"""Normalised identifier and attribute values, so that what a source writes one way and
the repository another compares equal.

- MAC addresses: lower case, colon-separated octets (`00-1A-2B-3C-4D-5E`, `001a.2b3c.4d5e`
  and `00:1A:2B:3C:4D:5E` are one address); anything that is not 12 hex digits is kept
  lower-cased.
- Host names and FQDNs: lower case, no trailing dot (DNS is case-insensitive).
- Serial numbers and other identifiers: surrounding white space stripped.
- Sizes: a field whose name ends in a unit (`memoryMb`: MiB; `sizeGb`: GB; `capacityTb`:
  TB; `bandwidthMbps`: Mbit/s) takes a number; a source that writes a string with a unit
  (`"128 GiB"`, `"960GB"`, `"1.5 TB"`) is converted to the field's unit, as is a plain
  numeric string. Binary units (KiB, MiB, GiB, TiB) count powers of 1024, decimal ones
  (kB, MB, GB, TB) powers of 1000; `memoryMb` is binary, as the schema's "Memory (MiB)" says.
- A number where the repository holds a string (`os.version: 12` against `"12"`) is
  compared as its text.
"""

from __future__ import annotations

import re
from typing import Any

_HEX_DIGITS = frozenset("0123456789abcdef")
_NOT_HEX = str.maketrans("", "", ":-. \t")


def mac(value: str) -> str:
    text = value.strip().lower()
    if len(text) == 17 and text[2::3] == ":::::":
        return text  # already canonical: the common case, kept cheap
    bare = text.translate(_NOT_HEX)
    if len(bare) == 12 and _HEX_DIGITS.issuperset(bare):
        return f"{bare[0:2]}:{bare[2:4]}:{bare[4:6]}:{bare[6:8]}:{bare[8:10]}:{bare[10:12]}"
    return text


def host(value: str) -> str:
    return value.strip().rstrip(".").lower()


def identifier(name: str, value: Any) -> str:
    """One identifier value as identification compares it."""
    text = str(value)
    if name in ("macs", "mac"):
        return mac(text)
    if name in ("hostname", "fqdn"):
        return host(text)
    return text.strip()


# The unit each size field is kept in, as bytes (or bits per second).
_FIELD_UNITS = {"Mb": 1024**2, "Gb": 1000**3, "Tb": 1000**4, "Mbps": 1000**2}
_MEMORY_FIELDS = {"memoryMb": 1024**2}
_UNIT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKMGTP]i?)?[bB]?(?:ps|it/s)?\s*$")
_MULTIPLIERS = {
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "P": 1000**5,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "Pi": 1024**5,
}


def field_unit(field: str) -> int | None:
    """Bytes (bits per second for Mbps) in one unit of `field`, when its name has one."""
    if field in _MEMORY_FIELDS:
        return _MEMORY_FIELDS[field]
    for suffix in ("Mbps", "Mb", "Gb", "Tb"):
        if field.endswith(suffix) and len(field) > len(suffix):
            return _FIELD_UNITS[suffix]
    return None


def sized(field: str, value: Any) -> Any:
    """A size given as text with a unit, in the field's unit; other values as they are."""
    unit = field_unit(field)
    if unit is None or not isinstance(value, str):
        return value
    match = _UNIT.match(value)
    if match is None:
        return value
    number, prefix = float(match.group(1)), match.group(2) or ""
    if not prefix:  # a bare number is already in the field's unit
        amount = number
    else:
        amount = number * _MULTIPLIERS[prefix] / unit
    rounded = round(amount, 3)
    return int(rounded) if rounded == int(rounded) else rounded


def reported(field: str, discovered: Any, desired: Any) -> Any:
    """`discovered` in the form the repository keeps (field: the last name of its path):
    a size in the field's unit, a number as text where the repository holds text."""
    discovered = sized(field, discovered)
    if (
        isinstance(desired, str)
        and isinstance(discovered, int | float)
        and not isinstance(discovered, bool)
    ):
        return str(discovered)
    return discovered


def equivalent(field: str, desired: Any, discovered: Any) -> bool:
    """Whether two leaf values say the same, once normalised."""
    if desired == discovered and type(desired) is type(discovered):
        return True
    if isinstance(desired, str) and isinstance(discovered, str):
        if field in ("hostname", "fqdn"):
            return host(desired) == host(discovered)
        if field == "mac":
            return mac(desired) == mac(discovered)
    if isinstance(desired, bool) or isinstance(discovered, bool):
        return desired is discovered
    return bool(desired == reported(field, discovered, desired))


def deep(field: str, discovered: Any) -> Any:
    """A discovered value with every leaf in the form the repository keeps (sizes in
    their field's unit, MACs as `aa:bb:...`): what `--write` puts into a document."""
    if isinstance(discovered, dict):
        return {k: deep(k, v) for k, v in discovered.items()}
    if isinstance(discovered, list):
        return [deep(field, v) for v in discovered]
    if field == "mac" and isinstance(discovered, str):
        return mac(discovered)
    return sized(field, discovered)
