"""Which column of an export feeds which identifier or spec field, and turning its text
into the type the kind's schema asks for.

`--map FIELD=COLUMN` (repeatable) names the column for a field:
- `identifiers.NAME` an identifier only (`identifiers.serial=Serial No`);
- `attributes.PATH` a spec field only, dotted (`attributes.os.name=OS`);
- `PATH` alone: the identifier of that name (serial, fqdn, hostname, macs) and the spec
  field of that name, whichever exist (`serial=Serial No` feeds both).
A column named like a field (`serial`, `hostname`, `memoryMb`, `os.name`, any case) is
mapped so without being asked; other columns are ignored, with a warning naming them.
An empty cell (or null) is a value the export does not know, never an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cmdbctl.discovery.snapshot import LIST_IDENTIFIERS, STRING_IDENTIFIERS
from cmdbctl.discovery.spectypes import SpecTypes
from cmdbctl.discovery.tabular import Row, Table
from cmdbctl.discovery.values import beyond_64_bits, unfit
from cmdbctl.errors import CommandError

IDENTIFIERS = (*STRING_IDENTIFIERS, *LIST_IDENTIFIERS)
_SPLIT = re.compile(r"[,;\s]+")  # a list in one cell: "a, b; c d"
_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})
_WHOLE = re.compile(r"[+-]?[0-9]+")
_UNFIT_HINT = (
    "fix the export: a snapshot holds 64-bit integers, finite numbers, nesting 128 deep at most"
)


@dataclass(frozen=True)
class Target:
    section: str  # "identifiers" or "attributes"
    path: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join((self.section, *self.path))


@dataclass(frozen=True)
class ColumnMap:
    """Column → the fields it feeds; and the columns nobody maps."""

    targets: dict[str, list[Target]]
    ignored: list[str]


def column_map(entries: Sequence[str], table: Table, spec: SpecTypes) -> ColumnMap:
    """The mapping `--map` entries give, completed by columns named like fields."""
    targets: dict[str, list[Target]] = {}
    fed: dict[Target, str] = {}
    for entry in entries:
        field, sep, column = entry.partition("=")
        field, column = field.strip(), column.strip()
        if not sep or not field or not column:
            raise CommandError(
                f"--map {entry!r}: write FIELD=COLUMN",
                "e.g. --map 'identifiers.serial=Serial No' --map 'attributes.os.name=OS'",
            )
        if column not in table.columns and not any(
            _cell(row.values, column) is not None for row in table.rows
        ):
            shown = ", ".join(repr(c) for c in table.columns[:20]) or "none"
            raise CommandError(
                f"--map {entry!r}: {table.path} has no column {column!r}",
                f"its columns: {shown}",
            )
        for target in _targets(field, spec, strict=True, entry=entry):
            if target in fed:
                raise CommandError(
                    f"--map {entry!r}: {target} is already fed by column {fed[target]!r}"
                )
            fed[target] = column
            targets.setdefault(column, []).append(target)
    ignored = []
    for column in table.columns:
        if column in targets:
            continue
        free = [t for t in _targets(column, spec, strict=False) if t not in fed]
        if free:
            targets[column] = free
            fed.update(dict.fromkeys(free, column))
        elif column not in ("kind", "identifiers", "attributes"):
            ignored.append(column)
    return ColumnMap(targets, ignored)


def _targets(field: str, spec: SpecTypes, strict: bool, entry: str = "") -> list[Target]:
    """The fields `field` names; strict: an explicit --map entry (exit 2 when it names
    nothing), else a column's name (matched in any case, nothing when nothing fits)."""
    section, _, rest = field.partition(".")
    if section in ("identifiers", "attributes") and rest:
        if section == "identifiers":
            return [Target("identifiers", (rest,))]
        path = _spec_path(rest, spec, strict)
        if path is None:
            if strict:
                raise _not_a_field(entry, rest, spec)
            return []
        return [Target("attributes", path)]
    found = []
    identifier = next(
        (i for i in IDENTIFIERS if i == field or (not strict and i.lower() == field.lower())), None
    )
    if identifier is not None:
        found.append(Target("identifiers", (identifier,)))
    path = _spec_path(field, spec, strict)
    if path is not None:
        found.append(Target("attributes", path))
    if not found and strict:
        raise _not_a_field(entry, field, spec)
    return found


def _spec_path(path: str, spec: SpecTypes, strict: bool) -> tuple[str, ...] | None:
    if path in spec.fields:
        return spec.fields[path].path
    if not strict:
        for known, field in spec.fields.items():
            if known.lower() == path.lower():
                return field.path
    return None


def _not_a_field(entry: str, path: str, spec: SpecTypes) -> CommandError:
    return CommandError(
        f"--map {entry!r}: {path!r} is no identifier and no spec field of {spec.kind}",
        f"identifiers: {', '.join(IDENTIFIERS)}, or any identifiers.NAME; "
        f"{spec.kind} fields: {', '.join(sorted(spec.fields))}",
    )


