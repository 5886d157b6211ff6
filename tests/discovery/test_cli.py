"""`cmdbctl discover` itself: adapters found by entry point (a package of a user's adds
one), their options, the output written whole or not at all, and every way a run is
refused (exit 2 with a message that says what to do)."""

from __future__ import annotations

import os
import re
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cmdbctl.discovery.snapshot import read_snapshot
from tests.conftest import RunCli, RunCmdbctl, assert_no_crash, write_file


def test_help_teaches_and_lists_the_adapters_installed(run_cli: RunCli) -> None:
    result = run_cli("discover", "--help")
    assert result.exit_code == 0
    assert "Exit 0 when the snapshot is written" in result.stdout
    assert "Examples:" in result.stdout
    installed = result.stdout.split("Adapters installed:")[1]
    for name in ("ansible", "file", "local"):
        assert f"\n  {name} " in installed
    assert "cannot be used" not in installed
    adapter_help = run_cli("discover", "--adapter", "ansible", "--help").stdout
    for option in ("--facts PATH", "--inventory FILE", "--limit PATTERN", "--forks N", "--become"):
        assert option in adapter_help
    own_options = result.stdout.split("Options:")[1].split("Adapters installed:")[0]
    assert "--facts" not in own_options and "--facts PATH" in adapter_help.split("Options:")[1]


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        ((), "no adapter named: discover needs --adapter NAME", "installed adapters: ansible, file, local"),
        (("--adapter", "netbox"), "no discovery adapter named 'netbox' (installed: ansible, file, local)", "entry point in the group 'cmdbctl.adapters'"),
        (("--adapter=netbox",), "no discovery adapter named 'netbox'", ""),
        (("--adapter", "local", "--facts", "x"), "No such option '--facts'", ""),
        (("--adapter", "local", "--format", "xml"), "Invalid value for '--format'", ""),
    ],
)  # fmt: skip
def test_a_run_that_cannot_start_is_exit_2(
    args: tuple[str, ...], message: str, hint: str, run_cli: RunCli
) -> None:
    result = run_cli("discover", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert hint in result.stderr
    assert result.stdout == ""


def test_stdout_by_default_and_a_summary_on_stderr(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("discover", "--adapter", "local", "--source", "laptop")
    assert result.exit_code == 0
    path = write_file(tmp_path, "out.json", result.stdout)
    snapshot = read_snapshot(path)
    assert snapshot.source == "laptop"
    assert result.stderr == f"1 item from laptop written to stdout ({snapshot.digest[:19]})\n"


def test_the_adapter_and_its_options_come_from_the_environment_too(
    run_cli: RunCli, tmp_path: Path
) -> None:
    export = write_file(tmp_path, "assets.csv", "Serial No\nCZ1\n")
    env = {
        "CMDBCTL_DISCOVER_ADAPTER": "file",
        "CMDBCTL_DISCOVER_INPUT": str(export),
        "CMDBCTL_DISCOVER_SOURCE": "asset-register",
    }
    result = run_cli("discover", "--map", "serial=Serial No", env=env)
    assert result.exit_code == 0, result.output
    snapshot = read_snapshot(write_file(tmp_path, "out.json", result.stdout))
    assert snapshot.source == "asset-register"
    assert snapshot.items[0].identifiers == {"serial": "CZ1"}
    flag_wins = run_cli("discover", "--adapter", "local", "--source", "laptop", env=env)
    assert flag_wins.exit_code == 0, flag_wins.output
    assert flag_wins.stderr.startswith("1 item from laptop written to stdout")


def test_yaml_output_and_replacing_a_file_keeps_its_mode(run_cli: RunCli, tmp_path: Path) -> None:
    out = write_file(tmp_path, "host.yaml", "old contents\n")
    out.chmod(0o640)
    result = run_cli("discover", "--adapter", "local", "--format", "yaml", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith("source: local\ndiscoveredAt: '")
    assert read_snapshot(out).items[0].kind == "Server"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["host.yaml"]  # no temporary left
    assert result.stderr.endswith("; it replaced the file that was there\n")


def test_a_new_file_gets_the_mode_the_umask_allows(run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "new.json"
    old = os.umask(0o027)
    try:
        result = run_cli("discover", "--adapter", "local", "-o", str(out))
    finally:
        os.umask(old)
    assert result.exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{tmp}/no/such/folder/out.json", "folder {tmp}/no/such/folder does not exist"),
        ("{tmp}", "it is a directory"),
        ("{tmp}/a-file/out.json", "does not exist"),
        ("/dev/null", "not a regular file"),
    ],
)
def test_an_output_that_cannot_be_written_is_exit_2(
    target: str, message: str, run_cli: RunCli, tmp_path: Path
) -> None:
    write_file(tmp_path, "a-file", "x")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli("discover", "--adapter", "local", "-o", target.format(tmp=tmp_path))
    assert result.exit_code == 2
    assert f"cannot write {target.format(tmp=tmp_path)}: " in result.stderr
    assert message.format(tmp=tmp_path) in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def _small_files() -> None:
    """In the child: files may not grow past 100 bytes (a full disk, cheaply), and
    exceeding it is an error, not the default SIGXFSZ death."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_part(tmp_path: Path) -> None:
    out = write_file(tmp_path, "host.json", "the snapshot of yesterday\n")
    proc = subprocess.run(
        [sys.executable, "-m", "cmdbctl", "discover", "--adapter", "local", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        preexec_fn=_small_files,  # a child of one test, no threads to fork beside
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    assert_no_crash(proc.stderr)
    assert proc.returncode == 2
    assert f"cannot write {out}: File too large" in proc.stderr
    assert "nothing was written" in proc.stderr
    assert out.read_text(encoding="utf-8") == "the snapshot of yesterday\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["host.json"]


# -- adapters of a user's own package, declared as entry points --------------------------

_GREETER = """
import click
from cmdbctl.discovery.adapters import Discovery

summary = "hosts named on the command line"

def options():
    return [click.Option(["--host"], multiple=True, required=True, help="A host name.")]

def discover(options, progress):
    items = [{"kind": "Server", "identifiers": {"hostname": h}, "attributes": {}} for h in options["host"]]
    return Discovery(source="greeter", items=items, warnings=["greeted everyone"])
"""
_BAD_ITEM = """
from cmdbctl.discovery.adapters import Discovery

summary = "an adapter with a bug"

def options():
    return []

def discover(options, progress):
    return Discovery(source="bad", items=[{"kind": "Server", "identifiers": {"hostname": "h", "macs": "x"}}])
"""
_CLASH = """
import click
summary = "declares -o for itself"
def options():
    return [click.Option(["--output"]), click.Option(["--format", "style"]), click.Option(["--fine"])]
def discover(options, progress):
    raise AssertionError("never run")
"""


@pytest.fixture
def user_package(tmp_path: Path) -> Path:
    """A folder on PYTHONPATH holding an installed distribution's metadata (a
    .dist-info with entry_points.txt, as pip writes it) and its modules."""
    site = tmp_path / "site"
    info = site / "my_adapters-1.0.dist-info"
    write_file(info, "METADATA", "Metadata-Version: 2.1\nName: my-adapters\nVersion: 1.0\n")
    write_file(
        info,
        "entry_points.txt",
        "[cmdbctl.adapters]\n"
        "greeter = my_greeter\n"
        "bad-item = my_bad_item\n"
        "broken = my_missing_module\n"
        "not-one = json\n"
        "clash = my_clash\n",
    )
    write_file(site, "my_greeter.py", _GREETER)
    write_file(site, "my_bad_item.py", _BAD_ITEM)
    write_file(site, "my_clash.py", _CLASH)
    return site


def test_a_package_s_entry_point_adds_an_adapter_with_its_options(
    user_package: Path, run_cmdbctl: RunCmdbctl, tmp_path: Path
) -> None:
    env = {"PYTHONPATH": str(user_package)}
    out = tmp_path / "greeted.json"
    proc = run_cmdbctl(
        "discover", "--adapter", "greeter", "--host", "db-01", "--host", "db-02", "-o", str(out),
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    snapshot = read_snapshot(out)
    assert snapshot.source == "greeter"
    assert [i.identifiers["hostname"] for i in snapshot.items] == ["db-01", "db-02"]
    assert "cmdbctl: warning: greeted everyone" in proc.stderr
    helped = run_cmdbctl("discover", "--help", cwd=tmp_path, env=env).stdout
    assert re.search(r"\n  greeter +hosts named on the command line\n", helped)
    assert "cannot be used" in helped.split("broken", 1)[1]
    own = run_cmdbctl("discover", "--adapter", "greeter", "--help", cwd=tmp_path, env=env)
    assert "--host TEXT" in own.stdout
    missing = run_cmdbctl("discover", "--adapter", "greeter", cwd=tmp_path, env=env)
    assert missing.returncode == 2 and "Missing option '--host'" in missing.stderr


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("broken", "discovery adapter 'broken' (my_missing_module from my-adapters) cannot be loaded: ModuleNotFoundError"),
        ("not-one", "discovery adapter 'not-one' (json from my-adapters) is not an adapter: it has no summary, options"),
        ("clash", "discovery adapter 'clash' declares options discover has itself: --format, --output, output"),
        ("bad-item", "snapshot from adapter 'bad-item': item 0 (Server h): field 'identifiers.macs' must be a list of strings"),
    ],
)  # fmt: skip
def test_a_broken_adapter_is_exit_2_naming_it(
    name: str, message: str, user_package: Path, run_cmdbctl: RunCmdbctl, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    proc = run_cmdbctl(
        "discover", "--adapter", name, "-o", str(out), cwd=tmp_path,
        env={"PYTHONPATH": str(user_package)},
    )  # fmt: skip
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not out.exists()
