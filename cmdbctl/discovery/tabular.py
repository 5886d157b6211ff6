"""Rows of another tool's export: CSV with a header row, JSON or YAML.

JSON and YAML give a list of objects, or an object whose `items` is that list (as
`kubectl get -o json`, NetBox and many APIs answer). Each row knows where it came from,
so a value that does not fit names its row (a CSV line, a list index) and its column.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cmdbctl.discovery.snapshot import DuplicateKey, unique_keys
from cmdbctl.errors import CommandError
from cmdbctl.loading import fast, positions

FORMATS = ("csv", "json", "yaml")
_SUFFIXES = {".csv": "csv", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}


@dataclass(frozen=True)
class Row:
    where: str  # "line 7" (CSV) or "item 3" (JSON, YAML): how messages name the row
    values: dict[str, Any]


@dataclass(frozen=True)
class Table:
    path: str
    rows: list[Row]
    columns: list[str]  # CSV: the header; JSON, YAML: every key some row has, in order


def read_table(path: str, fmt: str | None, delimiter: str) -> Table:
    """The export's rows. `fmt` None: from the file's suffix."""
    chosen = fmt or _SUFFIXES.get(Path(path).suffix.lower())
    if chosen is None:
        raise CommandError(
            f"--input {path}: cannot tell its format from its name",
            "name it .csv, .json or .yaml, or pass --input-format csv|json|yaml",
        )
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise CommandError(f"--input {path}: no such file") from exc
    except OSError as exc:
        raise CommandError(f"--input {path}: cannot be read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")  # spreadsheets save a BOM
    except UnicodeDecodeError as exc:
        raise CommandError(
            f"--input {path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            "export it as UTF-8 (in a spreadsheet: CSV UTF-8)",
        ) from exc
    if chosen == "csv":
        return _csv(path, text, delimiter)
    data = _json(path, raw) if chosen == "json" else _yaml(path, text)
    return _records(path, data)


def _csv(path: str, text: str, delimiter: str) -> Table:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise CommandError(f"--input {path}: empty: a CSV export needs a header row")
        columns = [c.strip() for c in header]
        seen: set[str] = set()
        for column in columns:
            if not column:
                raise CommandError(f"--input {path}: line 1: a column has no name")
            if column in seen:
                raise CommandError(f"--input {path}: line 1: column {column!r} appears twice")
            seen.add(column)
        rows = []
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue  # blank lines end many exports
            if len(cells) != len(columns):
                raise CommandError(
                    f"--input {path}: line {line}: {len(cells)} cells, "
                    f"but the header names {len(columns)} columns",
                    "quote cells that hold the delimiter, or pass --delimiter",
                )
            rows.append(Row(f"line {line}", dict(zip(columns, cells, strict=True))))
    except csv.Error as exc:
        raise CommandError(f"--input {path}: line {reader.line_num}: not valid CSV: {exc}") from exc
    return Table(path, rows, columns)


def _json(path: str, raw: bytes) -> Any:
    try:
        data = orjson.loads(raw)  # strict: no NaN, no number beyond a double, depth bound
    except orjson.JSONDecodeError as exc:
        raise CommandError(f"--input {path}: not valid JSON: {exc}") from exc
    # orjson keeps the last of two equal keys; a second pass, of text orjson read, finds
    # them (YAML exports are refused so by the YAML reader)
    try:
        json.loads(raw, object_pairs_hook=unique_keys)
    except DuplicateKey as exc:
        raise CommandError(
            f"--input {path}: key {exc.key!r} appears more than once in one object",
            "keep one of the entries: which value is meant cannot be told",
        ) from exc
    except RecursionError as exc:
        raise CommandError(f"--input {path}: not valid JSON: it nests too deeply") from exc
    except ValueError as exc:  # what orjson reads, json should too: never a crash if not
        raise CommandError(f"--input {path}: not valid JSON: {exc}") from exc
    return data


def _yaml(path: str, text: str) -> Any:
    data = fast.parse(text)  # a mapping on the fast path; a list goes the safe slow path
    if data is not None:
        return data
    parsed = positions.parse(path, text)  # tags refused, never constructed
    if isinstance(parsed, list):
        first = parsed[0]
        raise CommandError(
            f"--input {path}:{first.line}:{first.column}: {first.message}", first.hint
        )
    return parsed.data


def _records(path: str, data: Any) -> Table:
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        data = data["items"]
    if not isinstance(data, list):
        raise CommandError(
            f"--input {path}: holds no list of records",
            'give a list of objects, or an object with "items": [...]',
        )
    rows = []
    columns: dict[str, None] = {}
    for index, record in enumerate(data):
        if not isinstance(record, dict):
            raise CommandError(f"--input {path}: item {index}: not an object of fields")
        rows.append(Row(f"item {index}", record))
        columns.update(dict.fromkeys(record))
    return Table(path, rows, list(columns))
