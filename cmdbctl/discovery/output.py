"""A snapshot's bytes (canonical JSON, or YAML) and writing them whole or not at all."""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from cmdbctl import gitio
from cmdbctl.discovery.snapshot import Snapshot, format_instant, snapshot_bytes
from cmdbctl.errors import CommandError


def render(snapshot: Snapshot, fmt: str) -> bytes:
    """The snapshot in `fmt` ("json": canonical, "yaml": the same data, block style)."""
    if fmt == "json":
        return snapshot_bytes(snapshot)
    data = {
        "source": snapshot.source,
        "discoveredAt": format_instant(snapshot.discovered_at),
        "items": [
            {
                "kind": item.kind,
                "identifiers": sorted_keys(item.identifiers),
                "attributes": sorted_keys(item.attributes),
            }
            for item in snapshot.items
        ],
    }
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # source, discoveredAt, items, as in JSON
    yaml.representer.add_representer(str, _string)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue().encode("utf-8")


# Plain (unquoted) only where every YAML reader sees a string: YAML 1.1 readers (PyYAML,
# older Ansible) read yes/no/on/off as booleans and 1:30 as a number; those are quoted.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./@ -]*[A-Za-z0-9_.]|[A-Za-z_]")
_YAML11_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


# Line breaks YAML folds inside single quotes (NEL, LS, PS) and control characters
# survive only as escapes, in double quotes.
_ESCAPED = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


def _string(representer: Any, value: str) -> Any:
    if _ESCAPED.search(value):
        style: str | None = '"'
    else:
        plain = _PLAIN.fullmatch(value) is not None and value.lower() not in _YAML11_WORDS
        style = None if plain else "'"
    return representer.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def write_atomically(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary file beside it and a rename: a reader
    sees the old file or the new one, never half of one, and a failure leaves no
    temporary file behind."""
    target = Path(path)
    refuse_git_directory(path)
    if target.is_dir():
        raise CommandError(f"cannot write {path}: it is a directory", "name a file with -o")
    if target.exists() and not target.is_file():  # a device or FIFO is never replaced
        raise CommandError(
            f"cannot write {path}: not a regular file", "name a file, or -o - for stdout"
        )
    folder = target.parent
    if not folder.is_dir():
        raise CommandError(
            f"cannot write {path}: folder {folder} does not exist",
            "create it, or name another file",
        )
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise CommandError(
            f"cannot write {path}: {exc.strerror or exc}",
            f"check that {folder} is writable, or name another file",
        ) from exc
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, _mode(target))
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise CommandError(
            f"cannot write {path}: {exc.strerror or exc}",
            "check the disk and the file's permissions; nothing was written",
        ) from exc
    except BaseException:  # Ctrl-C included: no temporary file is left behind
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def refuse_git_directory(path: str) -> None:
    """Exit 2 when `path` is in a git directory: a snapshot there would replace git's own
    files (config, HEAD, hooks it then runs)."""
    git_dir = gitio.git_directory_holding(Path(path))
    if git_dir is not None:
        raise CommandError(
            f"cannot write {path}: it is inside the git directory {git_dir}, "
            "whose files are git's own",
            "write the snapshot elsewhere, e.g. -o snapshots/NAME.json (or -o - for stdout)",
        )


def _mode(target: Path) -> int:
    """An existing file keeps its mode; a new one gets what the umask allows, as
    `open()` would give it (mkstemp's temporary files are private)."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def sorted_keys(value: Any) -> Any:
    """Mappings with their keys sorted, all the way down, as in the canonical JSON."""
    if isinstance(value, Mapping):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [sorted_keys(v) for v in value]
    return value
