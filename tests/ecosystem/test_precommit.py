"""The `cmdbctl-validate` hook of `.pre-commit-hooks.yaml`, run by the real pre-commit.

A CMDB repository uses the hook as a user's would: `repo:` a git repository holding this
project at a commit, `rev:` that commit. The project is this source tree as it is now
(uncommitted work included), committed into a throwaway repository; pre-commit builds
the hook's virtualenv from it once per test session (pip fetches the dependencies).

Inside `git commit`, the hook inherits GIT_INDEX_FILE (`.git/index`, a relative path;
`.git/index.lock` for `commit -a`; `.git/next-index-*.lock` for `commit PATH`) and
friends; what the hook checks must still be what the commit records.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from cmdbctl.scaffold import init_repository

PROJECT = Path(__file__).resolve().parents[2]
# What pip needs to build the package: its metadata (which names the README) and code.
PACKAGE_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml")
HOOK_ID = "cmdbctl-validate"
BROKEN = ("status: active", "status: actve")  # in inventory/app-01.yaml: schema.enum


def _git_env(home: Path) -> dict[str, str]:
    """git with no user or system configuration, one fixed identity."""
    config = home / "gitconfig"
    if not config.exists():
        home.mkdir(parents=True, exist_ok=True)
        config.write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    return {
        **env,
        "GIT_CONFIG_GLOBAL": str(config),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Alice Example",
        "GIT_AUTHOR_EMAIL": "alice@example.com",
        "GIT_COMMITTER_NAME": "Alice Example",
        "GIT_COMMITTER_EMAIL": "alice@example.com",
    }


def _git(cwd: Path, env: Mapping[str, str], *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"git {' '.join(args)}:\n{proc.stderr}"
    return proc.stdout


@dataclass(frozen=True)
class HookSource:
    """The project committed in a git repository: what `repo:`/`rev:` point at."""

    path: Path
    rev: str


@pytest.fixture(scope="session")
def precommit_hook_source(tmp_path_factory: pytest.TempPathFactory) -> HookSource:
    root = tmp_path_factory.mktemp("cmdbctl-project")
    env = _git_env(tmp_path_factory.mktemp("project-git-home"))
    for name in PACKAGE_FILES:
        shutil.copy2(PROJECT / name, root / name)
    shutil.copytree(
        PROJECT / "cmdbctl",
        root / "cmdbctl",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    _git(root, env, "init", "--quiet")
    _git(root, env, "add", "--all")
    _git(root, env, "commit", "--quiet", "-m", "cmdbctl as the tests found it")
    return HookSource(root, _git(root, env, "rev-parse", "HEAD").strip())


@pytest.fixture(scope="session")
def precommit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PRE_COMMIT_HOME for the session: the hook's virtualenv is built once."""
    return tmp_path_factory.mktemp("pre-commit-home")


@dataclass(frozen=True)
class Cmdb:
    """A git repository holding a CMDB (at `cmdb`, its top or a folder below) that
    uses the hook; git and pre-commit run as its users run them."""

    top: Path
    cmdb: Path
    env: dict[str, str]

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["git", *args],
            cwd=self.top,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=600,  # a first commit through the hook may build its environment
        )
        if check:
            assert proc.returncode == 0, f"git {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
        return proc

    def pre_commit(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", *args],
            cwd=self.top,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=600,
        )

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.cmdb / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").stdout.strip()

    def committed(self, rel: str) -> str:
        """`rel` of the CMDB as HEAD records it."""
        prefix = self.cmdb.relative_to(self.top).as_posix()
        path = rel if prefix == "." else f"{prefix}/{rel}"
        return self.git("show", f"HEAD:{path}").stdout


def _cmdb(
    top: Path,
    below: str | None,
    source: HookSource,
    home: Path,
    env_home: Path,
) -> Cmdb:
    env = {**_git_env(env_home), "PRE_COMMIT_HOME": str(home)}
    top.mkdir()
    _git(top, env, "init", "--quiet")
    cmdb = init_repository(top / below if below else top).root
    args = f", args: [--repo, {below}]" if below else ""
    (top / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {source.path}\n"
        f"    rev: {source.rev}\n"
        f"    hooks: [{{id: {HOOK_ID}{args}}}]\n",
        encoding="utf-8",
    )
    repo = Cmdb(top, cmdb, env)
    repo.git("add", "--all")
    repo.git("commit", "--quiet", "-m", "cmdbctl init")
    return repo


@pytest.fixture
def precommit_cmdb(tmp_path: Path, precommit_hook_source: HookSource, precommit_home: Path) -> Cmdb:
    return _cmdb(tmp_path / "cmdb", None, precommit_hook_source, precommit_home, tmp_path / "home")


