"""Running Ansible's fact gathering over an inventory, into a fresh fact cache.

`ansible-playbook` runs a one-play playbook that only gathers facts, with the `jsonfile`
fact cache pointed at a temporary folder: Ansible's own forks do the parallelism, its
connection settings (ansible.cfg, inventory variables, ssh) apply as when operators run
it, and `facts.read_folder` reads the cache afterwards. Neither `ansible --tree` nor
`ansible -o` is used: both are deprecated in ansible-core 2.19 (removed in 2.23); the
fact cache and the default callback's `ok:` / `fatal:` lines and play recap are not.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from cmdbctl.discovery.ansible.facts import failure_message
from cmdbctl.errors import CommandError

_PLAY = """\
- name: cmdbctl discover
  hosts: all
  gather_facts: true
  tasks: []
"""
_OK = re.compile(r"^(?:ok|changed): \[(?P<host>[^\]]+)\]")
_FATAL = re.compile(
    r"^fatal: \[(?P<host>[^\]]+)\]: (?P<status>UNREACHABLE|FAILED)! => (?P<json>.*)$"
)
_RECAP = re.compile(
    r"^(?P<host>\S+)\s+: ok=\d+\s+changed=\d+\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)"
)
_INSTALL_HINT = "install Ansible: pip install ansible-core"


@dataclass
class Outcome:
    """What a run said about each host it targeted."""

    gathered: list[str] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)  # host → Ansible's message
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def hosts(self) -> int:
        return len(set(self.gathered) | set(self.unreachable) | set(self.failed))


@contextlib.contextmanager
def gathered_facts(
    inventory: str,
    limit: str | None,
    forks: int | None,
    become: bool,
    progress: Callable[[str], None] | None,
) -> Iterator[tuple[Path, Outcome]]:
    """Run fact gathering; yield the fact cache folder and what became of each host.
    The folder is removed afterwards. CommandError when Ansible cannot run, or targets
    no host."""
    executable = shutil.which("ansible-playbook")
    if executable is None:
        raise CommandError("ansible-playbook is not installed (not found on PATH)", _INSTALL_HINT)
    if "," not in inventory and not os.path.exists(inventory):
        raise CommandError(
            f"--inventory {inventory}: no such file or folder",
            "name an Ansible inventory (INI or YAML file, or a folder of them)",
        )
    with tempfile.TemporaryDirectory(prefix="cmdbctl-discover-") as work:
        cache = Path(work) / "facts"
        playbook = Path(work) / "gather-facts.yml"
        playbook.write_text(_PLAY, encoding="utf-8")
        command = [executable, "-i", inventory, str(playbook)]
        if limit is not None:
            command += ["--limit", limit]
        if forks is not None:
            command += ["--forks", str(forks)]
        if become:
            command.append("--become")
        env = {
            **os.environ,
            "ANSIBLE_CACHE_PLUGIN": "jsonfile",
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache),
            # the output this module reads: the default callback, without colour
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
        }
        env.pop("ANSIBLE_FORCE_COLOR", None)
        outcome, status, said = _run(command, env, Path(work) / "stderr", progress)
        if outcome.hosts == 0:
            raise CommandError(
                f"Ansible targeted no host (inventory {inventory}"
                + (f", --limit {limit}" if limit else "")
                + f"; ansible-playbook exit status {status})"
                + (f": {said}" if said else ""),
                "check the inventory and the --limit pattern: "
                f"ansible-inventory -i {inventory} --graph",
            )
        yield cache, outcome


def _run(
    command: list[str], env: dict[str, str], errors: Path, progress: Callable[[str], None] | None
) -> tuple[Outcome, int, str]:
    """Run ansible-playbook, following its output; its stderr goes to a file (a pipe
    read by nobody would fill and stop it), or to the terminal when one is watching."""
    outcome = Outcome()
    with open(errors, "wb") as stderr:
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=None if progress is not None else stderr,
                env=env,
            )
        except OSError as exc:
            raise CommandError(
                f"ansible-playbook cannot be run: {exc.strerror or exc}", _INSTALL_HINT
            ) from exc
        errors_said: list[str] = []  # ansible-core 2.19 prints some errors on stdout
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                if _follow(line, outcome) and progress is not None:
                    progress(_status(outcome))
                elif line.startswith("[ERROR]"):
                    errors_said.append(line)
            status = process.wait()
        finally:
            if process.poll() is None:  # interrupted: do not leave Ansible running
                process.kill()
                process.wait()
    said = _last_error(errors.read_text(encoding="utf-8", errors="replace"), errors_said)
    return outcome, status, said


def _follow(line: str, outcome: Outcome) -> bool:
    """Record what one output line says of a host; True when it said something."""
    if match := _OK.match(line):
        outcome.gathered.append(match["host"])
        return True
    if match := _FATAL.match(line):
        where = outcome.unreachable if match["status"] == "UNREACHABLE" else outcome.failed
        where[match["host"]] = _message(match["json"])
        return True
    if match := _RECAP.match(line):  # the recap is the last word on hosts the lines missed
        host = match["host"]
        if int(match["unreachable"]):
            outcome.unreachable.setdefault(host, "unreachable")
        elif int(match["failed"]):
            outcome.failed.setdefault(host, "failed")
        elif host not in outcome.gathered:
            outcome.gathered.append(host)
    return False


def _message(text: str) -> str:
    try:
        result = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text[:200]
    return failure_message(result) if isinstance(result, dict) else text[:200]


def _status(outcome: Outcome) -> str:
    done = f"ansible: facts of {len(outcome.gathered)} host(s) gathered"
    if outcome.unreachable:
        done += f", {len(outcome.unreachable)} unreachable"
    if outcome.failed:
        done += f", {len(outcome.failed)} failed"
    return done


def _last_error(stderr: str, stdout_errors: list[str]) -> str:
    """Ansible's own last error line, to quote when a run targeted nothing."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()] + stdout_errors
    errors = [ln for ln in lines if ln.startswith("[ERROR]")]
    chosen = errors[-1] if errors else (lines[-1] if lines else "")
    return chosen.removeprefix("[ERROR]:").strip()[:300]
