"""Field-level differences between two versions of a document, as JSON pointers.

Lists are compared item by item (a CI's disks, an SLA's windows): what users read in a
review is "/spec/disks/1/sizeGb: 500 → 1000", not a set difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cmdbctl.findings import pointer

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str  # JSON pointer
    old: Any  # None when the field was added
    new: Any  # None when the field was removed

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


def diff(old: Any, new: Any) -> list[FieldChange]:
    out: list[FieldChange] = []
    _diff(old, new, [], out)
    return out


def _diff(old: Any, new: Any, at: list[str | int], out: list[FieldChange]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            _diff(old.get(key, _MISSING), new.get(key, _MISSING), [*at, key], out)
    elif isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            _diff(
                old[i] if i < len(old) else _MISSING,
                new[i] if i < len(new) else _MISSING,
                [*at, i],
                out,
            )
    elif old is _MISSING and new is _MISSING:
        return
    elif old != new or type(old) is not type(new):
        out.append(
            FieldChange(
                pointer(at), None if old is _MISSING else old, None if new is _MISSING else new
            )
        )
