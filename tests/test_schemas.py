"""The JSON Schemas in cmdbctl/schemas/: well-formed, complete, and strict.

Every case is checked with both validators the project may use (the ``jsonschema``
package with a ``referencing`` registry, and ``jsonschema_rs``); they must agree with
each other and with the expected verdict. Schemas are loaded the way the engine loads
them: every file under the base URI ``https://cmdbctl.invalid/schemas/<filename>``,
cross-file references relative to it.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "cmdbctl" / "schemas"
BASE_URI = "https://cmdbctl.invalid/schemas/"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

CI_CLASSES = ["hardware", "software", "document", "service", "other"]
KIND_CLASS = {
    "Server": "hardware",
    "NetworkDevice": "hardware",
    "StorageDevice": "hardware",
    "Database": "software",
    "Application": "software",
    "Service": "service",
    "Document": "document",
    "Facility": "other",
    "NetworkLine": "other",
    "SLA": "sla",
    "ChangeRequest": "change",
    "Person": "person",
    "Group": "group",
    "ChangePolicy": "policy",
    "StandardChange": "policy",
    "DiscoveryPolicy": "policy",
}
CI_KINDS = [kind for kind, cls in KIND_CLASS.items() if cls in CI_CLASSES]

# The spec fields FORMATS.md names for each kind (the schemas may hold more).
FORMATS_SPEC_FIELDS = {
    "Server": "hostname fqdn serial vendor model os cpu memoryMb disks interfaces location",
    "NetworkDevice": "hostname serial vendor model firmware managementIp interfaces location",
    "StorageDevice": "serial vendor model capacityTb location",
    "Database": "engine version runsOn port",
    "Application": "version runsOn repository",
    "Service": "sla serviceHours",
    "Document": "docType uri version about",
    "Facility": "site address facilityType",
    "NetworkLine": "provider bandwidthMbps endpoints",
    "SLA": "services serviceHours targets availability satisfaction maintenanceWindows"
    " exceptions reporting",
    "ChangeRequest": "type category requester reason description targets risk impact plan"
    " window rollbackPlan approvals status model review rollback",
    "ChangePolicy": "separationOfDuties requireSignedApprovals rules freezes identification",
    "StandardChange": "description targetKinds fields",
    "DiscoveryPolicy": "identification precedence ignores",
    "Person": "emails signingKeys displayName",
    "Group": "members description",
}
REQUIRED_SPEC_FIELDS = {
    "SLA": {"services", "targets"},
    "Person": {"emails"},
    "Group": {"members"},
    "ChangeRequest": {"type", "category", "requester", "reason", "targets", "risk", "status"},
    "StandardChange": {"targetKinds", "fields"},
}

ANY_CI = {"classes": CI_CLASSES}
# Every id-valued field of every kind, by path ("[]" = array items), with the targets
# its x-cmdb-ref allows.
EXPECTED_REFS: dict[str, dict[str, dict[str, list[str]]]] = {
    "Server": {"spec.location": {"kinds": ["Facility"]}},
    "NetworkDevice": {"spec.location": {"kinds": ["Facility"]}},
    "StorageDevice": {"spec.location": {"kinds": ["Facility"]}},
    "Database": {"spec.runsOn": {"kinds": ["Server"]}},
    "Application": {"spec.runsOn[]": {"kinds": ["Server"]}},
    "Service": {"spec.sla": {"kinds": ["SLA"]}},
    "Document": {"spec.about[]": ANY_CI},
    "Facility": {"spec.location": {"kinds": ["Facility"]}},
    "NetworkLine": {"spec.endpoints[]": {"kinds": ["Facility", "NetworkDevice"]}},
    "SLA": {"spec.services[]": {"kinds": ["Service"]}},
    "ChangeRequest": {
        "spec.requester": {"kinds": ["Person"]},
        "spec.targets[]": {"classes": [*CI_CLASSES, "person", "group", "policy"]},
        "spec.impact.services[]": {"kinds": ["Service"]},
        "spec.approvals[].by": {"kinds": ["Person"]},
        "spec.review.by": {"kinds": ["Person"]},
        "spec.rollback.by": {"kinds": ["Person"]},
        "spec.model": {"kinds": ["StandardChange"]},
    },
    "Person": {},
    "Group": {"spec.members[]": {"kinds": ["Person"]}},
    "ChangePolicy": {
        "spec.rules[].approvals[].group": {"kinds": ["Group"]},
        "spec.rules[].reviewers": {"kinds": ["Group"]},
    },
    "StandardChange": {},
    "DiscoveryPolicy": {"spec.ignores[].owner": {"kinds": ["Group", "Person"]}},
}
for _kind in KIND_CLASS:
    EXPECTED_REFS[_kind]["metadata.owner"] = {"kinds": ["Group", "Person"]}
for _kind in CI_KINDS:
    EXPECTED_REFS[_kind]["spec.dependsOn[]"] = ANY_CI


def kebab(kind: str) -> str:
    """ChangeRequest -> change-request, SLA -> sla."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", kind).lower()


def schema_file(kind: str) -> str:
    return f"{kebab(kind)}.schema.json"


