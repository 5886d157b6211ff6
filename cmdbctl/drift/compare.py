"""Field-by-field comparison of a CI's spec with what the sources say of it.

Only what the sources report is compared: a field absent from the discovered view is
not looked at; a field the repository lacks but a source reports is drift (desired
null). Cheap first: when the digest of the CI's reported fields (`digest`, canonical
JSON) equals the item's, or else every reported top-level field equals the
repository's as it is (one C-level equality per field, no normalising, no walking), the
CI has not drifted, which is the case for nearly all of them; only the rest are walked
and normalised (normalise.py) field by field.

Lists: items that are mappings are paired by `name` when every item on both sides has
one (disks, interfaces), else by `mac`, else by position; a paired item is compared
field by field (only the fields the source reports), an item only one side has is
added (desired null) or gone (discovered null). Lists of plain values (ips) are
compared as sets. Paths number list items as the repository has them
(`spec.disks.1.sizeGb`); an item the repository lacks is numbered after its last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from cmdbctl.drift import normalise

Part = str | int


@dataclass(frozen=True, slots=True)
class Change:
    parts: tuple[Part, ...]  # below spec
    desired: Any  # None: the repository does not have it
    discovered: Any  # None: the source no longer finds it (a list item gone)
    op: str = "set"  # set | add (a list item) | remove (a list item)

    @property
    def path(self) -> str:
        return "spec." + ".".join(str(p) for p in self.parts)


_ABSENT: Any = object()


def unchanged(spec: Mapping[str, Any], attributes: Mapping[str, Any]) -> bool:
    """The cheap test: every reported field equals the repository's, byte for byte."""
    get = spec.get
    return all(get(key, _ABSENT) == value for key, value in attributes.items())


# Sorted keys; values orjson would write as something else refused (a date, a str or dict
# subclass), so that equal bytes mean equal values.
_DIGEST = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def digest(fields: Mapping[str, Any]) -> bytes | None:
    """The cheap digest: canonical JSON of some fields, computed on each side of the
    comparison (a CI's spec in the worker that read it, an item's attributes in the
    parent). Equal digests mean equal fields, so the CI has not drifted in them; unequal
    ones mean nothing (1 and 1.0, "a" and "A" in a host name) and `changes` decides.
    None where the bytes could be equal for unequal values: orjson writes NaN and
    infinities as null, so no digest holds a null."""
    try:
        out = orjson.dumps(fields, option=_DIGEST)
    except TypeError:  # a value JSON has no form for, text orjson refuses, too deep
        return None
    # A copy of its own size: orjson's bytes keep the allocation it wrote into, about
    # 4 KiB here, and 10^5 digests kept would hold 0.4 GB (measured) instead of 40 MB.
    return None if b"null" in out else memoryview(out).tobytes()


def changes(spec: Mapping[str, Any], attributes: Mapping[str, Any]) -> list[Change]:
    if unchanged(spec, attributes):
        return []
    out: list[Change] = []
    for key, value in attributes.items():
        _diff(spec.get(key, _ABSENT), value, (key,), key, out)
    return out


def _diff(
    desired: Any, discovered: Any, parts: tuple[Part, ...], field: str, out: list[Change]
) -> None:
    if desired is not _ABSENT and desired == discovered and type(desired) is type(discovered):
        return
    if isinstance(discovered, Mapping):
        if not isinstance(desired, Mapping):
            out.append(Change(parts, _none(desired), discovered))
            return
        for key, value in discovered.items():
            _diff(desired.get(key, _ABSENT), value, (*parts, key), key, out)
        return
    if isinstance(discovered, list):
        if not isinstance(desired, list):
            out.append(Change(parts, _none(desired), discovered))
        elif all(isinstance(v, Mapping) for v in (*desired, *discovered)):
            _diff_records(desired, discovered, parts, out)
        elif not _same_set(desired, discovered):
            out.append(Change(parts, desired, discovered))
        return
    if desired is _ABSENT:
        out.append(Change(parts, None, normalise.reported(field, discovered, None)))
    elif not normalise.equivalent(field, desired, discovered):
        out.append(Change(parts, desired, normalise.reported(field, discovered, desired)))


def _none(value: Any) -> Any:
    return None if value is _ABSENT else value


def _same_set(desired: list[Any], discovered: list[Any]) -> bool:
    def key(values: list[Any]) -> list[str]:
        return sorted(normalise.mac(v) if isinstance(v, str) else repr(v) for v in values)

    return key(desired) == key(discovered)


def record_key(
    desired: Sequence[Mapping[str, Any]], discovered: Sequence[Mapping[str, Any]]
) -> str | None:
    """The field list items are paired by: name, else mac, else none (by position)."""
    both = (*desired, *discovered)
    for key in ("name", "mac"):
        if all(isinstance(item.get(key), str) for item in both):
            return key
    return None


def _key_value(key: str, item: Mapping[str, Any]) -> str:
    value = str(item[key])
    return normalise.mac(value) if key == "mac" else value


def _diff_records(
    desired: list[Mapping[str, Any]],
    discovered: list[Mapping[str, Any]],
    parts: tuple[Part, ...],
    out: list[Change],
) -> None:
    key = record_key(desired, discovered)
    if key is None:
        pairs = [(i, i) for i in range(min(len(desired), len(discovered)))]
        added = list(range(len(desired), len(discovered)))
        gone = list(range(len(discovered), len(desired)))
    else:
        where = {_key_value(key, item): i for i, item in enumerate(desired)}
        pairs, added = [], []
        for j, item in enumerate(discovered):
            i = where.pop(_key_value(key, item), None)
            if i is None:
                added.append(j)
            else:
                pairs.append((i, j))
        gone = sorted(where.values())
    for i, j in pairs:
        _diff(desired[i], discovered[j], (*parts, i), str(parts[-1]), out)
    for n, j in enumerate(added):
        out.append(Change((*parts, len(desired) + n), None, discovered[j], "add"))
    for i in gone:
        out.append(Change((*parts, i), desired[i], None, "remove"))
