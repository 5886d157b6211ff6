#!/usr/bin/env python3
"""How fast `cmdbctl audit` judges a long history, cold and with its verdict cache.

    python bench/audit.py [--n 10000] [--commits 1000] [--profile] [--force]

Builds (once, reused while it exists) a repository of N CIs (`generate.py`'s estate,
committed as the import) followed by K first-parent commits written with
`git fast-import`: mostly merge commits of small approved branches (alice edits one to
three servers and asks for the change, bob approves it in his own commit, carol merges),
a tenth squash merges of such branches, one in fifty a direct push by alice, and every
two hundredth an emergency change carried out and never reviewed. Then it times
`cmdbctl audit --format json` as a child process:

* cold: no verdict cache, every governed commit judged;
* warm: the same again, every verdict from the cache;
* after one new merge: one more approved branch merged, only that merge judged;
* cold after `cmdbctl validate` (the CI recipe: the gate reads dependents from
  validate's cache instead of searching every blob).

Each is run on a copy of the package taken at the start (`bench/out/audit-snapshot`):
the cache is keyed by a fingerprint of the code, which edits to the working copy during
the run would change.

`--profile` runs the cold audit in this process under pyinstrument and writes
`bench/out/audit-profile-N.txt`. Results go to stdout and `bench/out/audit-N.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from generate import EPOCH, MAINTENANCE, PER_FOLDER, Estate, change_text, git

NOW = "2026-12-01T00:00:00Z"  # after every window: the emergency reviews are overdue
PEOPLE = {"alice": "Alice Example", "bob": "Bob Example", "carol": "Carol Example"}
_MEMORY = re.compile(rb"^(  memoryMb: )(\d+)$", re.MULTILINE)


class History:
    """Writes commits after the import through one `git fast-import` stream."""

    def __init__(self, root: Path, estate: Estate, seed: int) -> None:
        self.root = root
        self.estate = estate
        self.rng = random.Random(seed)
        self.texts: dict[str, bytes] = {}  # path → current bytes on main
        self.out: list[bytes] = []
        self.mark = 0
        self.main = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True
        ).stdout.strip()
        self.counts = {"merge": 0, "squash": 0, "direct": 0, "emergency": 0}
        self.change = 0

    def _next(self) -> str:
        self.mark += 1
        return f":{self.mark}"

    def _text(self, rel: str) -> bytes:
        if rel not in self.texts:
            self.texts[rel] = (self.root / rel).read_bytes()
        return self.texts[rel]

    def _commit(
        self,
        who: str,
        when: datetime,
        message: str,
        parent: str,
        files: dict[str, bytes],
        merge: str | None = None,
        ref: str = "refs/heads/main",
    ) -> str:
        mark = self._next()
        stamp = f"{int(when.timestamp())} +0000"
        ident = f"{PEOPLE[who]} <{who}@example.com> {stamp}"
        body = message.encode()
        lines = [
            f"commit {ref}\nmark {mark}\nauthor {ident}\ncommitter {ident}\n"
            f"data {len(body)}\n".encode()
            + body
            + b"\n",
            f"from {parent}\n".encode(),
        ]
        if merge:
            lines.append(f"merge {merge}\n".encode())
        for rel, data in files.items():
            lines.append(f"M 100644 inline {rel}\ndata {len(data)}\n".encode() + data + b"\n")
        self.out.append(b"".join(lines) + b"\n")
        return mark

    def _resized(self, match: re.Match[bytes]) -> bytes:
        """memoryMb set to another size than it had."""
        sizes = [16384 << k for k in range(8) if 16384 << k != int(match.group(2))]
        return match.group(1) + str(self.rng.choice(sizes)).encode()

    def _servers(self, count: int) -> dict[str, bytes]:
        edits = {}
        for _ in range(count):
            rel = self.estate.server_paths[self.rng.randrange(len(self.estate.server_paths))]
            edits[rel] = _MEMORY.sub(self._resized, self._text(rel), count=1)
        return edits

    def _request(self) -> tuple[str, str]:
        self.change += 1
        cid = f"CHG-2026-{1000 + self.change:04d}"
        return cid, f"changes/history/{self.change // PER_FOLDER:03d}/{cid}.yaml"

    def branch(self, when: datetime, landing: str, type_: str = "normal") -> None:
        """alice asks for a change and edits servers, bob approves; then carol lands it
        as a merge commit or a squash merge."""
        cid, rel = self._request()
        edits = self._servers(1 + self.rng.randrange(3))
        targets = sorted(Path(p).stem for p in edits)
        start = MAINTENANCE + timedelta(weeks=2)
        asked = change_text(
            cid,
            f"Resize {', '.join(targets)}",
            targets,
            type_=type_,
            status="submitted",
            start=start,
            approved=False,
        ).encode()
        approved = change_text(
            cid,
            f"Resize {', '.join(targets)}",
            targets,
            type_=type_,
            status="approved",
            start=start,
        ).encode()
        files = {**edits, rel: asked}
        first = self._commit(
            "alice",
            when,
            f"Resize {', '.join(targets)}\n\nChange-Id: {cid}\n",
            self.main,
            files,
            ref="refs/heads/work",
        )
        tip = self._commit(
            "bob",
            when + timedelta(minutes=2),
            f"Approve {cid}\n",
            first,
            {rel: approved},
            ref="refs/heads/work",
        )
        final = {**edits, rel: approved}
        if type_ == "emergency":
            done = approved.replace(b"status: approved", b"status: implemented")
            tip = self._commit(
                "alice",
                when + timedelta(minutes=3),
                f"{cid} implemented\n",
                tip,
                {rel: done},
                ref="refs/heads/work",
            )
            final[rel] = done
            self.counts["emergency"] += 1
        later = when + timedelta(minutes=4)
        if landing == "squash":
            self.main = self._commit(
                "carol",
                later,
                f"Resize {', '.join(targets)} (#{self.change})\n\nChange-Id: {cid}\n",
                self.main,
                final,
            )
        else:
            self.main = self._commit(
                "carol", later, f"Merge branch 'change/{cid}'\n", self.main, final, merge=tip
            )
        self.counts[landing] += 1
        self.texts.update(final)

    def direct(self, when: datetime) -> None:
        edits = self._servers(1)
        self.main = self._commit("alice", when, "Quick memory fix\n", self.main, edits)
        self.texts.update(edits)
        self.counts["direct"] += 1

    def write(self) -> None:
        stream = b"".join(self.out) + b"done\n"
        subprocess.run(
            ["git", "fast-import", "--quiet", "--done"], cwd=self.root, input=stream, check=True
        )
        subprocess.run(["git", "update-ref", "-d", "refs/heads/work"], cwd=self.root, check=True)
        self.out = []


def build(root: Path, n: int, commits: int, seed: int) -> dict[str, object]:
    from cmdbctl.scaffold import init_repository

    started = time.perf_counter()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    init_repository(root)
    estate = Estate(n, seed)
    estate.write(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", f"Import the estate: {n} configuration items")
    history = History(root, estate, seed)
    for i in range(commits):
        when = EPOCH + timedelta(hours=1, minutes=15 * i)
        if i % 50 == 25:
            history.direct(when)
        elif i % 200 == 100:
            history.branch(when, "merge", type_="emergency")
        else:
            history.branch(when, "squash" if i % 10 == 5 else "merge")
    history.write()
    git(root, "reset", "-q", "--hard")
    state = {
        "n": n,
        "commits": commits,
        "seed": seed,
        "counts": history.counts,
        "changes": history.change,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    (root / ".git" / "bench-audit.json").write_text(json.dumps(state))
    return state


def add_merge(root: Path, n: int, seed: int, commits: int) -> None:
    """One more approved branch merged onto main, dated after the others."""
    estate = Estate(n, seed)  # the same ids and paths as the built estate
    estate.server_paths = [
        str(p.relative_to(root)) for p in sorted((root / "inventory" / "servers").rglob("*.yaml"))
    ]
    history = History(root, estate, seed + 1)
    history.change = 7000 + int(time.time()) % 1000  # a change id of its own
    history.branch(EPOCH + timedelta(hours=2, minutes=15 * commits), "merge")
    history.write()
    git(root, "reset", "-q", "--hard")


# The package measured: a copy of the working copy's, taken when the run starts. The
# audit's cache is keyed by a fingerprint of the code, so edits made to the working
# copy while the benchmark runs (by anyone) would otherwise make every run a cold one.
SNAPSHOT = BENCH / "out" / "audit-snapshot"
_RUN_SNAPSHOT = (
    "import sys; sys.meta_path[:] = [f for f in sys.meta_path "
    "if '__editable__' not in getattr(f, '__module__', '')]; "
    f"sys.path.insert(0, {str(SNAPSHOT)!r}); "
    "from cmdbctl.cli.main import main; sys.argv[0] = 'cmdbctl'; main()"
)


def snapshot() -> None:
    shutil.rmtree(SNAPSHOT, ignore_errors=True)
    shutil.copytree(
        BENCH.parent / "cmdbctl", SNAPSHOT / "cmdbctl", ignore=shutil.ignore_patterns("__pycache__")
    )


def cmdbctl(*args: str) -> list[str]:
    return [sys.executable, "-c", _RUN_SNAPSHOT, *args]


def audit(root: Path, env: dict[str, str] | None = None) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    proc = subprocess.run(
        cmdbctl("audit", "--format", "json", "--now", NOW, "--repo", str(root)),
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"audit failed ({proc.returncode}):\n{proc.stderr}")
    return seconds, json.loads(proc.stdout)["summary"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--force", action="store_true", help="build the repository anew")
    parser.add_argument(
        "--profile", action="store_true", help="profile the cold audit in-process (pyinstrument)"
    )
    parser.add_argument("--skip", default="", help="comma-separated: validate")
    args = parser.parse_args()
    root = BENCH / "out" / f"audit-{args.n}-c{args.commits}-s{args.seed}"
    stamp = root / ".git" / "bench-audit.json"
    if args.force or not stamp.exists():
        state = build(root, args.n, args.commits, args.seed)
        print(f"built {root} in {state['build_seconds']} s: {state['counts']}")
    else:
        git(root, "reset", "-q", "--hard", "main")
    cache = root / ".git" / "cmdbctl" / "audit-v1.sqlite"
    figures: dict[str, object] = {}
    snapshot()

    if args.profile:
        from pyinstrument import Profiler

        from cmdbctl.audit import run_audit

        cache.unlink(missing_ok=True)
        profiler = Profiler()
        profiler.start()
        run_audit(root, now=datetime.fromisoformat(NOW))
        profiler.stop()
        out = BENCH / "out" / f"audit-profile-{args.n}.txt"
        out.write_text(profiler.output_text(unicode=False, color=False))
        print(f"profile: {out}")

    for validate_cache in [False, True] if "validate" not in args.skip else [False]:
        for old in cache.parent.glob("cache-*"):
            old.unlink()  # validate's cache: only in the second round
        if validate_cache:
            subprocess.run(
                cmdbctl("validate", "--repo", str(root)), check=False, capture_output=True
            )
        label = " after validate" if validate_cache else ""
        cache.unlink(missing_ok=True)
        seconds, summary = audit(root)
        figures[f"cold{label}"] = {"seconds": round(seconds, 2), "summary": summary}
        print(f"cold audit{label}: {seconds:.2f} s  {summary}")
    seconds, summary = audit(root)
    figures["warm"] = {"seconds": round(seconds, 2), "summary": summary}
    print(f"warm audit: {seconds:.2f} s  judged {summary['judged']}, cached {summary['cached']}")
    add_merge(root, args.n, args.seed, args.commits)
    seconds, summary = audit(root)
    figures["after one new merge"] = {"seconds": round(seconds, 2), "summary": summary}
    print(
        f"after one new merge: {seconds:.2f} s  judged {summary['judged']}, "
        f"cached {summary['cached']}"
    )
    git(root, "reset", "-q", "--hard", "main~1")  # back to the built history
    (BENCH / "out" / f"audit-{args.n}.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