def _finding(repo: Cmdb, rel: str, text: str, code: str) -> str:
    """`path:line:col: error CODE` of the node `text` starts on in `rel` (1-based)."""
    lines = (repo.cmdb / rel).read_text(encoding="utf-8").splitlines()
    [(number, line)] = [(n, li) for n, li in enumerate(lines, 1) if text in li]
    column = line.index(text.split(": ", 1)[1]) + 1
    return f"{rel}:{number}:{column}: error {code}"


def test_the_hook_is_declared_for_one_run_over_the_whole_repository() -> None:
    from ruamel.yaml import YAML

    [hook] = YAML(typ="safe").load((PROJECT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    assert hook["id"] == HOOK_ID
    assert hook["entry"] == "cmdbctl validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    assert hook["require_serial"] is True
    # Not filtered by `files:`: pre-commit never hands a hook a deleted file.
    assert hook["always_run"] is True and "files" not in hook


def test_run_all_files_passes_clean_and_fails_on_a_broken_document(
    precommit_cmdb: Cmdb,
) -> None:
    clean = precommit_cmdb.pre_commit("run", "--all-files")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "cmdbctl validate" in clean.stdout and "Passed" in clean.stdout

    precommit_cmdb.edit("inventory/app-01.yaml", *BROKEN)
    broken = precommit_cmdb.pre_commit("run", "--all-files")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "Failed" in broken.stdout
    assert f"- hook id: {HOOK_ID}" in broken.stdout
    expected = _finding(precommit_cmdb, "inventory/app-01.yaml", BROKEN[1], "schema.enum")
    assert expected == "inventory/app-01.yaml:18:11: error schema.enum"
    assert expected + ": spec.status: 'actve' is not one of" in broken.stdout
    assert "1 error in 15 files" in broken.stdout


def test_as_a_git_hook_a_broken_commit_is_refused_and_a_good_one_goes_through(
    precommit_cmdb: Cmdb,
) -> None:
    repo = precommit_cmdb
    installed = repo.pre_commit("install")
    assert installed.returncode == 0, installed.stderr
    start = repo.head()

    repo.edit("inventory/app-01.yaml", *BROKEN)
    repo.git("add", "inventory/app-01.yaml")
    refused = repo.git("commit", "-m", "typo", check=False)
    assert refused.returncode == 1
    assert "inventory/app-01.yaml:18:11: error schema.enum" in refused.stdout + refused.stderr
    assert repo.head() == start

    repo.edit("inventory/app-01.yaml", BROKEN[1], BROKEN[0])
    repo.edit("inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072")
    repo.git("add", "inventory/app-01.yaml")
    done = repo.git("commit", "-m", "More memory")
    assert "cmdbctl validate" in done.stdout + done.stderr
    assert repo.head() != start
    assert "memoryMb: 131072" in repo.committed("inventory/app-01.yaml")


def test_the_hook_checks_what_is_staged_not_the_work_tree(precommit_cmdb: Cmdb) -> None:
    repo = precommit_cmdb
    assert repo.pre_commit("install").returncode == 0

    # A good edit staged, a broken one left unstaged: pre-commit sets the unstaged one
    # aside, the commit goes through, and the broken edit is back in the work tree.
    repo.edit("inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072")
    repo.git("add", "inventory/app-01.yaml")
    repo.edit("inventory/app-01.yaml", *BROKEN)
    start = repo.head()
    done = repo.git("commit", "-m", "More memory")
    assert "Stashing unstaged files" in done.stdout + done.stderr
    assert repo.head() != start
    committed = repo.committed("inventory/app-01.yaml")
    assert "memoryMb: 131072" in committed and BROKEN[0] in committed
    assert BROKEN[1] in (repo.cmdb / "inventory/app-01.yaml").read_text()

    # The other way round: broken staged, fixed in the work tree only: refused.
    repo.git("add", "inventory/app-01.yaml")
    repo.edit("inventory/app-01.yaml", BROKEN[1], BROKEN[0])
    start = repo.head()
    refused = repo.git("commit", "-m", "typo", check=False)
    assert refused.returncode == 1
    assert "error schema.enum" in refused.stdout + refused.stderr
    assert repo.head() == start
    assert BROKEN[0] in (repo.cmdb / "inventory/app-01.yaml").read_text()  # the fix is kept


def test_commit_all_and_commit_of_a_path_run_with_a_temporary_index(
    precommit_cmdb: Cmdb,
) -> None:
    repo = precommit_cmdb
    assert repo.pre_commit("install").returncode == 0
    start = repo.head()

    # `commit -a` stages into .git/index.lock, which the hook's GIT_INDEX_FILE names.
    repo.edit("inventory/app-01.yaml", *BROKEN)
    refused = repo.git("commit", "-a", "-m", "typo", check=False)
    assert refused.returncode == 1
    assert "inventory/app-01.yaml:18:11: error schema.enum" in refused.stdout + refused.stderr
    assert repo.head() == start

    # `commit PATH` commits that path through .git/next-index-*.lock.
    repo.edit("inventory/app-01.yaml", BROKEN[1], BROKEN[0])
    repo.edit("inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072")
    repo.git("commit", "-m", "More memory", "--", "inventory/app-01.yaml")
    assert repo.head() != start
    assert "memoryMb: 131072" in repo.committed("inventory/app-01.yaml")


def test_a_commit_that_only_deletes_a_ci_is_checked(precommit_cmdb: Cmdb) -> None:
    # app-01's spec.location refers to rack-a01: deleting the rack alone leaves a
    # dangling reference, though the commit adds or modifies no file.
    repo = precommit_cmdb
    assert repo.pre_commit("install").returncode == 0
    start = repo.head()
    repo.git("rm", "--quiet", "inventory/rack-a01.yaml")
    refused = repo.git("commit", "-m", "Retire the rack", check=False)
    assert refused.returncode == 1
    output = refused.stdout + refused.stderr
    assert "inventory/app-01.yaml:17:13: error ref.dangling: 'rack-a01'" in output
    assert repo.head() == start


def test_a_commit_outside_the_estate_still_runs_the_hook(precommit_cmdb: Cmdb) -> None:
    repo = precommit_cmdb
    assert repo.pre_commit("install").returncode == 0
    (repo.top / "NOTES.md").write_text("on-call rota\n")
    repo.git("add", "NOTES.md")
    done = repo.git("commit", "-m", "Notes")
    assert "cmdbctl validate" in done.stdout + done.stderr
    assert "Passed" in done.stdout + done.stderr


def test_a_cmdb_below_the_top_of_its_repository(
    tmp_path: Path, precommit_hook_source: HookSource, precommit_home: Path
) -> None:
    # The hook runs at the top; `args: [--repo, cmdb]` points it at the CMDB. git hands
    # the hook GIT_INDEX_FILE=.git/index, relative to the top, not to the CMDB.
    repo = _cmdb(tmp_path / "platform", "cmdb", precommit_hook_source, precommit_home, tmp_path)
    assert repo.pre_commit("install").returncode == 0
    start = repo.head()
    repo.edit("inventory/app-01.yaml", *BROKEN)
    repo.git("add", "--all")
    refused = repo.git("commit", "-m", "typo", check=False)
    assert refused.returncode == 1
    assert "inventory/app-01.yaml:18:11: error schema.enum" in refused.stdout + refused.stderr
    assert repo.head() == start

    repo.edit("inventory/app-01.yaml", BROKEN[1], BROKEN[0])
    repo.edit("inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072")
    repo.git("add", "--all")
    repo.git("commit", "-m", "More memory")
    assert repo.head() != start
    assert "memoryMb: 131072" in repo.committed("inventory/app-01.yaml")


def test_commits_where_git_hands_the_hook_a_git_dir(precommit_cmdb: Cmdb) -> None:
    # A linked worktree's hooks get GIT_DIR=<top>/.git/worktrees/<name>; `git --git-dir
    # .git --work-tree . commit` hands on GIT_DIR=.git and GIT_WORK_TREE=., relative.
    repo = precommit_cmdb
    assert repo.pre_commit("install").returncode == 0
    repo.git("worktree", "add", "--quiet", str(repo.top.parent / "linked"))
    linked = Cmdb(repo.top.parent / "linked", repo.top.parent / "linked", repo.env)
    for where, flags in ((linked, ()), (repo, ("--git-dir", ".git", "--work-tree", "."))):
        start = where.head()
        where.edit("inventory/app-01.yaml", *BROKEN)
        refused = where.git(*flags, "commit", "-a", "-m", "typo", check=False)
        assert refused.returncode == 1, (where.top, refused.stdout, refused.stderr)
        assert "inventory/app-01.yaml:18:11: error schema.enum" in refused.stdout + refused.stderr
        assert where.head() == start

        where.edit("inventory/app-01.yaml", BROKEN[1], BROKEN[0])
        where.edit("inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072")
        where.git(*flags, "commit", "-a", "-m", "More memory")
        assert where.head() != start
        assert "memoryMb: 131072" in where.committed("inventory/app-01.yaml")