@cache
def load_schemas() -> dict[str, dict[str, Any]]:
    """Every schema file, by file name."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(SCHEMA_DIR.glob("*.schema.json"))
    }


@cache
def py_registry() -> Registry:
    return Registry().with_resources(
        (BASE_URI + name, Resource.from_contents(schema)) for name, schema in load_schemas().items()
    )


@cache
def rs_registry() -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry(
        [(BASE_URI + name, schema) for name, schema in load_schemas().items()]
    )


@cache
def py_validator(filename: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": BASE_URI + filename}, registry=py_registry())


@cache
def rs_validator(filename: str) -> Any:
    # RegexOptions: the plain `regex` crate (no lookaround, no backreferences), so a
    # pattern that needs more than the common subset of regex dialects fails here.
    return jsonschema_rs.validator_for(
        {"$schema": DRAFT_2020_12, "$ref": BASE_URI + filename},
        registry=rs_registry(),
        pattern_options=jsonschema_rs.RegexOptions(),
    )


def verdicts(kind: str, document: Any) -> tuple[bool, bool]:
    """(jsonschema says valid, jsonschema_rs says valid)."""
    filename = schema_file(kind)
    return py_validator(filename).is_valid(document), rs_validator(filename).is_valid(document)


# --- sample documents ---------------------------------------------------------------


def envelope(kind: str, id_: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cmdb/v1",
        "kind": kind,
        "metadata": {"id": id_, **metadata},
        "spec": spec,
    }


MINIMAL: dict[str, dict[str, Any]] = {
    **{kind: envelope(kind, "ci-01", {}) for kind in CI_KINDS},
    "SLA": envelope(
        "SLA", "billing-sla", {"services": ["billing"], "targets": {"P1": {"response": "PT15M"}}}
    ),
    "ChangeRequest": envelope(
        "ChangeRequest",
        "CHG-2026-0042",
        {
            "type": "normal",
            "category": "system",
            "requester": "alice",
            "reason": "More memory for month-end runs",
            "targets": ["db-01"],
            "risk": "medium",
            "status": "draft",
        },
    ),
    "ChangePolicy": envelope("ChangePolicy", "change-policy", {}),
    "StandardChange": envelope(
        "StandardChange", "os-patch", {"targetKinds": ["Server"], "fields": ["spec.os.version"]}
    ),
    "Person": envelope("Person", "alice", {"emails": ["alice@example.net"]}),
    "Group": envelope("Group", "change-managers", {"members": []}),
    "DiscoveryPolicy": envelope("DiscoveryPolicy", "discovery", {}),
}

FULL_METADATA = {
    "name": "Billing database server",
    "owner": "team-dba",
    "labels": {"env": "prod", "site": "dc-east", "example.com/tier": "1", "empty": ""},
    "annotations": {"note": "anything at all, longer than sixty-three characters is fine here"},
    "description": "Primary database host for billing.",
}
CI_COMMON = {"status": "active", "criticality": "high", "dependsOn": ["dc-east-r12", "san-01"]}
OFFICE_HOURS = {
    "timezone": "Asia/Shanghai",
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "from": "09:00",
    "to": "18:00",
}

FULL: dict[str, dict[str, Any]] = {
    "Server": envelope(
        "Server",
        "db-01",
        {
            **CI_COMMON,
            "hostname": "db-01",
            "fqdn": "db-01.example.net",
            "serial": "CZ1234",
            "vendor": "HPE",
            "model": "DL380 Gen11",
            "os": {"name": "Debian", "version": "12"},
            "cpu": {"cores": 16},
            "memoryMb": 131072,
            "disks": [{"name": "sda", "sizeGb": 960}, {"name": "sdb", "sizeGb": 1.5}],
            "interfaces": [
                {
                    "name": "eth0",
                    "mac": "00:1a:2b:3c:4d:5e",
                    "ips": ["10.0.0.5", "2001:db8::5", "::1"],
                }
            ],
            "location": "dc-east-r12",
        },
        **FULL_METADATA,
    ),
    "NetworkDevice": envelope(
        "NetworkDevice",
        "sw-core-01",
        {
            **CI_COMMON,
            "hostname": "sw-core-01",
            "serial": "FOC1234",
            "vendor": "Cisco",
            "model": "C9300",
            "firmware": "17.9.4",
            "managementIp": "10.0.254.1",
            "interfaces": [{"name": "Gi1/0/1", "mac": "00-1A-2B-3C-4D-5F", "ips": []}],
            "location": "dc-east-r12",
        },
        **FULL_METADATA,
    ),
    "StorageDevice": envelope(
        "StorageDevice",
        "san-01",
        {
            **CI_COMMON,
            "serial": "NA-555",
            "vendor": "NetApp",
            "model": "AFF A250",
            "capacityTb": 48.5,
            "managementIp": "10.10.0.20",
            "location": "dc-east-mr1",
        },
        **FULL_METADATA,
    ),
    "Database": envelope(
        "Database",
        "billing-db",
        {**CI_COMMON, "engine": "postgresql", "version": "16.2", "runsOn": "db-01", "port": 5432},
        **FULL_METADATA,
    ),
    "Application": envelope(
        "Application",
        "billing-api",
        {
            **CI_COMMON,
            "version": "2.4.1",
            "runsOn": ["app-01", "app-02"],
            "repository": "https://git.example.net/billing/api",
        },
        **FULL_METADATA,
    ),
    "Service": envelope(
        "Service",
        "billing",
        {**CI_COMMON, "sla": "billing-sla", "serviceHours": OFFICE_HOURS},
        **FULL_METADATA,
    ),
    "Document": envelope(
        "Document",
        "billing-runbook",
        {
            **CI_COMMON,
            "docType": "runbook",
            "uri": "https://wiki.example.net/billing",
            "version": "7",
            "validFrom": "2026-01-01",
            "validTo": "2026-12-31",
            "about": ["billing", "billing-db"],
        },
        **FULL_METADATA,
    ),
    "Facility": envelope(
        "Facility",
        "dc-east-r12",
        {
            **CI_COMMON,
            "site": "dc-east",
            "address": "1 Data Way, Shanghai",
            "facilityType": "rack",
            "location": "dc-east-mr1",
        },
        **FULL_METADATA,
    ),
    "NetworkLine": envelope(
        "NetworkLine",
        "wan-east-west",
        {
            **CI_COMMON,
            "provider": "China Telecom",
            "circuitId": "CN2-DCI-0042",
            "bandwidthMbps": 1000,
            "endpoints": ["dc-east", "sw-core-01"],
        },
        **FULL_METADATA,
    ),
    "SLA": envelope(
        "SLA",
        "billing-sla",
        {
            "services": ["billing"],
            "serviceHours": OFFICE_HOURS,
            "targets": {
                "P1": {"response": "PT15M", "resolve": "PT4H"},
                "P2": {"response": "PT30M", "resolve": "PT8H"},
                "P3": {"response": "PT4H", "resolve": "P3D"},
                "P4": {"response": "P1D", "resolve": "P10D"},
            },
            "availability": 99.9,
            "satisfaction": 95,
            "maintenanceWindows": [
                {"timezone": "Asia/Shanghai", "days": ["sat"], "from": "22:00", "to": "04:00"}
            ],
            "exceptions": ["customer-caused outages", "force majeure"],
            "escalation": {"contingencyPlanAfter": "PT12H", "faultReportWithin": "PT24H"},
            "reporting": "monthly",
        },
        name="Billing SLA",
        owner="team-billing",
    ),
    "ChangeRequest": envelope(
        "ChangeRequest",
        "CHG-2026-0042",
        {
            "type": "normal",
            "category": "system",
            "requester": "alice",
            "reason": "Month-end batch runs out of memory.",
            "description": "Double the memory of db-01.",
            "targets": ["db-01"],
            "risk": "medium",
            "impact": {"summary": "Billing is down for 30 minutes.", "services": ["billing"]},
            "plan": ["Stop billing", "Add DIMMs", "Start billing"],
            "window": {"start": "2026-11-28T22:00:00+08:00", "end": "2026-11-29T01:00:00+08:00"},
            "rollbackPlan": "Remove the new DIMMs.",
            "approvals": [
                {
                    "by": "bob",
                    "at": "2026-11-26T10:02:00+08:00",
                    "decision": "approve",
                    "comment": "ok",
                }
            ],
            "status": "approved",
            "review": {
                "by": "bob",
                "at": "2026-11-30T09:00Z",
                "outcome": "successful",
                "notes": "Went as planned.",
            },
            "rollback": {
                "by": "carol",
                "at": "2026-12-01T08:00:00.250-05:00",
                "reason": "Memory errors",
                "commits": ["0123abc", "f" * 40],
            },
        },
        name="Double memory on db-01",
        owner="team-dba",
        labels={"env": "prod"},
    ),
    "ChangePolicy": envelope(
        "ChangePolicy",
        "change-policy",
        {
            "separationOfDuties": True,
            "requireSignedApprovals": False,
            "rules": [
                {
                    "id": "normal",
                    "match": {"type": ["normal"]},
                    "approvals": [{"group": "change-managers", "count": 1}],
                    "rollbackPlan": "required",
                    "window": "maintenance",
                },
                {
                    "id": "high-risk",
                    "description": "Two managers and the service owner",
                    "match": {"risk": ["high", "critical"]},
                    "approvals": [
                        {"group": "change-managers", "count": 2},
                        {"ownerOf": "affectedServices", "count": 1},
                    ],
                },
                {
                    "id": "emergency",
                    "match": {"type": ["emergency"]},
                    "approvals": [{"group": "change-managers"}],
                    "reviewWithin": "P5D",
                },
                {
                    "id": "network",
                    "match": {
                        "targetKinds": ["NetworkDevice", "NetworkLine"],
                        "category": ["system"],
                        "criticality": ["high", "critical"],
                    },
                    "approvals": [{"ownerOf": "targets"}],
                    "window": "any",
                    "rollbackPlan": "optional",
                    "reviewWithin": "P1DT12H",
                },
                {"id": "catch-all"},
            ],
            "freezes": [
                {
                    "id": "year-end",
                    "description": "Year-end closing",
                    "start": "2026-12-24T00:00:00+08:00",
                    "end": "2027-01-03T00:00:00+08:00",
                    "allow": ["emergency"],
                }
            ],
            "identification": {"order": ["serial", "fqdn", "hostname", "mac"]},
        },
        name="Change policy",
    ),
    "StandardChange": envelope(
        "StandardChange",
        "os-patch",
        {
            "description": "Minor OS updates from the vendor's stable channel",
            "targetKinds": ["Server", "NetworkDevice"],
            "fields": [
                "spec.os.version",
                "spec.firmware",
                "spec.disks.0.sizeGb",
                "metadata.labels.patch-group",
                "metadata.annotations.last_patch",
            ],
        },
        name="Monthly OS patch",
        owner="change-managers",
        labels={"cadence": "monthly"},
    ),
    "Person": envelope(
        "Person",
        "alice",
        {
            "displayName": "Alice Liddell",
            "emails": ["alice@example.net", "alice.l@users.noreply.example.com"],
            "signingKeys": [
                (
                    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
                    " alice@example.net"
                ),
                "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAI==",
                "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAI",
            ],
        },
        owner="team-dba",
    ),
    "Group": envelope(
        "Group",
        "change-managers",
        {"description": "Approve normal and emergency changes.", "members": ["alice", "bob"]},
        name="Change managers",
    ),
}

FULL["DiscoveryPolicy"] = envelope(
    "DiscoveryPolicy",
    "discovery",
    {
        "identification": {
            "Server": ["serial", "fqdn", "hostname", "macs"],
            "NetworkDevice": ["assetTag"],
        },
        "precedence": {
            "serial": ["asset-register", "ansible"],
            "os.version": ["ansible"],
            "*": ["ansible", "asset-register"],
        },
        "ignores": [
            {
                "match": {"kind": "Server", "ids": ["lab-01"], "labels": {"env": "lab"}},
                "fields": ["spec.memoryMb", "spec.disks.0.sizeGb"],
                "reason": "lab hosts are resized daily",
                "owner": "team-ops",
                "expires": "2027-01-31",
            },
            {"reason": "everything, briefly", "owner": "alice", "expires": "2026-12-01"},
        ],
    },
    name="Discovery policy",
    owner="team-ops",
)

VALID_DOCUMENTS: list[tuple[str, str, dict[str, Any]]] = [
    *((kind, "minimal", doc) for kind, doc in MINIMAL.items()),
    *((kind, "full", doc) for kind, doc in FULL.items()),
]


class _Delete:
    """A mutation value meaning: remove the key (named so in test ids, which must be the
    same in every process that collects them)."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()


