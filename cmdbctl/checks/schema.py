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

# What each JSON Schema keyword (draft 2020-12) refuses. A finding's code is
# `schema.<keyword>` in kebab case (`keyword_code`); every keyword the validator knows is
# here, which tests/test_codes.py checks against jsonschema's Draft202012Validator.
KEYWORDS: dict[str, str] = {
    "$dynamicRef": "a value fails the schema a $dynamicRef resolves to",
    "$ref": "a value fails the schema a $ref names",
    "additionalProperties": "a field the kind's schema does not allow, often a misspelt one "
    "(the hint names the closest allowed field)",
    "allOf": "a value fails one of the schemas it must all match (allOf)",
    "anyOf": "a value matches none of the alternatives its schema allows (anyOf); the "
    "finding explains the closest one",
    "const": "a value differs from the one value its field allows (const), e.g. apiVersion",
    "contains": "a list holds too few or too many items of the kind its schema asks for "
    "(contains, minContains, maxContains)",
    "dependentRequired": "a field is present without another field that must come with it "
    "(dependentRequired)",
    "dependentSchemas": "a field is present and its mapping fails the schema that field "
    "brings in (dependentSchemas)",
    "enum": "a value is not one of those its field allows (enum), e.g. a misspelt status",
    "exclusiveMaximum": "a number is not below its field's exclusive maximum",
    "exclusiveMinimum": "a number is not above its field's exclusive minimum",
    "format": "a string is not in its field's format (date-time, email, uri, ...)",
    "if": "a value fails the then or else branch its schema's if/then/else selects",
    "items": "an item of a list fails the schema of the list's items",
    "maxItems": "a list has more items than its field allows",
    "maxLength": "a string is longer than its field allows",
    "maxProperties": "a mapping has more fields than its schema allows",
    "maximum": "a number is greater than its field's maximum",
    "minItems": "a list has fewer items than its field needs (often an empty list)",
    "minLength": "a string is shorter than its field needs (often an empty one)",
    "minProperties": "a mapping has fewer fields than its schema needs (often an empty one)",
    "minimum": "a number is less than its field's minimum",
    "multipleOf": "a number is not a multiple of the step its field requires (multipleOf)",
    "not": "a value matches a schema it must not match (not)",
    "oneOf": "a value matches none, or several, of the alternatives of which it must match "
    "exactly one (oneOf); the finding explains the closest one",
    "pattern": "a string does not match its field's pattern, e.g. an id with capitals or "
    "spaces, or a date written another way",
    "patternProperties": "a field whose name matches a pattern fails that pattern's schema",
    "prefixItems": "a list's leading items fail the schemas given for them position by "
    "position (prefixItems)",
    "properties": "a field fails the schema its name is given (properties)",
    "propertyNames": "a field's name is not one its schema allows (propertyNames)",
    "required": "a field the kind's schema requires is missing",
    "type": "a value has the wrong type: text where a number is due, a list where a "
    "mapping is due, ...",
    "unevaluatedItems": "a list has items no part of its schema accounts for (unevaluatedItems)",
    "unevaluatedProperties": "a mapping has fields no part of its schema accounts for "
    "(unevaluatedProperties), often a misspelt one",
    "uniqueItems": "a list holds the same item twice where its items must be unique",
}
# An unknown field is named one by one (`_explain`): one finding per field.
_KEYWORD_CODES = {"additionalProperties": "schema.additional-property"}


def keyword_code(keyword: str) -> str:
    """The code of a finding for a JSON Schema keyword: `schema.` and the keyword in
    kebab case without `$` (`maxLength`: `schema.max-length`, `$ref`: `schema.ref`)."""
    return (
        _KEYWORD_CODES.get(keyword)
        or "schema." + re.sub(r"(?<!^)(?=[A-Z])", "-", keyword.lstrip("$")).lower()
    )


CODES: dict[str, str] = {
    "document.kind": "the document has no kind, a kind that is not a name, or a kind no "
    "schema in schemas/ defines (properties.kind.const)",
    "schema.invalid": "a schema file is not a valid JSON Schema (draft 2020-12), or a "
    "document fails its kind's schema in a way no single keyword explains",
    **{
        keyword_code(k): f"{description} (JSON Schema keyword {k})"
        for k, description in KEYWORDS.items()
    },
}


def check(doc: Document, kinds: KindRegistry) -> list[Finding]:
    kind = doc.data.get("kind")
    if not isinstance(kind, str) or kind not in kinds.kinds:  # a list is not even hashable
        return [_kind_finding(doc, kinds, kind)]
    if kinds.is_valid(kind, doc.data):
        return []
    findings = [f for e in kinds.errors(kind, doc.data) for f in _explain(doc.path, e)]
    return findings or [
        Finding(doc.path, "schema.invalid", f"document does not match the {kind} schema")
    ]


def _kind_finding(doc: Document, kinds: KindRegistry, kind: Any) -> Finding:
    known = sorted(kinds.kinds)
    if kind is None:
        return Finding(
            doc.path,
            "document.kind",
            "document has no kind",
            hint=f"add `kind:` with one of: {', '.join(known)}",
        )
    if not isinstance(kind, str):
        return Finding(
            doc.path,
            "document.kind",
            f"kind must be one kind name, not a {_yaml_type(kind)}",
            pointer="/kind",
            hint=f"write `kind:` with one of: {', '.join(known)}",
        )
    close = difflib.get_close_matches(str(kind), known, n=1)
    hint = f"did you mean {close[0]}?" if close else f"known kinds: {', '.join(known)}"
    if kinds.unnamed:  # the schema meant for it may be one that names no kind
        names = "s" if len(kinds.unnamed) == 1 else ""
        hint += f"; {' and '.join(kinds.unnamed)} name{names} no kind (schema.kind-missing)"
    return Finding(
        doc.path,
        "document.kind",
        f"unknown kind {kind!r}: no schema in {kinds.origin} defines it",
        pointer="/kind",
        hint=hint,
    )


def _yaml_type(value: Any) -> str:
    names: dict[type, str] = {
        dict: "mapping",
        list: "sequence",
        bool: "boolean",
        int: "number",
        float: "number",
    }
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
                path,
                "schema.additional-property",
                f"unknown field {key!r} in {where}",
                pointer=pointer([*at, key]),
                hint=(f"did you mean {close[0]!r}? " if close else "")
                + (f"allowed: {', '.join(allowed)}" if allowed else "")
                + "; or add the field to the schema",
            )
        return
    if keyword == "required" and isinstance(error.instance, dict):
        missing = [r for r in error.validator_value if r not in error.instance]
        for name in missing:
            yield Finding(
                path,
                "schema.required",
                f"{where} is missing required field {name!r}",
                pointer=pointer(at),
                hint=hint,
            )
        return
    yield Finding(
        path, keyword_code(keyword), f"{where}: {error.message}", pointer=pointer(at), hint=hint
    )
