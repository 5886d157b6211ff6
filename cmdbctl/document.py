"""The envelope every document shares, and the index entry estate-wide checks read.

`Document` wraps a file's plain data (apiVersion, kind, metadata, spec) without copying
it; `Entry` is the little that cross-document checks need (id, kind, references), small
enough to keep for 10^6 documents and to cache by blob id. A file that holds no readable
document has an entry too (`Entry.unread`): the id of its file name, no kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

from cmdbctl.findings import pointer
from cmdbctl.kinds import KindRegistry
from cmdbctl.workspace import file_id


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


# Entries and references are named tuples, not dataclasses: there are 10^5 to 10^6 of
# them, sent back from worker processes and read from the cache, and tuples are several
# times cheaper to build, pickle and unpickle.
class Reference(NamedTuple):
    pointer: str
    target: str
    field: int  # index into the referring kind's `refs`


class Entry(NamedTuple):
    path: str
    id: str | None
    kind: str | None
    # pointer, target, field, pointer, target, field, ...: flat, so that a warm run
    # rebuilds 10^5 entries from the cache without one tuple per reference.
    refs: tuple[str | int, ...] = ()

    def references(self) -> Iterator[Reference]:
        refs = iter(self.refs)
        return map(_reference, zip(refs, refs, refs))

    def targets(self) -> tuple[str, ...]:
        return self.refs[1::3]  # type: ignore[return-value]

    @classmethod
    def of(cls, doc: Document, kinds: KindRegistry) -> Entry:
        kind = kinds.kinds.get(doc.kind or "")
        refs: list[str | int] = []
        if kind is not None:
            history = _finished(doc)
            for index, field in enumerate(kind.refs):
                if not (history and field.path[:2] == ("spec", "targets")):
                    _collect(doc.data, field.path, 0, "", index, refs)
        return cls(doc.path, doc.id, doc.kind, tuple(refs))

    @staticmethod
    def unread(path: str) -> UnreadEntry:
        """The entry of a file that holds no readable document (it does not parse, is
        empty, binary, not a mapping, cannot be read): it still claims the id its file
        name gives, as the gate counts a CI by its file, so references to it are not
        `ref.dangling` as well (one broken file, one finding). Its kind is unknown
        (None): references to it are not judged for kind."""
        return UnreadEntry(path, file_id(path), None)


class UnreadEntry(Entry):
    """`Entry.unread`: its id comes from the path, not from the bytes, so a verdict keeps
    it as "no document" (`isinstance`) and gives it the path it is read at again."""

    __slots__ = ()


# A change request carried out or rolled back is a record: its targets name CIs as they
# were, and a CI it added and a rollback removed, or one it retired by deleting, is
# gone. Its targets were checked while it was open; they are history now.
_FINISHED = ("implemented", "reviewed", "closed", "rolled-back")


def _finished(doc: Document) -> bool:
    return doc.kind == "ChangeRequest" and doc.spec.get("status") in _FINISHED


def _collect(
    node: Any, path: tuple[str, ...], i: int, at: str, field: int, out: list[str | int]
) -> None:
    """Append the string values at `path` ("*" = every item) below `node`.

    Runs for every reference of every document, so the JSON pointer is built as it
    goes rather than from a list of parts at the end.
    """
    while i < len(path):
        head = path[i]
        if head == "*":
            if isinstance(node, list):
                for n, item in enumerate(node):
                    _collect(item, path, i + 1, f"{at}/{n}", field, out)
            elif isinstance(node, dict):
                for key, item in node.items():
                    _collect(item, path, i + 1, at + _token(key), field, out)
            return
        if not isinstance(node, dict) or head not in node:
            return
        node = node[head]
        at += _token(head)
        i += 1
    if isinstance(node, str):
        out += (at, node, field)


# Reference._make is a Python-level call; this builds the same tuple in C.
_reference = partial(tuple.__new__, Reference)


def _token(key: Any) -> str:
    key = str(key)
    return "/" + key if "~" not in key and "/" not in key else pointer((key,))
