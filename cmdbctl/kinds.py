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
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urldefrag, urljoin

import jsonschema_rs

if TYPE_CHECKING:
    import jsonschema

from cmdbctl import __version__
from cmdbctl.findings import Finding, pointer, pointer_parts
from cmdbctl.loading import positions

SCHEMA_BASE = "https://cmdbctl.invalid/schemas/"
CI_CLASSES = frozenset({"hardware", "software", "document", "service", "other"})
SCHEMA_SUFFIX = ".schema.json"
# Keywords whose values are data, not subschemas, and keywords that map names to subschemas:
# what `_checked` must not, and must, look into for `$ref` and `x-cmdb-ref`.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
_NAMED_SUBSCHEMAS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_DANGLING_HINT = ("fix the $ref or add the schema it names; cmdbctl reads schemas from "
                  "schemas/ only, and never downloads one")
_MARK_HINT = 'write {"kinds": ["Server", ...]} or {"classes": ["hardware", ...]}'
# jsonschema-rs compiles no deeper nesting of subschemas (it raises "Recursion limit").
_MAX_DEPTH = 128


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
        self._contents = contents  # as written: what a `$ref` must find
        contents = {name: self._checked(name, schema) for name, schema in contents.items()}
        self._contents = contents
        self._rs_registry = jsonschema_rs.Registry(
            [(SCHEMA_BASE + n, s) for n, s in contents.items()])
        self._fast: dict[str, Any] = {}
        self._full: dict[str, jsonschema.protocols.Validator] = {}
        for name, schema in contents.items():
            kind_schema = schema.get("properties", {}).get("kind")  # `true` is a schema too
            kind = kind_schema.get("const") if isinstance(kind_schema, dict) else None
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
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            line, col = (exc.lineno, exc.colno) if isinstance(exc, json.JSONDecodeError) else (1, 1)
            message = "schema nests too deeply to be read" if isinstance(exc, RecursionError) \
                else f"schema is not valid JSON: {exc}"
            self.findings.append(Finding(path, "schema.unreadable", message,
                                         line=line, column=col))
            return None
        try:
            reason = _meta_problem(schema)
        except RecursionError:
            reason = "it nests too deeply"
        if reason is not None:
            self.findings.append(Finding(
                path, "schema.invalid", f"not a valid JSON Schema (draft 2020-12): {reason}",
                line=1, column=1))
            return None
        return schema if isinstance(schema, dict) else None

    def _checked(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        """The schema without what cannot work, each part a finding on its file: a `$ref`
        to nothing (no validator compiles one; the rest of the schema still checks) and a
        malformed `x-cmdb-ref` (no field is read as a reference by accident)."""
        problems: list[tuple[list[str | int], str, str, str]] = []
        checked = self._without_problems(schema, name, [], problems, named=False)
        # cmdbctl names a schema by its file: a `$id` copied from elsewhere would move
        # every relative `$ref` out of schemas/.
        checked["$id"] = SCHEMA_BASE + name
        if problems:
            path = f"{self.origin}{name}"
            parsed = positions.parse(path, self._files[name].decode("utf-8", "replace"))
            for at, code, message, hint in problems:
                line, column = (positions.locate(parsed.root, pointer(at))
                                if isinstance(parsed, positions.Parsed) else (1, 1))
                self.findings.append(Finding(path, code, message, pointer=pointer(at),
                                             line=line, column=column, hint=hint))
        return checked

    def _without_problems(self, node: Any, file: str, at: list[str | int],
                          problems: list[tuple[list[str | int], str, str, str]],
                          named: bool) -> Any:
        if isinstance(node, list):
            return [self._without_problems(v, file, [*at, i], problems, False)
                    for i, v in enumerate(node)]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            here = [*at, key]
            if named:  # a property (or definition) name, whatever it is called
                out[key] = self._without_problems(value, file, here, problems, False)
            elif key == "$ref" and isinstance(value, str) and (why := self._dangling(value, file)):
                problems.append((here, "schema.dangling-ref", f"$ref {value!r} {why}",
                                 _DANGLING_HINT))
            elif key == "x-cmdb-ref" and (why := _malformed_mark(value)):
                problems.append((here, "schema.x-cmdb-ref", why, _MARK_HINT))
            elif key in _DATA_KEYWORDS:
                out[key] = value
            else:
                out[key] = self._without_problems(value, file, here, problems,
                                                  key in _NAMED_SUBSCHEMAS)
        return out

    def _dangling(self, ref: str, file: str) -> str | None:
        """Why `ref`, written in `file`, points at nothing; None when it resolves."""
        url, fragment = urldefrag(urljoin(SCHEMA_BASE + file, ref))
        target = url.removeprefix(SCHEMA_BASE)
        if not url.startswith(SCHEMA_BASE) or target not in self._contents:
            return f"points at {target if url.startswith(SCHEMA_BASE) else url}, " \
                f"which is not a schema in {self.origin}"
        node: Any = self._contents[target]
        fragment = unquote(fragment)
        if fragment and not fragment.startswith("/"):  # a plain-name fragment: an $anchor
            found = fragment in set(_anchors(node))
            return None if found else f"points at nothing: {target} has no $anchor {fragment!r}"
        for token in pointer_parts(fragment):
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                return f"points at nothing: {target} has no {fragment}"
        return None

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
            validator = self._fast[kind] = jsonschema_rs.validator_for(
                self.kinds[kind].schema, registry=self._rs_registry)  # `$id` set by _checked
        try:
            return bool(validator.is_valid(data))
        except Exception:  # noqa: BLE001 - data the Rust side cannot take; python explains it
            return False

    def errors(self, kind: str, data: Any) -> list[jsonschema.ValidationError]:
        """Every schema error, with oneOf/anyOf narrowed to the best-matching branch."""
        validator = self._full.get(kind)
        if validator is None:
            import jsonschema  # only a run with schema errors pays for its import

            validator = self._full[kind] = jsonschema.Draft202012Validator(
                self.kinds[kind].schema, registry=self._registry)
        return [_narrow(e) for e in validator.iter_errors(data)]

    @cached_property
    def _registry(self) -> Any:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        return Registry().with_resources(
            (SCHEMA_BASE + n, Resource.from_contents(s, default_specification=DRAFT202012))
            for n, s in self._contents.items())



def _meta_problem(schema: Any) -> str | None:
    """Why `schema` is no valid draft 2020-12 schema (None: it is one)."""
    if _depth(schema) > _MAX_DEPTH:
        return f"subschemas nest more than {_MAX_DEPTH} deep"
    try:
        if jsonschema_rs.meta.is_valid(schema):  # fast; python explains a failure
            return None
    except ValueError as exc:
        return str(exc)
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return str(exc.message)
    return None


def _malformed_mark(mark: Any) -> str | None:
    """Why an `x-cmdb-ref` is not `{"kinds": [names]}` and/or `{"classes": [names]}`."""
    if not isinstance(mark, dict) or not set(mark) <= {"kinds", "classes"}:
        return f"x-cmdb-ref must be an object with kinds and/or classes, not {json.dumps(mark)}"
    for key, names in mark.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return f"x-cmdb-ref {key} must be a list of names, not {json.dumps(names)}"
    return None


def _depth(node: Any, named: bool = False) -> int:
    """How deep subschemas nest in a schema (a name map is no level of its own)."""
    if isinstance(node, list):
        return max((_depth(v) for v in node), default=0)
    if not isinstance(node, dict):
        return 0
    below = max((_depth(v, not named and k in _NAMED_SUBSCHEMAS) for k, v in node.items()
                 if named or k not in _DATA_KEYWORDS), default=0)
    return below if named else below + 1


def _anchors(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$anchor"), str):
            yield node["$anchor"]
        for value in node.values():
            yield from _anchors(value)
    elif isinstance(node, list):
        for value in node:
            yield from _anchors(value)


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
