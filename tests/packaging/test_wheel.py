"""The wheel a user installs: built from this tree by pip, installed with its dependencies
from the package index into a fresh virtualenv, and run from there (`init`, `validate`,
`python -m cmdbctl`). What `init` writes comes from package data, so every schema and
every scaffold file, dot-files included, must be inside the wheel."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

TOP = Path(__file__).resolve().parents[2]
PACKAGE = TOP / "cmdbctl"
# Left out of the copy the wheel is built from: build output, caches, virtualenvs.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", ".venv*", "__pycache__", "*.pyc", ".*_cache",
    ".hypothesis", "out",
)  # fmt: skip


def _run(
    args: list[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def _pyproject() -> dict[str, Any]:
    with open(TOP / "pyproject.toml", "rb") as f:
        project: dict[str, Any] = tomllib.load(f)["project"]
    return project


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel` of a copy of this tree (builds in a tree of their own do not race)."""
    source = tmp_path_factory.mktemp("source") / "cmdbctl"
    shutil.copytree(TOP, source, ignore=_NOT_SOURCE)
    out = tmp_path_factory.mktemp("wheelhouse")
    proc = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), "."],
        cwd=source,
    )
    assert proc.returncode == 0, proc.stderr
    [built] = out.glob("cmdbctl-*.whl")
    return built


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed, its dependencies from the index."""
    where = tmp_path_factory.mktemp("venv") / "env"
    made = _run([sys.executable, "-m", "venv", str(where)], cwd=where.parent)
    assert made.returncode == 0, made.stderr
    installed = _run(
        [str(_bin(where, "python")), "-m", "pip", "install", "--quiet", str(wheel)],
        cwd=where.parent,
        timeout=900,
    )
    assert installed.returncode == 0, installed.stderr
    return where


def _bin(venv: Path, program: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / program


@pytest.fixture
def user_env(tmp_path: Path, venv: Path) -> dict[str, str]:
    """A user's shell with the virtualenv activated: nothing of this source tree or of
    the test run's git configuration reaches the installed cmdbctl."""
    home = tmp_path / "home"
    home.mkdir()
    leaks = ("GIT_", "CMDBCTL_", "PYTHON", "VIRTUAL_ENV", "NO_COLOR", "FORCE_COLOR", "CI")
    env = {k: v for k, v in os.environ.items() if not k.startswith(leaks)}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        VIRTUAL_ENV=str(venv),
        PATH=os.pathsep.join([str(_bin(venv, "")), env.get("PATH", "")]),
    )
    return env


def test_the_wheel_holds_every_schema(names: set[str]) -> None:
    schemas = sorted(p.name for p in (PACKAGE / "schemas").glob("*.json"))
    assert schemas, "no schemas in the source tree"
    missing = [s for s in schemas if f"cmdbctl/schemas/{s}" not in names]
    assert not missing, f"schemas not in the wheel: {missing}"


def test_the_wheel_holds_every_scaffold_file_dot_files_included(names: set[str]) -> None:
    scaffold = PACKAGE / "scaffold"
    files = sorted(
        p.relative_to(PACKAGE).as_posix()
        for p in scaffold.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert "scaffold/dot-github/workflows/cmdb.yml" in files
    assert "scaffold/dot-gitignore" in files
    missing = [f for f in files if f"cmdbctl/{f}" not in names]
    assert not missing, f"scaffold files not in the wheel: {missing}"


def test_the_wheel_holds_every_module_and_declares_the_entry_point(
    wheel: Path, names: set[str]
) -> None:
    modules = sorted(
        p.relative_to(TOP).as_posix()
        for p in PACKAGE.rglob("*.py")
        if "__pycache__" not in p.parts and "scaffold" not in p.relative_to(PACKAGE).parts[:1]
    )
    missing = [m for m in modules if m not in names]
    assert not missing, f"modules not in the wheel: {missing}"
    assert "cmdbctl/__main__.py" in names
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]

    with zipfile.ZipFile(wheel) as zf:
        [dist_info] = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
        metadata = email.message_from_bytes(zf.read(f"{dist_info}/METADATA"))
    assert "cmdbctl = cmdbctl.cli.main:main" in entry_points
    project = _pyproject()
    assert metadata["Version"] == project["version"]
    requires = {r.replace(" ", "") for r in metadata.get_all("Requires-Dist") or []}
    for dependency in project["dependencies"]:
        assert dependency.replace(" ", "") in requires, dependency


def test_installed_in_a_fresh_venv_init_and_validate_work(
    venv: Path, user_env: dict[str, str], tmp_path: Path
) -> None:
    located = _run(
        [str(_bin(venv, "python")), "-c", "import cmdbctl; print(cmdbctl.__file__)"],
        cwd=tmp_path,
        env=user_env,
    )
    assert located.returncode == 0, located.stderr
    assert Path(located.stdout.strip()).is_relative_to(venv), located.stdout  # not this tree

    init = _run(["cmdbctl", "init", "cmdb"], cwd=tmp_path, env=user_env)
    assert init.returncode == 0, init.stderr
    repo = tmp_path / "cmdb"
    assert (repo / ".git").is_dir()
    assert (repo / ".github" / "workflows" / "cmdb.yml").is_file()
    assert (repo / ".gitignore").is_file()
    for schema in (PACKAGE / "schemas").glob("*.json"):
        assert (repo / "schemas" / schema.name).read_bytes() == schema.read_bytes()

    validate = _run(["cmdbctl", "validate"], cwd=repo, env=user_env)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "valid" in validate.stderr  # the summary line

    # ... and a broken document is a finding, exit 1: the installed validator works.
    app = repo / "inventory" / "app-01.yaml"
    app.write_text(app.read_text().replace("status: active", "status: actve"))
    broken = _run(["cmdbctl", "validate"], cwd=repo, env=user_env)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "inventory/app-01.yaml" in broken.stdout and "schema.enum" in broken.stdout


def test_python_dash_m_cmdbctl_runs_from_the_venv(
    venv: Path, user_env: dict[str, str], tmp_path: Path
) -> None:
    proc = _run([str(_bin(venv, "python")), "-m", "cmdbctl", "--version"], tmp_path, user_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"cmdbctl, version {_pyproject()['version']}"

    helped = _run([str(_bin(venv, "python")), "-m", "cmdbctl", "--help"], tmp_path, user_env)
    assert helped.returncode == 0 and "Usage: cmdbctl" in helped.stdout, helped.stderr
