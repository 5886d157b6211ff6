"""The kind registry: which kinds exist, their class, schema and reference fields.

Everything here is read from the JSON Schemas in the repository's `schemas/` (or the
ones shipped in the package when it has none), so a kind or reference field a user adds
to a schema is checked like the built-in ones:
- `properties.kind.const` names the kind a schema applies to;
- `x-cmdb-class` gives its ITSM class (hardware, software, document, service, other,
  or sla, change, person, group, policy);
- `x-cmdb-ref: {kinds: [...]} | {classes: [...]}` marks a field that holds an id.
A schema with nothing but `$defs` and annotations is a library (common.schema.json); any
other must name its kind, or it is `schema.kind-missing` on its file and is read as the
kind its file name gives (network-device.schema.json: NetworkDevice; its title when
that is the kind's spelling, SLA for sla.schema.json), so its documents are still checked.
A `$ref` is resolved in one place (`_lookup`, with `referencing`), for the dangling-ref
check and for finding the reference fields behind it alike.
This module is the one place that imports the JSON Schema validators.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urldefrag, urljoin

import jsonschema_rs
from referencing import Registry
from referencing.exceptions import InvalidAnchor, NoSuchAnchor, PointerToNowhere, Unresolvable
from referencing.jsonschema import DRAFT202012

if TYPE_CHECKING:
    import jsonschema
    from referencing._core import Resolved, Resolver

from cmdbctl import __version__
from cmdbctl.findings import Finding, pointer
from cmdbctl.loading import positions

SCHEMA_BASE = "https://cmdbctl.invalid/schemas/"
CI_CLASSES = frozenset({"hardware", "software", "document", "service", "other"})
SCHEMA_SUFFIX = ".schema.json"
# Keywords whose values are data, not subschemas, and keywords that map names to subschemas:
# what `_checked` must not, and must, look into for `$ref` and `x-cmdb-ref`.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
_NAMED_SUBSCHEMAS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
_DANGLING_HINT = (
    "fix the $ref or add the schema it names; cmdbctl reads schemas from "
    "schemas/ only, and never downloads one"
)
_MARK_HINT = 'write {"kinds": ["Server", ...]} or {"classes": ["hardware", ...]}'
# jsonschema-rs compiles no deeper nesting of subschemas (it raises "Recursion limit").
_MAX_DEPTH = 128

CODES: dict[str, str] = {
    "schema.unreadable": "a schema file in schemas/ is not JSON, or nests too deeply to be "
    "read; the kinds it would define are unknown",
    "schema.invalid": "a schema file is not a valid JSON Schema (draft 2020-12), or a "
    "document fails its kind's schema in a way no single keyword explains",
    "schema.duplicate-kind": "two schema files define the same kind (properties.kind.const); "
    "the first by name applies",
    "schema.dangling-ref": "a $ref in a schema names nothing in schemas/ (cmdbctl never "
    "downloads a schema); the rest of the schema still checks",
    "schema.x-cmdb-ref": 'a malformed x-cmdb-ref mark: it must be {"kinds": [...]} or '
    '{"classes": [...]}; the field is not read as a reference',
    "schema.kind-missing": "a schema that describes documents names no kind "
    "(properties.kind.const); its documents are checked as the kind "
    "its file name gives",
}


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
        self.unnamed: list[str] = []  # schema files that name no kind and give none
        digest = hashlib.sha256(__version__.encode())
        written: dict[str, dict[str, Any]] = {}
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + files[name] + b"\0")
            schema = self._parse(name, files[name])
            if schema is not None:
                written[name] = schema
        self.fingerprint = digest.hexdigest()[:16]
        as_written = _schema_registry(written)  # what a `$ref` must find
        contents = {
            name: self._checked(name, schema, as_written) for name, schema in written.items()
        }
        names = {name: _kind_const(schema) for name, schema in contents.items()}
        declared = {kind for kind in names.values() if kind is not None}
        for name, schema in contents.items():
            if names[name] is None and not _is_library(schema):
                names[name] = self._kind_missing(name, schema, declared)
        self._registry = _schema_registry(contents)
        self._rs_registry = jsonschema_rs.Registry(
            [(SCHEMA_BASE + n, s) for n, s in contents.items()]
        )
        self._fast: dict[str, Any] = {}
        self._full: dict[str, jsonschema.protocols.Validator] = {}
        for name, schema in contents.items():
            kind = names[name]
            if kind is None:
                continue  # a library of $defs such as common.schema.json
            if kind in self.kinds:
                self.findings.append(
                    Finding(
                        f"{origin}{name}",
                        "schema.duplicate-kind",
                        f"kind {kind} is also defined by {self.kinds[kind].file}",
                        line=1,
                        column=1,
                    )
                )
                continue
            at = self._registry.resolver(base_uri=SCHEMA_BASE + name)
            refs = tuple(dict.fromkeys(_ref_fields(schema, at, (), frozenset())))
            self.kinds[kind] = Kind(
                kind, str(schema.get("x-cmdb-class", "other")), name, schema, refs
            )

    def __reduce__(self) -> tuple[type[KindRegistry], tuple[dict[str, bytes], str]]:
        # Compiled validators do not pickle; a worker process rebuilds them from the files.
        return (KindRegistry, (self._files, self.origin))

    def _parse(self, name: str, raw: bytes) -> dict[str, Any] | None:
        path = f"{self.origin}{name}"
        try:
            schema = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            line, col = (exc.lineno, exc.colno) if isinstance(exc, json.JSONDecodeError) else (1, 1)
            message = (
                "schema nests too deeply to be read"
                if isinstance(exc, RecursionError)
                else f"schema is not valid JSON: {exc}"
            )
            self.findings.append(Finding(path, "schema.unreadable", message, line=line, column=col))
            return None
        try:
            reason = _meta_problem(schema) or _id_problem(schema)
        except RecursionError:
            reason = "it nests too deeply"
        if reason is not None:
            self.findings.append(
                Finding(
                    path,
                    "schema.invalid",
                    f"not a valid JSON Schema (draft 2020-12): {reason}",
                    line=1,
                    column=1,
                )
            )
            return None
        return schema if isinstance(schema, dict) else None

    def _checked(self, name: str, schema: dict[str, Any], written: Registry[Any]) -> dict[str, Any]:
        """The schema without what cannot work, each part a finding on its file: a `$ref`
        to nothing (no validator compiles one; the rest of the schema still checks) and a
        malformed `x-cmdb-ref` (no field is read as a reference by accident)."""
        problems: list[_Problem] = []
        at = written.resolver(base_uri=SCHEMA_BASE + name)
        checked = self._without_problems(schema, at, name, [], problems, named=False)
        # cmdbctl names a schema by its file: a `$id` copied from elsewhere would move
        # every relative `$ref` out of schemas/.
        checked["$id"] = SCHEMA_BASE + name
        self._report(name, problems)
        return checked

    def _report(self, name: str, problems: list[_Problem]) -> None:
        """Findings on a schema file, each at the place its pointer names."""
        if not problems:
            return
        path = f"{self.origin}{name}"
        parsed = positions.parse(path, self._files[name].decode("utf-8", "replace"))
        for at, code, message, hint in problems:
            line, column = (
                positions.locate(parsed.root, pointer(at))
                if isinstance(parsed, positions.Parsed)
                else (1, 1)
            )
            self.findings.append(
                Finding(
                    path, code, message, pointer=pointer(at), line=line, column=column, hint=hint
                )
            )

    def _without_problems(
        self,
        node: Any,
        resolver: Resolver[Any],
        file: str,
        at: list[str | int],
        problems: list[_Problem],
        named: bool,
    ) -> Any:
        if isinstance(node, list):
            return [
                self._without_problems(v, resolver, file, [*at, i], problems, False)
                for i, v in enumerate(node)
            ]
        if not isinstance(node, dict):
            return node
        if at and not named:
            resolver = _enter(resolver, node)
        out: dict[str, Any] = {}
        for key, value in node.items():
            here = [*at, key]
            if named:  # a property (or definition) name, whatever it is called
                out[key] = self._without_problems(value, resolver, file, here, problems, False)
            elif (
                key == "$ref"
                and isinstance(value, str)
                and isinstance(found := _lookup(resolver, value), _Dangling)
            ):
                problems.append(
                    (
                        here,
                        "schema.dangling-ref",
                        f"$ref {value!r} {found.why(value, file, self.origin)}",
                        _DANGLING_HINT,
                    )
                )
            elif key == "x-cmdb-ref" and (why := _malformed_mark(value)):
                problems.append((here, "schema.x-cmdb-ref", why, _MARK_HINT))
            elif key in _DATA_KEYWORDS:
                out[key] = value
            else:
                out[key] = self._without_problems(
                    value, resolver, file, here, problems, key in _NAMED_SUBSCHEMAS
                )
        return out

    def _kind_missing(self, name: str, schema: dict[str, Any], declared: set[str]) -> str | None:
        """A schema that describes documents but names no kind: a finding on its file.
        Its documents are still checked, as the kind its file name gives when no other
        schema defines that kind: one mistake in a schema is one finding, not an unknown
        kind on each of its documents. Returns that kind, or None."""
        kind = _kind_of_file(name, schema)
        if kind in declared:
            kind = None
        properties = schema.get("properties")
        where: list[str | int] = []
        if isinstance(properties, dict):
            where = ["properties", "kind"] if "kind" in properties else ["properties"]
        then = (
            f"its documents are checked as kind {kind}, as its file name says"
            if kind
            else "it checks no document"
        )
        hint = (
            f'add "kind": {{"const": "{kind or "TheKind"}"}} to its properties '
            "(a schema of $defs only names none)"
        )
        self._report(
            name,
            [
                (
                    where,
                    "schema.kind-missing",
                    f"schema names no kind (properties.kind.const): {then}",
                    hint,
                )
            ],
        )
        if kind is None:
            self.unnamed.append(f"{self.origin}{name}")
        else:
            # Read as the kind it means (`properties` is this copy's own: _without_problems).
            schema["properties"] = {
                **(properties if isinstance(properties, dict) else {}),
                "kind": {"const": kind},
            }
            declared.add(kind)
        return kind

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
                self.kinds[kind].schema, registry=self._rs_registry
            )  # `$id` set by _checked
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
                self.kinds[kind].schema, registry=self._registry
            )
        return [_narrow(e) for e in validator.iter_errors(data)]


# -- `$ref`: one resolver, `referencing`'s, for the dangling-ref check and for the
# reference fields behind a `$ref` alike, so every spelling of a target (`./x.json`,
# `%24defs`, `~1`, a nested `$id`, an `$anchor`) means the same to both.

_Problem = tuple[list[str | int], str, str, str]  # where, code, message, hint
# RFC 3986 URI reference, as jsonschema-rs holds a `$ref` and a `$id` to it: non-ASCII
# characters, spaces and a bare % must be %XX escapes.
_URI_CHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})"
_URI_REFERENCE = re.compile(f"{_URI_CHAR}*(?:#{_URI_CHAR}*)?")
_INDEX = re.compile(r"0|[1-9][0-9]*")  # an array index in a JSON pointer (RFC 6901)


def _schema_registry(contents: Mapping[str, dict[str, Any]]) -> Registry[Any]:
    """`referencing`'s registry of a schema set: each schema at its file's URI (whatever
    `$id` it claims), read as draft 2020-12."""
    resources = []
    for name, schema in contents.items():
        uri = SCHEMA_BASE + name
        pinned = schema if schema.get("$id") == uri else {**schema, "$id": uri}
        resources.append((uri, DRAFT202012.create_resource(pinned)))
    return Registry().with_resources(resources)  # crawled by a lookup that needs it


def _enter(resolver: Resolver[Any], subschema: dict[str, Any]) -> Resolver[Any]:
    """The resolver inside `subschema`: its own `$id`, if it has one, is the new base."""
    if not isinstance(subschema.get("$id"), str):
        return resolver
    return resolver.in_subresource(DRAFT202012.create_resource(subschema))


@dataclass(frozen=True, slots=True)
class _Dangling:
    """A `$ref` that points at nothing, and how."""

    how: str  # "uri", "resource", "pointer" or "anchor"
    detail: str = ""

    def why(self, ref: str, file: str, origin: str) -> str:
        if self.how == "uri":
            return "is not a URI reference: write spaces, non-ASCII characters and % as %XX escapes"
        url, fragment = urldefrag(urljoin(SCHEMA_BASE + file, ref))
        target = url.removeprefix(SCHEMA_BASE)
        if self.how == "resource":
            return f"points at {target}, which is not a schema in {origin}"
        if self.how == "anchor":
            return f"points at nothing: {target} has no $anchor {self.detail!r}"
        return f"points at nothing: {target} has no {unquote(fragment)}"


def _lookup(resolver: Resolver[Any], ref: str) -> Resolved[Any] | _Dangling:
    """What `ref` points at, from where `resolver` stands; or how it points at nothing.

    `referencing` resolves. A JSON pointer is held to RFC 6901 as jsonschema-rs holds it
    (no `-1` or `01` for an array index, no index into a string), and the reference to
    RFC 3986: what this accepts, the compiled validator must find.
    """
    if not _URI_REFERENCE.fullmatch(ref):
        return _Dangling("uri")
    url, _, fragment = ref.partition("#")
    try:
        if fragment.startswith("/"):
            node = resolver.lookup(url).contents
            for token in unquote(fragment)[1:].split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                if isinstance(node, dict) and token in node:
                    node = node[token]
                elif isinstance(node, list) and _INDEX.fullmatch(token) and int(token) < len(node):
                    node = node[int(token)]
                else:
                    return _Dangling("pointer")
        return resolver.lookup(ref)
    except (NoSuchAnchor, InvalidAnchor) as exc:
        return _Dangling("anchor", exc.anchor)
    except PointerToNowhere:
        return _Dangling("pointer")
    except (Unresolvable, ValueError, TypeError, LookupError):
        return _Dangling("resource")


def _ref_fields(
    schema: Any, resolver: Resolver[Any], path: tuple[str, ...], seen: frozenset[int]
) -> Iterator[RefField]:
    """Every field below `schema` marked `x-cmdb-ref`, through `$ref`s (each target once
    per path: a recursive schema ends), as the validators read the schema."""
    if not isinstance(schema, dict):
        return
    mark = schema.get("x-cmdb-ref")
    if isinstance(mark, dict):
        kinds, classes = mark.get("kinds"), mark.get("classes")
        yield RefField(
            path, frozenset(kinds) if kinds else None, frozenset(classes) if classes else None
        )
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _lookup(resolver, ref)  # a dangling one is gone from a checked schema
        if not isinstance(target, _Dangling) and id(target.contents) not in seen:
            yield from _ref_fields(
                target.contents, target.resolver, path, seen | {id(target.contents)}
            )
    subschemas: list[tuple[Any, tuple[str, ...]]] = []
    for key in ("allOf", "anyOf", "oneOf"):
        subschemas += [(sub, path) for sub in schema.get(key, ())]
    subschemas += [(sub, (*path, name)) for name, sub in schema.get("properties", {}).items()]
    for key in ("items", "additionalProperties"):
        subschemas.append((schema.get(key), (*path, "*")))
    subschemas += [(sub, (*path, "*")) for sub in schema.get("patternProperties", {}).values()]
    for sub, at in subschemas:
        if isinstance(sub, dict):
            yield from _ref_fields(sub, _enter(resolver, sub), at, seen)


# -- which kind a schema describes

# Keywords that neither describe nor constrain a document: a schema with nothing else
# beside `$defs` is a library (common.schema.json) and names no kind.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$anchor",
        "$dynamicAnchor",
        "$vocabulary",
        "$defs",
        "definitions",
        "title",
        "description",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
_KIND_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def _kind_const(schema: dict[str, Any]) -> str | None:
    kind_schema = schema.get("properties", {}).get("kind")  # `true` is a schema too
    kind = kind_schema.get("const") if isinstance(kind_schema, dict) else None
    return kind if isinstance(kind, str) else None


def _is_library(schema: dict[str, Any]) -> bool:
    return all(
        key in _ANNOTATIONS or key.startswith("x-") and key != "x-cmdb-class" for key in schema
    )


def _kebab(kind: str) -> str:
    """The file-name form of a kind: ChangeRequest -> change-request, SLA -> sla."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", kind).lower()


