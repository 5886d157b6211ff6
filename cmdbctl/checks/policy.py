"""The estate has exactly one ChangePolicy.

Code: `policy.duplicate` (error), on every ChangePolicy document under `policies/` after
the first by path, naming that first one: the gate applies the first and refuses to
judge a merge while there are several.

Why this is not an estate check (`ESTATE_CHECKS`): their findings may depend only on
the entry itself and the entries holding its id or its reference targets, which is what
lets a warm `validate` recheck just the entries around an edit. "Another document of
the same kind exists" is none of these: adding a second policy anywhere must flag it
without touching the first. So `validate` computes this whole-estate fact itself, on
every run, cold or warm, from the entries of every file under `policies/` (the listing
says which files; a warm run takes their entries from the cache, and `policies/` holds
only people, groups and policy documents, so that is little to read). It counts only
`policies/`, where the gate reads the policy from: a ChangePolicy elsewhere would be
found by a cold run but not by a warm one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cmdbctl.document import Entry
from cmdbctl.findings import Finding
from cmdbctl.workspace import Folder

FOLDER = "policies"

CODES: dict[str, str] = {
    "policy.duplicate": "a second ChangePolicy: exactly one may exist under policies/, and "
    "the gate refuses to judge merges while there are several",
}


def paths(folders: Mapping[str, Folder]) -> list[str]:
    """Every document file under `policies/`, from a listing's folders."""
    return [
        f"{rel}/{name}" for rel, folder in folders.items() if _under(rel) for name in folder.files
    ]


def check(entries: Iterable[Entry]) -> list[Finding]:
    """`policy.duplicate` on each ChangePolicy under `policies/` after the first by path;
    `entries` may hold any others (they are ignored)."""
    found = sorted(e.path for e in entries if e.kind == "ChangePolicy" and _under(e.path))
    return [
        Finding(
            path,
            "policy.duplicate",
            f"{found[0]} is already the ChangePolicy; exactly one may exist "
            "(the gate applies the first by path and refuses to judge merges "
            "while there are several)",
            pointer="/kind",
            hint=f"merge its rules into {found[0]} and delete this file",
        )
        for path in found[1:]
    ]


def _under(path: str) -> bool:
    return path == FOLDER or path.startswith(FOLDER + "/")
