"""`standard_change_refusals`: a standard change stays inside its pre-approved model.

Changes and models are parsed from YAML text through the real loader and models; the
field changes are `fielddiff.diff` over real documents.
"""

from __future__ import annotations

from typing import Any

from cmdbctl.fielddiff import diff
from cmdbctl.gate.standard import Refusal, TargetEdit, standard_change_refusals
from cmdbctl.loading import load
from cmdbctl.models import ChangeSpec, StandardChangeSpec

WIDEN = (
    "raise a normal change, or ask the change managers to widen the model "
    "(a governance edit of policies/)"
)


def _data(text: str) -> dict[str, Any]:
    loaded = load("doc.yaml", text.encode())
    assert loaded.data is not None and not loaded.findings, loaded.findings
    return loaded.data


def change(type_: str = "standard", model: str | None = "os-patch") -> ChangeSpec:
    text = f"""\
apiVersion: cmdb/v1
kind: ChangeRequest
metadata: {{id: CHG-2026-0100}}
spec:
  type: {type_}
  category: system
  requester: alice
  reason: Monthly patch
  targets: [app-01, app-02]
  risk: low
  status: submitted
"""
    if model is not None:
        text += f"  model: {model}\n"
    return ChangeSpec.model_validate(_data(text)["spec"])


def catalogue(
    fields: str = "[spec.os.version]", kinds: str = "[Server]", id_: str = "os-patch"
) -> dict[str, StandardChangeSpec]:
    text = f"""\
apiVersion: cmdb/v1
kind: StandardChange
metadata: {{id: {id_}, name: Monthly OS patch}}
spec:
  description: Minor OS updates from the vendor's stable channel
  targetKinds: {kinds}
  fields: {fields}
"""
    data = _data(text)
    return {data["metadata"]["id"]: StandardChangeSpec.model_validate(data["spec"])}


SERVER = """\
apiVersion: cmdb/v1
kind: Server
metadata:
  id: app-01
  labels: {env: prod}
spec:
  hostname: app-01
  os: {name: Debian, version: "12"}
  memoryMb: 65536
  disks:
    - {name: sda, sizeGb: 480}
    - {name: sdb, sizeGb: 960}
  status: active
"""


def edit(
    old: str | None, new: str | None, status: str = "modified", id_: str = "app-01"
) -> TargetEdit:
    """The edit from `old` to `new` (document texts; None: absent)."""
    before = _data(old) if old is not None else {}
    after = _data(new) if new is not None else {}
    kinds = frozenset(d["kind"] for d in (before, after) if d)
    return TargetEdit(id_, kinds, status, tuple(diff(before, after)))