def mutated(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of document with the dotted path (list indices as numbers) set to value."""
    result = copy.deepcopy(document)
    *parents, last = path.split(".")
    node: Any = result
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(last) if isinstance(node, list) else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return result


# Valid variations of the full documents: (kind, path, value).
VALID_VARIANTS: list[tuple[str, str, Any]] = [
    ("Service", "spec.serviceHours", "24x7"),
    ("Service", "spec.serviceHours.to", "24:00"),
    ("Service", "spec.serviceHours.timezone", "America/Argentina/Buenos_Aires"),
    ("Service", "spec.serviceHours.timezone", "UTC"),
    ("SLA", "spec.targets.P1.response", "P2W"),
    ("SLA", "spec.targets.P1.response", "PT1H30M"),
    ("SLA", "spec.targets.P1.response", "PT90S"),
    ("SLA", "spec.targets.P1.response", "PT0.5S"),
    ("SLA", "spec.targets.P1.response", "P1DT2H3M4S"),
    ("SLA", "spec.availability", 100),
    ("SLA", "spec.satisfaction", 0),
    ("ChangeRequest", "spec.rollbackPlan", ["Stop billing", "Remove DIMMs"]),
    ("ChangeRequest", "spec.window.start", "2026-11-28T22:00Z"),
    ("ChangeRequest", "spec.window.start", "2026-11-28T22:00:00.123456789-03:30"),
    ("ChangeRequest", "spec.status", "rolled-back"),
    ("ChangeRequest", "spec.model", "os-patch"),
    ("ChangeRequest", "spec.review.outcome", "partially-successful"),
    ("ChangeRequest", "spec.approvals.0.decision", "reject"),
    ("ChangeRequest", "metadata.id", "CHG-2027-123456"),
    ("Server", "metadata.id", "a"),
    ("Server", "metadata.id", "a" * 63),
    ("Server", "metadata.id", "db-01.prod_x"),
    ("Server", "spec.fqdn", "db-01.example.net."),
    ("Server", "spec.status", "retired"),
    ("ChangePolicy", "spec.identification.order", ["hostname"]),
    ("StandardChange", "spec.targetKinds", ["Application"]),
    ("StandardChange", "spec.fields", ["metadata.labels"]),
    ("StandardChange", "spec.description", DELETE),
]

# Invalid variations of the full documents: (kind, path, value, why).
COMMON_INVALID: list[tuple[str, Any, str]] = [
    ("colour", "blue", "unknown top-level key"),
    ("apiVersion", "cmdb/v2", "wrong apiVersion"),
    ("apiVersion", DELETE, "no apiVersion"),
    ("kind", "Gadget", "wrong kind"),
    ("spec", DELETE, "no spec"),
    ("spec", [], "spec is not an object"),
    ("metadata", DELETE, "no metadata"),
    ("metadata.id", DELETE, "no id"),
    ("metadata.uid", "1234", "unknown metadata key"),
    ("metadata.name", 42, "name is not a string"),
    ("metadata.owner", "Team DBA", "owner is not an id"),
    ("metadata.labels", {"env": "prod!"}, "label value with a bad character"),
    ("metadata.labels", {"env": "x" * 64}, "label value too long"),
    ("metadata.labels", {"bad key": "x"}, "label key with a space"),
    ("metadata.labels", {"env": 1}, "label value is not a string"),
    ("metadata.annotations", {"note": 1}, "annotation value is not a string"),
    ("spec.colour", "blue", "unknown spec key"),
]
CI_INVALID: list[tuple[str, Any, str]] = [
    ("metadata.id", "DB-01", "id with upper case"),
    ("metadata.id", "-db", "id starting with a dash"),
    ("metadata.id", "a" * 64, "id too long"),
    ("metadata.id", "CHG-2026-0042", "change id on a CI"),
    ("spec.status", "broken", "bad status"),
    ("spec.criticality", "urgent", "bad criticality"),
    ("spec.dependsOn", ["Bad Id"], "dependsOn item is not an id"),
    ("spec.dependsOn", "san-01", "dependsOn is not a list"),
    ("spec.dependsOn", ["san-01", "san-01"], "dependsOn item twice"),
]
KIND_INVALID: list[tuple[str, str, Any, str]] = [
    ("Server", "spec.os.family", "linux", "unknown key in os"),
    ("Server", "spec.cpu.cores", 0, "no cores"),
    ("Server", "spec.cpu.threads", 32, "unknown key in cpu"),
    ("Server", "spec.memoryMb", -1, "negative memory"),
    ("Server", "spec.memoryMb", 1.5, "fractional memory"),
    ("Server", "spec.disks.0.size", 10, "unknown key in a disk"),
    ("Server", "spec.disks.0.sizeGb", -1, "negative disk size"),
    ("Server", "spec.interfaces.0.mac", "00:1a:2b:3c:4d", "short MAC"),
    ("Server", "spec.interfaces.0.ips", ["999.1.1.1"], "bad IPv4"),
    ("Server", "spec.interfaces.0.ips", ["10.0.0.5/24"], "prefix length"),
    ("Server", "spec.interfaces.0.vlan", 10, "unknown key in an interface"),
    ("Server", "spec.hostname", "db_01", "bad hostname"),
    ("Server", "spec.fqdn", "db-01..example.net", "bad fqdn"),
    ("Server", "spec.location", ["dc-east"], "location is not a single id"),
    ("NetworkDevice", "spec.managementIp", "10.0.0", "bad management IP"),
    ("NetworkDevice", "spec.interfaces.0.speed", 1000, "unknown key in an interface"),
    ("StorageDevice", "spec.capacityTb", -1, "negative capacity"),
    ("Database", "spec.port", 70000, "port out of range"),
    ("Database", "spec.runsOn", ["db-01"], "runsOn is one id"),
    ("Database", "spec.version", 16, "version is not a string"),
    ("Application", "spec.runsOn", "app-01", "runsOn is a list"),
    ("Service", "spec.serviceHours", "24x5", "bad service hours"),
    ("Service", "spec.serviceHours.timezone", DELETE, "window without time zone"),
    ("Service", "spec.serviceHours.timezone", "Asia Shanghai", "bad time zone"),
    ("Service", "spec.serviceHours.from", "25:00", "bad clock"),
    ("Service", "spec.serviceHours.from", "9:00", "clock without leading zero"),
    ("Service", "spec.serviceHours.to", "24:01", "past 24:00"),
    ("Service", "spec.serviceHours.days", ["monday"], "bad weekday"),
    ("Service", "spec.serviceHours.days", [], "no days"),
    ("Service", "spec.serviceHours.every", "week", "unknown key in a window"),
    ("Service", "spec.sla", ["billing-sla"], "sla is one id"),
    ("Document", "spec.docType", "memo", "bad docType"),
    ("Document", "spec.about", "billing", "about is a list"),
    ("Document", "spec.validTo", "2026-12-31T00:00:00Z", "instant for a date"),
    ("Document", "spec.validTo", "31.12.2026", "not ISO 8601"),
    ("StorageDevice", "spec.managementIp", "san-01", "management IP is not an address"),
    ("Facility", "spec.facilityType", "building", "bad facilityType"),
    ("NetworkLine", "spec.bandwidthMbps", -5, "negative bandwidth"),
    ("NetworkLine", "spec.endpoints", ["dc east"], "endpoint is not an id"),
    ("SLA", "metadata.id", "Billing SLA", "bad id"),
    ("SLA", "spec.services", DELETE, "no services"),
    ("SLA", "spec.services", [], "no service"),
    ("SLA", "spec.targets", DELETE, "no targets"),
    ("SLA", "spec.targets", {}, "empty targets"),
    ("SLA", "spec.targets.P5", {"response": "PT1H"}, "unknown priority"),
    ("SLA", "spec.targets.P1", {}, "empty target"),
    ("SLA", "spec.targets.P1.response", "P", "duration P"),
    ("SLA", "spec.targets.P1.response", "PT", "duration PT"),
    ("SLA", "spec.targets.P1.response", "P1DT", "duration ending in T"),
    ("SLA", "spec.targets.P1.response", "P1M", "months"),
    ("SLA", "spec.targets.P1.response", "P1Y", "years"),
    ("SLA", "spec.targets.P1.response", "PT15m", "lower-case designator"),
    ("SLA", "spec.targets.P1.response", "15 minutes", "not ISO 8601"),
    ("SLA", "spec.targets.P1.response", "-PT15M", "negative duration"),
    ("SLA", "spec.targets.P1.response", "P1W2D", "weeks with days"),
    ("SLA", "spec.targets.P1.response", 900, "number"),
    ("SLA", "spec.targets.P1.respond", "PT1H", "unknown key in a target"),
    ("SLA", "spec.availability", 100.1, "availability over 100"),
    ("SLA", "spec.availability", "99.9", "availability as text"),
    ("SLA", "spec.availability", True, "availability as boolean"),
    ("SLA", "spec.satisfaction", -1, "negative satisfaction"),
    ("SLA", "spec.reporting", "hourly", "bad reporting period"),
    ("SLA", "spec.maintenanceWindows.0.note", "x", "unknown key in a maintenance window"),
    ("SLA", "spec.maintenanceWindows.0.days", ["sat", "sat"], "day twice"),
    ("SLA", "spec.exceptions", "force majeure", "exceptions is a list"),
    ("SLA", "spec.escalation.contingencyPlanAfter", "12h", "bad escalation duration"),
    ("SLA", "spec.escalation.notify", "carol", "unknown key in escalation"),
    ("ChangeRequest", "metadata.id", "db-01", "CI id on a change"),
    ("ChangeRequest", "metadata.id", "CHG-26-0042", "two-digit year"),
    ("ChangeRequest", "metadata.id", "CHG-2026-042", "short sequence"),
    ("ChangeRequest", "spec.type", "minor", "bad type"),
    ("ChangeRequest", "spec.category", "hardware", "bad category"),
    ("ChangeRequest", "spec.risk", "extreme", "bad risk"),
    ("ChangeRequest", "spec.status", "done", "bad status"),
    ("ChangeRequest", "spec.requester", DELETE, "no requester"),
    ("ChangeRequest", "spec.reason", "", "empty reason"),
    ("ChangeRequest", "spec.targets", [], "no targets"),
    ("ChangeRequest", "spec.impact.cost", 5, "unknown key in impact"),
    ("ChangeRequest", "spec.plan", "do it", "plan is a list"),
    ("ChangeRequest", "spec.window.start", "2026-11-28T22:00:00", "instant without offset"),
    ("ChangeRequest", "spec.window.start", "2026-11-28 22:00:00+08:00", "space for T"),
    ("ChangeRequest", "spec.window.start", "2026-13-01T22:00:00+08:00", "month 13"),
    ("ChangeRequest", "spec.window.start", "2026-11-32T22:00:00+08:00", "day 32"),
    ("ChangeRequest", "spec.window.start", "2026-11-28T24:00:00+08:00", "hour 24"),
    ("ChangeRequest", "spec.window.start", "2026-11-28T22:00:00+0800", "offset without colon"),
    ("ChangeRequest", "spec.window.start", "2026-11-28", "date only"),
    ("ChangeRequest", "spec.window.end", DELETE, "window without end"),
    ("ChangeRequest", "spec.window.duration", "PT3H", "unknown key in window"),
    ("ChangeRequest", "spec.rollbackPlan", 1, "rollback plan is a number"),
    ("ChangeRequest", "spec.rollbackPlan", {"steps": []}, "rollback plan is an object"),
    ("ChangeRequest", "spec.rollbackPlan", ["ok", 2], "rollback step is a number"),
    ("ChangeRequest", "spec.approvals.0.decision", "maybe", "bad decision"),
    ("ChangeRequest", "spec.approvals.0.at", "2026-11-26T10:02:00", "approval without offset"),
    ("ChangeRequest", "spec.approvals.0.by", DELETE, "approval without approver"),
    ("ChangeRequest", "spec.approvals.0.signature", "x", "unknown key in an approval"),
    ("ChangeRequest", "spec.review.outcome", "fine", "bad review outcome"),
    ("ChangeRequest", "spec.review.rating", 5, "unknown key in review"),
    ("ChangeRequest", "spec.rollback.commits", ["xyz1234"], "commit is not hex"),
    ("ChangeRequest", "spec.rollback.commits", ["ABCDEF0"], "upper-case commit"),
    ("ChangeRequest", "spec.rollback.at", "yesterday", "bad rollback instant"),
    ("ChangeRequest", "spec.rollback.branch", "main", "unknown key in rollback"),
    ("ChangeRequest", "spec.model", "OS patch", "model is not an id"),
    ("ChangeRequest", "spec.model", ["os-patch"], "model is one id"),
    ("ChangePolicy", "spec.separationOfDuties", "yes", "not a boolean"),
    ("ChangePolicy", "spec.requireSignedApprovals", 1, "number for a boolean"),
    ("ChangePolicy", "spec.rules.0.id", DELETE, "rule without id"),
    ("ChangePolicy", "spec.rules.0.severity", "high", "unknown key in a rule"),
    ("ChangePolicy", "spec.rules.0.match.owner", ["x"], "unknown key in match"),
    ("ChangePolicy", "spec.rules.0.match.type", ["minor"], "bad change type in match"),
    ("ChangePolicy", "spec.rules.0.match.type", "normal", "match value is not a list"),
    ("ChangePolicy", "spec.rules.0.match.type", [], "empty match list"),
    ("ChangePolicy", "spec.rules.0.match.risk", ["extreme"], "bad risk in match"),
    ("ChangePolicy", "spec.rules.0.match.category", ["hardware"], "bad category in match"),
    ("ChangePolicy", "spec.rules.0.match.criticality", ["urgent"], "bad criticality"),
    ("ChangePolicy", "spec.rules.0.match.targetKinds", ["server"], "bad kind name"),
    ("ChangePolicy", "spec.rules.0.approvals.0.count", 0, "count 0"),
    ("ChangePolicy", "spec.rules.0.approvals.0.ownerOf", "targets", "group and ownerOf"),
    ("ChangePolicy", "spec.rules.0.approvals.0.group", DELETE, "neither group nor ownerOf"),
    ("ChangePolicy", "spec.rules.1.approvals.1.ownerOf", "everyone", "bad ownerOf"),
    ("ChangePolicy", "spec.rules.0.approvals.0.role", "x", "unknown key in an approval"),
    ("ChangePolicy", "spec.rules.0.rollbackPlan", "maybe", "bad rollbackPlan"),
    ("ChangePolicy", "spec.rules.0.window", "night", "bad window"),
    ("ChangePolicy", "spec.rules.2.reviewWithin", "P", "duration P"),
    ("ChangePolicy", "spec.rules.2.reviewWithin", "P1Y", "years"),
    ("ChangePolicy", "spec.freezes.0.start", "2026-12-24T00:00:00", "freeze without offset"),
    ("ChangePolicy", "spec.freezes.0.end", DELETE, "freeze without end"),
    ("ChangePolicy", "spec.freezes.0.allow", ["minor"], "bad allowed type"),
    ("ChangePolicy", "spec.freezes.0.scope", "all", "unknown key in a freeze"),
    ("ChangePolicy", "spec.identification.order", ["ip"], "bad identifier"),
    ("ChangePolicy", "spec.identification.order", [], "no identifiers"),
    ("ChangePolicy", "spec.identification.fuzzy", True, "unknown key in identification"),
    ("StandardChange", "spec.targetKinds", DELETE, "model without target kinds"),
    ("StandardChange", "spec.targetKinds", [], "no target kinds"),
    ("StandardChange", "spec.targetKinds", ["server"], "bad kind name"),
    ("StandardChange", "spec.targetKinds", "Server", "targetKinds is a list"),
    ("StandardChange", "spec.fields", DELETE, "model without fields"),
    ("StandardChange", "spec.fields", [], "no fields"),
    ("StandardChange", "spec.fields", ["os.version"], "field outside spec and metadata"),
    ("StandardChange", "spec.fields", ["spec"], "the whole spec"),
    ("StandardChange", "spec.fields", ["spec."], "empty path part"),
    ("StandardChange", "spec.fields", ["spec.os..version"], "empty path part inside"),
    ("StandardChange", "spec.fields", ["spec/os/version"], "pointer for a dotted path"),
    ("StandardChange", "spec.fields", [""], "empty field"),
    ("Person", "spec.emails", DELETE, "no emails"),
    ("Person", "spec.emails", [], "empty emails"),
    ("Person", "spec.emails", ["alice"], "email without @"),
    ("Person", "spec.emails", ["alice @example.net"], "email with a space"),
    ("Person", "spec.signingKeys", ["rsa AAAAB3Nza"], "not an ssh key type"),
    ("Person", "spec.signingKeys", ["ssh-ed25519"], "key type without key"),
    ("Person", "spec.signingKeys", "ssh-ed25519 AAAA", "signingKeys is a list"),
    ("Group", "spec.members", DELETE, "no members"),
    ("Group", "spec.members", ["Alice"], "member is not an id"),
    ("Group", "spec.members", "alice", "members is a list"),
    ("DiscoveryPolicy", "spec.identification.Server", [], "no identifiers"),
    ("DiscoveryPolicy", "spec.identification.server", ["serial"], "bad kind name"),
    ("DiscoveryPolicy", "spec.identification.Server", ["serial", "serial"], "repeated"),
    ("DiscoveryPolicy", "spec.precedence.serial", "ansible", "precedence is a list"),
    ("DiscoveryPolicy", "spec.precedence.serial", [""], "empty source"),
    ("DiscoveryPolicy", "spec.ignores.0.reason", DELETE, "ignore without reason"),
    ("DiscoveryPolicy", "spec.ignores.0.owner", DELETE, "ignore without owner"),
    ("DiscoveryPolicy", "spec.ignores.0.expires", DELETE, "ignore without expiry"),
    ("DiscoveryPolicy", "spec.ignores.0.expires", "31/01/2027", "expiry not a date"),
    ("DiscoveryPolicy", "spec.ignores.0.fields", ["memoryMb"], "field outside spec"),
    ("DiscoveryPolicy", "spec.ignores.0.match.kind", "server", "bad kind in match"),
    ("DiscoveryPolicy", "spec.ignores.0.match.ids", ["Lab 01"], "bad id in match"),
    ("DiscoveryPolicy", "spec.ignores.0.match.site", "x", "unknown key in match"),
    ("DiscoveryPolicy", "spec.ignores.0.until", "2027-01-31", "unknown key in an ignore"),
    ("DiscoveryPolicy", "spec.rules", [], "unknown key in the spec"),
]


def invalid_cases() -> Iterator[Any]:
    for kind in KIND_CLASS:
        cases = [(kind, *case) for case in COMMON_INVALID]
        if kind in CI_KINDS:
            cases += [(kind, *case) for case in CI_INVALID]
        cases += [case for case in KIND_INVALID if case[0] == kind]
        for kind_, path, value, why in cases:
            yield pytest.param(kind_, path, value, id=f"{kind_}: {why}")


# --- the schemas themselves ---------------------------------------------------------


def walk(node: Any, pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dict in a schema document, with its JSON pointer."""
    if isinstance(node, dict):
        yield pointer, node
        for key, value in node.items():
            yield from walk(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{pointer}/{index}")


def all_patterns() -> list[str]:
    return sorted(
        {
            node["pattern"]
            for schema in load_schemas().values()
            for _, node in walk(schema)
            if isinstance(node.get("pattern"), str)
        }
    )


def test_every_kind_has_its_schema_file() -> None:
    expected = {"common.schema.json"} | {schema_file(kind) for kind in KIND_CLASS}
    assert set(load_schemas()) == expected


@pytest.mark.parametrize("filename", sorted(load_schemas()))
def test_schema_is_a_valid_draft_2020_12_schema(filename: str) -> None:
    schema = load_schemas()[filename]
    assert schema.get("$schema") == DRAFT_2020_12
    Draft202012Validator.check_schema(schema)
    jsonschema_rs.meta.validate(schema)
    assert "$id" not in json.dumps(schema), "no $id: the engine chooses the base URI"


@pytest.mark.parametrize("kind", list(KIND_CLASS))
def test_kind_schema_envelope(kind: str) -> None:
    schema = load_schemas()[schema_file(kind)]
    assert schema["properties"]["kind"] == {"const": kind}
    assert schema["properties"]["apiVersion"] == {"const": "cmdb/v1"}
    assert schema["x-cmdb-class"] == KIND_CLASS[kind]
    assert schema["title"] and schema["description"]
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"apiVersion", "kind", "metadata", "spec"}
    metadata = "changeMetadata" if kind == "ChangeRequest" else "ciMetadata"
    assert schema["properties"]["metadata"] == {"$ref": f"common.schema.json#/$defs/{metadata}"}
    spec = schema["properties"]["spec"]
    assert spec["type"] == "object" and spec["additionalProperties"] is False
    assert set(FORMATS_SPEC_FIELDS[kind].split()) <= set(spec["properties"])
    if kind in CI_KINDS:
        assert {"status", "criticality", "dependsOn"} <= set(spec["properties"])
    assert set(spec.get("required", [])) == REQUIRED_SPEC_FIELDS.get(kind, set())


def test_objects_we_define_reject_unknown_keys() -> None:
    for filename, schema in load_schemas().items():
        for pointer, node in walk(schema):
            if "properties" in node and node.get("type") == "object":
                assert node.get("additionalProperties") is False, f"{filename}#{pointer}"


def test_every_format_is_backed_by_a_pattern() -> None:
    # Validators do not assert "format" by default in draft 2020-12.
    for filename, schema in load_schemas().items():
        for pointer, node in walk(schema):
            if "format" in node:
                assert "pattern" in node, f"{filename}#{pointer}"


def test_custom_keywords_are_x_cmdb() -> None:
    for filename, schema in load_schemas().items():
        for pointer, node in walk(schema):
            for key in node:
                if key.startswith("x-"):
                    assert key in ("x-cmdb-class", "x-cmdb-ref"), f"{filename}#{pointer}/{key}"


@pytest.mark.parametrize("pattern", all_patterns())
def test_pattern_is_anchored_and_portable(pattern: str) -> None:
    assert pattern.startswith("^") and pattern.endswith("$")
    re.compile(pattern)
    jsonschema_rs.validator_for(
        {"type": "string", "pattern": pattern}, pattern_options=jsonschema_rs.RegexOptions()
    ).is_valid("x")
    assert "(?=" not in pattern and "(?!" not in pattern and "(?<" not in pattern
    assert not re.search(r"\\[dwDW]", pattern), "[0-9] rather than \\d: they differ by dialect"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_patterns_compile_as_ecma_262() -> None:
    script = (
        "const ps = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "for (const p of ps) { new RegExp(p); new RegExp(p, 'u'); }"
    )
    subprocess.run(
        ["node", "-e", script], input=json.dumps(all_patterns()), text=True, check=True, timeout=60
    )


# --- references -----------------------------------------------------------------------


def resolve(filename: str, ref: str) -> tuple[str, dict[str, Any]]:
    target_file, _, fragment = ref.partition("#")
    target_file = target_file or filename
    node: Any = load_schemas()[target_file]
    for part in fragment.strip("/").split("/") if fragment else []:
        node = node[part]
    return target_file, node


def field_refs(filename: str, node: dict[str, Any], path: str) -> Iterator[tuple[str, Any]]:
    """(field path, x-cmdb-ref) for every reference under node, following $ref."""
    if "x-cmdb-ref" in node:
        yield path, node["x-cmdb-ref"]
    if "$ref" in node:
        yield from field_refs(*resolve(filename, node["$ref"]), path)
    for name, sub in node.get("properties", {}).items():
        yield from field_refs(filename, sub, f"{path}.{name}".lstrip("."))
    if isinstance(node.get("items"), dict):
        yield from field_refs(filename, node["items"], f"{path}[]")
    for keyword in ("oneOf", "anyOf", "allOf"):
        for sub in node.get(keyword, []):
            yield from field_refs(filename, sub, path)


@pytest.mark.parametrize("kind", list(KIND_CLASS))
def test_every_id_valued_field_is_a_declared_reference(kind: str) -> None:
    filename = schema_file(kind)
    found = dict(field_refs(filename, load_schemas()[filename], ""))
    assert found == EXPECTED_REFS[kind]


def test_references_are_well_formed_and_declared_in_kind_files() -> None:
    for filename, schema in load_schemas().items():
        for pointer, node in walk(schema):
            if "x-cmdb-ref" not in node:
                continue
            where = f"{filename}#{pointer}"
            ref = node["x-cmdb-ref"]
            assert len(ref) == 1 and set(ref) <= {"kinds", "classes"}, where
            assert set(ref.get("kinds", [])) <= set(KIND_CLASS), where
            assert set(ref.get("classes", [])) <= set(KIND_CLASS.values()), where
            id_defs = [
                resolve("common.schema.json", f"#/$defs/{name}")[1] for name in ("ciId", "changeId")
            ]
            assert "$ref" in node, where
            assert resolve(filename, node["$ref"])[1] in id_defs, f"{where}: refs hold ids"
            if filename == "common.schema.json":
                assert pointer.endswith("Metadata/properties/owner"), where


# --- documents --------------------------------------------------------------------------


def test_samples_cover_every_kind() -> None:
    assert set(MINIMAL) == set(FULL) == set(KIND_CLASS)


@pytest.mark.parametrize(
    ("kind", "document"),
    [pytest.param(kind, doc, id=f"{kind}: {label}") for kind, label, doc in VALID_DOCUMENTS],
)
def test_valid_document_passes(kind: str, document: dict[str, Any]) -> None:
    errors = [error.message for error in py_validator(schema_file(kind)).iter_errors(document)]
    assert errors == []
    assert verdicts(kind, document) == (True, True)


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        pytest.param(kind, path, value, id=f"{kind}: {path}={value!r}")
        for kind, path, value in VALID_VARIANTS
    ],
)
def test_valid_variant_passes(kind: str, path: str, value: Any) -> None:
    assert verdicts(kind, mutated(FULL[kind], path, value)) == (True, True)


