"""The draft change request `diff --write` commits: the next free id of the year, the CIs
written as targets, each snapshot's digest in the description and annotations, a plan
naming every field, status draft (it covers nothing until approved)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime

from cmdbctl.drift import DiffResult

ROLLBACK_PLAN = (
    "Revert the commit: the records go back to what they said before; no machine is touched."
)


_CHANGE_ID = re.compile(r"^CHG-([0-9]{4})-([0-9]{4,})$")


def free_change_id(ids: Iterable[str], now: datetime) -> str:
    """The next CHG-<year>-NNNN the year has not used (file names are ids)."""
    year = f"{now:%Y}"
    taken = [
        int(m.group(2)) for m in map(_CHANGE_ID.match, ids) if m is not None and m.group(1) == year
    ]
    return f"CHG-{year}-{max(taken, default=0) + 1:04d}"


def draft_text(
    change_id: str, requester: str, targets: list[str], result: DiffResult, new: list[str]
) -> str:
    """The draft ChangeRequest, as YAML text (strings JSON-quoted: always valid YAML)."""
    sources = ", ".join(sorted({s.source for s in result.snapshots}))
    digests = [
        f"- {_one_line(s.source)}: {s.digest} ({_one_line(s.path)}, discovered at "
        f"{s.discovered_at.isoformat()})"
        for s in result.snapshots
    ]
    fields = sum(len(d.changes) for d in result.drifted)
    description = [
        f"cmdbctl diff --write found {len(result.drifted)} drifted CI(s) ({fields} field(s))"
        + (f" and added {len(new)} CI(s) for unmanaged items" if new else "")
        + ", from these snapshots:",
        *digests,
    ]
    plan = [
        f"Update {d.ci.id}: " + ", ".join(c.path for c in d.changes) for d in result.drifted
    ] + [f"Add {p}" for p in new]

    def q(text: str) -> str:  # a JSON string is a YAML string, quoted safely
        return json.dumps(text, ensure_ascii=False)

    annotations = "".join(
        f"    {q('snapshot/' + str(n))}: {q(s.source + ' ' + s.digest)}\n"
        for n, s in enumerate(result.snapshots)
    )
    return (
        "apiVersion: cmdb/v1\n"
        "kind: ChangeRequest\n"
        "metadata:\n"
        f"  id: {change_id}\n"
        f"  name: {q(f'Align the repository with discovery ({sources})')}\n"
        "  annotations:\n"
        f"{annotations}"
        "spec:\n"
        "  type: normal\n"
        "  category: system\n"
        f"  requester: {requester}\n"
        f"  reason: {q('Discovery found the repository out of date with what runs.')}\n"
        "  description: |\n"
        + "".join(f"    {line}\n" for line in description)
        + f"  targets: [{', '.join(targets)}]\n"
        "  risk: low\n"
        f"  rollbackPlan: {q(ROLLBACK_PLAN)}\n"
        "  plan:\n" + "".join(f"    - {q(step)}\n" for step in plan) + "  status: draft\n"
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())
