"""The kind registry: which kinds exist, their class, schema and reference fields.

Everything here is read from the JSON Schemas in the repository's `schemas/` (or the
ones shipped in the package when it has none), so a kind or reference field a user adds
to a schema is checked like the built-in ones:
- `properties.kind.const` names the kind a schema applies to;
- `x-cmdb-class` gives its ITSM class (hardware, software, document, service, other,
  or sla, change, person, group, policy);
- `x-cmdb-ref: {kinds: [...]} | {classes: [...]}` marks a field that holds an id.
This module is the one place that imports the JSON Schema validators.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
from referencing import Registry, Resource

from cmdbctl import __version__
from cmdbctl.findings import Finding

SCHEMA_BASE = "https://cmdbctl.invalid/schemas/"
CI_CLASSES = frozenset({"hardware", "software", "document", "service", "other"})
SCHEMA_SUFFIX = ".schema.json"


@dataclass(frozen=True, slots=True)
class RefField:
    """A field that holds ids: its path ("*" = every item) and what it may point at."""

    path: tuple[str, ...]
    kinds: frozenset[str] | None = None
    classes: frozenset[str] | None = None

    def describe(self) -> str:
        allowed = sorted(self.kinds or ()) + sorted(self.classes or ())
        return " or ".join(allowed) if allowed else "any document"


@dataclass(frozen=True)
class Kind:
    name: str
    cls: str
    file: str  # schema file name
    schema: dict[str, Any]
    refs: tuple[RefField, ...]

    @property
    def is_ci(self) -> bool:
        return self.cls in CI_CLASSES


class KindRegistry:
    """All kinds of one schema set, with validators compiled on first use."""

    def __init__(self, files: Mapping[str, bytes], origin: str) -> None:
        self.origin = origin  # "schemas/" or "built-in:"
        self._files = dict(files)
        self.findings: list[Finding] = []
        self.kinds: dict[str, Kind] = {}
        digest = hashlib.sha256(__version__.encode())
        contents: dict[str, dict[str, Any]] = {}
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + files[name] + b"\0")
            schema = self._parse(name, files[name])
            if schema is not None:
                contents[name] = schema
        self.fingerprint = digest.hexdigest()[:16]
        self._contents = contents
        self._registry = Registry().with_resources(
            (SCHEMA_BASE + n, Resource.from_contents(s)) for n, s in contents.items())
        self._rs_registry = jsonschema_rs.Registry(
            [(SCHEMA_BASE + n, s) for n, s in contents.items()])
        self._fast: dict[str, Any] = {}
        self._full: dict[str, jsonschema.protocols.Validator] = {}
        for name, schema in contents.items():
            kind = schema.get("properties", {}).get("kind", {}).get("const")
            if not isinstance(kind, str):
                continue  # a library of $defs such as common.schema.json
            if kind in self.kinds:
                self.findings.append(Finding(
                    f"{origin}{name}", "schema.duplicate-kind",
                    f"kind {kind} is also defined by {self.kinds[kind].file}", line=1, column=1))
                continue
            refs = tuple(dict.fromkeys(self._ref_fields(schema, name, (), frozenset())))
            self.kinds[kind] = Kind(kind, str(schema.get("x-cmdb-class", "other")),
                                    name, schema, refs)

    def __reduce__(self) -> tuple[type[KindRegistry], tuple[dict[str, bytes], str]]:
        # Compiled validators do not pickle; a worker process rebuilds them from the files.
        return (KindRegistry, (self._files, self.origin))

    def _parse(self, name: str, raw: bytes) -> dict[str, Any] | None:
        path = f"{self.origin}{name}"
        try:
            schema = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            line, col = (exc.lineno, exc.colno) if isinstance(exc, json.JSONDecodeError) else (1, 1)
            self.findings.append(Finding(path, "schema.unreadable",
                                         f"schema is not valid JSON: {exc}", line=line, column=col))
            return None
        try:
            if not jsonschema_rs.meta.is_valid(schema):  # fast; python explains a failure
                jsonschema.Draft202012Validator.check_schema(schema)
        except (jsonschema.SchemaError, ValueError) as exc:
            reason = exc.message if isinstance(exc, jsonschema.SchemaError) else str(exc)
            self.findings.append(Finding(
                path, "schema.invalid", f"not a valid JSON Schema (draft 2020-12): {reason}",
                line=1, column=1))
            return None
        return schema if isinstance(schema, dict) else None

    def _resolve(self, ref: str, current: str) -> tuple[Any, str]:
        file, _, fragment = ref.partition("#")
        file = file or current
        node: Any = self._contents.get(file, {})
        for token in [t for t in fragment.split("/") if t]:
            node = node.get(token.replace("~1", "/").replace("~0", "~"), {}) \
                if isinstance(node, dict) else {}
        return node, file

    def _ref_fields(self, schema: Any, file: str, path: tuple[str, ...],
                    seen: frozenset[str]) -> Iterator[RefField]:
        if not isinstance(schema, dict):
            return
        mark = schema.get("x-cmdb-ref")
        if isinstance(mark, dict):
            kinds, classes = mark.get("kinds"), mark.get("classes")
            yield RefField(path, frozenset(kinds) if kinds else None,
                           frozenset(classes) if classes else None)
        ref = schema.get("$ref")
        if isinstance(ref, str) and f"{file}{ref}" not in seen:
            target, target_file = self._resolve(ref, file)
            yield from self._ref_fields(target, target_file, path, seen | {f"{file}{ref}"})
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(key, ()):
                yield from self._ref_fields(sub, file, path, seen)
        for name, sub in schema.get("properties", {}).items():
            yield from self._ref_fields(sub, file, (*path, name), seen)
        for key in ("items", "additionalProperties"):
            yield from self._ref_fields(schema.get(key), file, (*path, "*"), seen)
        for sub in schema.get("patternProperties", {}).values():
            yield from self._ref_fields(sub, file, (*path, "*"), seen)

    def allows(self, field: RefField, target_kind: str) -> bool:
        if field.kinds is not None and target_kind in field.kinds:
            return True
        if field.classes is not None and target_kind in self.kinds:
            return self.kinds[target_kind].cls in field.classes
        return field.kinds is None and field.classes is None

    def is_valid(self, kind: str, data: Any) -> bool:
        """The fast verdict (jsonschema-rs); `errors` explains a False."""
        validator = self._fast.get(kind)
        if validator is None:
            schema = dict(self.kinds[kind].schema, **{"$id": SCHEMA_BASE + self.kinds[kind].file})
            validator = self._fast[kind] = jsonschema_rs.validator_for(
                schema, registry=self._rs_registry)
        try:
            return bool(validator.is_valid(data))
        except Exception:  # data the Rust side cannot take; the full validator explains it
            return False

    def errors(self, kind: str, data: Any) -> list[jsonschema.ValidationError]:
        """Every schema error, with oneOf/anyOf narrowed to the best-matching branch."""
        validator = self._full.get(kind)
        if validator is None:
            schema = dict(self.kinds[kind].schema, **{"$id": SCHEMA_BASE + self.kinds[kind].file})
            validator = self._full[kind] = jsonschema.Draft202012Validator(
                schema, registry=self._registry)
        return [_narrow(e) for e in validator.iter_errors(data)]

    @cached_property
    def ci_kinds(self) -> frozenset[str]:
        return frozenset(k for k, v in self.kinds.items() if v.is_ci)


def _narrow(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """The error of the oneOf/anyOf branch that came closest: the one that failed
    deepest in the document (it matched the most), then not on a bare const/type."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        best = max(error.context, key=lambda e: (
            len(e.absolute_path), e.validator not in ("const", "type", "enum")))
        return _narrow(best)
    return error


def builtin_schema_files() -> dict[str, bytes]:
    folder = resources.files("cmdbctl") / "schemas"
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.endswith(SCHEMA_SUFFIX)}


def load_registry(root: Path) -> KindRegistry:
    """The repository's schemas, or the built-in ones when it has no `schemas/`."""
    folder = root / "schemas"
    if not folder.is_dir():
        return KindRegistry(builtin_schema_files(), "built-in:")
    files = {p.name: p.read_bytes() for p in sorted(folder.glob(f"*{SCHEMA_SUFFIX}"))
             if p.is_file() and p.resolve().is_relative_to(root.resolve())}
    return KindRegistry(files, "schemas/")
