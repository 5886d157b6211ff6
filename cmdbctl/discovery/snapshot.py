"""The discovery snapshot: what a source found, as `cmdbctl discover` writes it and
`cmdbctl diff` reads it (the format is in FORMATS.md, "Discovery snapshot").

A snapshot is JSON (or YAML) of this shape:

    {"source": "ansible", "discoveredAt": "2026-11-22T08:00:00Z",
     "items": [{"kind": "Server",
                "identifiers": {"serial": "CZ1234", "hostname": "db-01", "macs": ["..."]},
                "attributes": {"os": {"name": "Debian"}, "memoryMb": 131072}}]}

Required: `source`, `discoveredAt` (ISO 8601 with an offset), `items` (a list, empty when
nothing was found) and, for each item, `kind` and at least one identifier. Anything
missing or mistyped makes the whole snapshot unreadable (exit 2), the message naming the
file, the item and the field: a diff against half a snapshot would report the other half
as missing. Values are kept as the source gave them, but what JSON cannot carry and no
report could write (`values.unfit`: integers beyond 64 bits, NaN, infinities, nesting
deeper than 128 levels) is refused so too, as is a key given twice in one JSON object
(orjson would keep one of the two silently). Identifiers are normalised (case of MACs
and host names) where they are compared, not here. Messages escape control characters
(`printable`): a hostile snapshot's names never reach a terminal as escape sequences.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from cmdbctl.discovery.values import unfit
from cmdbctl.errors import CommandError
from cmdbctl.loading import fast, positions
from cmdbctl.loading.source import position_after
from cmdbctl.printable import printable

# The identifiers identification rules know (FORMATS.md, DiscoveryPolicy); a source may
# add others (an asset tag, a cloud instance id), strings or lists of strings alike.
STRING_IDENTIFIERS = ("serial", "fqdn", "hostname")
LIST_IDENTIFIERS = ("macs",)


class Item(NamedTuple):  # a tuple: 10^5 of them are built per snapshot, in C
    """One thing a source found: its kind, how to recognise it, what it reported."""

    kind: str  # "Server", "NetworkDevice", ...: a kind of the schemas
    identifiers: Mapping[str, Any]  # "serial", "fqdn", "hostname" (str), "macs" (list[str]), ...
    attributes: Mapping[str, Any]  # spec field names of the kind, nested as in the spec
    position: int  # 0-based index in the snapshot's items, for messages

    def label(self) -> str:
        """How messages name the item: "item 3 (Server db-01)"."""
        return f"item {self.position} ({self.kind} {_name(self.identifiers)})"


@dataclass(frozen=True)
class Snapshot:
    source: str  # e.g. "ansible"
    discovered_at: datetime  # timezone-aware
    items: tuple[Item, ...]
    path: str  # the file as the user named it
    digest: str  # "sha256:<hex>" of the bytes read (or written)


def read_snapshot(path: str | os.PathLike[str]) -> Snapshot:
    """Read and check a snapshot file (JSON or YAML); CommandError says what is wrong."""
    name = os.fspath(path)
    try:
        raw = Path(name).read_bytes()
    except FileNotFoundError as exc:
        raise CommandError(
            f"snapshot {name}: no such file", "write one with `cmdbctl discover -o FILE`"
        ) from exc
    except IsADirectoryError as exc:
        raise CommandError(f"snapshot {name}: is a directory, not a snapshot file") from exc
    except OSError as exc:
        raise CommandError(f"snapshot {name}: cannot be read: {exc.strerror or exc}") from exc
    return parse_snapshot(raw, name)


def parse_snapshot(raw: bytes, path: str) -> Snapshot:
    """A snapshot from its bytes; `path` names it in messages."""
    data, is_json = _parse(raw, path)
    # One pass in C over everything first; items get looked at closely only when it
    # finds something (see `_written`).
    strict = _written(data, strict_integers=True)
    written = strict if strict is not None else _written(data, strict_integers=False)
    # Every `"` in the file is a string's quote or an escaped `\\"`, and so is every `"`
    # orjson writes: as many unless an object lost a key it was given twice (or a quote
    # was spelt `\\u0022`). Only then does the standard library's reader look.
    if is_json and (written is None or written.count(b'"') != raw.count(b'"') or b"\\u0022" in raw):
        _refuse_repeated_keys(raw, data, path)
    snapshot = snapshot_from_data(data, path, digest_of(raw))
    if strict is None or (not is_json and b"null" in strict):  # YAML has NaN, orjson not
        misfit = _first_unfit(snapshot.items, nan_possible=not is_json, shallow=written is not None)
        if misfit is not None:
            item, field, problem = misfit
            raise _bad(snapshot.path, item.label(), field, problem, _FIT_HINT)
    return snapshot


def snapshot_bytes(snapshot: Snapshot) -> bytes:
    """Canonical JSON: UTF-8, keys in a stable order, one item per line, a final newline.

    The same snapshot always gives the same bytes, so its digest names its content, and
    `read_snapshot` of them gives the snapshot back (but for `path` and `digest`).
    """
    head = orjson.dumps(
        {"source": snapshot.source, "discoveredAt": format_instant(snapshot.discovered_at)}
    )
    dumps, sort = orjson.dumps, orjson.OPT_SORT_KEYS
    lines = [
        b'{"kind":'
        + dumps(item.kind)
        + b',"identifiers":'
        + dumps(item.identifiers, default=_plain, option=sort)
        + b',"attributes":'
        + dumps(item.attributes, default=_plain, option=sort)
        + b"}"
        for item in snapshot.items
    ]
    body = b",\n".join(lines)
    items = b"[\n" + body + b"\n]" if lines else b"[]"
    return head[:-1] + b',"items":' + items + b"}\n"


def _plain(value: Any) -> Any:
    """What orjson does not write itself: a mapping that is not a dict (a read-only view)."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


