"""Shell completion, for real: the script `cmdbctl completion SHELL` prints is loaded into
bash, zsh and fish, and the shell asks the installed `cmdbctl` for candidates as it does
when Tab is pressed.

Every shell must be installed (`apt-get install -y bash zsh fish`); a missing one fails
its tests, saying so, rather than letting them pass unchecked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RunCli, run_cmdbctl

CHANGE = """\
apiVersion: cmdb/v1
kind: ChangeRequest
metadata:
  id: CHG-2026-0002
spec:
  type: normal
  category: system
  requester: alice
  reason: More memory
  targets: [app-01]
  risk: low
  status: draft
"""
BIN = Path(sys.executable).parent  # where the installed `cmdbctl` script is


def shell(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is not installed: apt-get install -y {name} (completion is tested in it)"
        )
    return found


def environment() -> dict[str, str]:
    """The test's environment with the installed cmdbctl first on PATH."""
    if not (BIN / "cmdbctl").is_file():
        pytest.fail(f"no cmdbctl script beside {sys.executable}: pip install the project first")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMDBCTL_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def completion_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed `cmdbctl init` repository with a second change in a sub-folder, a
    branch and a tag; git configuration isolated from the machine's."""
    root = tmp_path_factory.mktemp("completion") / "cmdb"
    home = root.parent / "home"
    home.mkdir()
    (home / "gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    git_env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": str(home / "gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Alice Example",
        "GIT_AUTHOR_EMAIL": "alice@example.com",
        "GIT_COMMITTER_NAME": "Alice Example",
        "GIT_COMMITTER_EMAIL": "alice@example.com",
    }
    assert run_cmdbctl("init", "-q", str(root), cwd=root.parent, env=git_env).returncode == 0
    (root / "changes" / "2026").mkdir()
    (root / "changes" / "2026" / "CHG-2026-0002.yaml").write_text(CHANGE)
    for args in (
        ["add", "-A"],
        ["commit", "--quiet", "-m", "Start the CMDB"],
        ["branch", "feature-x"],
        ["tag", "v2026.11"],
    ):
        subprocess.run(["git", *args], cwd=root, env=git_env, check=True, capture_output=True)
    return root


# The words typed so far (the last one is being completed) and what must be offered.
CASES = {
    "approve: change ids, no CI ids": (["approve", ""], {"CHG-2026-0001", "CHG-2026-0002"}),
    "review: change ids by prefix": (
        ["review", "CHG-2026-000"],
        {"CHG-2026-0001", "CHG-2026-0002"},
    ),
    "rollback: a change in a sub-folder": (["rollback", "CHG-2026-0002"], {"CHG-2026-0002"}),
    "history: document ids": (["history", "shop"], {"shop", "shop-db", "shop-web"}),
    "history: change ids too": (["history", "CHG-2026-0001"], {"CHG-2026-0001"}),
    "show: document ids": (["show", "rack"], {"rack-a01"}),
    "show --at: revisions": (
        ["show", "app-01", "--at", ""],
        {"HEAD", "main", "feature-x", "v2026.11"},
    ),
    "gate --base: revisions": (["gate", "--base", "f"], {"feature-x"}),
    "gate --head: revisions": (["gate", "--base", "main", "--head", "ma"], {"main"}),
    "audit --since: tags": (["audit", "--since", "v"], {"v2026.11"}),
    "completion: the shells": (["completion", ""], {"bash", "zsh", "fish"}),
    "commands": (["sch"], {"schema"}),
}


def bash_candidates(repo: Path, words: list[str]) -> set[str]:
    script = run_cmdbctl("completion", "bash", cwd=repo, env=environment()).stdout
    typed = " ".join(f"'{w}'" for w in ["cmdbctl", *words])
    program = (
        f"{script}\n"
        "complete -p cmdbctl >/dev/null || exit 3\n"  # the script registered itself
        f"COMP_WORDS=({typed}); COMP_CWORD={len(words)}\n"
        "_cmdbctl_completion cmdbctl\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(
        [shell("bash"), "--norc", "--noprofile", "-c", program],
        cwd=repo,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc
    return set(proc.stdout.split())


def zsh_candidates(repo: Path, words: list[str]) -> set[str]:
    """zsh displays candidates with the completion builtins, which work only inside a
    completion widget; here they print what they are handed instead. The script, the
    shell and the call back into cmdbctl are the real ones."""
    script = run_cmdbctl("completion", "zsh", cwd=repo, env=environment()).stdout
    typed = " ".join(f"'{w}'" for w in ["cmdbctl", *words])
    program = (
        'autoload -Uz compinit && compinit -u -d "$HOME/.zcompdump"\n'
        f"{script}\n"
        '[[ "$_comps[cmdbctl]" == _cmdbctl_completion ]] || exit 3\n'
        '_describe() { local item; for item in "${(@P)3}"; do print -r -- "${item%%:*}"; done }\n'
        'compadd() { print -rl -- "${(@P)5}" }\n'
        f"words=({typed}); CURRENT={len(words) + 1}\n"
        "_cmdbctl_completion\n"
    )
    env = {**environment(), "HOME": str(repo.parent / "home")}
    proc = subprocess.run(
        [shell("zsh"), "-f", "-c", program],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc
    return set(proc.stdout.split())


def fish_candidates(repo: Path, words: list[str]) -> set[str]:
    """fish answers `complete -C LINE` with what Tab would offer at the end of LINE."""
    script = run_cmdbctl("completion", "fish", cwd=repo, env=environment()).stdout
    line = " ".join(["cmdbctl", *words])
    proc = subprocess.run(
        [shell("fish"), "--no-config", "-c", f"{script}\ncomplete -C {_fish_quote(line)}"],
        cwd=repo,
        env={**environment(), "HOME": str(repo.parent / "home")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc
    return {line.split("\t")[0] for line in proc.stdout.splitlines() if line}


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@pytest.mark.parametrize("case", list(CASES))
def test_bash_completes(completion_repo: Path, case: str) -> None:
    words, expected = CASES[case]
    assert bash_candidates(completion_repo, words) == expected


@pytest.mark.parametrize(
    "case", ["approve: change ids, no CI ids", "show --at: revisions", "history: document ids"]
)
def test_zsh_completes(completion_repo: Path, case: str) -> None:
    words, expected = CASES[case]
    assert zsh_candidates(completion_repo, words) == expected


@pytest.mark.parametrize(
    "case", ["approve: change ids, no CI ids", "gate --base: revisions", "commands"]
)
def test_fish_completes(completion_repo: Path, case: str) -> None:
    words, expected = CASES[case]
    assert fish_candidates(completion_repo, words) == expected


def _complete(cwd: Path, *words: str) -> subprocess.CompletedProcess[str]:
    """What the bash script runs: cmdbctl with the words typed and the one completed."""
    env = {
        **environment(),
        "_CMDBCTL_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(["cmdbctl", *words]),
        "COMP_CWORD": str(len(words)),
    }
    return run_cmdbctl(cwd=cwd, env=env)


def test_repo_on_the_command_line_names_the_repository(
    completion_repo: Path, tmp_path: Path
) -> None:
    proc = _complete(tmp_path, "approve", "--repo", str(completion_repo), "CHG")
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) == {"plain,CHG-2026-0001", "plain,CHG-2026-0002"}


def test_outside_a_repository_ids_complete_to_nothing_quietly(tmp_path: Path) -> None:
    for words in (["approve", ""], ["gate", "--base", ""], ["history", "a"]):
        proc = _complete(tmp_path, *words)
        assert (proc.returncode, proc.stdout.strip(), proc.stderr) == (0, "", ""), words


def test_the_script_is_clicks_own(completion_repo: Path) -> None:
    for name in ("bash", "zsh", "fish"):
        printed = run_cmdbctl("completion", name, cwd=completion_repo, env=environment())
        assert printed.returncode == 0, printed.stderr
        env = {**environment(), "_CMDBCTL_COMPLETE": f"{name}_source"}
        sourced = run_cmdbctl(cwd=completion_repo, env=env)
        assert printed.stdout == sourced.stdout
        assert "_CMDBCTL_COMPLETE" in printed.stdout


def test_an_unknown_shell_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli("completion", "tcsh")
    assert result.exit_code == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.stderr
