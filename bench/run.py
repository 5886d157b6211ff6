#!/usr/bin/env python3
"""Benchmarks of `cmdbctl validate` (and `gate`) against the floors and a peer tool.

    python bench/run.py [--n 10000] [--repo DIR] [--skip-peer] [--repeat R]

Generates (or reuses) an estate of N CIs under bench/out/, then measures, side by side:
the floors (reading every document file; reading and parsing it with yaml_rs, the
fastest parser cmdbctl ships; PyYAML's C loader and ruamel.yaml round-trip on a sample,
for context), `cmdbctl validate` cold (one process, then the default worker count), warm
(cache primed) and warm after 10 edited files, the peer `check-jsonschema` on the Server
files, and `cmdbctl gate` on a 10-file change when the command exists. It prints one
Markdown table (files/second, and each figure's ratio to its floor or peer) and the
machine it ran on; results also go to bench/out/results-N.md and .json.

Every measured command runs in a fresh wrapper child that times it (wall clock) and reads
its peak RSS from `getrusage(RUSAGE_CHILDREN)`, so figures never mix.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
DOCUMENT_DIRS = ("inventory", "changes", "policies")
SAMPLE = 2000  # files parsed by the slow context parsers (then scaled)
PEER_MAX = 5000  # Server files given to check-jsonschema at most (then scaled)
TIMEOUT = 900  # seconds any one measured command may take

# The child that runs one command and reports its wall time and its peak RSS.
WRAPPER = r"""
import json, resource, subprocess, sys, time
spec = json.loads(sys.stdin.read())
with open(spec["stdout"], "wb") as out:
    started = time.perf_counter()
    proc = subprocess.run(spec["argv"], stdout=out, stderr=subprocess.PIPE, env=spec["env"],
                          cwd=spec["cwd"], timeout=spec["timeout"])
    wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "rc": proc.returncode, "maxrss_kb": usage.ru_maxrss,
                  "cpu": usage.ru_utime + usage.ru_stime,
                  "stderr": proc.stderr.decode("utf-8", "replace")[-3000:]}))