def snapshot_from_data(data: Any, path: str, digest: str) -> Snapshot:
    """Check plain data against the format and build the Snapshot; `path` names it."""
    if data is None:
        raise _bad(path, None, "", "is empty", "a snapshot holds source, discoveredAt and items")
    if not isinstance(data, dict):
        raise _bad(path, None, "", f"is {_a(data)}, not a mapping of source, discoveredAt, items")
    source = data.get("source")
    if source is None:
        raise _bad(path, None, "source", "is missing", 'name the tool, e.g. "source": "ansible"')
    if not isinstance(source, str) or not source.strip():
        raise _bad(path, None, "source", f"must be a non-empty string, not {_a(source)}")
    discovered_at = _instant(path, data.get("discoveredAt"))
    items = data.get("items")
    if items is None:
        raise _bad(
            path, None, "items", "is missing", 'a source that found nothing writes "items": []'
        )
    if not isinstance(items, list):
        raise _bad(path, None, "items", f"must be a list, not {_a(items)}")
    return Snapshot(
        source=source,
        discovered_at=discovered_at,
        items=_items(path, items),
        path=path,
        digest=digest,
    )


def format_instant(moment: datetime) -> str:
    """ISO 8601 with its offset; UTC as `Z`."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def digest_of(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _parse(raw: bytes, path: str) -> tuple[Any, bool]:
    """The data, and whether it was JSON."""
    try:
        return orjson.loads(raw), True  # JSON first: what tools write, and fast at 10^5 items
    except orjson.JSONDecodeError as exc:
        json_error = exc
    if path.lower().endswith(".json"):
        raise CommandError(
            f"snapshot {path}: not valid JSON: {json_error}",
            "write a JSON snapshot (or YAML, in a .yaml file)",
        )
    try:
        text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = position_after(raw[: exc.start].decode("utf-8", errors="replace"))
        raise CommandError(
            f"snapshot {path}:{line}:{column}: not UTF-8 text (byte 0x{raw[exc.start]:02x})",
            "a snapshot is JSON or YAML text in UTF-8",
        ) from exc
    if "\x00" in text:
        raise CommandError(f"snapshot {path}: binary (it holds a NUL byte), not JSON or YAML")
    data = fast.parse(text)
    if data is None:
        parsed = positions.parse(path, text)  # safe: tags are refused, never constructed
        if isinstance(parsed, list):
            first = parsed[0]
            raise CommandError(
                f"snapshot {path}:{first.line}:{first.column}: not a readable JSON or YAML "
                f"snapshot: {first.message}",
                first.hint or "a snapshot is plain JSON or YAML data",
            )
        data = parsed.data
    return data, False


# orjson writes 254 levels of nesting at most: wrapped in as many more lists, an item's
# field (the data, its items, an item, then its attributes) reaches that limit where
# it reaches the 128 levels `unfit` allows.
_WRAPPING = 124


def _written(data: Any, strict_integers: bool) -> bytes | None:
    """`data` as orjson writes it nested deeper by as much as its own limit exceeds
    `unfit`'s, or None when it cannot: nesting beyond that, an integer beyond 64 bits (or
    53, `strict_integers`). NaN and the infinities it writes as null."""
    wrapped = data
    for _ in range(_WRAPPING):
        wrapped = [wrapped]
    try:
        return orjson.dumps(wrapped, option=orjson.OPT_STRICT_INTEGER if strict_integers else 0)
    except orjson.JSONEncodeError:
        return None


class DuplicateKey(Exception):
    """A key given twice in one JSON object (`unique_keys` raises it)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An `object_pairs_hook` for `json.loads` that refuses a key given twice."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return found


