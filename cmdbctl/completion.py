"""What a shell offers when a command's argument is a document id or a revision.

Ids come from file names (a document's file name is its id), revisions from git's refs;
no document is read, so completion answers at once in a large estate too. Anything that
cannot be listed (no such folder, no git) completes to nothing rather than failing: a
shell must never print an error into the line being typed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from cmdbctl import gitio
from cmdbctl.workspace import DOCUMENT_DIRS, YAML_SUFFIXES, Workspace, file_id


def document_ids(root: Path, folders: Iterable[str] = DOCUMENT_DIRS) -> list[str]:
    """The ids of the documents under `folders` of `root`, sorted, each once. A folder
    that is a link leaving the repository is not listed: the names in it are not the
    repository's (validate does not read it either)."""
    workspace = Workspace(root)
    return sorted(
        {
            file_id(name)
            for folder in folders
            if not workspace.leaves_repository(root / folder)
            for name in _yaml_names(root / folder)
        }
    )


def change_ids(root: Path) -> list[str]:
    """The ids of the change requests (changes/)."""
    return document_ids(root, ("changes",))


def revisions(root: Path) -> list[str]:
    """HEAD, then the repository's branches, remote-tracking branches and tags."""
    return ["HEAD", *gitio.ref_names(root)]


def _yaml_names(folder: Path) -> Iterator[str]:
    """The names of the *.yaml and *.yml files below `folder`, hidden entries skipped
    as `workspace` skips them; links are not followed."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _yaml_names(Path(entry.path))
        elif entry.name.endswith(YAML_SUFFIXES):
            yield entry.name
