"""Schema check: the document against the JSON Schema of its kind.

Codes: `document.kind` (no or unknown kind), `schema.<keyword>` (e.g. `schema.enum`,
`schema.required`, `schema.additional-property`, `schema.pattern`, `schema.type`).
The fast validator decides; only an invalid document is explained, at each offending
node, with oneOf/anyOf narrowed to the branch that came closest.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from cmdbctl.document import Document
from cmdbctl.findings import Finding, pointer
from cmdbctl.kinds import KindRegistry

if TYPE_CHECKING:
    import jsonschema


def check(doc: Document, kinds: KindRegistry) -> list[Finding]:
    kind = doc.data.get("kind")
    if not isinstance(kind, str) or kind not in kinds.kinds:  # a list is not even hashable
        return [_kind_finding(doc, kinds, kind)]
    if kinds.is_valid(kind, doc.data):
        return []
    findings = [f for e in kinds.errors(kind, doc.data) for f in _explain(doc.path, e)]
    return findings or [Finding(doc.path, "schema.invalid",
                                f"document does not match the {kind} schema")]


def _kind_finding(doc: Document, kinds: KindRegistry, kind: Any) -> Finding:
    known = sorted(kinds.kinds)
    if kind is None:
        return Finding(doc.path, "document.kind", "document has no kind",
                       hint=f"add `kind:` with one of: {', '.join(known)}")
    if not isinstance(kind, str):
        return Finding(doc.path, "document.kind",
                       f"kind must be one kind name, not a {_yaml_type(kind)}", pointer="/kind",
                       hint=f"write `kind:` with one of: {', '.join(known)}")
    close = difflib.get_close_matches(str(kind), known, n=1)
    hint = f"did you mean {close[0]}?" if close else f"known kinds: {', '.join(known)}"
    if kinds.unnamed:  # the schema meant for it may be one that names no kind
        names = "s" if len(kinds.unnamed) == 1 else ""
        hint += f"; {' and '.join(kinds.unnamed)} name{names} no kind (schema.kind-missing)"
    return Finding(doc.path, "document.kind",
                   f"unknown kind {kind!r}: no schema in {kinds.origin} defines it",
                   pointer="/kind", hint=hint)


def _yaml_type(value: Any) -> str:
    names: dict[type, str] = {dict: "mapping", list: "sequence", bool: "boolean",
                              int: "number", float: "number"}
    return names.get(type(value), type(value).__name__)


def _explain(path: str, error: jsonschema.ValidationError) -> Iterator[Finding]:
    at = list(error.absolute_path)
    where = ".".join(str(p) for p in at) or "document"
    keyword = str(error.validator)
    hint = error.schema.get("description") if isinstance(error.schema, dict) else None
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        for key in error.instance:
            if key in allowed or any(re.search(p, key) for p in patterns):
                continue
            close = difflib.get_close_matches(key, allowed, n=1)
            yield Finding(
                path, "schema.additional-property",
                f"unknown field {key!r} in {where}",
                pointer=pointer([*at, key]),
                hint=(f"did you mean {close[0]!r}? " if close else "")
                + (f"allowed: {', '.join(allowed)}" if allowed else "")
                + "; or add the field to the schema")
        return
    if keyword == "required" and isinstance(error.instance, dict):
        missing = [r for r in error.validator_value if r not in error.instance]
        for name in missing:
            yield Finding(path, "schema.required", f"{where} is missing required field {name!r}",
                          pointer=pointer(at), hint=hint)
        return
    code = "schema." + re.sub(r"(?<!^)(?=[A-Z])", "-", keyword).lower()
    yield Finding(path, code, f"{where}: {error.message}", pointer=pointer(at), hint=hint)
