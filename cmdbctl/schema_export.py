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
a failure half way puts back every file as it was. Links are never followed out of the
repository: below its root no folder written into may be a link (a `.vscode` linked to
a home folder would take the settings there); a folder named outside it is the user's
choice. Nothing is written into a git directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from cmdbctl import gitio
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
        _refuse_git_directory(target)
        out = {target / name: content for name, content in files.items()}
        out[target / DOCUMENT_SCHEMA] = document_schema(kinds, "")
        _refuse_links(
            root, out, "export into a folder that is no link, or name the folder it points to"
        )
    else:
        editor = root / EDITOR_FOLDER
        if origin == "schemas/":
            out = {editor / DOCUMENT_SCHEMA: document_schema(kinds, "../schemas/")}
        else:
            out = {editor / "schemas" / name: content for name, content in files.items()}
            out[editor / DOCUMENT_SCHEMA] = document_schema(kinds, "schemas/")
        _refuse_links(
            root, out, "replace the link with a folder, or export into a folder: schema export DIR"
        )
        notes = _wiring(editor, out)
        return Export(out, sorted(kinds), origin, list(registry.findings), notes)
    return Export(out, sorted(kinds), origin, list(registry.findings))


def _wiring(editor: Path, out: dict[Path, bytes]) -> list[str]:
    """init's settings.json and extensions.json, added to `out` where the repository
    has none; a note when its own settings.json maps no document schema."""
    template = resources.files("cmdbctl") / "scaffold" / "dot-vscode"
    for name in ("settings.json", "extensions.json"):
        if not os.path.lexists(editor / name):
            out[editor / name] = (template / name).read_bytes()
    settings = editor / "settings.json"
    if (
        not settings.is_symlink()  # never read through: it may point anywhere
        and settings.is_file()
        and DOCUMENT_SCHEMA.encode() not in settings.read_bytes()
    ):
        # init's settings.json has one mapping: its yaml.schemas (schema -> globs)
        ours = json.loads((template / "settings.json").read_bytes())
        key, mapping = next((k, v) for k, v in ours.items() if isinstance(v, dict))
        add = f'"{key}": {json.dumps(mapping)}'
        return [f"{settings} is yours and maps no {DOCUMENT_SCHEMA}: add to it {add}"]
    return []


def _refuse_git_directory(target: Path) -> None:

    git_dir = gitio.git_directory_holding(target / DOCUMENT_SCHEMA)
    if git_dir is not None:
        raise CommandError(
            f"{target}: inside the git directory {git_dir}, whose files are git's own; "
            "nothing was written",
            "export into another folder, e.g. build/schemas",
        )


def _refuse_links(root: Path, files: Iterable[Path], hint: str) -> None:
    """Exit 2 when a folder that `files` go into is reached through a link that is in
    the repository (`root` or below): such a link may lead anywhere. Links outside it,
    in a folder the user names, are theirs."""
    for folder in sorted({path.parent for path in files}):
        link = _link_in_repository(root, folder)
        if link is not None:
            raise CommandError(
                f"{link} is a link (to {os.readlink(link)}): the export is not written "
                "through it; nothing was written",
                hint,
            )


def _link_in_repository(root: Path, folder: Path) -> Path | None:
    """The first link in the repository that the path `folder` goes through, followed
    component by component as the system does (a `..` after a link climbs from where
    the link leads), or None."""
    here = Path("/")  # always a real path: every link met is resolved
    for part in Path(os.getcwd(), folder).parts[1:]:
        step = here.parent if part == ".." else here / part
        if part != ".." and step.is_symlink():
            if here.is_relative_to(root):
                return step
            step = Path(os.path.realpath(step))
        here = step
    return None


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
    """What an export changed, so that a failure puts exactly that back: created
    folders and files removed, replaced files back with their bytes, mode and times."""

    def __init__(self) -> None:
        self.folders: list[Path] = []
        self.created: list[Path] = []
        self.replaced: dict[Path, tuple[bytes, os.stat_result]] = {}

    def write(self, path: Path, content: bytes) -> None:
        missing = [p for p in (path.parent, *path.parent.parents) if not p.is_dir()]
        for folder in reversed(missing):
            folder.mkdir()
            self.folders.append(folder)
        if path.is_file():
            info = path.stat()
            self.replaced[path] = (path.read_bytes(), info)
            _replace(path, content, info.st_mode & 0o7777)
        else:
            self.created.append(path)
            _replace(path, content, _new_file_mode())

    def undo(self) -> None:
        for path, (content, info) in self.replaced.items():
            with contextlib.suppress(OSError):  # the others are put back all the same
                _replace(path, content, info.st_mode & 0o7777, (info.st_atime_ns, info.st_mtime_ns))
        for path in reversed(self.created):
            path.unlink(missing_ok=True)
        for folder in reversed(self.folders):
            with contextlib.suppress(OSError):
                folder.rmdir()


def _replace(path: Path, content: bytes, mode: int, times: tuple[int, int] | None = None) -> None:
    """Put `content` at `path` through a new temporary file beside it and a rename: a
    reader never sees half a schema, and a link someone left at a temporary name is
    never written through (mkstemp creates a file of its own, or fails)."""
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".cmdbctl-tmp"
    )
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.chmod(temporary, mode)
        if times is not None:
            os.utime(temporary, ns=times)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _new_file_mode() -> int:
    """What `open()` would give a new file: 0o666 less the umask (mkstemp's are private)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
