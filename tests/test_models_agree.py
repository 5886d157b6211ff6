"""The pydantic models in cmdbctl/models.py agree with the JSON Schemas.

Users edit the schemas; the engine reads SLAs, change requests, policies, people and
groups through the models. For every kind in SPEC_MODELS the two must name the same
fields (recursively, for the nested objects both define), require the same ones, allow
the same enum values and types, and accept and refuse the same sample documents.
"""

from __future__ import annotations

import importlib.util
import sys
import types
import typing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pydantic
import pytest
from pydantic import BaseModel, ValidationError

from cmdbctl import models
from cmdbctl.models import SPEC_MODELS, parse_duration


def _load_sibling(name: str) -> types.ModuleType:
    """The schema tests' module, which holds the schema loader and the sample documents."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


S = _load_sibling("test_schemas")


# --- walking the schema and the model side by side ----------------------------------


def follow(filename: str, node: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Follow $ref until a schema that defines something itself."""
    while "$ref" in node:
        filename, node = S.resolve(filename, node["$ref"])
    return filename, node


def schema_branches(filename: str, node: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The alternatives a value may take: oneOf/anyOf branches, or the schema itself."""
    filename, node = follow(filename, node)
    alternatives = node.get("oneOf") or node.get("anyOf")
    if alternatives and "properties" not in node:
        return [branch for alt in alternatives for branch in schema_branches(filename, alt)]
    return [(filename, node)]


def json_type(node: dict[str, Any]) -> str:
    if "type" in node:
        return str(node["type"])
    values = node.get("enum", [node.get("const")])
    assert all(isinstance(v, str) for v in values), node
    return "string"


def unwrap(annotation: Any) -> list[Any]:
    """The alternatives of an annotation: Optional/Union split, Annotated and None removed."""
    if typing.get_origin(annotation) is typing.Annotated:
        return unwrap(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [alt for arg in typing.get_args(annotation) for alt in unwrap(arg)]
    if annotation is type(None):
        return []
    return [annotation]


def python_type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        assert all(isinstance(v, str) for v in typing.get_args(annotation))
        return "string"
    if origin is list:
        return "array"
    if origin is dict:  # a mapping of names the schema leaves open (additionalProperties)
        return "object"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    simple = {
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        timedelta: "string",
        datetime: "string",
        pydantic.AwareDatetime: "string",
    }
    return simple[annotation]


def compare_object(model: type[BaseModel], filename: str, node: dict[str, Any], where: str) -> None:
    filename, node = follow(filename, node)
    properties = node["properties"]
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    assert set(fields) == set(properties), f"{where}: field names"
    required = {alias for alias, field in fields.items() if field.is_required()}
    assert required == set(node.get("required", [])), f"{where}: required fields"
    for alias, field in fields.items():
        compare_value(field.annotation, filename, properties[alias], f"{where}.{alias}")


def compare_value(annotation: Any, filename: str, node: dict[str, Any], where: str) -> None:
    branches = schema_branches(filename, node)
    alternatives = unwrap(annotation)

    assert sorted(json_type(n) for _, n in branches) == sorted(
        python_type(a) for a in alternatives
    ), f"{where}: types"

    schema_values = {v for _, n in branches for v in n.get("enum", [n.get("const")])} - {None}
    model_values = {
        v
        for a in alternatives
        if typing.get_origin(a) is typing.Literal
        for v in typing.get_args(a)
    }
    assert schema_values == model_values, f"{where}: enum values"

    objects = [(f, n) for f, n in branches if json_type(n) == "object"]
    object_models = [a for a in alternatives if python_type(a) == "object"]
    if objects and "properties" in objects[0][1]:
        compare_object(object_models[0], *objects[0], where)

    arrays = [(f, n) for f, n in branches if json_type(n) == "array"]
    list_types = [a for a in alternatives if python_type(a) == "array"]
    if arrays:
        (item,) = typing.get_args(list_types[0])
        compare_value(item, arrays[0][0], arrays[0][1]["items"], f"{where}[]")


def spec_schema(kind: str) -> tuple[str, dict[str, Any]]:
    filename = S.schema_file(kind)
    return filename, S.load_schemas()[filename]["properties"]["spec"]


# --- agreement ----------------------------------------------------------------------------


def test_spec_models_cover_the_non_ci_kinds() -> None:
    assert set(SPEC_MODELS) == {
        kind for kind, cls in S.KIND_CLASS.items() if cls not in S.CI_CLASSES
    }


@pytest.mark.parametrize("kind", list(SPEC_MODELS))
def test_model_and_schema_agree(kind: str) -> None:
    compare_object(SPEC_MODELS[kind], *spec_schema(kind), where=f"{kind}.spec")


@pytest.mark.parametrize("kind", list(SPEC_MODELS))
def test_models_are_frozen_and_ignore_unknown_fields(kind: str) -> None:
    config = SPEC_MODELS[kind].model_config
    assert config.get("frozen") is True
    assert config.get("extra") == "ignore"


@pytest.mark.parametrize(
    ("constant", "definition"),
    [
        ("CI_ID_PATTERN", "ciId"),
        ("CHANGE_ID_PATTERN", "changeId"),
        ("DURATION_PATTERN", "duration"),
        ("INSTANT_PATTERN", "instant"),
        ("CLOCK_PATTERN", "clock"),
        ("TIMEZONE_PATTERN", "timezone"),
    ],
)
def test_patterns_are_the_schemas(constant: str, definition: str) -> None:
    common = S.load_schemas()["common.schema.json"]
    assert getattr(models, constant) == common["$defs"][definition]["pattern"]


# --- documents ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "document"),
    [
        pytest.param(kind, doc, id=f"{kind}: {label}")
        for kind, label, doc in S.VALID_DOCUMENTS
        if kind in SPEC_MODELS
    ],
)
def test_valid_spec_parses(kind: str, document: dict[str, Any]) -> None:
    SPEC_MODELS[kind].model_validate(document["spec"])


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        pytest.param(kind, path, value, id=f"{kind}: {path}={value!r}")
        for kind, path, value in S.VALID_VARIANTS
        if kind in SPEC_MODELS and path.startswith("spec")
    ],
)
def test_valid_variant_parses(kind: str, path: str, value: Any) -> None:
    SPEC_MODELS[kind].model_validate(S.mutated(S.FULL[kind], path, value)["spec"])


# What the schema refuses but the models accept, on purpose: unknown keys (models ignore
# them, so users can add fields to their schemas; found through defined_in_schema), and
# these cases: empty objects (minProperties) and repeated list items (uniqueItems).
MODEL_LENIENT = {
    ("SLA", "spec.targets", "{}"),
    ("SLA", "spec.targets.P1", "{}"),
    ("SLA", "spec.maintenanceWindows.0.days", "['sat', 'sat']"),
}


def defined_in_schema(kind: str, path: str) -> bool:
    """True when the schema defines the field at path (a dotted path into a document)."""
    filename = S.schema_file(kind)
    node: dict[str, Any] = S.load_schemas()[filename]
    for part in path.split("."):
        for branch_file, branch in schema_branches(filename, node):
            if part.isdigit() and "items" in branch:
                filename, node = branch_file, branch["items"]
                break
            if part in branch.get("properties", {}):
                filename, node = branch_file, branch["properties"][part]
                break
        else:
            return False
    return True


def spec_invalid_cases() -> list[Any]:
    """The schema tests' invalid cases inside the spec of a kind that has a model."""
    cases = []
    for param in S.invalid_cases():
        kind, path, value = param.values
        if kind not in SPEC_MODELS or not path.startswith("spec"):
            continue
        unknown_key = value is not S.DELETE and not defined_in_schema(kind, path)
        if unknown_key or (kind, path, repr(value)) in MODEL_LENIENT:
            continue
        spec = S.mutated(S.FULL[kind], path, value).get("spec")
        cases.append(pytest.param(kind, spec, id=param.id))
    return cases


def test_model_lenient_cases_exist() -> None:
    cases = {(p.values[0], p.values[1], repr(p.values[2])) for p in S.invalid_cases()}
    assert MODEL_LENIENT <= cases


@pytest.mark.parametrize(("kind", "spec"), spec_invalid_cases())
def test_invalid_spec_is_refused_by_the_model(kind: str, spec: Any) -> None:
    with pytest.raises(ValidationError):
        SPEC_MODELS[kind].model_validate(spec)


def test_parsed_values() -> None:
    sla = models.SlaSpec.model_validate(S.FULL["SLA"]["spec"])
    assert sla.targets.get("P1") == models.Target(
        response=timedelta(minutes=15), resolve=timedelta(hours=4)
    )
    assert sla.targets.get("p4") is not None and sla.targets.get("P9") is None
    assert isinstance(sla.service_hours, models.TimeWindow)
    assert sla.service_hours.from_ == "09:00" and sla.service_hours.start_minute == 540
    assert sla.maintenance_windows[0].crosses_midnight
    assert str(sla.maintenance_windows[0].zone) == "Asia/Shanghai"

    change = models.ChangeSpec.model_validate(S.FULL["ChangeRequest"]["spec"])
    assert change.window is not None
    assert change.window.start == datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    assert change.window.start.utcoffset() == timedelta(hours=8)
    assert change.approvals[0].decision == "approve"
    assert change.rollback_plan == "Remove the new DIMMs." and change.has_rollback_plan

    policy = models.ChangePolicySpec.model_validate(S.FULL["ChangePolicy"]["spec"])
    assert policy.rules[2].review_within == timedelta(days=5)
    assert policy.rules[4].match == models.Match() and policy.rules[4].window == "any"
    assert policy.rules[1].approvals[1].owner_of == "affectedServices"
    assert policy.rules[2].approvals[0].count == 1

    defaults = models.ChangePolicySpec.model_validate({})
    assert defaults.separation_of_duties is True
    assert defaults.require_signed_approvals is False
    assert defaults.identification.order == ["serial", "fqdn", "hostname", "mac"]


def test_snake_case_names_work_too() -> None:
    spec = models.ChangeSpec(
        type="emergency",
        category="system",
        requester="alice",
        reason="disk full",
        targets=["db-01"],
        risk="high",
        status="implemented",
        rollback_plan=["restore snapshot"],
    )
    assert spec.model_dump(by_alias=True, exclude_none=True)["rollbackPlan"] == ["restore snapshot"]


def test_models_are_immutable() -> None:
    person = models.PersonSpec.model_validate(S.FULL["Person"]["spec"])
    with pytest.raises(ValidationError):
        setattr(person, "emails", [])  # noqa: B010 (frozen: the point of the test)


def test_instants_need_an_offset_also_as_datetime_objects() -> None:
    aware = datetime(2026, 11, 28, 22, 0, tzinfo=timezone(timedelta(hours=8)))
    assert models.Window(start=aware, end=aware).start == aware
    with pytest.raises(ValidationError):
        models.Window(start=datetime(2026, 11, 28, 22, 0), end=aware)
    with pytest.raises(ValidationError):
        models.Window.model_validate({"start": 1764338400, "end": aware})
    with pytest.raises(ValidationError):  # the pattern allows it; the calendar does not
        models.Window.model_validate({"start": "2026-02-31T00:00Z", "end": aware})


# --- parse_duration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT15M", timedelta(minutes=15)),
        ("PT4H", timedelta(hours=4)),
        ("P5D", timedelta(days=5)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P1DT2H3M4S", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("PT1H30M", timedelta(minutes=90)),
        ("PT90S", timedelta(seconds=90)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("P2W", timedelta(weeks=2)),
        ("P0D", timedelta(0)),
        ("PT36H", timedelta(hours=36)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


DURATION_REJECTS = [
    "",
    "P",
    "PT",
    "P1DT",
    "T1H",
    "1H",
    "P1Y",
    "P1M",
    "P1Y2M3D",
    "PT15m",
    "p5d",
    "-PT15M",
    "P1W2D",
    "P1.5D",
    "PT1.5H",
    "PT1H ",
    " PT1H",
    "PT1S1M",
    "P5DT",
    "P1H",
    "PT1D",
]


@pytest.mark.parametrize("text", DURATION_REJECTS)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_duration_rejects_non_strings() -> None:
    with pytest.raises(ValueError):
        parse_duration(15)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", DURATION_REJECTS + ["PT15M", "P1DT2H", "P2W", "PT0.5S"])
def test_parse_duration_and_schema_agree(text: str) -> None:
    schema_ok = S.Draft202012Validator(
        {"$ref": S.BASE_URI + "common.schema.json#/$defs/duration"}, registry=S.py_registry()
    ).is_valid(text)
    try:
        parse_duration(text)
        model_ok = True
    except ValueError:
        model_ok = False
    assert schema_ok == model_ok
