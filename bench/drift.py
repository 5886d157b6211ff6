#!/usr/bin/env python3
"""Benchmark of `cmdbctl diff`: N desired Servers against N discovered items, 1% drifted.

    python bench/drift.py [--n 100000] [--repeat 3] [--drift 0.01] [--jobs J]

Writes (once, reused while its marker file is there) an estate under
bench/out/drift-N/: `cmdbctl init`'s repository plus N Server files (hostname, fqdn,
serial, vendor, model, os, cpu, memory, two disks, two interfaces with MACs and IPs;
1,000 per folder) and a snapshot of N items that report all of it, written as Ansible
writes facts (lower-case, colon-separated MACs; tests/drift covers other spellings).
Every 1/drift-th item reports other memory and OS version (two drifted fields); 10
items are unmanaged and 10 CIs missing.

Prints the whole command's wall time (a fresh `cmdbctl diff --format json -o FILE`
process, start-up included), cold (no cache: every file parsed; the run writes the
cache) and warm (the cache in the git directory says every file is unchanged: none is
read), best of --repeat each, and the split of one warm in-process run into its steps:
the walk, policy and cache, reading the snapshot (while the worker processes check the
files' status, or parse them), waiting for the workers, identifying and digesting the
items (in two processes), grouping by CI and comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
PER_FOLDER = 1000

SERVER = """\
apiVersion: cmdb/v1
kind: Server
metadata:
  id: {id}
  name: Server {n}
  owner: team-ops
  labels: {{env: prod, site: dc-main}}
spec:
  status: active
  hostname: {id}
  fqdn: {id}.example.net
  serial: "SN{n:08d}"
  vendor: Dell
  model: PowerEdge R650
  os: {{name: Debian, version: "12"}}
  cpu: {{cores: 16}}
  memoryMb: 65536       # sized in 2026
  disks:
    - {{name: sda, sizeGb: 480}}
    - {{name: sdb, sizeGb: 1920}}
  interfaces:
    - {{name: eth0, mac: "{mac0}", ips: [10.{a}.{b}.{c}]}}
    - {{name: eth1, mac: "{mac1}", ips: [10.{d}.{b}.{c}]}}
  location: rack-a01
"""


def mac(n: int, port: int) -> str:
    value = (0x02 << 40) | (n << 1) | port
    return ":".join(f"{(value >> s) & 0xFF:02x}" for s in range(40, -8, -8))


def ip(n: int) -> tuple[int, int, int, int]:
    return (n >> 16) & 0x3F, (n >> 8) & 0xFF, n & 0xFF, 64 + ((n >> 16) & 0x3F)


def generate(root: Path, n: int, every: int) -> Path:
    marker = root / ".generated-2"
    snapshot = root.parent / f"{root.name}-snapshot.json"
    if marker.exists() and snapshot.exists():
        return snapshot
    import shutil

    from cmdbctl.scaffold import init_repository

    if root.exists():
        shutil.rmtree(root)
    init_repository(root)
    started = time.perf_counter()
    items = []
    missing = set(range(5, n, max(n // 10, 1)))  # 10 CIs no item reports
    for i in range(n + 10):
        ci = f"srv-{i:06d}"
        a, b, c, d = ip(i)
        mac0, mac1 = mac(i, 0), mac(i, 1)
        if i < n:
            folder = root / "inventory" / "servers" / f"{i // PER_FOLDER:03d}"
            if i % PER_FOLDER == 0:
                folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{ci}.yaml").write_text(
                SERVER.format(id=ci, n=i, mac0=mac0, mac1=mac1, a=a, b=b, c=c, d=d)
            )
        if i in missing:
            continue
        drifted = i % every == 0
        items.append(
            {
                "kind": "Server",
                "identifiers": {
                    "serial": f"SN{i:08d}",
                    "hostname": ci,
                    "fqdn": f"{ci}.example.net",
                    "macs": [mac0, mac1],
                },
                "attributes": {
                    "vendor": "Dell",
                    "model": "PowerEdge R650",
                    "os": {"name": "Debian", "version": "13" if drifted else "12"},
                    "cpu": {"cores": 16},
                    "memoryMb": 131072 if drifted else 65536,
                    "disks": [{"name": "sda", "sizeGb": 480}, {"name": "sdb", "sizeGb": 1920}],
                    "interfaces": [
                        {"name": "eth0", "mac": mac0, "ips": [f"10.{a}.{b}.{c}"]},
                        {"name": "eth1", "mac": mac1, "ips": [f"10.{d}.{b}.{c}"]},
                    ],
                },
            }
        )
    snapshot.write_text(
        json.dumps({"source": "ansible", "discoveredAt": "2026-11-22T08:00:00Z", "items": items})
    )
    marker.write_text("")
    print(f"generated {n:,} CIs and {len(items):,} items in {time.perf_counter() - started:.1f} s")
    return snapshot


def whole_command(
    root: Path, snapshot: Path, repeat: int, jobs: int | None, cold: bool
) -> tuple[list[float], list[float]]:
    """Wall times and CPU times (user + system, the command's workers included: on a
    shared machine the CPU time says more than the wall time) of `repeat` runs; `cold`:
    each without the cache."""
    from cmdbctl.drift.cache import location

    place = location(root)
    times, cpu = [], []
    env = dict(os.environ)
    out = root.parent / "drift-report.json"
    for _ in range(repeat):
        if cold and place is not None:
            place.unlink(missing_ok=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "cmdbctl",
                "diff",
                "-d",
                str(snapshot),
                "--format",
                "json",
                "-o",
                str(out),
                "--repo",
                str(root),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        times.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if proc.returncode != 0:
            sys.exit(f"cmdbctl diff exited {proc.returncode}: {proc.stderr}")
    summary = json.loads(out.read_text())["summary"]
    print(
        f"report: {summary['drifted']:,} drifted ({summary['changes']:,} fields), "
        f"{summary['missing']} missing, {summary['unmanaged']} unmanaged, "
        f"{summary['matched']:,} matched of {summary['discovered']:,} items"
    )
    return times, cpu


def split(root: Path, snapshot: Path, jobs: int | None) -> list[tuple[str, float]]:
    """One in-process run, step by step (run in a fresh child for a cold start)."""
    code = f"""
