"""`cmdbctl init`: a new CMDB repository with schemas, policies, examples and CI wiring.

The templates live in `cmdbctl/scaffold/` (a leading `dot-` in a name becomes `.`, so
packaging keeps them) and the schemas are the ones the package ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from cmdbctl import gitio
from cmdbctl.errors import CommandError
from cmdbctl.kinds import builtin_schema_files


@dataclass(frozen=True)
class InitResult:
    root: Path
    written: list[str]
    git_initialised: bool


def _templates() -> dict[str, bytes]:
    files: dict[str, bytes] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            name = child.name.replace("dot-", ".", 1) if child.name.startswith("dot-") \
                else child.name
            if child.is_dir():
                walk(child, f"{prefix}{name}/")
            elif not name.endswith((".pyc",)):
                files[f"{prefix}{name}"] = child.read_bytes()

    walk(resources.files("cmdbctl") / "scaffold", "")
    for name, content in builtin_schema_files().items():
        files[f"schemas/{name}"] = content
    return files


def init_repository(target: Path) -> InitResult:
    """Write a new repository into `target`; refuse to overwrite anything."""
    if target.exists() and not target.is_dir():
        raise CommandError(f"{target} exists and is not a directory")
    files = _templates()
    clashes = sorted(rel for rel in files if (target / rel).exists())
    if clashes:
        raise CommandError(
            f"{target} already has {', '.join(clashes[:5])}"
            + (f" and {len(clashes) - 5} more" if len(clashes) > 5 else "")
            + "; cmdbctl init never overwrites files",
            "choose an empty or new directory")
    written: list[str] = []
    try:
        for rel, content in sorted(files.items()):
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "xb") as handle:  # "x": fail rather than overwrite a racing file
                handle.write(content)
            written.append(rel)
    except OSError as exc:
        for rel in written:  # leave the directory as it was
            (target / rel).unlink(missing_ok=True)
        raise CommandError(f"cannot write {target}: {exc.strerror}") from exc
    initialised = False
    if not gitio.is_work_tree(target):
        gitio.init(target)
        initialised = True
    return InitResult(target, written, initialised)
