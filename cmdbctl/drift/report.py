"""The diff as text (people), JSON (scripts) and Markdown (a pull-request comment).

JSON: `{"missing": [{id, kind, path}], "unmanaged": [{kind, source, snapshot, item,
label, identifiers, proposedId}], "drifted": [{id, kind, changes: [{path, desired,
discovered}]}], "ambiguous": [{kind, source, snapshot, item, label, candidates, why}],
"findings": [...], "summary": {...}}`; each change names its `source` when several
snapshots were read; `explain` (with `--explain`) lists what identification did with
each item.

Text and Markdown are written a line at a time through `_lines`, which escapes control
characters (`cmdbctl.printable`): ids, paths, values and sources come from snapshots and
documents, and none may reach a terminal as an escape sequence. JSON, for programs, keeps
every value as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TextIO

import orjson

from cmdbctl.drift import DiffResult, proposed_id
from cmdbctl.drift.identify import Identified, explanation
from cmdbctl.findings import FORMAT_VERSION
from cmdbctl.printable import printable
from cmdbctl.reporters.markdown import cell, finding_line

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


def _lines(out: TextIO) -> Callable[[str], None]:
    """A writer of one line: `text` with its control characters escaped, a line break."""

    def line(text: str) -> None:
        out.write(printable(text) + "\n")

    return line


def render_text(result: DiffResult, out: TextIO, explain: bool) -> None:
    w = _lines(out)
    several = len(result.snapshots) > 1
    if explain:
        w("Identification:")
        for entry in result.identified:
            w(f"  {_explain_line(entry, result)}")
    if result.missing:
        w(f"Missing: in the repository, not discovered ({len(result.missing)})")
        for ci in result.missing:
            w(f"  {ci.id}  {ci.kind}  {ci.path}")
    if result.unmanaged:
        w(f"Unmanaged: discovered, not in the repository ({len(result.unmanaged)})")
        for e in result.unmanaged:
            snapshot = result.snapshots[e.source]
            w(f"  {e.item.label()} from {snapshot.source} ({snapshot.path})")
    if result.drifted:
        w(f"Drifted ({len(result.drifted)})")
        for d in result.drifted:
            w(f"  {d.ci.id}  {d.ci.kind}  {d.ci.path}")
            for c in d.changes:
                source = d.view.source_of(c.path[5:])
                w(
                    f"    {c.path}: {_value(c.desired, '(absent)')} {ARROW} "
                    f"{_value(c.discovered, '(gone)')} ({source})"
                )
    if result.ambiguous:
        w(f"Ambiguous: not matched, never guessed ({len(result.ambiguous)})")
        for e in result.ambiguous:
            origin = f" from {result.snapshots[e.source].source}" if several else ""
            w(f"  {e.item.label()}{origin}: {e.why} (candidates: {', '.join(e.candidates)})")
    for f in result.findings:
        w(f"{f.path}:{f.line or 1}:{f.column or 1}: {f.severity} {f.code}: {f.message}")
    if not (result.missing or result.unmanaged or result.drifted or result.ambiguous):
        w("No drift: the repository and the snapshots agree.")


def render_markdown(result: DiffResult, out: TextIO, explain: bool) -> None:
    w = _lines(out)
    w("### cmdbctl diff")
    w("")
    w(cell(summary_line(result)))
    w("")
    w(
        "Snapshots: "
        + ", ".join(f"`{s.source}` ({cell(s.path)}, `{s.digest[:19]}`)" for s in result.snapshots)
    )
    w("")
    _table(
        w,
        "Drifted",
        ("CI", "kind", "field", "desired", "discovered", "source"),
        [
            (
                f"`{d.ci.id}`",
                d.ci.kind,
                f"`{c.path}`",
                cell(_value(c.desired, "(absent)")),
                cell(_value(c.discovered, "(gone)")),
                d.view.source_of(c.path[5:]),
            )
            for d in result.drifted
            for c in d.changes
        ],
    )
    _table(
        w,
        "Missing (in the repository, not discovered)",
        ("CI", "kind", "file"),
        [(f"`{ci.id}`", ci.kind, cell(ci.path)) for ci in result.missing],
    )
    _table(
        w,
        "Unmanaged (discovered, not in the repository)",
        ("item", "source"),
        [(cell(e.item.label()), result.snapshots[e.source].source) for e in result.unmanaged],
    )
    _table(
        w,
        "Ambiguous (never guessed)",
        ("item", "candidates", "why"),
        [(cell(e.item.label()), ", ".join(e.candidates), cell(e.why)) for e in result.ambiguous],
    )
    if result.findings:
        w("#### Findings")
        w("")
        for f in result.findings:
            w(finding_line(f).rstrip("\n"))
        w("")
    if explain:
        w("<details><summary>Identification</summary>")
        w("")
        for entry in result.identified:
            w(f"- {cell(_explain_line(entry, result))}")
        w("")
        w("</details>")


def _table(
    w: Callable[[str], None], title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]
) -> None:
    """One section of the Markdown report: a heading and a table, or nothing."""
    if not rows:
        return
    w(f"#### {title}")
    w("")
    w("| " + " | ".join(header) + " |")
    w("|" + " --- |" * len(header))
    for row in rows:
        w("| " + " | ".join(row) + " |")
    w("")


RENDERERS: dict[str, Callable[[DiffResult, TextIO, bool], None]] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
}
