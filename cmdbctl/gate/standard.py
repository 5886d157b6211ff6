"""Standard changes: a pre-approved change stays inside its model.

A change request of `type: standard` needs no approval (ITIL's standard change): it was
approved in advance, as a *model*, a StandardChange document in `policies/`:

```yaml
apiVersion: cmdb/v1
kind: StandardChange
metadata: {id: os-patch, name: Monthly OS patch}
spec:
  description: Minor OS updates from the vendor's stable channel
  targetKinds: [Server]
  fields: [spec.os.version]       # dotted paths a change under this model may modify
```

The change names its model in `spec.model`, and may then only modify the listed fields
of existing CIs of the listed kinds. A listed path covers itself and everything below
it (`spec.os` covers `spec.os.version`); list items are numbered (`spec.disks.0.sizeGb`).
The catalogue of models is the base branch's, as the rest of the policy is: a branch
cannot add or widen the model it is judged by (editing `policies/` is a governance edit,
which needs an approved management change).

Refusals (each an error of the gate):

- `gate.standard.model-missing`: a standard change that names no model;
- `gate.standard.model-unknown`: the model is not in the base branch's catalogue;
- `gate.standard.outside-model`: a target of a kind the model does not list, a CI
  added or deleted (a model modifies fields of existing CIs), or a changed field the
  model does not list; one refusal per CI and field.

This module is pure: the gate hands it the change, the base's models and what the
branch did to each target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from cmdbctl.fielddiff import FieldChange
from cmdbctl.findings import pointer_parts
from cmdbctl.models import ChangeSpec, StandardChangeSpec

_WIDEN_HINT = (
    "raise a normal change, or ask the change managers to widen the model "
    "(a governance edit of policies/)"
)

CODES: dict[str, str] = {
    "gate.standard.model-missing": "a standard change names no model in spec.model, so "
    "nothing pre-approves it",
    "gate.standard.model-unknown": "a standard change names a model the base branch's "
    "policies/ does not hold (models are read from the base)",
    "gate.standard.outside-model": "a standard change does what its model does not allow: "
    "a CI of another kind, a CI added or deleted, or a field "
    "the model does not list",
}


class Refusal(NamedTuple):
    code: str
    message: str
    pointer: str  # into the change request
    hint: str | None


@dataclass(frozen=True)
class TargetEdit:
    """What the branch did to one target of the change."""

    id: str  # the target CI's id
    kinds: frozenset[str]  # its kind at the merge base and at the head (both, if they differ)
    status: str  # "added" | "modified" | "deleted" | "renamed"
    changes: tuple[FieldChange, ...]  # JSON pointers such as /spec/os/version


def standard_change_refusals(
    change: ChangeSpec, models: Mapping[str, StandardChangeSpec], edits: Sequence[TargetEdit]
) -> list[Refusal]:
    """Why `change` does not stay inside its standard change model; [] when it does, or
    when it is not a standard change. `models` is the base branch's catalogue by id."""
    if change.type != "standard":
        return []
    if change.model is None:
        return [
            Refusal(
                "gate.standard.model-missing",
                "standard change names no model in spec.model: it is pre-approved only for "
                "what a StandardChange in policies/ lists",
                "/spec/type",
                "add spec.model with the id of the StandardChange it follows, or raise a "
                "normal change",
            )
        ]
    model = models.get(change.model)
    if model is None:
        known = ", ".join(sorted(models)) or "none"
        return [
            Refusal(
                "gate.standard.model-unknown",
                f"standard change model {change.model!r} is not in the catalogue, which is read "
                f"from the base branch (its StandardChange documents in policies/: {known})",
                "/spec/model",
                "a model added on this branch counts once it is merged under a management "
                "change; until then raise a normal change",
            )
        ]
    kinds = set(model.target_kinds)
    fields = [tuple(f.split(".")) for f in model.fields]
    listed = ", ".join(model.fields)
    refusals = []
    for edit in edits:
        if not edit.kinds or not edit.kinds <= kinds:
            what = " / ".join(sorted(edit.kinds)) or "unknown"
            refusals.append(
                Refusal(
                    "gate.standard.outside-model",
                    f"{edit.id} is of kind {what}; standard change model {change.model} covers only "
                    f"{', '.join(model.target_kinds)}",
                    "/spec/targets",
                    _WIDEN_HINT,
                )
            )
            continue
        if edit.status in ("added", "deleted"):
            refusals.append(
                Refusal(
                    "gate.standard.outside-model",
                    f"{edit.id} is {edit.status}; standard change model {change.model} only "
                    f"modifies fields of existing CIs ({listed})",
                    "/spec/targets",
                    _WIDEN_HINT,
                )
            )
            continue
        for field_change in edit.changes:
            parts = tuple(pointer_parts(field_change.path))
            if any(parts[: len(f)] == f for f in fields):
                continue
            name = ".".join(parts) or "the whole document"
            refusals.append(
                Refusal(
                    "gate.standard.outside-model",
                    f"{edit.id}: {name} is changed, but standard change model {change.model} "
                    f"may change only {listed}",
                    "/spec/targets",
                    _WIDEN_HINT,
                )
            )
    return refusals