"""


# ----------------------------------------------------------------------------- floors
# `run.py --floor KIND --root DIR` runs one floor in this (fresh) process and prints
# {"files", "seconds", "bytes"}; seconds cover the walk and the work, not start-up.


def document_files(root: Path) -> list[str]:
    """The files cmdbctl reads: *.yaml / *.yml under the document folders, sorted."""
    found: list[str] = []
    for top in DOCUMENT_DIRS:
        stack = [root / top]
        while stack:
            folder = stack.pop()
            if not folder.is_dir():
                continue
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif entry.name.endswith((".yaml", ".yml")):
                        found.append(entry.path)
    found.sort()
    return found


def sample_of(files: list[str], size: int) -> list[str]:
    if len(files) <= size:
        return files
    step = len(files) / size
    return [files[int(i * step)] for i in range(size)]


def run_floor(kind: str, root: Path) -> None:
    if kind == "yaml_rs":
        import yaml_rs

        def work(raw: bytes) -> object:
            return yaml_rs.loads(raw.decode("utf-8"), parse_datetime=False)
    elif kind == "pyyaml":
        import yaml

        def work(raw: bytes) -> object:
            return yaml.load(raw.decode("utf-8"), Loader=yaml.CSafeLoader)
    elif kind == "ruamel":
        from ruamel.yaml import YAML

        rt = YAML(typ="rt")

        def work(raw: bytes) -> object:
            return rt.load(raw.decode("utf-8"))
    else:

        def work(raw: bytes) -> object:
            return raw

    started = time.perf_counter()
    files = document_files(root)
    total = len(files)
    if kind in ("pyyaml", "ruamel"):
        walked = time.perf_counter() - started
        files = sample_of(files, SAMPLE)
        started = time.perf_counter()
    size = 0
    for path in files:
        with open(path, "rb") as handle:
            raw = handle.read()
        size += len(raw)
        work(raw)
    seconds = time.perf_counter() - started
    if kind in ("pyyaml", "ruamel"):
        seconds = walked + seconds * total / len(files)  # scaled to the whole estate
    print(json.dumps({"files": total, "measured": len(files), "seconds": seconds, "bytes": size}))


# ------------------------------------------------------------------------- measuring


@dataclass
class Row:
    name: str
    files: int
    seconds: float | None
    rss_mib: float | None = None
    cpu: float | None = None
    ref: str | None = None  # the row whose files/s this one is compared with
    ref_label: str = ""
    note: str = ""
    failed: bool = False
    scaled: bool = False  # seconds extrapolated from a sample to the estate
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        return self.files / self.seconds if self.seconds and not self.failed else None


@dataclass
class Measured:
    wall: float
    rc: int
    rss_mib: float
    cpu: float
    stdout: str
    stderr: str


def measure(
    argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, tag: str = "run"
) -> Measured:
    stdout = OUT / f".stdout-{tag}"
    spec = {
        "argv": argv,
        "env": env or dict(os.environ),
        "cwd": str(cwd or BENCH.parent),
        "stdout": str(stdout),
        "timeout": TIMEOUT,
    }
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(proc.stdout)
    text = stdout.read_text(errors="replace")
    stdout.unlink()
    return Measured(
        report["wall"],
        report["rc"],
        report["maxrss_kb"] / 1024,
        report["cpu"],
        text,
        report["stderr"],
    )


def best(runs: list[Measured]) -> Measured:
    """The fastest run, with the highest peak RSS seen in any."""
    fastest = min(runs, key=lambda m: m.wall)
    return Measured(
        fastest.wall,
        max(m.rc for m in runs),
        max(m.rss_mib for m in runs),
        fastest.cpu,
        fastest.stdout,
        fastest.stderr,
    )


def tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


# ---------------------------------------------------------------------------- estate


def estate(n: int, seed: int, commits: int) -> Path:
    """bench/out/estate-N-sS-cK, generated once and reused while it is intact."""
    sys.path.insert(0, str(BENCH))
    from generate import generate

    root = OUT / f"estate-{n}-s{seed}-c{commits}"
    marker = root / ".git" / "bench-estate.json"
    clean = (
        marker.exists()
        and not subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            check=False,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    if clean:
        print(f"reusing {root}", file=sys.stderr)
        return root
    print(f"generating {n:,} CIs into {root} ...", file=sys.stderr)
    summary = generate(n, root, commits, seed, force=True, quiet=True)
    print(
        f"  written in {summary['write_seconds']} s, committed in {summary['commit_seconds']} s",
        file=sys.stderr,
    )
    marker.write_text(json.dumps(summary, indent=2))
    return root


# ------------------------------------------------------------------------ benchmarks


class Bench:
    def __init__(self, root: Path, repeat: int, skip_peer: bool) -> None:
        self.root = root
        self.repeat = repeat
        self.skip_peer = skip_peer
        self.keep_gate_clone = False
        self.rows: dict[str, Row] = {}
        self.notes: list[str] = []
        self.failures: list[tuple[list[str], str]] = []
        self.cmdbctl = tool("cmdbctl") or "cmdbctl"
        self.files = document_files(root)

    def add(self, key: str, row: Row) -> Row:
        self.rows[key] = row
        print(
            f"  {row.name}: {row.seconds:.2f} s" if row.seconds else f"  {row.name}: -",
            file=sys.stderr,
        )
        return row

    def env(self, *, cache: bool) -> dict[str, str]:
        env = dict(os.environ, NO_COLOR="1")
        env.pop("CMDBCTL_NO_CACHE", None)
        if not cache:
            env["CMDBCTL_NO_CACHE"] = "1"
        return env

    def runs(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        tag: str,
        times: int | None = None,
        before=None,
    ) -> Measured:
        out = []
        for i in range(times or self.repeat):
            if before:
                before(i)
            out.append(measure(argv, env=env, tag=tag))
        return best(out)

    # -- floors ------------------------------------------------------------------------
    def floors(self) -> None:
        for path in self.files:  # warm the page cache: every figure reads from memory
            with open(path, "rb") as handle:
                handle.read()
        specs = [
            ("read", "floor: read every document file (1 process)", None, ""),
            ("yaml_rs", "floor: read + `yaml_rs.loads` (1 process)", "read", "read floor"),
            (
                "pyyaml",
                f"context: read + PyYAML CSafeLoader ({SAMPLE:,}-file sample)",
                "yaml_rs",
                "yaml_rs floor",
            ),
            (
                "ruamel",
                f"context: read + ruamel.yaml round-trip ({SAMPLE:,}-file sample)",
                "yaml_rs",
                "yaml_rs floor",
            ),
        ]
        for kind, name, ref, label in specs:
            results = []
            for _ in range(self.repeat if kind in ("read", "yaml_rs") else 1):
                m = measure(
                    [
                        sys.executable,
                        str(Path(__file__)),
                        "--floor",
                        kind,
                        "--root",
                        str(self.root),
                    ],
                    tag=kind,
                )
                if m.rc != 0:
                    raise SystemExit(f"floor {kind} failed:\n{m.stderr}")
                results.append((json.loads(m.stdout), m))
            data, m = min(results, key=lambda r: r[0]["seconds"])
            self.add(
                kind,
                Row(
                    name,
                    data["files"],
                    data["seconds"],
                    max(r[1].rss_mib for r in results),
                    ref=ref,
                    ref_label=label,
                    scaled=data["measured"] != data["files"],
                    note=""
                    if data["measured"] == data["files"]
                    else f"{data['measured']:,} files parsed, time scaled to all",
                ),
            )

    # -- cmdbctl validate --------------------------------------------------------------
    def failure(self, name: str, m: Measured) -> None:
        """Keep the stderr of a failed run; the same traceback is shown once."""
        text = m.stderr.strip()
        for i, (names, seen) in enumerate(self.failures):
            if seen == text:
                self.failures[i] = ([*names, name], seen)
                return
        self.failures.append(([name], text))

    def validate_row(self, key: str, name: str, m: Measured, **kw: object) -> Row:
        files, note, failed = len(self.files), "", False
        try:
            report = json.loads(m.stdout)
            files = report["summary"]["files"]
            findings = len(report["findings"])
            note = f"exit {m.rc}, {findings} findings" if (m.rc or findings) else ""
        except (ValueError, KeyError):
            note, failed = f"**failed**: exit {m.rc}, no report (traceback below)", True
            self.failure(name, m)
        extra = kw.pop("note", "")
        return self.add(
            key,
            Row(
                name,
                files,
                m.wall,
                m.rss_mib,
                m.cpu,
                failed=failed,
                note="; ".join(x for x in (note, extra) if x),
                **kw,
            ),
        )

    def clear_cache(self) -> None:
        git_dir = subprocess.run(
            ["git", "rev-parse", "--absolute-git-dir"],
            cwd=self.root,
            check=False,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if git_dir:  # cmdbctl keeps its verdict cache in .git/cmdbctl/
            shutil.rmtree(Path(git_dir) / "cmdbctl", ignore_errors=True)

    def validate(self) -> None:
        base = [self.cmdbctl, "validate", "--repo", str(self.root), "--format", "json"]
        m = self.runs([self.cmdbctl, "--version"], env=self.env(cache=False), tag="version")
        self.add(
            "startup",
            Row(
                "start-up: `cmdbctl --version`",
                0,
                m.wall,
                m.rss_mib,
                m.cpu,
                note="interpreter and CLI start",
            ),
        )
        tiny = scaffold()
        m = self.runs(
            [self.cmdbctl, "validate", "--repo", str(tiny), "--format", "json", "--jobs", "1"],
            env=self.env(cache=False),
            tag="fixed",
        )
        files = len(document_files(tiny))
        self.add(
            "fixed",
            Row(
                f"fixed cost: `cmdbctl validate` of `cmdbctl init`'s {files} files",
                0,
                m.wall,
                m.rss_mib,
                m.cpu,
                note=f"exit {m.rc}; start-up, imports, schemas: in every figure below",
            ),
        )
        cold1 = self.runs([*base, "--jobs", "1"], env=self.env(cache=False), tag="cold1")
        self.validate_row(
            "cold1",
            "`cmdbctl validate --jobs 1`, cold (CMDBCTL_NO_CACHE=1)",
            cold1,
            ref="yaml_rs",
            ref_label="yaml_rs floor",
        )
        cold = self.runs(base, env=self.env(cache=False), tag="cold")
        row = self.validate_row(
            "cold",
            f"`cmdbctl validate`, cold, default jobs ({os.cpu_count()} CPUs)",
            cold,
            ref="cold1",
            ref_label="cold --jobs 1",
        )
        # The cache rows use the default worker count, or one process when that fails.
        jobs, ref, label = (
            ([], "cold", "cold, default jobs")
            if not row.failed
            else (["--jobs", "1"], "cold1", "cold --jobs 1")
        )
        shown = " --jobs 1" if jobs else ""
        has_cache = cache_exists()
        no_cache = "" if has_cache else "no cache in this build: same work as cold"
        self.clear_cache()
        prime = measure([*base, *jobs], env=self.env(cache=True), tag="prime")
        self.validate_row(
            "prime",
            f"`cmdbctl validate{shown}`, first run, empty cache (fills it)",
            prime,
            ref=ref,
            ref_label=label,
        )
        warm = self.runs([*base, *jobs], env=self.env(cache=True), tag="warm")
        self.validate_row(
            "warm",
            f"`cmdbctl validate{shown}`, warm (cache primed)",
            warm,
            ref=ref,
            ref_label=label,
            note=no_cache,
        )

        servers = sorted(p for p in self.files if "/inventory/servers/" in p)
        edited = [Path(p) for p in sample_of(servers, 10)]
        originals = {p: p.read_bytes() for p in edited}
        sys.path.insert(0, str(BENCH))
        from generate import set_memory

        def edit(i: int) -> None:  # new bytes each repetition, so none is in the cache yet
            for p in edited:
                p.write_bytes(originals[p])
                set_memory(p, factor=2 + i)

        try:
            after = self.runs([*base, *jobs], env=self.env(cache=True), tag="edit10", before=edit)
        finally:
            for p, raw in originals.items():
                p.write_bytes(raw)
            subprocess.run(
                ["git", "update-index", "-q", "--refresh"],
                cwd=self.root,
                check=False,
                capture_output=True,
            )
        self.validate_row(
            "edit10",
            f"`cmdbctl validate{shown}`, warm after editing 10 Server files",
            after,
            ref=ref,
            ref_label=label,
            note=no_cache,
        )

    # -- the peer ----------------------------------------------------------------------
    def peer(self) -> None:
        if self.skip_peer:
            self.notes.append("peer skipped (--skip-peer)")
            return
        exe = tool("check-jsonschema")
        if exe is None:
            print("installing check-jsonschema ...", file=sys.stderr)
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "-q", "check-jsonschema"], check=True
            )
            exe = tool("check-jsonschema")
        schema = OUT / "server.bundled.schema.json"
        schema.write_text(json.dumps(bundle(self.root / "schemas", "server.schema.json"), indent=1))
        servers = sorted(p for p in self.files if "/inventory/servers/" in p)
        chosen = sample_of(servers, PEER_MAX)
        rel = [os.path.relpath(p, self.root) for p in chosen]
        argv = [exe, "--schemafile", str(schema), *rel]
        spec = {
            "argv": argv,
            "env": dict(os.environ),
            "cwd": str(self.root),
            "stdout": str(OUT / ".stdout-peer"),
            "timeout": TIMEOUT,
        }
        runs = []
        for _ in range(self.repeat):
            proc = subprocess.run(
                [sys.executable, "-c", WRAPPER],
                input=json.dumps(spec),
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(proc.stdout))
        (OUT / ".stdout-peer").unlink(missing_ok=True)
        r = min(runs, key=lambda x: x["wall"])
        note = (
            f"{len(chosen):,} of {len(servers):,} Server files in {r['wall']:.1f} s, "
            "time scaled to all"
        )
        if r["rc"] != 0:
            note += f"; exit {r['rc']}"
            self.notes.append(f"check-jsonschema exit {r['rc']}:\n\n```\n{r['stderr']}\n```")
        per_file = r["wall"] / len(chosen)
        self.add(
            "peer",
            Row(
                "peer: `check-jsonschema --schemafile server.bundled.schema.json`",
                len(self.files),
                per_file * len(self.files),
                max(x["maxrss_kb"] for x in runs) / 1024,
                r["cpu"] * len(self.files) / len(chosen),
                note=note,
                scaled=True,
            ),
        )
        self.rows["cold1"].extra["vs_peer"] = True

    # -- cmdbctl gate ------------------------------------------------------------------
    def gate(self) -> None:
        helptext = subprocess.run(
            [self.cmdbctl, "--help"], check=False, capture_output=True, text=True
        ).stdout
        commands = helptext.split("Commands:", 1)[-1].split()
        if "gate" not in commands:
            self.notes.append(
                "`cmdbctl gate` skipped: this build has no `gate` command "
                "(`cmdbctl --help` lists: "
                + ", ".join(c for c in commands if c.isalpha() and c.islower() and len(c) > 2)[:200]
                + ")"
            )
            return
        sys.path.insert(0, str(BENCH))
        from datetime import timedelta

        from generate import EPOCH, MAINTENANCE, change_text, git, set_memory

        clone = OUT / "gate-clone"
        shutil.rmtree(clone, ignore_errors=True)
        git(OUT, "clone", "-q", "--local", str(self.root), str(clone))
        base = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True, check=True
        ).stdout.strip()
        servers = sorted(p for p in self.files if "/inventory/servers/" in p)
        chosen = [Path(p) for p in sample_of(servers, 10)]
        for p in chosen:
            set_memory(clone / p.relative_to(self.root))
        targets = [p.stem for p in chosen]
        cid = "CHG-2026-9001"
        when = EPOCH + timedelta(days=30)
        text = change_text(
            cid,
            f"Double memory on {len(targets)} servers",
            targets,
            status="submitted",
            approved=False,
            start=MAINTENANCE + timedelta(weeks=3),
        )
        rel = f"changes/2026/{cid}.yaml"
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        (clone / rel).write_text(text)
        git(clone, "add", "-A", when=when)
        git(
            clone,
            "commit",
            "-q",
            "-m",
            f"Double memory on {len(targets)} servers\n\nChange-Id: {cid}",
            when=when,
        )
        base_label = "main~1"
        if "approve" in commands:  # bob, a change manager, approves (one commit)
            env = dict(
                self.env(cache=False),
                GIT_AUTHOR_NAME="Bob Example",
                GIT_AUTHOR_EMAIL="bob@example.com",
                GIT_COMMITTER_NAME="Bob Example",
                GIT_COMMITTER_EMAIL="bob@example.com",
            )
            m = measure(
                [self.cmdbctl, "approve", cid, "--repo", str(clone), "-m", "ok"],
                env=env,
                tag="approve",
            )
            note = f"exit {m.rc}" + (f": {m.stderr.strip()[-300:]}" if m.rc else "")
            self.add(
                "approve",
                Row(
                    f"`cmdbctl approve {cid}` (bob), on the branch",
                    0,
                    m.wall,
                    m.rss_mib,
                    m.cpu,
                    note=note,
                ),
            )
            base_label = "main~2"
        # --now: before the change's window (three weeks after the estate's first Sunday).
        argv = [
            self.cmdbctl,
            "gate",
            "--repo",
            str(clone),
            "--base",
            base,
            "--head",
            "main",
            "--format",
            "json",
            "--now",
            "2026-11-22T00:00:00Z",
        ]
        m = self.runs(argv, env=self.env(cache=False), tag="gate")
        note = f"exit {m.rc}"
        try:
            report = json.loads(m.stdout)
            codes = sorted({f["code"] for f in report.get("findings", [])})
            note += f", {len(report.get('findings', []))} findings" + (
                f" ({', '.join(codes[:5])})" if codes else ""
            )
        except ValueError:
            note = f"**failed**: exit {m.rc}, no report (traceback below)"
            self.failure("`cmdbctl gate`", m)
        self.add(
            "gate",
            Row(
                f"`cmdbctl gate --base {base_label} --head main`: 10 changed "
                "Server files + 1 change request",
                0,
                m.wall,
                m.rss_mib,
                m.cpu,
                note=note,
            ),
        )
        # The CI recipe (cmdbctl init's workflow) validates, then gates, in one checkout:
        # the gate then reads dependents from the verdict cache instead of git grep.
        measure(
            [self.cmdbctl, "validate", "--repo", str(clone), "--format", "json"],
            env=self.env(cache=True),
            tag="gate-validate",
        )
        m = self.runs(argv, env=self.env(cache=True), tag="gate-indexed")
        self.add(
            "gate_indexed",
            Row(
                f"`cmdbctl gate --base {base_label} --head main` after `cmdbctl validate` of the "
                "same checkout (the CI recipe)",
                0,
                m.wall,
                m.rss_mib,
                m.cpu,
                note=f"exit {m.rc}; dependents read from the verdict cache",
            ),
        )
        if self.keep_gate_clone:
            print(
                f"kept {clone}: cmdbctl gate --repo {clone} --base {base} --head main",
                file=sys.stderr,
            )
        else:
            shutil.rmtree(clone, ignore_errors=True)

    # -- report ------------------------------------------------------------------------
    def table(self) -> str:
        lines = [
            "| measurement | files | seconds | files/s | peak RSS MiB | ratio | notes |",
            "| --- | ---: | ---: | ---: | ---: | --- | --- |",
        ]
        peer = self.rows.get("peer")
        for key, row in self.rows.items():
            ratio = ""
            ref = self.rows.get(row.ref or "")
            if ref and ref.rate and row.rate:
                ratio = f"{row.rate / ref.rate:.2f}× {row.ref_label}"
            if row.extra.get("vs_peer") and peer and peer.rate and row.rate:
                ratio += ("; " if ratio else "") + f"**{row.rate / peer.rate:.1f}× peer**"
            if key == "peer":
                ratio = "reference for cold --jobs 1"
            rate = f"{row.rate:,.0f}" if row.rate and row.files else ""
            rss = f"{row.rss_mib:.0f}" if row.rss_mib else ""
            files = f"{row.files:,}" if row.files else ""
            secs = f"{row.seconds:.3f}" if row.seconds is not None else ""
            if row.scaled:
                secs = f"≈ {row.seconds:.1f}"
            lines.append(
                f"| {row.name} | {files} | {secs} | {rate} | {rss} | {ratio} | {row.note} |"
            )
        return "\n".join(lines)


def scaffold() -> Path:
    """bench/out/scaffold: `cmdbctl init`'s output, committed, to measure the fixed cost."""
    root = OUT / "scaffold"
    if (root / ".git" / "bench-scaffold").exists():
        return root
    sys.path.insert(0, str(BENCH))
    sys.path.insert(0, str(BENCH.parent))
    from generate import git

    from cmdbctl.scaffold import init_repository

    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    init_repository(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "cmdbctl init")
    (root / ".git" / "bench-scaffold").touch()
    return root


