#!/usr/bin/env python3
"""Benchmark of `cmdbctl history` and `cmdbctl show` on a long history.

    python bench/history.py [--commits 20000] [--files 5000] [--repeat 5] [--out DIR]

Builds (or reuses) a CMDB repository of FILES CIs with COMMITS commits in one
`git fast-import` stream (seconds, not minutes): a first commit imports the estate,
then every commit edits one to three CIs, by one of eight people, half of them with a
`Change-Id:` trailer; every 50th commit is a merge of a two-commit side branch. The CI
`srv-00042` is edited every 400 commits, moved to another folder half way and edited
on side branches too; `srv-00043` is deleted at 80 %. Then it times, as child processes
(the whole CLI: interpreter start-up, imports, git) and in-process (the core function),
the median of REPEAT runs of:

- `history srv-00042` (text and json), `history srv-00042 --field spec.memoryMb`,
  `history srv-00043` (deleted);
- `show srv-00042` (work tree), `--at HEAD~<COMMITS/4>`, `--at <a date half way>`;

without a commit-graph, with one (`git commit-graph write --reachable`, what `git gc`
writes by default) and with its changed-path Bloom filters (`--changed-paths`): wall
clock and CPU time (the process and the git processes it ran; on a shared machine the
wall clock also waits for a core). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TARGET, DELETED = "srv-00042", "srv-00043"
PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
START = 1_767_225_600  # 2026-01-01T00:00:00Z
STEP = 600  # ten minutes between commits


def document(ci: str, memory: int, version: int) -> bytes:
    return (
        f"apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: {ci}\n"
        f"  name: Server {ci}\n  owner: team-ops\n  labels: {{env: prod, site: dc-main}}\n"
        f"spec:\n  hostname: {ci}\n  fqdn: {ci}.example.net\n  serial: SN-{ci}\n"
        f"  vendor: Dell\n  model: PowerEdge R650\n"
        f'  os: {{name: Debian, version: "12.{version}"}}\n  cpu: {{cores: 16}}\n'
        f"  memoryMb: {memory}\n  location: rack-a01\n  status: active\n"
        f"  criticality: high\n"
    ).encode()


class Stream:
    """A fast-import stream written as it is built."""

    def __init__(self, out: object) -> None:
        self.out = out
        self.mark = 0
        self.when = START

    def write(self, data: bytes) -> None:
        self.out.write(data)  # type: ignore[attr-defined]

    def commit(
        self,
        ref: str,
        who: str,
        message: str,
        changes: dict[str, bytes | None],
        parent: int | None,
        merge: int | None = None,
    ) -> int:
        self.mark += 1
        self.when += STEP
        ident = f"{who.capitalize()} Example <{who}@example.com> {self.when} +0000"
        body = message.encode()
        self.write(
            f"commit {ref}\nmark :{self.mark}\nauthor {ident}\ncommitter {ident}\n"
            f"data {len(body)}\n".encode()
            + body
            + b"\n"
        )
        if parent is not None:
            self.write(f"from :{parent}\n".encode())
        if merge is not None:
            self.write(f"merge :{merge}\n".encode())
        for path, content in changes.items():
            if content is None:
                self.write(f"D {path}\n".encode())
            else:
                self.write(
                    f"M 100644 inline {path}\ndata {len(content)}\n".encode() + content + b"\n"
                )
        self.write(b"\n")
        return self.mark


def build(repo: Path, commits: int, files: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(repo)], check=True)
    paths = {
        f"srv-{i:05d}": f"inventory/servers/{i // 100:03d}/srv-{i:05d}.yaml" for i in range(files)
    }
    memory = {ci: 65536 for ci in paths}
    version = dict.fromkeys(paths, 0)
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=repo, stdin=subprocess.PIPE)
    assert proc.stdin
    stream = Stream(proc.stdin)
    gone: set[str] = set()
    next_target = 400
    moved = False

    def edit(ci: str) -> dict[str, bytes | None]:
        version[ci] += 1
        memory[ci] = rnd.choice([32768, 65536, 131072, 262144])
        return {paths[ci]: document(ci, memory[ci], version[ci])}

    head = stream.commit(
        "refs/heads/main",
        "alice",
        "import the estate\n",
        {p: document(ci, 65536, 0) for ci, p in paths.items()},
        None,
    )
    made = 1
    while made < commits:
        if made % 50 == 0:  # a side branch of two commits, merged back
            side_changes: dict[str, bytes | None] = {}
            side = head
            for n in range(2):
                ci = (
                    TARGET
                    if made % 1000 < 3 and n == 0
                    else rnd.choice([c for c in paths if c not in gone])
                )
                change = edit(ci)
                side_changes.update(change)
                side = stream.commit(
                    "refs/heads/side",
                    rnd.choice(PEOPLE),
                    f"side edit of {ci}\n\nChange-Id: CHG-2026-{made:05d}\n",
                    change,
                    side,
                )
            head = stream.commit(
                "refs/heads/main",
                rnd.choice(PEOPLE),
                f"Merge branch 'side-{made}'\n",
                side_changes,
                head,
                side,
            )
            made += 3
            continue
        changes: dict[str, bytes | None] = {}
        if made >= commits // 2 and not moved:  # the target moves to another folder
            moved = True
            old = paths[TARGET]
            paths[TARGET] = f"inventory/servers/moved/{TARGET}.yaml"
            changes = {old: None, **edit(TARGET)}
        elif made >= commits * 4 // 5 and DELETED not in gone:
            changes = {paths[DELETED]: None}
            gone.add(DELETED)
        elif made >= next_target:
            changes = edit(TARGET)
            next_target += 400
        else:
            for ci in rnd.sample(list(paths), rnd.randint(1, 3)):
                if ci not in gone:
                    changes.update(edit(ci))
        trailer = f"\n\nChange-Id: CHG-2026-{made:05d}\n" if made % 2 else "\n"
        head = stream.commit(
            "refs/heads/main", rnd.choice(PEOPLE), f"commit {made}{trailer}", changes, head
        )
        made += 1
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "checkout", "--quiet", "-f", "main"], cwd=repo, check=True)


def _cpu() -> float:
    """CPU seconds of this process and of every child it waited for (and theirs: git)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def median_time(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of `repeat` runs. On a busy machine the wall
    clock waits for cores; CPU time is what the run itself costs."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, started = _cpu(), time.perf_counter()
        run()
        walls.append(time.perf_counter() - started)
        cpus.append(_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def child(repo: Path | None, *args: str) -> Callable[[], object]:
    def run() -> object:
        where = ["--repo", str(repo)] if repo else []
        proc = subprocess.run(
            [sys.executable, "-m", "cmdbctl", *args, *where], capture_output=True, check=False
        )
        if proc.returncode not in (0, 1):
            raise SystemExit(f"cmdbctl {' '.join(args)} failed:\n{proc.stderr.decode()}")
        return proc

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=BENCH / "out")
    options = parser.parse_args()
    repo = options.out / f"history-{options.commits}-{options.files}"
    if not (repo / ".git").is_dir():
        started = time.perf_counter()
        repo.parent.mkdir(parents=True, exist_ok=True)
        build(repo, options.commits, options.files)
        print(f"built {repo} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    sys.path.insert(0, str(BENCH.parent))
    from cmdbctl import history, show

    count = subprocess.run(
        ["git", "rev-list", "--count", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    back = f"HEAD~{options.commits // 4}"
    half = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START + STEP * options.commits // 2))
    cases: list[tuple[str, tuple[str, ...], Callable[[], object]]] = [
        (f"history {TARGET}", ("history", TARGET), lambda: history.history(repo, TARGET)),
        (
            f"history {TARGET} --format json",
            ("history", TARGET, "--format", "json"),
            lambda: history.history(repo, TARGET).to_json(),
        ),
        (
            f"history {TARGET} --field spec.memoryMb",
            ("history", TARGET, "--field", "spec.memoryMb"),
            lambda: history.history(repo, TARGET, "spec.memoryMb"),
        ),
        (
            f"history {DELETED} (deleted)",
            ("history", DELETED),
            lambda: history.history(repo, DELETED),
        ),
        (f"show {TARGET}", ("show", TARGET), lambda: show.show(repo, TARGET)),
        (
            f"show {TARGET} --at {back}",
            ("show", TARGET, "--at", back),
            lambda: show.show(repo, TARGET, back),
        ),
        (
            f"show {TARGET} --at {half}",
            ("show", TARGET, "--at", half),
            lambda: show.show(repo, TARGET, half),
        ),
    ]
    entries = len(history.history(repo, TARGET).entries)
    print(
        f"\n{count} commits, {options.files} CIs; {TARGET} has {entries} entries; "
        f"median of {options.repeat} runs, seconds\n"
    )
    print(
        "| command | CLI wall | CLI CPU | core wall "
        "| commit-graph: CLI wall | CLI CPU | core wall "
        "| + Bloom filters: CLI wall | CLI CPU | core wall |"
    )
    print("| --- |" + " ---: |" * 9)
    graph = repo / ".git" / "objects" / "info" / "commit-graph"
    results: dict[str, list[float]] = {}
    for setup in ([], ["--reachable"], ["--reachable", "--changed-paths"]):
        if graph.exists():
            os.remove(graph)
        if setup:
            subprocess.run(
                ["git", "commit-graph", "write", *setup], cwd=repo, check=True, capture_output=True
            )
        for label, args, core in cases:
            results.setdefault(label, []).extend(
                [
                    *median_time(child(repo, *args), options.repeat),
                    median_time(core, options.repeat)[0],
                ]
            )
    if graph.exists():
        os.remove(graph)
    for label, figures in results.items():
        print(f"| `{label}` | " + " | ".join(f"{f:.3f}" for f in figures) + " |")
    wall, cpu = median_time(child(None, "--version"), options.repeat)
    print(
        f"\n`cmdbctl --version` (interpreter start-up and imports): {wall:.3f} s wall, "
        f"{cpu:.3f} s CPU; load average before: {os.getloadavg()[0]:.2f}"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, {sys.platform}, Python {sys.version.split()[0]}, "
        + subprocess.run(
            ["git", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    )


if __name__ == "__main__":
    main()
