"""The registry of checks.

A document check is `check(doc, kinds) -> findings` and runs once per file (in worker
processes, cached by blob id); a sanity check runs only on documents their schema
accepts. An estate check is `check(entries, kinds, only, all_ids) -> findings`; it
reports on the entries in `only` (all when None), and an entry's findings may depend
only on itself and on the entries that hold its id or one of its reference targets
(which `entries` always includes), plus `all_ids()`, every id of the estate: so
`validate` rechecks just the entries an edit could touch.
A new check is a module here plus one line below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from cmdbctl.checks import changes, integrity, schema, slas
from cmdbctl.document import Document, Entry
from cmdbctl.findings import Finding
from cmdbctl.kinds import KindRegistry

DocumentCheck = Callable[[Document, KindRegistry], list[Finding]]
AllIds = Callable[[], Iterable[str]]
EstateCheck = Callable[
    [Sequence[Entry], KindRegistry, Sequence[Entry] | None, AllIds | None], list[Finding]
]

SANITY_CHECKS: tuple[DocumentCheck, ...] = (changes.check, slas.check)
ESTATE_CHECKS: tuple[EstateCheck, ...] = (integrity.check,)


def check_document(doc: Document, kinds: KindRegistry) -> list[Finding]:
    findings = schema.check(doc, kinds)
    if not findings:
        for sanity in SANITY_CHECKS:
            findings.extend(sanity(doc, kinds))
    return findings


def check_estate(
    entries: Sequence[Entry],
    kinds: KindRegistry,
    only: Sequence[Entry] | None = None,
    all_ids: AllIds | None = None,
) -> list[Finding]:
    return [
        f for estate_check in ESTATE_CHECKS for f in estate_check(entries, kinds, only, all_ids)
    ]