def _refuse_repeated_keys(raw: bytes, data: Any, path: str) -> None:
    """Refuse a key given twice in one object of the JSON `raw` (orjson, which read it
    into `data`, keeps the last value silently), naming the item holding it."""
    found = _repeated_key(raw.decode("utf-8"))  # orjson read it: UTF-8
    if found is None:
        return
    position, problem, hint = found
    where = None
    if position is not None:
        items = data.get("items") if isinstance(data, dict) else None
        entry = items[position] if isinstance(items, list) and position < len(items) else None
        where = _where(position, entry)
    raise _bad(path, where, "", problem, hint)


_SPACE = re.compile(r"[ \t\n\r]*")


def _repeated_key(text: str) -> tuple[int | None, str, str] | None:
    """What is wrong with `text` (JSON that orjson read) that orjson let pass, or None:
    the item's index (None: outside the items), the problem, a hint.

    A key given twice in one object, or nesting the standard library's reader cannot
    follow. That reader, with `unique_keys`, reads each value of the top-level object
    and each of its items, so a repeated key names its item.
    """
    scan = json.JSONDecoder(object_pairs_hook=unique_keys).raw_decode  # one value at `at`

    def after(at: int, separator: str = "") -> int:  # past white space (and `separator`)
        end = _SPACE.match(text, at)
        at = end.end() if end else at
        return after(at + 1) if separator and text.startswith(separator, at) else at

    position: int | None = None
    try:
        at = after(0)
        if not text.startswith("{", at):
            scan(text, at)
            return None
        at, seen = after(at + 1), set()
        while text.startswith('"', at):
            key, at = scan(text, at)
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
            at = after(at, ":")
            if key == "items" and text.startswith("[", at):
                at, position = after(at + 1), 0
                while not text.startswith("]", at):
                    at = after(scan(text, at)[1], ",")
                    position += 1
                at, position = at + 1, None
            else:
                at = scan(text, at)[1]
            at = after(at, ",")
    except DuplicateKey as exc:
        return (
            position,
            f"key {exc.key!r} appears more than once in one object",
            "keep one of the entries: which value is meant cannot be told",
        )
    except RecursionError:
        return position, "nests too deeply to be read", _FIT_HINT
    except ValueError:  # what orjson reads, json reads: never a crash if not
        return position, "is not JSON the standard library reads", "write plain JSON"
    return None


_FIT_HINT = (
    "a snapshot holds integers within 64 bits, finite numbers, whole characters (UTF-8), "
    "128 levels of nesting"
)


def first_unfit(items: Sequence[Item]) -> tuple[Item, str, str] | None:
    """The first item holding what a snapshot cannot (see `_first_unfit`), with the field
    and the problem, or None: what `discover` checks of an adapter's items, as the
    reader would. One pass in C over all of them first."""
    layout = {
        "items": [
            {"kind": i.kind, "identifiers": i.identifiers, "attributes": i.attributes}
            for i in items
        ]
    }
    strict = _written(layout, strict_integers=True)
    if strict is not None and b"null" not in strict:
        return None
    shallow = strict is not None or _written(layout, strict_integers=False) is not None
    return _first_unfit(items, nan_possible=True, shallow=shallow)


def _first_unfit(
    items: Sequence[Item], nan_possible: bool, shallow: bool
) -> tuple[Item, str, str] | None:
    """The first item in which `values.unfit` finds what JSON cannot carry and the
    reports could not write (an integer beyond 64 bits, NaN or an infinity, nesting
    deeper than 128 levels), with the field and the problem. `shallow`: no item nests
    too deeply, so an item orjson writes within 53-bit integers (and, if NaN is
    possible, without a null) needs no closer look."""
    for item in items:
        values = {"kind": item.kind, "identifiers": item.identifiers, "attributes": item.attributes}
        if shallow:
            try:
                written = orjson.dumps(values, option=orjson.OPT_STRICT_INTEGER)
            except orjson.JSONEncodeError:
                pass
            else:
                if not (nan_possible and b"null" in written):
                    continue
        misfit = unfit(values)
        if misfit is not None:
            field, problem = misfit
            return item, field[1:], problem
    return None


def _instant(path: str, value: Any) -> datetime:
    if value is None:
        raise _bad(
            path,
            None,
            "discoveredAt",
            "is missing",
            'when the source looked, e.g. "2026-11-22T08:00:00Z"',
        )
    if not isinstance(value, str):
        raise _bad(
            path, None, "discoveredAt", f"must be an ISO 8601 instant string, not {_a(value)}"
        )
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _bad(
            path,
            None,
            "discoveredAt",
            f"{value!r} is not an ISO 8601 instant",
            "write it like 2026-11-22T08:00:00Z",
        ) from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _bad(
            path, None, "discoveredAt", f"{value!r} has no UTC offset", "add one, e.g. Z or +08:00"
        )
    return moment