def _kind_of_file(name: str, schema: dict[str, Any]) -> str | None:
    """The kind a schema file's name gives: its title when that is the kind's spelling
    (SLA for sla.schema.json), else network-device.schema.json -> NetworkDevice."""
    stem = name.removesuffix(SCHEMA_SUFFIX)
    title = schema.get("title")
    if isinstance(title, str) and _KIND_NAME.fullmatch(title) and _kebab(title) == stem:
        return title
    kind = "".join(part[:1].upper() + part[1:] for part in stem.split("-"))
    return kind if _KIND_NAME.fullmatch(kind) else None


def _id_problem(node: Any, named: bool = False) -> str | None:
    """Why a `$id` in the schema is no URI reference (None: every one is)."""
    if isinstance(node, list):
        return next((why for v in node if (why := _id_problem(v))), None)
    if not isinstance(node, dict):
        return None
    if not named and isinstance(node.get("$id"), str) and not _URI_REFERENCE.fullmatch(node["$id"]):
        return f"$id {node['$id']!r} is not a URI reference"
    return next(
        (
            why
            for k, v in node.items()
            if (named or k not in _DATA_KEYWORDS)
            and (why := _id_problem(v, not named and k in _NAMED_SUBSCHEMAS))
        ),
        None,
    )


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
    below = max(
        (
            _depth(v, not named and k in _NAMED_SUBSCHEMAS)
            for k, v in node.items()
            if named or k not in _DATA_KEYWORDS
        ),
        default=0,
    )
    return below if named else below + 1


def _narrow(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """The error of the oneOf/anyOf branch that came closest: the one that failed
    deepest in the document (it matched the most), then not on a bare const/type."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        best = max(
            error.context,
            key=lambda e: (len(e.absolute_path), e.validator not in ("const", "type", "enum")),
        )
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
    files = {
        p.name: p.read_bytes()
        for p in sorted(folder.glob(f"*{SCHEMA_SUFFIX}"))
        if p.is_file() and p.resolve().is_relative_to(root.resolve())
    }
    return KindRegistry(files, "schemas/")
