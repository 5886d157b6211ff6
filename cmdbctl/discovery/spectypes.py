"""What a kind's spec fields are, read from its JSON Schema: their names and JSON types,
so an export's text cells become the numbers and lists the schema asks for.

The schemas are the repository's (`schemas/`) when discovery runs in one, else the ones
shipped with cmdbctl: a field a user added to a kind is mapped and typed like the others.
A `$ref` is followed within the schema files ("common.schema.json#/$defs/hostname",
"#/$defs/x"); what cannot be followed has no known type and is kept as the export gave it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson

from cmdbctl.errors import CommandError
from cmdbctl.kinds import SCHEMA_SUFFIX, KindRegistry, builtin_schema_files, load_registry

_MAX_REFS = 32  # a $ref chain longer than this is a loop


@dataclass(frozen=True)
class Field:
    """One spec field: its dotted path and the JSON types its schema allows."""

    path: tuple[str, ...]
    types: frozenset[str]  # "string", "integer", "number", "boolean", "array", "object"
    item_types: frozenset[str]  # for an array: its items' types


class SpecTypes:
    """The spec fields of one kind, by dotted path: `fields` those a column may feed
    (`os.name`, `memoryMb`), `nested` those and the fields of list items too
    (`disks[].sizeGb`), which a JSON or YAML export gives inside its lists."""

    def __init__(self, kind: str, schema: dict[str, Any], file: str, files: dict[str, Any]) -> None:
        self.kind = kind
        self._files = files
        self.fields: dict[str, Field] = {}
        self.nested: dict[str, Field] = {}
        spec, at = self._resolve(schema.get("properties", {}).get("spec", {}), file)
        self._collect(spec, at, (), in_list=False)

    def top_level(self) -> frozenset[str]:
        return frozenset(path.split(".", 1)[0] for path in self.fields)

    def _collect(
        self, schema: dict[str, Any], file: str, prefix: tuple[str, ...], in_list: bool
    ) -> None:
        properties = schema.get("properties")
        if not isinstance(properties, dict) or len(prefix) > 8:
            return
        for name, sub in properties.items():
            resolved, at = self._resolve(sub, file)
            path = (*prefix, name)
            items, items_at = self._resolve(resolved.get("items", {}), at)
            field = Field(path, _types(resolved), _types(items))
            self.nested[".".join(path)] = field
            if not in_list:
                self.fields[".".join(path)] = field
            if "object" in field.types:
                self._collect(resolved, at, path, in_list)
            if "object" in field.item_types:
                self._collect(items, items_at, (*path[:-1], f"{name}[]"), in_list=True)

    def _resolve(self, schema: Any, file: str) -> tuple[dict[str, Any], str]:
        """The schema a `$ref` points at (followed to the end), and the file it is in."""
        for _ in range(_MAX_REFS):
            if not isinstance(schema, dict):
                return {}, file
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                return schema, file
            target, _, fragment = ref.partition("#")
            file = target.rsplit("/", 1)[-1] if target else file
            node: Any = self._files.get(file)
            for token in unquote(fragment).split("/")[1:] if fragment else []:
                token = token.replace("~1", "/").replace("~0", "~")
                node = node.get(token) if isinstance(node, dict) else None
            # sibling keywords of a $ref (title, x-cmdb-ref) are kept; the target's win
            schema = {**{k: v for k, v in schema.items() if k != "$ref"}, **(node or {})}
        return {}, file


def _types(schema: dict[str, Any]) -> frozenset[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(t for t in declared if isinstance(t, str))
    if "properties" in schema:
        return frozenset({"object"})
    return frozenset()


def spec_types(kind: str, repo: Path | None) -> SpecTypes:
    """The spec fields of `kind` in the repository's schemas (or the shipped ones)."""
    registry = (
        load_registry(repo)
        if repo is not None
        else KindRegistry(builtin_schema_files(), "built-in:")
    )
    if repo is not None and registry.origin == "schemas/":
        raw = {p.name: p.read_bytes() for p in sorted((repo / "schemas").glob(f"*{SCHEMA_SUFFIX}"))}
    else:
        raw = builtin_schema_files()
    known = registry.kinds.get(kind)
    if known is None or not known.is_ci:
        ci_kinds = sorted(k for k, v in registry.kinds.items() if v.is_ci)
        where = (
            "the repository's schemas" if registry.origin == "schemas/" else "the built-in schemas"
        )
        raise CommandError(
            f"--kind {kind}: not a configuration item kind of {where}",
            f"use one of {', '.join(ci_kinds)}",
        )
    files: dict[str, Any] = {}
    for name, content in raw.items():
        try:
            files[name] = orjson.loads(content)
        except orjson.JSONDecodeError:
            continue  # `cmdbctl validate` reports it; what it defines is unknown here
    return SpecTypes(kind, known.schema, known.file, files)