def _items(path: str, entries: list[Any]) -> tuple[Item, ...]:
    # The common case checked in a few C-level tests per item, in one loop (10^5 items
    # read in a fraction of a second); anything unusual goes through `_check_item`,
    # which says what is wrong.
    out: list[Item] = []
    append, new = out.append, tuple.__new__
    strings, lists = frozenset(STRING_IDENTIFIERS), frozenset(LIST_IDENTIFIERS)
    for position, entry in enumerate(entries):
        if type(entry) is dict:
            kind = entry.get("kind")
            identifiers = entry.get("identifiers")
            attributes = entry.get("attributes", {})
            if (
                type(kind) is str
                and type(identifiers) is dict
                and identifiers
                and type(attributes) is dict
                and kind.strip()
            ):
                for key, value in identifiers.items():
                    if type(value) is str:
                        if key in lists or not value.strip():
                            break
                    elif (
                        type(value) is not list
                        or key in strings
                        or not value
                        or not all(type(v) is str and v.strip() for v in value)
                    ):
                        break
                else:
                    append(new(Item, (kind, identifiers, attributes, position)))
                    continue
        _check_item(path, position, entry)
        append(Item(entry["kind"], entry["identifiers"], entry.get("attributes", {}), position))
    return tuple(out)


def _check_item(path: str, position: int, entry: Any) -> None:
    """Raise the error that names what is wrong with an item (or return: it is fine)."""
    where = _where(position, entry)
    if not isinstance(entry, dict):
        raise _bad(
            path, where, "", f"is {_a(entry)}, not a mapping of kind, identifiers, attributes"
        )
    identifiers = entry.get("identifiers")
    kind = entry.get("kind")
    if kind is None:
        raise _bad(path, where, "kind", "is missing", 'the kind of the schemas, e.g. "Server"')
    if not isinstance(kind, str) or not kind.strip():
        raise _bad(path, where, "kind", f"must be a kind name, not {_a(kind)}")
    if identifiers is None:
        raise _bad(path, where, "identifiers", "is missing", _IDENTIFIER_HINT)
    if not isinstance(identifiers, dict):
        raise _bad(path, where, "identifiers", f"must be a mapping, not {_a(identifiers)}")
    if not identifiers:
        raise _bad(path, where, "identifiers", "is empty: an item needs one", _IDENTIFIER_HINT)
    for key, value in identifiers.items():
        _identifier(path, where, key, value)
    attributes = entry.get("attributes", {})
    if not isinstance(attributes, dict):
        raise _bad(path, where, "attributes", f"must be a mapping, not {_a(attributes)}")


def _where(position: int, entry: Any) -> str:
    """How a message names an item not yet checked: by its identifiers when it has them."""
    identifiers = entry.get("identifiers") if isinstance(entry, dict) else None
    if not isinstance(identifiers, dict):
        return f"item {position}"
    return f"item {position} ({entry.get('kind', '?')} {_name(identifiers)})"


_IDENTIFIER_HINT = "give at least one of serial, fqdn, hostname (strings) or macs (a list)"


def _identifier(path: str, where: str, key: str, value: Any) -> None:
    field = f"identifiers.{key}"
    unknown = "omit an identifier the source does not know"
    if isinstance(value, list) and key not in STRING_IDENTIFIERS:
        if not value:
            raise _bad(path, where, field, "is an empty list", unknown)
        for index, element in enumerate(value):
            if not isinstance(element, str) or not element.strip():
                raise _bad(
                    path,
                    where,
                    f"{field}[{index}]",
                    f"must be a non-empty string, not {_a(element)}",
                )
    elif key in LIST_IDENTIFIERS:
        raise _bad(path, where, field, f"must be a list of strings, not {_a(value)}")
    elif isinstance(value, str):
        if not value.strip():
            raise _bad(path, where, field, "is empty", unknown)
    # an asset number may be a number; serial, fqdn and hostname are text
    elif key in STRING_IDENTIFIERS or not isinstance(value, int) or isinstance(value, bool):
        raise _bad(
            path,
            where,
            field,
            f"must be a string, not {_a(value)}",
            unknown if value is None else None,
        )


def _bad(
    path: str, where: str | None, field: str, problem: str, hint: str | None = None
) -> CommandError:
    subject = f"{where}: " if where else ""
    what = f"field {field!r} " if field else ""
    return CommandError(printable(f"snapshot {path}: {subject}{what}{problem}"), hint)


def _a(value: Any) -> str:
    """A value's JSON type as a sentence says it: "a number", "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})" if len(value) <= 40 else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _name(identifiers: Mapping[str, Any]) -> str:
    """The identifier a person knows an item by: host name first, then the others."""
    for key in ("hostname", "fqdn", "serial"):
        value = identifiers.get(key)
        if isinstance(value, str) and value:
            return value
    for value in identifiers.values():
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value and isinstance(value[0], str):
            return value[0]
    return "?"
