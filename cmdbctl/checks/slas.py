"""Sanity of an SLA that a schema cannot express.

Codes: `sla.targets-order` (a more urgent priority has a longer target than a less
urgent one), `sla.resolve-before-response` (a resolve target shorter than its response
target), `sla.timezone` (a time zone the tz database does not know).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cmdbctl.document import Document
from cmdbctl.findings import Finding
from cmdbctl.kinds import KindRegistry

CODES: dict[str, str] = {
    "sla.targets-order": "a more urgent priority has a longer response or resolve target "
    "than a less urgent one: targets get stricter toward P1",
    "sla.resolve-before-response": "a priority's resolve target is shorter than its "
    "response target",
    "sla.timezone": "a time zone of the service hours or a maintenance window that the tz "
    "database does not know (write an IANA name such as Europe/Berlin)",
}


def check(doc: Document, kinds: KindRegistry) -> list[Finding]:
    if doc.kind != "SLA":
        return []
    from cmdbctl.models import parse_duration  # pydantic's import is paid by SLA files only

    spec = doc.spec
    findings: list[Finding] = []
    targets: dict[str, Any] = spec.get("targets") or {}
    priorities = sorted(targets)  # P1 (most urgent) first
    for measure in ("response", "resolve"):
        for urgent, lesser in pairwise(priorities):
            a, b = targets[urgent].get(measure), targets[lesser].get(measure)
            if a and b and parse_duration(a) > parse_duration(b):
                findings.append(
                    Finding(
                        doc.path,
                        "sla.targets-order",
                        f"{urgent} {measure} target {a} is longer than {lesser}'s {b}; "
                        f"targets must get stricter toward P1",
                        pointer=f"/spec/targets/{urgent}/{measure}",
                    )
                )
    for priority in priorities:
        response, resolve = targets[priority].get("response"), targets[priority].get("resolve")
        if response and resolve and parse_duration(resolve) < parse_duration(response):
            findings.append(
                Finding(
                    doc.path,
                    "sla.resolve-before-response",
                    f"{priority} resolve target {resolve} is shorter than its response target "
                    f"{response}",
                    pointer=f"/spec/targets/{priority}/resolve",
                )
            )
    windows = [("/spec/serviceHours", spec.get("serviceHours"))] + [
        (f"/spec/maintenanceWindows/{i}", w)
        for i, w in enumerate(spec.get("maintenanceWindows") or [])
    ]
    for at, window in windows:
        if isinstance(window, dict) and isinstance(window.get("timezone"), str):
            try:
                ZoneInfo(window["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                findings.append(
                    Finding(
                        doc.path,
                        "sla.timezone",
                        f"unknown time zone {window['timezone']!r}",
                        pointer=f"{at}/timezone",
                        hint="use an IANA name such as Asia/Shanghai",
                    )
                )
    return findings
