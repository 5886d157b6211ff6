"""`cmdbctl history ID [--field PATH] [--format text|json]`."""

from __future__ import annotations

import json
from typing import Any

import click

from cmdbctl.cli.common import quiet_option, repo_option, text_or_json_option
from cmdbctl.cli.completion import complete_document_ids
from cmdbctl.workspace import find_workspace

_WIDTH = 72  # a value longer than this is cut in text output (JSON has it whole)


@click.command(short_help="Who changed a document, when, under which change.")
@click.argument("doc_id", metavar="ID", shell_complete=complete_document_ids)
@click.option(
    "--field",
    "field_path",
    metavar="PATH",
    default=None,
    help="Only the commits that changed this field or a field below it, as a "
    "dotted path (spec.memoryMb, spec.disks.0.sizeGb) or a JSON pointer.",
)
@text_or_json_option
@repo_option
@quiet_option
def history(doc_id: str, field_path: str | None, fmt: str, repo: str | None) -> None:
    """The audit trail of a CI or a change request: every commit that changed it.

    Reads the history of the current branch (HEAD), newest first, merges' sides
    included. Each entry names the commit, its author and date, the change it carried
    out (the commit's Change-Id: trailer, else the change request the same commit
    changed) and the fields it changed (spec.memoryMb: 65536 → 131072). A document is
    its file, <ID>.yaml in any folder of inventory/, changes/ or policies/: moves between
    folders are followed; a rename to another file name makes another document, so the
    history of the old id ends with the rename (and says so); a deleted document's history
    ends with its deletion. A merge has an entry only for fields it set itself.

    --field answers "who set this value, under which change": the entries that changed
    that field (or below it), the first one that set it included.

    JSON: {"id", "entries": [{"commit", "author", "email", "date", "changeId",
    "changes": [{"path", "old", "new"}], "subject", "action", "file", "previousFile",
    "note"}]}, newest first; paths are JSON pointers; action is added, modified, moved,
    deleted, renamed or merged. Exit 2 for an id that is in no commit of HEAD.

    \b
    Examples:
      cmdbctl history app-01
      cmdbctl history app-01 --field spec.memoryMb
      cmdbctl history CHG-2026-0042 --format json
    """
    from cmdbctl.history import history as read_history  # start-up pays for one command

    ws = find_workspace(repo)
    found = read_history(ws.root, doc_id, field_path)
    if fmt == "json":
        click.echo(_json(found.to_json()))
        return
    from cmdbctl.history import dotted

    out: list[str] = []
    scope = f" changed {dotted(found.field)}" if found.field else " changed it"
    count = len(found.entries)
    if not count:
        click.echo(f"{doc_id}: no commit{scope}")
        return
    out.append(f"{doc_id}: {count} commit{'s' if count != 1 else ''}{scope}, newest first")
    for entry in found.entries:
        out.append("")
        out.append(
            f"{entry.commit[:10]}  {entry.date.replace('T', ' ')}  "
            f"{entry.author} <{entry.email}>"
            f"{'  ' + entry.change_id if entry.change_id else '  (no change id)'}"
        )
        if entry.subject:
            out.append(f"    {entry.subject}")
        what = _action(entry.action, entry.file, entry.previous_file)
        if what:
            out.append(f"    {what}")
        if entry.note:
            out.append(f"    note: {entry.note}")
        show_fields = entry.action not in ("added", "deleted", "renamed") or found.field
        for change in entry.changes if show_fields else ():
            out.append(f"    {dotted(change.path)}: {_value(change.old)} → {_value(change.new)}")
    click.echo("\n".join(out))


def _action(action: str, file: str, previous: str | None) -> str:
    if action == "moved":
        return f"moved {previous} → {file}"
    if action == "renamed":
        return f"renamed {previous} → {file}"
    if action in ("added", "deleted"):
        return f"{action} {file}" + (f" (was {previous})" if previous else "")
    return ""


def _value(value: Any) -> str:
    """A value as one short line: strings bare when unambiguous, else JSON."""
    if value is None:
        return "(none)"
    if (
        isinstance(value, str)
        and value.strip() == value
        and value
        and not any(c in value for c in "\n\"'{}[],#:")
        and not _looks_typed(value)
    ):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"


def _looks_typed(value: str) -> bool:
    """Whether a string would read as a number, a boolean or null."""
    if value.lower() in ("true", "false", "null", "~", "yes", "no"):
        return True
    try:
        float(value)
    except ValueError:
        return False
    return True


def _json(document: dict[str, Any]) -> str:
    import orjson

    try:
        return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
    except TypeError:  # a lone surrogate (a "\ud800" escape in YAML): json escapes it
        return json.dumps(document, indent=2, default=str)
