"""docs/formats.md against the code: its field tables are the schemas' (regenerated, or
this fails), every whole YAML document on it passes the schemas as `cmdbctl validate`
checks them, the snapshot example is read by cmdbctl's snapshot reader, and the
incident examples carry exactly the fields the page names."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ruamel.yaml import YAML

from cmdbctl.discovery.snapshot import parse_snapshot
from cmdbctl.kinds import builtin_schema_files

DOCS = Path(__file__).resolve().parents[2] / "docs"
FORMATS = DOCS / "formats.md"
# Where each kind's documents live; the rest are configuration items.
_FOLDER = {"ChangeRequest": "changes"} | dict.fromkeys(
    ["Person", "Group", "ChangePolicy", "StandardChange", "DiscoveryPolicy"], "policies"
)
# Findings that say the document itself is malformed. References to documents the page
# does not show (db-01's rack) and the page's examples clashing with each other
# (policy.duplicate) are not about the format.
_FORMAT_CODES = ("schema.", "yaml.", "document.", "file.")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_formats", DOCS / "generate_formats.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _examples(language: str) -> list[tuple[int, str | None, str]]:
    """(line, mark, body) of each ```LANGUAGE block; mark is the HTML comment right above."""
    text = FORMATS.read_text(encoding="utf-8")
    fence = re.compile(
        rf"(?:<!--\s*(?P<mark>[\w-]+)\s*-->\n)?^```{language}\n(?P<body>.*?)^```$",
        re.MULTILINE | re.DOTALL,
    )
    return [
        (text.count("\n", 0, m.start("body")), m["mark"], m["body"]) for m in fence.finditer(text)
    ]


def _kinds() -> set[str]:
    out = set()
    for raw in builtin_schema_files().values():
        const = json.loads(raw).get("properties", {}).get("kind", {}).get("const")
        if isinstance(const, str):
            out.add(const)
    return out


def test_the_field_tables_are_the_schemas() -> None:
    gen = _generator()
    current = FORMATS.read_text(encoding="utf-8")
    if gen.expected(current) != current:
        proc = subprocess.run(
            [sys.executable, str(DOCS / "generate_formats.py"), "--check"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 1, proc.stderr
        pytest.fail(
            f"docs/formats.md's field tables differ from the schemas: run "
            f"`{gen.REGENERATE}`\n{proc.stdout}"
        )
    for kind in _kinds():
        assert f"\n### {kind}\n" in current, f"no field table for {kind}"


def test_every_whole_document_on_the_page_passes_the_schemas(tmp_path: Path) -> None:
    yaml = YAML(typ="safe")
    known = _kinds()
    placed: dict[str, int] = {}
    fragments = 0
    for line, mark, body in _examples("yaml"):
        data: Any = yaml.load(body)  # every block parses, fragments included
        assert isinstance(data, dict), f"docs/formats.md:{line}: not a mapping"
        whole = {"apiVersion", "kind", "metadata", "spec"} <= data.keys()
        if mark == "fragment":
            assert not whole, f"docs/formats.md:{line}: a whole document marked as a fragment"
            fragments += 1
            continue
        assert whole, f"docs/formats.md:{line}: not a whole document; mark it <!-- fragment -->"
        kind = data["kind"]
        assert kind in known, f"docs/formats.md:{line}: {kind} has no schema"
        rel = f"{_FOLDER.get(kind, 'inventory')}/{data['metadata']['id']}.yaml"
        assert rel not in placed, f"docs/formats.md:{line}: the id of line {placed.get(rel)}"
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body, encoding="utf-8")
        placed[rel] = line
    covered = {yaml.load((tmp_path / rel).read_text())["kind"] for rel in placed}
    assert {"Server", "SLA", "Person", "Group", "ChangeRequest", "ChangePolicy"} <= covered
    assert {"StandardChange"} <= covered and fragments >= 2

    proc = subprocess.run(
        [sys.executable, "-m", "cmdbctl", "validate", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["summary"]["files"] == len(placed)
    malformed = [
        f"docs/formats.md:{placed[f['path']] + (f['line'] or 1)}: {f['code']}: {f['message']}"
        for f in report["findings"]
        if f["code"].startswith(_FORMAT_CODES)
    ]
    assert not malformed, "\n".join(malformed)


def test_the_snapshot_example_is_read_by_cmdbctl() -> None:
    [(line, _, body)] = _examples("json")[:1]
    snapshot = parse_snapshot(body.encode(), f"docs/formats.md:{line}")
    assert snapshot.source == "ansible" and len(snapshot.items) == 1
    [item] = snapshot.items
    assert item.kind == "Server" and set(item.identifiers) == {"serial", "fqdn", "hostname", "macs"}
    assert item.kind in _kinds()


def test_the_incident_examples_carry_the_fields_the_page_names() -> None:
    fields = ["id", "service", "priority", "opened", "responded", "resolved"]
    text = FORMATS.read_text(encoding="utf-8")
    section = text.split("## Incident records", 1)[1].split("\n## ", 1)[0]
    assert all(f"`{f}`" in section for f in fields)

    [(_, _, table)] = _examples("csv")
    rows = list(csv.DictReader(io.StringIO(table)))
    assert rows and all(list(row) == fields for row in rows)
    [(_, _, listing)] = [e for e in _examples("json") if e[2].lstrip().startswith("[")]
    records = json.loads(listing)
    assert [r["id"] for r in records] == [r["id"] for r in rows]
    assert all(list(record) == fields for record in records)
    for record in records + rows:
        assert record["priority"] in {"P1", "P2", "P3", "P4"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", record["opened"])
