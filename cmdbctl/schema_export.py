"""The JSON Schemas for editors and other tools (`cmdbctl schema export`).

An editor must check what `validate` checks: the repository's own `schemas/`, custom
kinds included, or the built-in schemas when it has no `schemas/` (the choice
`kinds.load_registry` makes). inventory/ mixes kinds in one folder and a file's name does
not say its kind, so a mapping of schemas to file names cannot pick one; the export adds
one schema for any document, `cmdb-document.json`, which applies the schema of the
document's `kind` (`if` kind is Server `then` server.schema.json, one branch per kind,
as editors read Kubernetes manifests). Its `$ref`s are relative, so the set works
wherever it is put.

Two places:
- into a folder (`schema export DIR`): a self-contained copy, every schema beside the
  document schema, for other tools or for publishing;
- without one, the editor wiring `cmdbctl init` writes: `.vscode/cmdb-document.json`,
  over the repository's `schemas/` as they stand (an edit to a schema shows in the editor
  at once; only a new kind needs the document schema written again), and init's
  `.vscode/settings.json` (the `yaml.schemas` mapping) and `extensions.json` where the
  repository has none (one it has is the user's: never changed, a note says what it
  lacks). A repository without `schemas/` gets copies of the built-in schemas in
  `.vscode/schemas/`.

A file that exists with other content is never overwritten unless asked (`force`);
a failure half way puts back every file as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from cmdbctl.errors import CommandError
from cmdbctl.findings import Finding
from cmdbctl.kinds import SCHEMA_SUFFIX, KindRegistry, builtin_schema_files

DOCUMENT_SCHEMA = "cmdb-document.json"  # never a kind's file: those end in .schema.json
EDITOR_FOLDER = ".vscode"
_DRAFT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class Export:
    """What an export writes (path -> bytes), the kinds its document schema knows and
    the findings on the schemas (a broken schema is exported as it is, and said)."""

    files: dict[Path, bytes]
    kinds: list[str]
    origin: str  # "schemas/" or "built-in:"
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Written:
    written: list[Path]
    unchanged: list[Path]


def schema_files(root: Path) -> tuple[dict[str, bytes], str]:
    """The schema files `validate` reads for `root`, by name, and where they are from:
    as `kinds.load_registry` picks them (tests/ecosystem hold the two to the same
    fingerprint)."""
    folder = root / "schemas"
    if not folder.is_dir():
        return builtin_schema_files(), "built-in:"
    inside = root.resolve()
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.glob(f"*{SCHEMA_SUFFIX}"))
        if p.is_file() and p.resolve().is_relative_to(inside)
    }, "schemas/"


def document_schema(kinds: Mapping[str, str], prefix: str) -> bytes:
    """The schema of any document: the schema of its kind, by `kind`. `kinds` maps each
    kind to its schema file; `prefix` is where those files are, relative to this one."""
    names = sorted(kinds)
    schema = {
        "$schema": _DRAFT,
        "$comment": "Written by `cmdbctl schema export`. Run it again (with --force) after "
        "adding a kind to schemas/.",
        "title": "cmdbctl document",
        "description": "A document of the CMDB (inventory/, changes/, policies/), checked "
        "against the schema of its kind.",
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": {
                "description": "The kind of the document: the schema in schemas/ that applies.",
                "enum": names,
            }
        },
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": prefix + kinds[kind]},
            }
            for kind in names
        ],
    }
    return (json.dumps(schema, indent=2, ensure_ascii=False) + "\n").encode()


def plan_export(root: Path, target: Path | None) -> Export:
    """What `schema export [target]` writes for the repository at `root`."""
    files, origin = schema_files(root)
    registry = KindRegistry(files, origin)
    kinds = {name: kind.file for name, kind in registry.kinds.items()}
    if target is not None:
        out = {target / name: content for name, content in files.items()}
        out[target / DOCUMENT_SCHEMA] = document_schema(kinds, "")
    else:
        editor = root / EDITOR_FOLDER
        if origin == "schemas/":
            out = {editor / DOCUMENT_SCHEMA: document_schema(kinds, "../schemas/")}
        else:
            out = {editor / "schemas" / name: content for name, content in files.items()}
            out[editor / DOCUMENT_SCHEMA] = document_schema(kinds, "schemas/")
        notes = _wiring(editor, out)
        return Export(out, sorted(kinds), origin, list(registry.findings), notes)
    return Export(out, sorted(kinds), origin, list(registry.findings))


def _wiring(editor: Path, out: dict[Path, bytes]) -> list[str]:
    """init's settings.json and extensions.json, added to `out` where the repository
    has none; a note when its own settings.json maps no document schema."""
    template = resources.files("cmdbctl") / "scaffold" / "dot-vscode"
    for name in ("settings.json", "extensions.json"):
        if not (editor / name).exists():
            out[editor / name] = (template / name).read_bytes()
    settings = editor / "settings.json"
    if settings.is_file() and DOCUMENT_SCHEMA.encode() not in settings.read_bytes():
        # init's settings.json has one mapping: its yaml.schemas (schema -> globs)
        ours = json.loads((template / "settings.json").read_bytes())
        key, mapping = next((k, v) for k, v in ours.items() if isinstance(v, dict))
        add = f'"{key}": {json.dumps(mapping)}'
        return [f"{settings} is yours and maps no {DOCUMENT_SCHEMA}: add to it {add}"]
    return []


def write_export(files: Mapping[Path, bytes], force: bool) -> Written:
    """Write `files`; refuse (exit 2, nothing written) to replace a file with other
    content unless `force`, and anything that is not a file whatever `force` says."""
    blocked = sorted(p for p in files if p.is_symlink() or (p.exists() and not p.is_file()))
    if blocked:
        raise CommandError(
            f"{_listed(blocked)} {'is' if len(blocked) == 1 else 'are'} in the way "
            "(not a regular file); nothing was written",
            "move it away, or export into another folder",
        )
    differing = sorted(p for p in files if p.is_file() and p.read_bytes() != files[p])
    if differing and not force:
        raise CommandError(
            f"{_listed(differing)} exist{'s' if len(differing) == 1 else ''} with other "
            "content; nothing was written",
            "pass --force to replace them, or export into another folder",
        )
    unchanged = sorted(p for p in files if p.is_file() and p.read_bytes() == files[p])
    todo = sorted(p for p in files if p not in unchanged)
    undo = _Undo()
    try:
        for path in todo:
            undo.write(path, files[path])
    except OSError as exc:
        undo.undo()
        raise CommandError(
            f"cannot write {exc.filename or path}: {exc.strerror or exc}",
            "nothing was changed; fix that and export again",
        ) from exc
    except BaseException:
        undo.undo()
        raise
    return Written(todo, unchanged)


def _listed(paths: list[Path]) -> str:
    shown = ", ".join(str(p) for p in paths[:5])
    return shown + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


class _Undo:
    """What an export changed, so that a failure puts exactly that back."""

    def __init__(self) -> None:
        self.folders: list[Path] = []
        self.created: list[Path] = []
        self.replaced: dict[Path, bytes] = {}

    def write(self, path: Path, content: bytes) -> None:
        missing = [p for p in (path.parent, *path.parent.parents) if not p.is_dir()]
        for folder in reversed(missing):
            folder.mkdir()
            self.folders.append(folder)
        if path.is_file():
            self.replaced[path] = path.read_bytes()
        else:
            self.created.append(path)
        temporary = path.with_name(f".{path.name}.cmdbctl-tmp")
        try:
            temporary.write_bytes(content)
            os.replace(temporary, path)  # a reader never sees half a schema
        finally:
            temporary.unlink(missing_ok=True)

    def undo(self) -> None:
        for path, content in self.replaced.items():
            path.write_bytes(content)
        for path in reversed(self.created):
            path.unlink(missing_ok=True)
        for folder in reversed(self.folders):
            try:
                folder.rmdir()
            except OSError:
                pass