import io, json, time, sys
t0 = time.perf_counter()
import gc
gc.disable()  # as run_diff does
from datetime import datetime, timezone
from cmdbctl.discovery.snapshot import read_snapshot
from cmdbctl.drift import discovered, reported_fields, spec_fields
from cmdbctl.drift.compare import changes
from cmdbctl.drift.desired import ci_of, reading
from cmdbctl.drift.reconcile import grouped
from cmdbctl.kinds import load_registry
from cmdbctl.workspace import Workspace
steps = [("imports", time.perf_counter() - t0)]
def step(name, t): steps.append((name, time.perf_counter() - t)); return time.perf_counter()
t = time.perf_counter()
ws = Workspace(__import__("pathlib").Path({str(root)!r}))
kinds = load_registry(ws.root); t = step("schemas", t)
fields = spec_fields(kinds)
wanted = frozenset(k for k, kind in kinds.kinds.items() if kind.is_ci)
with reading(ws, kinds, wanted, {jobs!r}) as pending:
    t = step("walk, policy, cache, start workers", t)
    snap = read_snapshot({str(snapshot)!r}); t = step("read the snapshot", t)
    reported = reported_fields([snap], fields)
    pending.share(reported)
    desired = pending.result(); t = step("wait for the workers", t)
items = discovered([snap], desired, pending.policy, fields, reported)
t = step("identify, digest items", t)
by_ci = grouped(items.identified); t = step("group by CI", t)
drifted = 0
for row in desired.rows:
    entries = by_ci.get(row[1])
    if entries is None:
        continue
    e = entries[0]
    if items.same[0][e.item.position]:
        continue
    drifted += bool(changes(ci_of(row).spec, items.attributes(e)))
t = step("compare", t)
steps.append(("(files from the cache)", desired.cached))
print(json.dumps(steps))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [tuple(s) for s in json.loads(proc.stdout)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--drift", type=float, default=0.01)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    root = OUT / f"drift-{args.n}"
    OUT.mkdir(exist_ok=True)
    snapshot = generate(root, args.n, max(round(1 / args.drift), 1))
    if Path("/proc/loadavg").exists():
        print(f"load average before: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    for cold in (True, False):
        times, cpu = whole_command(root, snapshot, args.repeat, args.jobs, cold)
        print(
            f"cmdbctl diff, {args.n:,} CIs vs {args.n:,} items, {args.drift:.0%} drifted, "
            f"{'cold (no cache)' if cold else 'warm (cache)'}: best {min(times):.2f} s "
            f"(runs: {', '.join(f'{t:.2f}' for t in times)}); "
            f"target <= 3 s: {'met' if min(times) <= 3 else 'NOT met'}"
        )
        print(
            f"  CPU time (user + system, workers included): {', '.join(f'{c:.2f}' for c in cpu)} s"
        )
    print(
        f"peak RSS of the largest process "
        f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB"
    )
    print("split of one warm in-process run (seconds):")
    for name, value in split(root, snapshot, args.jobs):
        print(
            f"  {name:<34} {value:6.2f}" if isinstance(value, float) else f"  {name:<34} {value:6,}"
        )
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}"
    )
    if Path("/proc/loadavg").exists():
        print(f"load average after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


if __name__ == "__main__":
    main()
