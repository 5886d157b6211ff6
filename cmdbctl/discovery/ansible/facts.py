"""Reading a folder of per-host facts that Ansible wrote, in any of its three shapes.

- `ansible HOSTS -m setup --tree DIR`: one file per host holding the module's result,
  the facts under `ansible_facts` (or `failed` / `unreachable` and a `msg`);
- the `jsonfile` fact cache up to ansible-core 2.18: one file per host (named with the
  cache's prefix, if one is set) holding the facts themselves, keys `ansible_*`;
- the `jsonfile` fact cache from ansible-core 2.19: `s1_<host>` files holding
  `{"__payload__": "<the facts as a JSON string>"}`.

Each file is recognised by its content, so a folder may mix them. A file that is none of
these (not JSON, a failed or unreachable host's result, something else) is skipped with
a warning naming it: one bad host must not stop the discovery of a fleet.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from cmdbctl.errors import CommandError

# One host's facts are tens of kilobytes; a file far larger is something else, not read
MAX_HOST_BYTES = 64 << 20
_SCHEMA_PREFIX = re.compile(r"s[0-9]+_")  # ansible-core 2.19's cache key prefix


@dataclass(frozen=True)
class HostFacts:
    host: str  # the inventory name, from the file's name
    path: str
    facts: dict[str, Any]

    def gathered_at(self) -> datetime | None:
        """When the facts were gathered (`ansible_date_time.epoch`), if they say."""
        clock = self.facts.get("ansible_date_time")
        epoch = clock.get("epoch") if isinstance(clock, dict) else None
        if isinstance(epoch, str | int) and str(epoch).isdigit():
            return datetime.fromtimestamp(int(epoch), UTC)
        return None


def read_folder(path: str) -> tuple[list[HostFacts], list[str]]:
    """Every host's facts under `path` (a folder, or one host's file), and a warning for
    each file skipped. CommandError when `path` cannot be read."""
    folder = Path(path)
    if folder.is_file():
        files = [folder]
    elif folder.is_dir():
        try:
            names = sorted(os.listdir(folder))
        except OSError as exc:
            raise CommandError(f"cannot read facts folder {path}: {exc.strerror or exc}") from exc
        # dot files are editors' and mkstemp's leftovers, folders are not hosts
        files = [folder / n for n in names if not n.startswith(".") and (folder / n).is_file()]
    elif folder.exists():
        raise CommandError(f"--facts {path}: not a folder or a file")
    else:
        raise CommandError(
            f"--facts {path}: no such folder",
            "write it with `ansible all -m setup --tree DIR`, or name the jsonfile fact "
            "cache's folder (fact_caching_connection)",
        )
    hosts: list[HostFacts] = []
    warnings: list[str] = []
    for file in files:
        read = read_host(file)
        if isinstance(read, str):
            warnings.append(f"{file}: {read}; host skipped")
        else:
            hosts.append(read)
    return hosts, warnings


def read_host(file: Path) -> HostFacts | str:
    """One host's facts, or why the file holds none."""
    try:
        if file.stat().st_size > MAX_HOST_BYTES:
            return f"larger than {MAX_HOST_BYTES >> 20} MiB: not one host's facts"
        raw = file.read_bytes()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return f"not JSON ({exc})"
    name = file.name
    if not isinstance(data, dict):
        return "not Ansible facts (a JSON document that is not an object)"
    if isinstance(data.get("__payload__"), str):
        try:
            data = orjson.loads(data["__payload__"])
        except orjson.JSONDecodeError as exc:
            return f"a fact cache entry whose payload is not JSON ({exc})"
        prefix = _SCHEMA_PREFIX.match(name)
        if prefix is not None:
            name = name[prefix.end() :]
        if not isinstance(data, dict):
            return "a fact cache entry whose payload is not an object"
    if data.get("unreachable") is True:
        return f"the host was unreachable: {failure_message(data)}"
    if data.get("failed") is True:
        return f"fact gathering failed: {failure_message(data)}"
    facts = data.get("ansible_facts")
    if isinstance(facts, dict):
        return HostFacts(name, str(file), facts)
    if any(isinstance(k, str) and k.startswith("ansible_") for k in data):
        return HostFacts(name, str(file), data)
    return "not Ansible facts (no ansible_facts, no ansible_* keys)"


def failure_message(result: dict[str, Any]) -> str:
    """The first line of what a failed or unreachable result says went wrong: the
    failed module's own message where Ansible wraps it ("The following modules failed
    to execute: ...")."""
    messages = []
    modules = result.get("failed_modules")
    if isinstance(modules, dict):
        messages += [m.get("msg") for m in modules.values() if isinstance(m, dict)]
    messages.append(result.get("msg"))
    for message in messages:
        if isinstance(message, str) and message.strip():
            return message.strip().splitlines()[0][:200]
    return "no message"