def row_item(row: Row, mapping: ColumnMap, spec: SpecTypes, path: str) -> dict[str, Any]:
    """One row as a snapshot item (its identifiers may be empty: the caller decides)."""
    kind = row.values.get("kind")
    if kind not in (None, "", spec.kind):
        raise CommandError(
            f"--input {path}: {row.where}: column 'kind' is {kind!r}, not {spec.kind}",
            "export one kind at a time, each with its --kind",
        )
    sections: dict[str, dict[str, Any]] = {"identifiers": {}, "attributes": {}}
    for section in sections:  # records already shaped as snapshot items
        given = row.values.get(section)
        if isinstance(given, dict):
            for key, value in given.items():
                for target in _targets(f"{section}.{key}", spec, strict=False):
                    _put(sections, target, value, row, f"{section}.{key}", spec, path)
    for column, targets in mapping.targets.items():
        value = _cell(row.values, column)
        for target in targets:
            _put(sections, target, value, row, column, spec, path)
    return {"kind": spec.kind, **sections}


def _cell(values: dict[str, Any], column: str) -> Any:
    if column in values:
        return values[column]
    node: Any = values  # a dotted name reaches into nested records
    for part in column.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _put(
    sections: dict[str, dict[str, Any]],
    target: Target,
    value: Any,
    row: Row,
    column: str,
    spec: SpecTypes,
    path: str,
) -> None:
    if _empty(value):
        return
    where = f"--input {path}: {row.where}, column {column!r}"
    if target.section == "identifiers":
        typed = _identifier(target.path[0], value, where)
    else:
        typed = _typed(value, ".".join(target.path), spec, where)
    misfit = unfit(typed)  # kept as given where the schema says nothing, so checked here
    if misfit is not None:
        inside, problem = misfit
        raise CommandError(f"{where}: {target}{inside}: {problem}", _UNFIT_HINT)
    node = sections[target.section]
    for part in target.path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise CommandError(f"{where}: {target} is inside {part}, which another column set")
        node = child
    node[target.path[-1]] = typed


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _identifier(name: str, value: Any, where: str) -> Any:
    if name in LIST_IDENTIFIERS or isinstance(value, list):
        items = _SPLIT.split(value.strip()) if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
            raise CommandError(f"{where}: identifier {name} must be text or a list of text")
        return items
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise CommandError(f"{where}: identifier {name} must be text, not {type(value).__name__}")
    return str(value).strip()


def _typed(value: Any, dotted: str, spec: SpecTypes, where: str) -> Any:
    """`value` as the schema types the field at `dotted` (kept as given where unknown)."""
    field = spec.nested.get(dotted)
    types = field.types if field is not None else frozenset()
    if not types:
        return value
    if isinstance(value, dict):
        if "object" not in types:
            raise _misfit(where, dotted, value, types)
        return _fields(value, dotted, spec, where)
    if "array" in types:
        items = _SPLIT.split(value.strip()) if isinstance(value, str) else value
        if not isinstance(items, list):
            raise _misfit(where, dotted, value, types)
        assert field is not None
        if "object" in field.item_types:  # disks: [{name, sizeGb}], typed field by field
            return [_fields(v, f"{dotted}[]", spec, where) for v in items]
        return [_scalar(v, field.item_types, where, dotted) for v in items]
    if "object" in types:
        raise CommandError(
            f"{where}: {dotted} is an object, not one value",
            f"map its fields instead, e.g. --map attributes.{dotted}.FIELD=COLUMN",
        )
    return _scalar(value, types, where, dotted)


def _fields(value: Any, dotted: str, spec: SpecTypes, where: str) -> dict[str, Any]:
    """An object's fields, each typed as the schema says."""
    if not isinstance(value, dict):
        raise _misfit(where, dotted, value, frozenset({"object"}))
    return {k: _typed(v, f"{dotted}.{k}", spec, where) for k, v in value.items() if not _empty(v)}


def _scalar(value: Any, types: frozenset[str], where: str, dotted: str) -> Any:
    if not types or isinstance(value, dict | list):
        return value
    text = value.strip() if isinstance(value, str) else None
    if "integer" in types:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if text is not None and _WHOLE.fullmatch(text):
            if _in_64_bits(text):
                return int(text)
            if "string" not in types:
                raise _beyond(where, dotted, text)
    if "number" in types:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if text is not None:
            try:
                number = float(text)
            except ValueError:
                pass
            else:
                if not _WHOLE.fullmatch(text):
                    return number
                if _in_64_bits(text):
                    return int(text)
                if "string" not in types:
                    raise _beyond(where, dotted, text)
    if "boolean" in types:
        if isinstance(value, bool):
            return value
        if text is not None and text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
    if "string" in types:
        if text is not None:
            return text
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # `version: 12` in YAML: the digits the export meant
    raise _misfit(where, dotted, value, types)


def _in_64_bits(digits: str) -> bool:
    """Whether a cell's digits are a signed 64-bit integer (more than 19 of them never
    are, and `int` refuses more than 4300)."""
    return len(digits.lstrip("+-").lstrip("0")) <= 19 and -(2**63) <= int(digits) < 2**63


def _beyond(where: str, dotted: str, digits: str) -> CommandError:
    return CommandError(f"{where}: attributes.{dotted}: {beyond_64_bits(digits)}", _UNFIT_HINT)


def _misfit(where: str, dotted: str, value: Any, types: frozenset[str]) -> CommandError:
    wanted = " or ".join(sorted(types))
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return CommandError(
        f"{where}: {shown} does not fit {dotted}, which is {'an' if wanted[0] in 'aeiou' else 'a'} {wanted}",
        "fix the export, or map another column with --map",
    )