@pytest.mark.parametrize(("kind", "path", "value"), list(invalid_cases()))
def test_invalid_document_fails(kind: str, path: str, value: Any) -> None:
    assert verdicts(kind, mutated(FULL[kind], path, value)) == (False, False)


@pytest.mark.parametrize("kind", list(KIND_CLASS))
def test_a_document_of_another_kind_fails(kind: str) -> None:
    other = next(k for k in KIND_CLASS if k != kind)
    assert verdicts(kind, FULL[other]) == (False, False)


# --- user schemas: one `$ref` resolver, and the kind a schema names ---------------------
#
# The engine resolves a `$ref` once (cmdbctl/kinds.py, with `referencing`), for the
# dangling-ref check and for the `x-cmdb-ref` fields behind it alike: every spelling of
# a target that the validators follow, the reference fields behind it are checked too.

BACKUP = """\
apiVersion: cmdb/v1
kind: Server
metadata:
  id: {id}
  owner: {owner}
spec:
  hostname: {id}
  backupTarget: {target}
"""
# {0}: a definition's name in common.schema.json (each has an $anchor of that name too)
REF_SPELLINGS = [
    "common.schema.json#/$defs/{0}",
    "./common.schema.json#/$defs/{0}",
    "./common.schema.json#/%24defs/{0}",
    "common.schema.json#/%24defs/{0}",
    "../schemas/common.schema.json#/$defs/{0}",
    "common.schema.json#{0}",
]


