"""The diff as text (people), JSON (scripts) and Markdown (a pull-request comment).

JSON: `{"missing": [{id, kind, path}], "unmanaged": [{kind, source, snapshot, item,
label, identifiers, proposedId}], "drifted": [{id, kind, changes: [{path, desired,
discovered}]}], "ambiguous": [{kind, source, snapshot, item, label, candidates, why}],
"findings": [...], "summary": {...}}`; each change names its `source` when several
snapshots were read; `explain` (with `--explain`) lists what identification did with
each item.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TextIO

import orjson

from cmdbctl.drift import DiffResult, proposed_id
from cmdbctl.drift.identify import Identified, explanation
from cmdbctl.findings import FORMAT_VERSION

ARROW = "→"


def plain(result: DiffResult, explain: bool) -> dict[str, Any]:
    several = len(result.snapshots) > 1
    snapshots = result.snapshots

    def item(entry: Identified) -> dict[str, Any]:
        snapshot = snapshots[entry.source]
        return {
            "kind": entry.item.kind,
            "source": snapshot.source,
            "snapshot": snapshot.path,
            "item": entry.item.position,
            "label": entry.item.label(),
        }

    data: dict[str, Any] = {
        "missing": [{"id": c.id, "kind": c.kind, "path": c.path} for c in result.missing],
        "unmanaged": [
            {
                **item(e),
                "identifiers": dict(e.item.identifiers),
                "proposedId": proposed_id(e),
            }
            for e in result.unmanaged
        ],
        "drifted": [
            {
                "id": d.ci.id,
                "kind": d.ci.kind,
                "changes": [
                    {
                        "path": c.path,
                        "desired": c.desired,
                        "discovered": c.discovered,
                        **({"source": d.view.source_of(c.path[5:])} if several else {}),
                    }
                    for c in d.changes
                ],
            }
            for d in result.drifted
        ],
        "ambiguous": [
            {**item(e), "candidates": list(e.candidates), "why": e.why} for e in result.ambiguous
        ],
        "findings": [f.to_json() for f in result.findings],
        "summary": {"formatVersion": FORMAT_VERSION, **result.summary},
    }
    if explain:
        data["explain"] = [explanation(e, snapshots) for e in result.identified]
    return data


def render_json(result: DiffResult, out: TextIO, explain: bool) -> None:
    out.write(orjson.dumps(plain(result, explain), option=orjson.OPT_INDENT_2).decode() + "\n")


def _value(value: Any, absent: str) -> str:
    if value is None:
        return absent
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def summary_line(result: DiffResult) -> str:
    s = result.summary
    parts = [
        f"{s['missing']} missing",
        f"{s['unmanaged']} unmanaged",
        f"{s['drifted']} drifted ({s['changes']} field{'s' if s['changes'] != 1 else ''})",
    ]
    if s["ambiguous"]:
        parts.append(f"{s['ambiguous']} ambiguous")
    line = (
        f"diff: {', '.join(parts)} among {s['compared']} CIs and {s['discovered']} discovered items"
    )
    ignored = s["ignored"]
    if ignored["items"] or ignored["fields"]:
        line += f"; ignored {ignored['items']} whole, {ignored['fields']} fields"
    if s["expiredIgnores"]:
        line += (
            f"; {s['expiredIgnores']} expired ignore rule{'s' if s['expiredIgnores'] != 1 else ''}"
        )
    return line


def _explain_line(entry: Identified, result: DiffResult) -> str:
    snapshot = result.snapshots[entry.source]
    where = f"{snapshot.source}: {entry.item.label()}"
    if entry.ambiguous:
        return f"{where}: ambiguous, {entry.why} (candidates: {', '.join(entry.candidates)})"
    if entry.ci is None:
        tried = ", ".join(result.policy.identifiers(entry.item.kind))
        return f"{where}: no CI (tried {tried})"
    return f"{where}: {entry.rule} {entry.value} {ARROW} {entry.ci}"


def render_text(result: DiffResult, out: TextIO, explain: bool) -> None:
    w = out.write
    several = len(result.snapshots) > 1
    if explain:
        w("Identification:\n")
        for entry in result.identified:
            w(f"  {_explain_line(entry, result)}\n")
    if result.missing:
        w(f"Missing: in the repository, not discovered ({len(result.missing)})\n")
        for ci in result.missing:
            w(f"  {ci.id}  {ci.kind}  {ci.path}\n")
    if result.unmanaged:
        w(f"Unmanaged: discovered, not in the repository ({len(result.unmanaged)})\n")
        for e in result.unmanaged:
            snapshot = result.snapshots[e.source]
            w(f"  {e.item.label()} from {snapshot.source} ({snapshot.path})\n")
    if result.drifted:
        w(f"Drifted ({len(result.drifted)})\n")
        for d in result.drifted:
            w(f"  {d.ci.id}  {d.ci.kind}  {d.ci.path}\n")
            for c in d.changes:
                source = d.view.source_of(c.path[5:])
                w(
                    f"    {c.path}: {_value(c.desired, '(absent)')} {ARROW} "
                    f"{_value(c.discovered, '(gone)')} ({source})\n"
                )
    if result.ambiguous:
        w(f"Ambiguous: not matched, never guessed ({len(result.ambiguous)})\n")
        for e in result.ambiguous:
            origin = f" from {result.snapshots[e.source].source}" if several else ""
            w(f"  {e.item.label()}{origin}: {e.why} (candidates: {', '.join(e.candidates)})\n")
    for f in result.findings:
        w(f"{f.path}:{f.line or 1}:{f.column or 1}: {f.severity} {f.code}: {f.message}\n")
    if not (result.missing or result.unmanaged or result.drifted or result.ambiguous):
        w("No drift: the repository and the snapshots agree.\n")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: DiffResult, out: TextIO, explain: bool) -> None:
    w = out.write
    w("### cmdbctl diff\n\n")
    w(f"{_cell(summary_line(result))}\n\n")
    w(
        "Snapshots: "
        + ", ".join(f"`{s.source}` ({_cell(s.path)}, `{s.digest[:19]}`)" for s in result.snapshots)
        + "\n\n"
    )
    if result.drifted:
        w("#### Drifted\n\n| CI | kind | field | desired | discovered | source |\n")
        w("| --- | --- | --- | --- | --- | --- |\n")
        for d in result.drifted:
            for c in d.changes:
                w(
                    f"| `{d.ci.id}` | {d.ci.kind} | `{c.path}` | {_cell(_value(c.desired, '(absent)'))} "
                    f"| {_cell(_value(c.discovered, '(gone)'))} | {d.view.source_of(c.path[5:])} |\n"
                )
        w("\n")
    if result.missing:
        w("#### Missing (in the repository, not discovered)\n\n| CI | kind | file |\n")
        w("| --- | --- | --- |\n")
        for ci in result.missing:
            w(f"| `{ci.id}` | {ci.kind} | {_cell(ci.path)} |\n")
        w("\n")
    if result.unmanaged:
        w(
            "#### Unmanaged (discovered, not in the repository)\n\n| item | source |\n| --- | --- |\n"
        )
        for e in result.unmanaged:
            w(f"| {_cell(e.item.label())} | {result.snapshots[e.source].source} |\n")
        w("\n")
    if result.ambiguous:
        w("#### Ambiguous (never guessed)\n\n| item | candidates | why |\n| --- | --- | --- |\n")
        for e in result.ambiguous:
            w(f"| {_cell(e.item.label())} | {', '.join(e.candidates)} | {_cell(e.why)} |\n")
        w("\n")
    if result.findings:
        w("#### Findings\n\n")
        for f in result.findings:
            w(f"- `{f.path}:{f.line or 1}:{f.column or 1}` **{f.code}**: {_cell(f.message)}\n")
        w("\n")
    if explain:
        w("<details><summary>Identification</summary>\n\n")
        for entry in result.identified:
            w(f"- {_cell(_explain_line(entry, result))}\n")
        w("\n</details>\n")


RENDERERS: dict[str, Callable[[DiffResult, TextIO, bool], None]] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
}
