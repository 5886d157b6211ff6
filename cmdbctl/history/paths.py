"""A document's id and the files it may be: `<id>.yaml` or `<id>.yml` in any folder under
inventory/, changes/ or policies/ (a move keeps the id, a rename makes another)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from cmdbctl.errors import CommandError
from cmdbctl.workspace import DOCUMENT_DIRS, YAML_SUFFIXES, file_id

_GLOB_SPECIAL = re.compile(r"[*?\[\\]")


def check_id(doc_id: str) -> None:
    """Exit 2 for what cannot be a document's id (a file name)."""
    if doc_id.endswith(YAML_SUFFIXES) or "/" in doc_id:
        name = file_id(doc_id.rstrip("/"))
        raise CommandError(
            f"{doc_id!r} is not an id",
            f"give the document's id, its file name without .yaml: {name}",
        )
    if not doc_id.strip() or doc_id in (".", "..") or "\0" in doc_id:
        raise CommandError(
            f"{doc_id!r} is not an id",
            "give the document's id, its file name without .yaml: app-01",
        )


def pathspecs(doc_id: str) -> list[str]:
    """Every file the document may be, as git pathspecs: any path ending in
    /<id>.yaml or /<id>.yml (`*/app-01.yaml`: one leading star, which git matches as a
    suffix, the cheapest wildcard it has); `documents` keeps those in the document
    folders. An id holding wildcard characters is matched literally (`:(glob)`)."""
    if _GLOB_SPECIAL.search(doc_id):
        name = _GLOB_SPECIAL.sub(r"\\\g<0>", doc_id)
        return [f":(glob)**/{name}{suffix}" for suffix in YAML_SUFFIXES]
    return [f"*/{doc_id}{suffix}" for suffix in YAML_SUFFIXES]


def documents(doc_id: str, paths: Iterable[str]) -> list[str]:
    """Those of `paths` that are the document's file: <id>.yaml or .yml, in a folder
    under inventory/, changes/ or policies/."""
    names = {doc_id + suffix for suffix in YAML_SUFFIXES}
    return [
        p for p in paths if p[p.rfind("/") + 1 :] in names and p.partition("/")[0] in DOCUMENT_DIRS
    ]
