"""docs/tutorial.md runs as written: its ```sh blocks, in order, pasted into one shell.

Each block runs in bash (`-e -o pipefail`: the first failing command ends the block) in
a fresh folder, as a new user would, with a home of its own and no git configuration
but what the tutorial sets. What a user's terminal carries from one paste to the next,
the folder and the exported variables, is carried from block to block. A block's exit
status must be 0, or the one a `<!-- expect: exit N -->` comment right above it says;
`<!-- skip: why -->` leaves a block out (installing cmdbctl: the tests run the one
installed here, whose `bin/` leads PATH).
"""

from __future__ import annotations

import datetime
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
TUTORIAL = TOP / "docs" / "tutorial.md"
POLICY = TOP / "cmdbctl" / "scaffold" / "policies" / "change-policy.yaml"

_FENCE = re.compile(
    r"(?:<!--\s*(?P<mark>expect|skip):\s*(?P<arg>.*?)\s*-->\n\s*\n?)?^```sh\n(?P<body>.*?)^```$"
    r"(?:\n\s*\n```text\n(?P<output>.*?)^```$)?",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class Block:
    number: int
    line: int
    body: str
    expect: int
    skip: str | None
    output: str | None  # a ```text block right after it: what it prints


def blocks(markdown: str) -> list[Block]:
    out = []
    for n, m in enumerate(_FENCE.finditer(markdown), 1):
        mark, arg = m["mark"], m["arg"]
        expect = 0
        if mark == "expect":
            status = re.fullmatch(r"exit (\d+)", arg)
            assert status, f"tutorial block {n}: write <!-- expect: exit N -->, not {arg!r}"
            expect = int(status[1])
        line = markdown.count("\n", 0, m.start("body"))
        skip = arg if mark == "skip" else None
        out.append(Block(n, line, m["body"], expect, skip, m["output"]))
    return out


def _clean_environment(home: Path) -> dict[str, str]:
    """The machine's environment less what would make this run unlike a new user's:
    git identities, dates and config, cmdbctl options, colour, CI."""
    drop = ("GIT_", "CMDBCTL_", "EMAIL", "NO_COLOR", "FORCE_COLOR", "CI", "PYTEST_", "COV_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        LC_ALL="C.UTF-8",
    )
    return env


def _freeze_in_force(now: datetime.datetime) -> str | None:
    """The example policy's freeze in force now, if any: the gate refuses a normal
    change during it, for a user following the tutorial and for this test alike."""
    text = POLICY.read_text(encoding="utf-8")
    for m in re.finditer(r"\{id: ([\w-]+), start: (\S+), end: (\S+),", text):
        start, end = (datetime.datetime.fromisoformat(s) for s in (m[2], m[3]))
        if start <= now < end:
            return m[1]
    return None


def test_the_tutorial_marks_its_blocks_and_walks_the_whole_flow() -> None:
    text = TUTORIAL.read_text(encoding="utf-8")
    found = blocks(text)
    assert len(found) == text.count("```sh\n"), "a ```sh block the parser did not read"
    run = "\n".join(b.body for b in found if b.skip is None)
    steps = [
        "cmdbctl init",
        "cmdbctl validate",
        "git switch -c",
        "Change-Id: CHG-",
        "cmdbctl gate --base main",
        "cmdbctl approve CHG-",
        "git merge --no-ff",
        "cmdbctl audit",
        "cmdbctl history",
        "cmdbctl show app-01 --at",
        "cmdbctl rollback CHG-",
    ]
    positions = [run.find(step) for step in steps]
    assert -1 not in positions, [s for s, p in zip(steps, positions, strict=True) if p < 0]
    assert positions == sorted(positions), "the tutorial's steps are out of order"
    assert [b.body.split()[-1] for b in found if b.skip] == ["cmdbctl"]  # only the install
    refusals = [b for b in found if b.expect]
    assert [b.expect for b in refusals] == [1, 2]  # the gate before approval; self-approval
    assert "cmdbctl gate --base main" in refusals[0].body
    assert refusals[0].output and "gate.approval.missing" in refusals[0].output


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    freeze = _freeze_in_force(datetime.datetime.now(datetime.UTC))
    if freeze:
        pytest.skip(f"the example policy's freeze {freeze} is in force: the gate refuses")
    home, work, state = tmp_path / "home", tmp_path / "work", tmp_path / "state"
    for folder in (home, work, state):
        folder.mkdir()
    env_file, cwd_file = state / "env.sh", state / "cwd"
    env_file.write_text("")
    cwd_file.write_text(str(work))
    # Carry the folder and the exported variables from one paste to the next.
    prelude = (
        f"source {shlex.quote(str(env_file))}\n"
        f'cd "$(cat {shlex.quote(str(cwd_file))})"\n'
        f"trap 'status=$?; export -p > {shlex.quote(str(env_file))}; "
        f"pwd > {shlex.quote(str(cwd_file))}; exit $status' EXIT\n"
    )
    env = _clean_environment(home)
    ran = 0
    for block in blocks(TUTORIAL.read_text(encoding="utf-8")):
        if block.skip is not None:
            continue
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", prelude + block.body],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
        ran += 1
        assert proc.returncode == block.expect, (
            f"docs/tutorial.md block {block.number} (line {block.line}) exited "
            f"{proc.returncode}, expected {block.expect}:\n{block.body}\n"
            f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        for shown in (block.output or "").splitlines():
            assert shown in (proc.stdout + proc.stderr).splitlines(), (
                f"docs/tutorial.md block {block.number} (line {block.line}) shows a line it "
                f"does not print: {shown!r}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
            )
    assert ran >= 10

    # Where the tutorial leaves the user: the change rolled back, app-01 as it was.
    repo = work / "my-cmdb"
    change = (repo / "changes" / "CHG-2026-0002.yaml").read_text()
    assert "status: rolled-back" in change and "reason: p99 latency doubled" in change
    assert "memoryMb: 65536" in (repo / "inventory" / "app-01.yaml").read_text()
    log = subprocess.run(
        ["git", "log", "--first-parent", "--format=%s", "main"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert log == ["Merge branch 'rollback-0002'", "Merge branch 'app-01-memory'", "Start the CMDB"]
