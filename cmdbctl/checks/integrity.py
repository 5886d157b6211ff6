"""Integrity check across the estate: unique ids, file names, references.

Codes: `id.duplicate`, `id.file-name`, `ref.dangling` (no document has the id),
`ref.kind` (the id names a document of a kind the field does not allow). Reference
fields are whatever the schemas mark with `x-cmdb-ref`. A file that holds no readable
document still claims the id of its file name (`Entry.unread`, kind None): a reference
to it is not dangling, and not judged for kind; its own finding says what is wrong.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from cmdbctl.document import Entry
from cmdbctl.findings import Finding
from cmdbctl.kinds import KindRegistry
from cmdbctl.workspace import file_id

# Suggestions cost a scan of every id; past this many dangling references, skip them.
_MAX_SUGGESTIONS = 50

CODES: dict[str, str] = {
    "id.duplicate": "another file holds the same id: ids are unique across the repository, "
    "one file per id, and never reused",
    "id.file-name": "metadata.id differs from the file's name: a document's file is named "
    "<id>.yaml, and the file name is the CI's identity",
    "ref.dangling": "a reference field (x-cmdb-ref in the schema) names an id no document has",
    "ref.kind": "a reference field names a document of a kind the field does not allow",
}


def check(
    entries: Sequence[Entry],
    kinds: KindRegistry,
    only: Sequence[Entry] | None = None,
    all_ids: Callable[[], Iterable[str]] | None = None,
) -> list[Finding]:
    """Findings of `only` (default: every entry), judged against all `entries`.

    An entry's findings depend on nothing but itself and the entries holding its id or
    one of its reference targets, which is what lets `validate` recheck only those;
    "did you mean" hints draw on `all_ids` (default: the ids of `entries`).
    """
    findings: list[Finding] = []
    by_id: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.id is not None:
            by_id[entry.id].append(entry)
    if only is None:
        only = entries
    for entry in only:
        if entry.id is None:
            continue
        if len(by_id[entry.id]) > 1:
            others = [e.path for e in by_id[entry.id] if e is not entry]
            findings.append(
                Finding(
                    entry.path,
                    "id.duplicate",
                    f"id {entry.id!r} is also used by {', '.join(others)}",
                    pointer="/metadata/id",
                    hint="ids are unique across the repository, never reused",
                )
            )
        if file_id(entry.path) != entry.id:
            findings.append(
                Finding(
                    entry.path,
                    "id.file-name",
                    f"file name does not match id {entry.id!r}",
                    pointer="/metadata/id",
                    hint=f"rename the file to {entry.id}.yaml",
                )
            )
    suggestions = 0
    known: list[str] | None = None
    for entry in only:
        if not entry.refs:
            continue
        fields = kinds.kinds[entry.kind or ""].refs
        for ref in entry.references():
            field = fields[ref.field]
            targets = by_id.get(ref.target)
            if not targets:
                hint = None
                if suggestions < _MAX_SUGGESTIONS:
                    suggestions += 1
                    if known is None:
                        known = list(all_ids()) if all_ids else list(by_id)
                    close = difflib.get_close_matches(ref.target, known, n=1)
                    hint = f"did you mean {close[0]!r}?" if close else None
                findings.append(
                    Finding(
                        entry.path,
                        "ref.dangling",
                        f"{ref.target!r} refers to no document (expected {field.describe()})",
                        pointer=ref.pointer,
                        hint=hint,
                    )
                )
                continue
            target = targets[0]
            if target.kind is not None and not kinds.allows(field, target.kind):
                findings.append(
                    Finding(
                        entry.path,
                        "ref.kind",
                        f"{ref.target!r} is a {target.kind}, but this field refers to "
                        f"{field.describe()}",
                        pointer=ref.pointer,
                    )
                )
    return findings
