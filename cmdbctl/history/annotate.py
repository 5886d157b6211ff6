"""What an entry learns from around its commit: that an addition or a deletion was a
rename from or to another id, and which change the commit carried out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cmdbctl import gitio
from cmdbctl.history.entries import Entry
from cmdbctl.loading import load
from cmdbctl.workspace import DOCUMENT_DIRS, YAML_SUFFIXES, file_id


def with_renames(
    root: Path, doc_id: str, found: list[tuple[gitio.Commit, Entry]]
) -> list[tuple[gitio.Commit, Entry]]:
    """A deletion that was a rename to another id ends this id's history there; an
    addition that was a rename from another id begins it. Said in the entry."""
    asked = [(c, e) for c, e in found if e.action in ("added", "deleted")]
    if not asked:
        return found
    diffs = gitio.diff_each(root, [(c.sha,) for c, _ in asked], DOCUMENT_DIRS, renames_only=True)
    renamed: dict[str, Entry] = {}
    for (commit, entry), records in zip(asked, diffs):
        for record in records:
            if entry.action == "deleted" and record.old_path == entry.file and record.new_path:
                other = file_id(record.new_path)
                renamed[commit.sha] = replace(
                    entry,
                    action="renamed",
                    file=record.new_path,
                    previous_file=entry.file,
                    note=f"renamed to {other}: a document's id is its file name, so {other} "
                    f"is another document; the history of {doc_id} ends here",
                )
            elif entry.action == "added" and record.new_path == entry.file and record.old_path:
                other = file_id(record.old_path)
                renamed[commit.sha] = replace(
                    entry,
                    previous_file=record.old_path,
                    note=f"renamed from {other}, another document (its id was its file "
                    f"name); the history of {doc_id} begins here",
                )
    return [(c, renamed.get(c.sha, e)) for c, e in found]


def with_change_ids(
    root: Path, doc_id: str, found: list[tuple[gitio.Commit, Entry]]
) -> list[Entry]:
    """The change each commit carried out: its `Change-Id:` trailer, else a change
    request the same commit changed that targets the document (as the gate counts
    coverage: a change request beside it about other CIs carried out nothing here); a
    change request's own commits carry out itself."""
    out: dict[str, str | None] = {}
    asked = []
    for commit, entry in found:
        named = commit.trailers.get("change-id")
        if named:
            out[commit.sha] = named[0]
        elif entry.file.startswith("changes/"):
            out[commit.sha] = doc_id
        else:
            asked.append(commit.sha)
    wrote = gitio.wrote(root, asked, ["changes"])
    if wrote:
        with gitio.BlobReader(root) as reader:
            for sha, paths in wrote.items():
                out[sha] = _targeting(root, reader, sha, doc_id, paths)
    return [replace(e, change_id=out.get(c.sha)) for c, e in found]


def _targeting(
    root: Path, reader: gitio.BlobReader, sha: str, doc_id: str, paths: frozenset[str]
) -> str | None:
    """Of the change requests a commit changed, the first that targets `doc_id`."""
    wanted = sorted(p for p in paths if p.endswith(YAML_SUFFIXES))
    for path, blob in sorted((gitio.tree_blobs_of(root, sha, wanted) or {}).items()):
        data = load(path, reader.read(blob)).data or {}
        spec = data.get("spec")
        targets = spec.get("targets") if isinstance(spec, dict) else None
        if isinstance(targets, list) and doc_id in targets:
            return file_id(path)
    return None