def _edit_json(path: Path, edit: Any) -> str:
    schema = json.loads(path.read_text("utf-8"))
    edit(schema)
    text = json.dumps(schema, indent=2)
    path.write_text(text, "utf-8")
    return text


def _place(text: str, needle: str) -> tuple[int, int]:
    """Line and column (1-based) where `needle` first starts in `text`."""
    before = text[: text.index(needle)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


@pytest.mark.parametrize("spelling", REF_SPELLINGS)
def test_reference_fields_behind_every_spelling_of_a_ref_are_checked(
    spelling: str, cmdb_repo: Path, write_file: Any, validate_json: Any
) -> None:
    def library(schema: dict[str, Any]) -> None:
        schema["$defs"]["ciMetadata"]["$anchor"] = "ciMetadata"
        schema["$defs"]["storageRef"] = {
            "$anchor": "storageRef",
            "$ref": "#/$defs/ciId",
            "x-cmdb-ref": {"kinds": ["StorageDevice"]},
        }

    def server(schema: dict[str, Any]) -> None:
        schema["properties"]["metadata"] = {"$ref": spelling.format("ciMetadata")}
        schema["properties"]["spec"]["properties"]["backupTarget"] = {
            "$ref": spelling.format("storageRef")
        }

    _edit_json(cmdb_repo / "schemas" / "common.schema.json", library)
    _edit_json(cmdb_repo / "schemas" / "server.schema.json", server)
    write_file(
        cmdb_repo,
        "inventory/san-01.yaml",
        "apiVersion: cmdb/v1\nkind: StorageDevice\nmetadata: {id: san-01}\n"
        "spec: {capacityTb: 100}\n",
    )
    for name, owner, target in (
        ("backup-01", "team-ops", "san-99"),
        ("backup-02", "team-nobody", "san-01"),
        ("backup-03", "team-ops", "app-01"),
    ):
        write_file(
            cmdb_repo, f"inventory/{name}.yaml", BACKUP.format(id=name, owner=owner, target=target)
        )

    report = validate_json(cmdb_repo)

    assert {
        (f["path"], f["code"], f["pointer"], f["line"], f["column"]) for f in report.findings
    } == {
        ("inventory/backup-01.yaml", "ref.dangling", "/spec/backupTarget", 8, 17),
        ("inventory/backup-02.yaml", "ref.dangling", "/metadata/owner", 5, 10),
        ("inventory/backup-03.yaml", "ref.kind", "/spec/backupTarget", 8, 17),
    }, report.findings


@pytest.mark.parametrize(
    ("ref", "named"),
    [
        ("./common.schema.json#/%24defs/nope", "common.schema.json has no /$defs/nope"),
        ("./storage.schema.json#/%24defs/ciId", "storage.schema.json, which is not a schema"),
        ("common.schema.json#nope", "has no $anchor 'nope'"),
        # what Python's URL functions take but the compiled validator cannot follow
        ("#/$defs/é", "is not a URI reference"),
        ("#/$defs/a b", "is not a URI reference"),
        (
            "#/properties/spec/properties/backupTarget/allOf/01",
            "server.schema.json has no /properties/spec/properties/backupTarget/allOf/01",
        ),
        ("#/properties/spec/properties/backupTarget/allOf/-1", "has no"),
        ("#/properties/spec/title/0", "has no /properties/spec/title/0"),
    ],
    ids=[
        "missing-pointer",
        "missing-file",
        "missing-anchor",
        "non-ascii",
        "space",
        "leading-zero-index",
        "negative-index",
        "index-into-a-string",
    ],
)
def test_a_ref_to_nothing_in_any_spelling_is_one_finding(
    ref: str, named: str, cmdb_repo: Path, validate_json: Any
) -> None:
    def server(schema: dict[str, Any]) -> None:
        schema["$defs"] = {"é": {"type": "string"}, "a b": {"type": "string"}}
        spec = schema["properties"]["spec"]["properties"]
        spec["backupTarget"] = {"allOf": [{"type": "string"}, {"minLength": 1}]}
        spec["backupSource"] = {"$ref": ref}

    text = _edit_json(cmdb_repo / "schemas" / "server.schema.json", server)

    report = validate_json(cmdb_repo)

    assert [
        (f["path"], f["code"], f["pointer"], f["line"], f["column"]) for f in report.findings
    ] == [
        (
            "schemas/server.schema.json",
            "schema.dangling-ref",
            "/properties/spec/properties/backupSource/$ref",
            *_place(text, json.dumps(ref)),
        )
    ]
    assert named in report.findings[0]["message"]


def test_a_nested_id_that_is_no_uri_is_a_finding(cmdb_repo: Path, validate_json: Any) -> None:
    def server(schema: dict[str, Any]) -> None:
        schema["properties"]["spec"]["properties"]["backupTarget"] = {
            "$id": "http://[bad",
            "type": "string",
        }

    _edit_json(cmdb_repo / "schemas" / "server.schema.json", server)
    report = validate_json(cmdb_repo)
    assert {(f["path"], f["code"]) for f in report.findings} == {
        ("schemas/server.schema.json", "schema.invalid"),
        ("inventory/app-01.yaml", "document.kind"),
    }  # no schema: its one Server is unknown
    assert "http://[bad" in report.findings[-1]["message"]


@pytest.mark.parametrize(
    ("schema_file_name", "document"),
    [
        ("server.schema.json", "inventory/app-01.yaml"),
        ("sla.schema.json", "inventory/sla-standard.yaml"),  # SLA: the title's spelling
    ],
)
def test_a_schema_that_names_no_kind_is_one_finding_on_the_schema(
    schema_file_name: str, document: str, cmdb_repo: Path, validate_json: Any
) -> None:
    def no_const(schema: dict[str, Any]) -> None:
        schema["properties"]["kind"] = {"type": "string"}

    text = _edit_json(cmdb_repo / "schemas" / schema_file_name, no_const)
    # Its documents are still checked, as the kind its file name gives.
    path = cmdb_repo / document
    path.write_text(
        path.read_text().replace("  owner: team-ops\n", "  owner: team-ops\n  colour: red\n")
    )

    report = validate_json(cmdb_repo)

    assert {(f["path"], f["code"], f["line"], f["column"]) for f in report.findings} == {
        (f"schemas/{schema_file_name}", "schema.kind-missing", *_place(text, '"kind": {')),
        (document, "schema.additional-property", 7, 11),
    }
    finding = (
        report.findings[0]
        if report.findings[0]["path"].startswith("schemas/")
        else report.findings[1]
    )
    assert finding["pointer"] == "/properties/kind"
    assert '"const": "' in finding["hint"]


def test_a_new_kind_schema_without_a_kind_is_read_as_its_file_name_says(
    cmdb_repo: Path, write_file: Any, validate_json: Any
) -> None:
    schema = {
        "title": "Backup job",
        "type": "object",
        "x-cmdb-class": "other",
        "required": ["apiVersion", "kind", "metadata"],
        "properties": {
            "apiVersion": {"const": "cmdb/v1"},
            "metadata": {"$ref": "./common.schema.json#/%24defs/ciMetadata"},
        },
    }
    text = json.dumps(schema, indent=2)
    write_file(cmdb_repo, "schemas/backup-job.schema.json", text)
    write_file(
        cmdb_repo,
        "inventory/nightly.yaml",
        "apiVersion: cmdb/v1\nkind: BackupJob\nmetadata: {id: nightly, owner: nobody}\n",
    )
    # A library of definitions names no kind, and needs none.
    write_file(
        cmdb_repo,
        "schemas/network.schema.json",
        '{"title": "Network definitions", "$defs": {"vlan": {"type": "integer"}}}',
    )

    report = validate_json(cmdb_repo)

    assert {(f["path"], f["code"], f["line"], f["column"]) for f in report.findings} == {
        ("schemas/backup-job.schema.json", "schema.kind-missing", *_place(text, '"properties"')),
        ("inventory/nightly.yaml", "ref.dangling", 3, 32),
    }
    assert "BackupJob" in next(
        f["message"] for f in report.findings if f["code"] == "schema.kind-missing"
    )


def test_a_schema_whose_file_name_gives_no_kind_is_named_in_the_unknown_kind_hint(
    cmdb_repo: Path, write_file: Any, validate_json: Any
) -> None:
    write_file(
        cmdb_repo,
        "schemas/my_types.schema.json",
        '{"type": "object", "properties": {"apiVersion": {"const": "cmdb/v1"}}}',
    )
    write_file(
        cmdb_repo, "inventory/t-1.yaml", "apiVersion: cmdb/v1\nkind: MyType\nmetadata: {id: t-1}\n"
    )
    report = validate_json(cmdb_repo)
    assert {(f["path"], f["code"]) for f in report.findings} == {
        ("schemas/my_types.schema.json", "schema.kind-missing"),
        ("inventory/t-1.yaml", "document.kind"),
    }
    unknown = next(f for f in report.findings if f["code"] == "document.kind")
    assert "schemas/my_types.schema.json names no kind" in unknown["hint"]