def patched(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


OS_PATCHED = patched(SERVER, 'version: "12"', 'version: "12.7"')


# --- which changes ---------------------------------------------------------------------


def test_inside_the_model_nothing_is_refused() -> None:
    assert standard_change_refusals(change(), catalogue(), [edit(SERVER, OS_PATCHED)]) == []


def test_only_standard_changes_are_judged_against_a_model() -> None:
    memory = edit(SERVER, patched(SERVER, "memoryMb: 65536", "memoryMb: 131072"))

    assert standard_change_refusals(change("normal"), catalogue(), [memory]) == []
    assert standard_change_refusals(change("emergency", None), {}, [memory]) == []
    assert [r.code for r in standard_change_refusals(change(), catalogue(), [memory])] == [
        "gate.standard.outside-model"
    ]


def test_a_standard_change_without_a_model() -> None:
    assert standard_change_refusals(
        change(model=None), catalogue(), [edit(SERVER, OS_PATCHED)]
    ) == [
        Refusal(
            "gate.standard.model-missing",
            "standard change names no model in spec.model: it is pre-approved only for what a "
            "StandardChange in policies/ lists",
            "/spec/type",
            "add spec.model with the id of the StandardChange it follows, or raise a normal change",
        )
    ]


def test_a_model_the_base_catalogue_does_not_have() -> None:
    refusals = standard_change_refusals(
        change(model="kernel-patch"), catalogue(), [edit(SERVER, OS_PATCHED)]
    )

    assert refusals == [
        Refusal(
            "gate.standard.model-unknown",
            "standard change model 'kernel-patch' is not in the catalogue, which is read from "
            "the base branch (its StandardChange documents in policies/: os-patch)",
            "/spec/model",
            "a model added on this branch counts once it is merged under a management change; "
            "until then raise a normal change",
        )
    ]
    assert (
        "(its StandardChange documents in policies/: none)"
        in standard_change_refusals(change(), {}, [])[0].message
    )


# --- fields ----------------------------------------------------------------------------


def test_a_field_the_model_does_not_list() -> None:
    both = patched(OS_PATCHED, "memoryMb: 65536", "memoryMb: 131072")

    refusals = standard_change_refusals(change(), catalogue(), [edit(SERVER, both)])

    assert refusals == [
        Refusal(
            "gate.standard.outside-model",
            "app-01: spec.memoryMb is changed, but standard change model os-patch may change "
            "only spec.os.version",
            "/spec/targets",
            WIDEN,
        )
    ]


def test_a_listed_field_covers_what_is_below_it_and_nothing_beside_it() -> None:
    renamed = patched(OS_PATCHED, "name: Debian", "name: Devuan")
    models = catalogue("[spec.os]")

    assert standard_change_refusals(change(), models, [edit(SERVER, renamed)]) == []
    beside = patched(SERVER, "os: {name: Debian", "osFamily: linux\n  os: {name: Debian")
    [refusal] = standard_change_refusals(change(), models, [edit(SERVER, beside)])
    assert refusal.message.startswith("app-01: spec.osFamily is changed")


def test_a_field_above_the_listed_one_is_outside() -> None:
    # A new `os` object is one field change at /spec/os: more than its version.
    without_os = patched(SERVER, '  os: {name: Debian, version: "12"}\n', "")

    [refusal] = standard_change_refusals(change(), catalogue(), [edit(without_os, SERVER)])

    assert refusal.message == (
        "app-01: spec.os is changed, but standard change model "
        "os-patch may change only spec.os.version"
    )


def test_list_indices_are_path_parts() -> None:
    first = patched(SERVER, "sizeGb: 480", "sizeGb: 960")
    second = patched(SERVER, "sizeGb: 960}", "sizeGb: 1920}")
    models = catalogue("[spec.disks.0.sizeGb]")

    assert standard_change_refusals(change(), models, [edit(SERVER, first)]) == []
    [refusal] = standard_change_refusals(change(), models, [edit(SERVER, second)])
    assert refusal.message == (
        "app-01: spec.disks.1.sizeGb is changed, but standard change "
        "model os-patch may change only spec.disks.0.sizeGb"
    )


def test_label_keys_with_slashes_are_one_path_part() -> None:
    labelled = patched(SERVER, "labels: {env: prod}", "labels: {env: prod, example.com/patch: may}")

    assert (
        standard_change_refusals(change(), catalogue("[metadata.labels]"), [edit(SERVER, labelled)])
        == []
    )
    [refusal] = standard_change_refusals(
        change(), catalogue("[metadata.labels.example]"), [edit(SERVER, labelled)]
    )
    assert refusal.message.startswith("app-01: metadata.labels.example.com/patch is changed")


def test_one_refusal_per_ci_and_field() -> None:
    one = patched(
        patched(SERVER, "memoryMb: 65536", "memoryMb: 131072"),
        "hostname: app-01",
        "hostname: app-01a",
    )
    other = SERVER.replace("app-01", "app-02")
    two = patched(other, "status: active", "status: maintenance")
    models = catalogue("[spec.os.version, metadata.labels]")

    refusals = standard_change_refusals(
        change(), models, [edit(SERVER, one), edit(other, two, id_="app-02")]
    )

    assert {r.code for r in refusals} == {"gate.standard.outside-model"}
    assert {r.pointer for r in refusals} == {"/spec/targets"}
    assert [r.message.split(" is changed")[0] for r in refusals] == [
        "app-01: spec.hostname",
        "app-01: spec.memoryMb",
        "app-02: spec.status",
    ]
    assert refusals[0].message.endswith("may change only spec.os.version, metadata.labels")


# --- kinds and lifecycle ---------------------------------------------------------------


DATABASE = """\
apiVersion: cmdb/v1
kind: Database
metadata: {id: shop-db}
spec: {engine: postgresql, version: "16", runsOn: app-01}
"""


def test_a_target_of_a_kind_the_model_does_not_list() -> None:
    upgraded = patched(DATABASE, 'version: "16"', 'version: "16.4"')

    refusals = standard_change_refusals(
        change(), catalogue("[spec.version]"), [edit(DATABASE, upgraded, id_="shop-db")]
    )

    assert refusals == [
        Refusal(
            "gate.standard.outside-model",
            "shop-db is of kind Database; standard change model os-patch covers only Server",
            "/spec/targets",
            WIDEN,
        )
    ]


def test_a_kind_changed_on_the_branch_must_be_listed_at_both_ends() -> None:
    as_database = patched(OS_PATCHED, "kind: Server", "kind: Database")

    [refusal] = standard_change_refusals(
        change(), catalogue("[spec.os]"), [edit(SERVER, as_database)]
    )
    assert refusal.message == (
        "app-01 is of kind Database / Server; standard change model os-patch covers only Server"
    )

    # Both kinds listed: the kind itself is still a changed field no model can list.
    [refusal] = standard_change_refusals(
        change(), catalogue("[spec.os]", "[Server, Database]"), [edit(SERVER, as_database)]
    )
    assert refusal.message == (
        "app-01: kind is changed, but standard change model os-patch may change only spec.os"
    )


def test_a_target_of_unknown_kind_is_outside() -> None:
    [refusal] = standard_change_refusals(
        change(), catalogue(), [TargetEdit("app-01", frozenset(), "modified", ())]
    )

    assert refusal.message == (
        "app-01 is of kind unknown; standard change model os-patch covers only Server"
    )


def test_adding_or_deleting_a_ci_is_outside_every_model() -> None:
    refusals = standard_change_refusals(
        change(),
        catalogue(),
        [edit(None, SERVER, "added"), edit(SERVER, None, "deleted", id_="app-02")],
    )

    assert refusals == [
        Refusal(
            "gate.standard.outside-model",
            "app-01 is added; standard change model os-patch only modifies fields of "
            "existing CIs (spec.os.version)",
            "/spec/targets",
            WIDEN,
        ),
        Refusal(
            "gate.standard.outside-model",
            "app-02 is deleted; standard change model os-patch only modifies fields of "
            "existing CIs (spec.os.version)",
            "/spec/targets",
            WIDEN,
        ),
    ]


def test_a_rename_is_judged_by_its_fields() -> None:
    assert (
        standard_change_refusals(change(), catalogue(), [edit(SERVER, OS_PATCHED, "renamed")]) == []
    )
    [refusal] = standard_change_refusals(
        change(),
        catalogue(),
        [edit(SERVER, SERVER.replace("id: app-01", "id: app-01b"), "renamed")],
    )
    assert refusal.message.startswith("app-01: metadata.id is changed")
