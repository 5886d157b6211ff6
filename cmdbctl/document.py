"""The envelope every document shares, and the index entry estate-wide checks read.

`Document` wraps a file's plain data (apiVersion, kind, metadata, spec) without copying
it; `Entry` is the little that cross-document checks need (id, kind, references), small
enough to keep for 10^6 documents and to cache by blob id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from cmdbctl.findings import pointer
from cmdbctl.kinds import KindRegistry, RefField


@dataclass(frozen=True, slots=True)
class Document:
    path: str
    data: dict[str, Any]

    @property
    def kind(self) -> str | None:
        kind = self.data.get("kind")
        return kind if isinstance(kind, str) else None

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.data.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def id(self) -> str | None:
        value = self.metadata.get("id")
        return value if isinstance(value, str) else None

    @property
    def name(self) -> str | None:
        value = self.metadata.get("name")
        return value if isinstance(value, str) else None

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.data.get("spec")
        return spec if isinstance(spec, dict) else {}


@dataclass(frozen=True, slots=True)
class Reference:
    pointer: str
    target: str
    field: int  # index into the referring kind's `refs`


@dataclass(frozen=True, slots=True)
class Entry:
    path: str
    id: str | None
    kind: str | None
    refs: tuple[Reference, ...] = ()

    @classmethod
    def of(cls, doc: Document, kinds: KindRegistry) -> Entry:
        kind = kinds.kinds.get(doc.kind or "")
        refs: tuple[Reference, ...] = ()
        if kind is not None:
            refs = tuple(
                Reference(pointer(at), value, index)
                for index, field in enumerate(kind.refs)
                for at, value in _values(doc.data, field.path, [])
                if isinstance(value, str))
        return cls(doc.path, doc.id, doc.kind, refs)

    def moved_to(self, path: str) -> Entry:
        return replace(self, path=path)


def _values(node: Any, path: tuple[str, ...], at: list[str | int]) -> Iterator[
        tuple[list[str | int], Any]]:
    if not path:
        yield at, node
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from _values(item, rest, [*at, i])
        elif isinstance(node, dict):
            for key, item in node.items():
                yield from _values(item, rest, [*at, key])
    elif isinstance(node, dict) and head in node:
        yield from _values(node[head], rest, [*at, head])


def ref_field(kinds: KindRegistry, entry: Entry, ref: Reference) -> RefField:
    return kinds.kinds[entry.kind or ""].refs[ref.field]