def bundle(folder: Path, name: str) -> dict:
    """The kind schema with common.schema.json's $defs inlined, so it stands alone."""
    schema = json.loads((folder / name).read_text())
    common = json.loads((folder / "common.schema.json").read_text())

    def rewrite(node: object) -> object:
        if isinstance(node, dict):
            return {
                k: (
                    v.replace("common.schema.json#", "#", 1)
                    if k == "$ref" and isinstance(v, str)
                    else rewrite(v)
                )
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    out = rewrite(schema)
    assert isinstance(out, dict)
    defs = dict(common.get("$defs", {}))
    defs.update(out.get("$defs", {}))
    out["$defs"] = defs
    return out


def cache_exists() -> bool:
    """Whether this build of cmdbctl has a cache (it honours CMDBCTL_NO_CACHE)."""
    try:
        import cmdbctl
    except ImportError:
        return False
    pkg = Path(cmdbctl.__file__).parent
    return any("CMDBCTL_NO_CACHE" in p.read_text(errors="replace") for p in pkg.rglob("*.py"))


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    head = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=BENCH.parent,
        check=False,
        capture_output=True,
        text=True,
    ).stdout.strip()
    from importlib.metadata import PackageNotFoundError, version

    libs = []
    for dist in (
        "cmdbctl",
        "yaml-rs",
        "jsonschema-rs",
        "ruamel.yaml",
        "PyYAML",
        "check-jsonschema",
    ):
        try:
            libs.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            pass
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; cmdbctl at {head or '?'}; " + ", ".join(libs)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="CIs in the estate (default 10000)")
    parser.add_argument("--repo", type=Path, help="measure this repository instead of generating")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--commits", type=int, default=1)
    parser.add_argument("--skip-peer", action="store_true", help="do not run check-jsonschema")
    parser.add_argument(
        "--keep-gate-clone",
        action="store_true",
        help="leave bench/out/gate-clone (the gate's pull request) for profiling",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs per figure, the fastest kept (default 3 up to 20,000 CIs, else 2)",
    )
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        run_floor(args.floor, args.root)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    root = args.repo.resolve() if args.repo else estate(args.n, args.seed, args.commits)
    repeat = args.repeat or (3 if args.n <= 20_000 else 2)
    started = time.perf_counter()
    load_before = "/".join(f"{x:.1f}" for x in os.getloadavg())
    bench = Bench(root, repeat, args.skip_peer)
    bench.keep_gate_clone = args.keep_gate_clone
    print(
        f"measuring {len(bench.files):,} document files in {root} (best of {repeat}) ...",
        file=sys.stderr,
    )
    bench.floors()
    bench.validate()
    bench.peer()
    bench.gate()
    label = f"{args.n:,} CIs" if not args.repo else str(args.repo)
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    report = [
        f"### {label}: {len(bench.files):,} document files (best of {repeat})",
        "",
        bench.table(),
        "",
        f"Machine: {machine()}.",
        (
            f"Benchmark took {time.perf_counter() - started:.0f} s; load average "
            f"{load_before} before, {load} after (1/5/15 min; above ~0.5 before means other "
            "work shared the CPUs)."
        ),
    ]
    if bench.notes:
        report += ["", *[f"- {n}" for n in bench.notes]]
    for names, stderr in bench.failures:
        report += ["", f"Failed: {'; '.join(names)}:", "", "```", stderr[-3000:], "```"]
    text = "\n".join(report)
    print(text)
    stem = OUT / (f"results-{args.n}" if not args.repo else "results-repo")
    stem.with_suffix(".md").write_text(text + "\n")
    stem.with_suffix(".json").write_text(
        json.dumps(
            {
                "files": len(bench.files),
                "repeat": repeat,
                "machine": machine(),
                "rows": {
                    k: {
                        "name": r.name,
                        "files": r.files,
                        "seconds": r.seconds,
                        "files_per_s": r.rate,
                        "rss_mib": r.rss_mib,
                        "cpu_s": r.cpu,
                        "note": r.note,
                    }
                    for k, r in bench.rows.items()
                },
                "notes": bench.notes,
                "failures": bench.failures,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
