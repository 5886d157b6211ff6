"""Discovery tests: this machine as the truth, and real Ansible to discover it.

Ansible gathers this machine's facts once per test session (`real_facts`, the jsonfile
fact cache of `ansible localhost -c local -m setup`) and runs once more through
`cmdbctl discover --adapter ansible --inventory` (`inventory_run`). Everything Ansible
writes stays in the session's temporary folders: its home, temp folders and
configuration are set there, so nothing leaks to ~/.ansible and no ansible.cfg of the
machine applies.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible  # the suite needs ansible-core (the test extra): fail here, not later
import orjson
import pytest

ANSIBLE_BIN = Path(sys.executable).parent
ANSIBLE_VERSION = ansible.__version__ if hasattr(ansible, "__version__") else "?"


@pytest.fixture(scope="session")
def ansible_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment Ansible runs in: the venv's ansible first on PATH, home, temp
    folders and an empty configuration in a temporary folder, and this Python as the
    interpreter of the modules it runs (so interpreter discovery never guesses)."""
    home = tmp_path_factory.mktemp("ansible-home")
    config = home / "ansible.cfg"
    config.write_text("[defaults]\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        HOME=str(home),
        PATH=f"{ANSIBLE_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        ANSIBLE_CONFIG=str(config),
        ANSIBLE_HOME=str(home / ".ansible"),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_REMOTE_TEMP=str(home / "remote-tmp"),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_DEPRECATION_WARNINGS="0",
    )
    return env


@pytest.fixture(scope="session")
def real_facts(tmp_path_factory: pytest.TempPathFactory, ansible_env: dict[str, str]) -> Path:
    """The jsonfile fact cache holding this machine's facts, gathered by real Ansible."""
    cache = tmp_path_factory.mktemp("fact-cache")
    env = {
        **ansible_env,
        "ANSIBLE_CACHE_PLUGIN": "jsonfile",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache),
    }
    proc = subprocess.run(
        [
            str(ANSIBLE_BIN / "ansible"),
            "localhost",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-m",
            "setup",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert [p.name for p in cache.iterdir()], "Ansible wrote no fact cache"
    return cache


def cached_facts(cache: Path) -> dict[str, Any]:
    """The facts of the one host in a jsonfile cache, whichever layout its Ansible wrote
    (from ansible-core 2.19 a `__payload__` string; before, the facts themselves)."""
    [file] = [p for p in cache.iterdir() if not p.name.startswith(".")]
    data = orjson.loads(file.read_bytes())
    return orjson.loads(data["__payload__"]) if "__payload__" in data else data


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    output: Path


@pytest.fixture(scope="session")
def inventory_run(tmp_path_factory: pytest.TempPathFactory, ansible_env: dict[str, str]) -> Run:
    """`cmdbctl discover --adapter ansible --inventory FILE --limit ...` run for real over
    an inventory of this machine (local connection), a host that refuses connections
    (unreachable) and one whose Python does not exist (gathering fails), and a host
    --limit leaves out."""
    folder = tmp_path_factory.mktemp("inventory-run")
    inventory = folder / "hosts.ini"
    inventory.write_text(
        "[here]\nlocalhost ansible_connection=local\n"
        "[broken]\n"
        "gone ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh\n"
        "nopython ansible_connection=local ansible_python_interpreter=/nonexistent/python3\n"
        "[elsewhere]\nleft-out ansible_host=192.0.2.99 ansible_connection=ssh\n",
        encoding="utf-8",
    )
    output = folder / "snapshot.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cmdbctl",
            "discover",
            "--adapter",
            "ansible",
            "--inventory",
            str(inventory),
            "--limit",
            "here:broken",
            "--forks",
            "3",
            "-o",
            str(output),
        ],
        env=ansible_env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, output)


# -- this machine, read independently of the code under test ---------------------------


def mem_total_mb() -> int:
    text = Path("/proc/meminfo").read_text(encoding="utf-8")
    match = re.search(r"^MemTotal:\s+([0-9]+) kB$", text, re.MULTILINE)
    assert match is not None
    return int(match[1]) // 1024


def physical_cores() -> int:
    """Distinct (physical id, core id) pairs of /proc/cpuinfo, else its processors."""
    blocks = Path("/proc/cpuinfo").read_text(encoding="utf-8").strip().split("\n\n")
    pairs = set()
    for block in blocks:
        fields = {
            k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in block.splitlines())
        }
        if "core id" in fields:
            pairs.add((fields.get("physical id"), fields["core id"]))
    return len(pairs) or len(blocks)


def macs() -> set[str]:
    """Every non-loopback interface's hardware address that is not all zeros."""
    found = set()
    for interface in Path("/sys/class/net").iterdir():
        if (interface / "type").read_text().strip() == "772":
            continue
        try:
            address = (interface / "address").read_text().strip()
        except OSError:
            continue
        if (
            re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", address)
            and address != "00:00:00:00:00:00"
        ):
            found.add(address)
    return found


def os_release() -> dict[str, str]:
    text = Path("/etc/os-release").read_text(encoding="utf-8")
    return {
        k: v.strip().strip('"')
        for k, _, v in (ln.partition("=") for ln in text.splitlines())
        if k and not k.startswith("#")
    }


def hostname() -> str:
    return socket.gethostname().split(".")[0]


def _squeezed(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def same_os(name: str) -> bool:
    """Whether an OS name means this machine's os-release: "Debian" is "Debian
    GNU/Linux" (NAME) or "debian" (ID); "RedHat" is "Red Hat Enterprise Linux"."""
    release = os_release()
    wanted = _squeezed(name)
    return wanted == _squeezed(release.get("ID", "")) or _squeezed(
        release.get("NAME", "")
    ).startswith(wanted)
