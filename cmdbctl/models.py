"""Typed views of the documents the engine reasons about.

The JSON Schemas in ``cmdbctl/schemas/`` are the contract users see and edit; these
pydantic models are how the code reads the documents it works with once they have passed
schema validation: SLAs (service hours, targets, maintenance windows), change requests,
the change policy, standard change models, people and groups. Configuration items stay
plain data: their specs are open to whatever fields users add to their schemas.

Conventions, matching the document formats (README):

* Python names are snake_case; documents use camelCase (``rollbackPlan``), read through
  aliases. Models are frozen values and ignore fields they do not know, so a user who
  adds a field to a schema does not break the engine.
* Instants are ISO 8601 date-times with an offset and become timezone-aware
  ``datetime`` objects; a value without an offset is rejected, as the schema rejects it.
* Durations are ISO 8601 (``PT15M``, ``P5D``, ``P1DT2H``) and become ``timedelta``
  objects through :func:`parse_duration`; years and months are rejected because their
  length varies.

The patterns below are the ones in ``common.schema.json``; tests/test_models_agree.py
checks that models and schemas keep agreeing on field names, required fields, enum
values and these patterns.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic.alias_generators import to_camel

# Patterns shared with common.schema.json (kept equal by tests/test_models_agree.py).
CI_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
CHANGE_ID_PATTERN = r"^CHG-[0-9]{4}-[0-9]{4,}$"
DURATION_PATTERN = (
    r"^P(?:[0-9]+W|[0-9]+D|(?:[0-9]+D)?T(?:[0-9]+H(?:[0-9]+M)?(?:[0-9]+(?:\.[0-9]+)?S)?"
    r"|[0-9]+M(?:[0-9]+(?:\.[0-9]+)?S)?|[0-9]+(?:\.[0-9]+)?S))$"
)
INSTANT_PATTERN = (
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
CLOCK_PATTERN = r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
TIMEZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]{0,31}(?:/[A-Za-z0-9_+-]{1,32}){0,2}$"

_DURATION_RE = re.compile(DURATION_PATTERN)
# Picks the components out of a string that already matched DURATION_PATTERN.
_DURATION_PARTS_RE = re.compile(
    r"^P(?:(?P<weeks>[0-9]+)W)?(?:(?P<days>[0-9]+)D)?"
    r"(?:T(?:(?P<hours>[0-9]+)H)?(?:(?P<minutes>[0-9]+)M)?"
    r"(?:(?P<seconds>[0-9]+(?:\.[0-9]+)?)S)?)?$"
)
_INSTANT_RE = re.compile(INSTANT_PATTERN)


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration of weeks, days, hours, minutes and seconds.

    ``PT15M``, ``PT4H``, ``P5D``, ``P1DT2H``, ``P2W`` and ``PT1.5S`` are accepted;
    ``P``, ``PT``, ``P1Y``, ``P1M`` (months), negative and lower-case values raise
    ``ValueError``.
    """
    if not isinstance(text, str) or not _DURATION_RE.match(text):
        raise ValueError(
            f"{text!r} is not an ISO 8601 duration such as PT15M, PT4H, P5D or P1DT2H "
            "(years and months are not accepted)"
        )
    parts = _DURATION_PARTS_RE.match(text)
    assert parts is not None  # every string DURATION_PATTERN accepts has this shape
    return timedelta(
        weeks=int(parts["weeks"] or 0),
        days=int(parts["days"] or 0),
        hours=int(parts["hours"] or 0),
        minutes=int(parts["minutes"] or 0),
        seconds=float(parts["seconds"] or 0),
    )


def _to_duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError("expected an ISO 8601 duration string such as PT15M or P5D")


def _check_instant(value: object) -> object:
    # Strings must have the shape the schema accepts (offset required); the parsing
    # itself, including impossible dates such as 2026-02-31, is pydantic's.
    # datetime objects (a YAML loader may produce them) pass on to the aware check.
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _INSTANT_RE.match(value):
        return value
    raise ValueError(
        f"{value!r} is not an ISO 8601 date-time with an offset, such as 2026-11-28T22:00:00+08:00"
    )


Duration = Annotated[timedelta, BeforeValidator(_to_duration)]
"""An ISO 8601 duration, as a ``timedelta``."""

Instant = Annotated[AwareDatetime, BeforeValidator(_check_instant)]
"""An ISO 8601 date-time with an offset, as a timezone-aware ``datetime``."""

CiId = Annotated[str, Field(pattern=CI_ID_PATTERN)]
Clock = Annotated[str, Field(pattern=CLOCK_PATTERN)]
CommitId = Annotated[str, Field(pattern=r"^[0-9a-f]{7,64}$")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]
# An SSH public key line, or an armored OpenPGP public key block (person.schema.json).
SigningKey = Annotated[
    str,
    Field(
        pattern=r"^(?:(?:ssh-|ecdsa-|sk-)[A-Za-z0-9@._-]+ [A-Za-z0-9+/]+={0,3}(?: [^\r\n]*)?"
        r"|-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n[\s\S]*\r?\n"
        r"-----END PGP PUBLIC KEY BLOCK-----\s*)$"
    ),
]
KindName = Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]{0,62}$")]
# strict: JSON Schema's number and boolean take no text ("99.9", "yes"); an int is a number.
Percent = Annotated[float, Field(strict=True, ge=0, le=100)]
Flag = Annotated[bool, Field(strict=True)]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Criticality = Literal["low", "medium", "high", "critical"]
ChangeType = Literal["standard", "normal", "emergency"]
ChangeCategory = Literal["system", "business", "management"]
Risk = Literal["low", "medium", "high", "critical"]
ChangeStatus = Literal[
    "draft",
    "submitted",
    "approved",
    "implemented",
    "reviewed",
    "closed",
    "rejected",
    "rolled-back",
]
Decision = Literal["approve", "reject"]
ReviewOutcome = Literal["successful", "partially-successful", "failed"]
ReportingPeriod = Literal["daily", "weekly", "monthly", "quarterly", "yearly"]
Identifier = Literal["serial", "fqdn", "hostname", "mac"]

WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekdays in order; ``WEEKDAYS.index(day)`` equals ``datetime.weekday()``."""


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, populate_by_name=True, alias_generator=to_camel, extra="ignore"
    )


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


# --- SLA ---------------------------------------------------------------------------


class TimeWindow(_Model):
    """A window that recurs weekly: on each of ``days``, from ``from`` to ``to``, local time.

    When ``to`` is not later than ``from`` the window runs past midnight into the next
    day (``sat 22:00-04:00`` ends on Sunday morning).
    """

    timezone: Annotated[str, Field(pattern=TIMEZONE_PATTERN)]
    days: Annotated[list[Weekday], Field(min_length=1)]
    from_: Clock = Field(alias="from")
    to: Clock

    @property
    def zone(self) -> ZoneInfo:
        """The time zone; raises ``zoneinfo.ZoneInfoNotFoundError`` for an unknown name."""
        return ZoneInfo(self.timezone)

    @property
    def start_minute(self) -> int:
        """Minutes after local midnight at which the window opens."""
        return _minutes(self.from_)

    @property
    def end_minute(self) -> int:
        """Minutes after local midnight at which it closes (up to 1440 for 24:00)."""
        return _minutes(self.to)

    @property
    def crosses_midnight(self) -> bool:
        """True when the window ends on the day after it starts."""
        return self.end_minute <= self.start_minute


ServiceHours = Literal["24x7"] | TimeWindow
"""``"24x7"`` (the clock never stops) or a weekly window."""


class Target(_Model):
    """Response and resolution targets for one priority."""

    response: Duration | None = None
    resolve: Duration | None = None


class Targets(_Model):
    """Targets per incident priority, P1 the most urgent."""

    p1: Target | None = Field(default=None, alias="P1")
    p2: Target | None = Field(default=None, alias="P2")
    p3: Target | None = Field(default=None, alias="P3")
    p4: Target | None = Field(default=None, alias="P4")

    def get(self, priority: str) -> Target | None:
        """The target for ``"P1"`` .. ``"P4"`` (case-insensitive), None if there is none."""
        name = priority.strip().lower()
        if name not in ("p1", "p2", "p3", "p4"):
            return None
        target: Target | None = getattr(self, name)
        return target


class Escalation(_Model):
    """Deadlines for a P1 incident beyond its targets."""

    contingency_plan_after: Duration | None = None
    fault_report_within: Duration | None = None


class SlaSpec(_Model):
    """The spec of an SLA document."""

    services: Annotated[list[CiId], Field(min_length=1)]
    service_hours: ServiceHours | None = None
    targets: Targets
    availability: Percent | None = None
    satisfaction: Percent | None = None
    maintenance_windows: list[TimeWindow] = Field(default_factory=list)
    exceptions: list[str] = Field(default_factory=list)
    escalation: Escalation | None = None
    reporting: ReportingPeriod | None = None


# --- ChangeRequest -----------------------------------------------------------------


class Impact(_Model):
    """The change's impact analysis."""

    summary: str | None = None
    services: list[CiId] = Field(default_factory=list)


class Window(_Model):
    """The planned window of a change."""

    start: Instant
    end: Instant


class Approval(_Model):
    """One decision recorded by ``cmdbctl approve``."""

    by: CiId
    at: Instant
    decision: Decision
    comment: str | None = None


class Review(_Model):
    """The post-implementation review."""

    by: CiId
    at: Instant
    outcome: ReviewOutcome
    notes: str | None = None


class RollbackRecord(_Model):
    """The record of a rollback: who, when, why, which commits were reverted."""

    by: CiId
    at: Instant
    reason: str
    commits: list[CommitId] = Field(default_factory=list)


class ChangeSpec(_Model):
    """The spec of a ChangeRequest document."""

    type: ChangeType
    category: ChangeCategory
    requester: CiId
    reason: Annotated[str, Field(min_length=1)]
    description: str | None = None
    targets: Annotated[list[CiId], Field(min_length=1)]
    risk: Risk
    impact: Impact | None = None
    plan: list[str] = Field(default_factory=list)
    window: Window | None = None
    rollback_plan: str | list[str] | None = None
    approvals: list[Approval] = Field(default_factory=list)
    status: ChangeStatus
    review: Review | None = None
    rollback: RollbackRecord | None = None
    model: CiId | None = None  # standard changes: the StandardChange they follow

    @property
    def has_rollback_plan(self) -> bool:
        """True when the rollback plan has some non-blank text."""
        plan = self.rollback_plan
        if plan is None:
            return False
        if isinstance(plan, str):
            return bool(plan.strip())
        return any(step.strip() for step in plan)


# --- ChangePolicy ------------------------------------------------------------------


class Match(_Model):
    """Which changes a rule applies to; a key left out (None) matches every change."""

    type: Annotated[list[ChangeType], Field(min_length=1)] | None = None
    category: Annotated[list[ChangeCategory], Field(min_length=1)] | None = None
    risk: Annotated[list[Risk], Field(min_length=1)] | None = None
    target_kinds: Annotated[list[KindName], Field(min_length=1)] | None = None
    criticality: Annotated[list[Criticality], Field(min_length=1)] | None = None
    # True: the rule applies to rollbacks (and only to them); rules without it do not.
    rollback: Flag = False


class ApprovalRequirement(_Model):
    """``count`` approvals from members of ``group``, or from the owners ``owner_of`` names."""

    group: CiId | None = None
    owner_of: Literal["affectedServices", "targets"] | None = None
    count: Annotated[int, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _one_source(self) -> ApprovalRequirement:
        if (self.group is None) == (self.owner_of is None):
            raise ValueError("an approval requirement names either group or ownerOf")
        return self


class Rule(_Model):
    """A policy rule: requirements for the changes its match selects."""

    id: CiId
    description: str | None = None
    match: Match = Field(default_factory=Match)
    approvals: list[ApprovalRequirement] = Field(default_factory=list)
    rollback_plan: Literal["required", "optional"] = "optional"
    window: Literal["maintenance", "any"] = "any"
    review_within: Duration | None = None
    reviewers: CiId = "change-managers"  # who may record the post-implementation review


class Freeze(_Model):
    """A period in which only the change types in ``allow`` may be carried out."""

    id: CiId
    description: str | None = None
    start: Instant
    end: Instant
    allow: list[ChangeType] = Field(default_factory=list)


DEFAULT_IDENTIFICATION_ORDER: tuple[Identifier, ...] = ("serial", "fqdn", "hostname", "mac")


class Identification(_Model):
    """How discovered items are matched to CIs: identifiers tried in order."""

    order: Annotated[list[Identifier], Field(min_length=1)] = Field(
        default_factory=lambda: list(DEFAULT_IDENTIFICATION_ORDER)
    )


class ChangePolicySpec(_Model):
    """The spec of a ChangePolicy document."""

    separation_of_duties: Flag = True
    require_signed_approvals: Flag = False
    rules: list[Rule] = Field(default_factory=list)
    freezes: list[Freeze] = Field(default_factory=list)
    identification: Identification = Field(default_factory=Identification)


# --- StandardChange ----------------------------------------------------------------

FieldPath = Annotated[str, Field(pattern=r"^(spec|metadata)(\.[A-Za-z0-9_-]+)+$")]


class StandardChangeSpec(_Model):
    """The spec of a StandardChange document: a pre-approved change model.

    A change of type standard that follows it may modify only ``fields`` (dotted paths,
    each covering itself and everything below it) of CIs whose kind is in
    ``target_kinds``.
    """

    description: str | None = None
    target_kinds: Annotated[list[KindName], Field(min_length=1)]
    fields: Annotated[list[FieldPath], Field(min_length=1)]


# --- People and groups -------------------------------------------------------------


class PersonSpec(_Model):
    """The spec of a Person document."""

    display_name: str | None = None
    emails: Annotated[list[Email], Field(min_length=1)]
    signing_keys: list[SigningKey] = Field(default_factory=list)


class GroupSpec(_Model):
    """The spec of a Group document."""

    description: str | None = None
    members: list[CiId]


# --- DiscoveryPolicy --------------------------------------------------------------

DATE_PATTERN = r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$"
IdentifierName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")]
SourceName = Annotated[str, Field(min_length=1)]
AttributePath = Annotated[str, Field(pattern=r"^(?:\*|[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)$")]


def _date_text(value: object) -> object:
    # A YAML loader may give a date object for an unquoted 2027-01-31; the schema
    # (common.schema.json#/$defs/date) reads the same text.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


DateText = Annotated[str, BeforeValidator(_date_text), Field(pattern=DATE_PATTERN)]


class IgnoreMatch(_Model):
    """Which CIs an ignore rule applies to; every key given must hold."""

    kind: KindName | None = None
    ids: Annotated[list[CiId], Field(min_length=1)] | None = None
    labels: dict[str, str] | None = None


class DiscoveryIgnore(_Model):
    """Drift not reported while the rule is in force (through its `expires` day)."""

    match: IgnoreMatch = Field(default_factory=IgnoreMatch)
    fields: Annotated[list[FieldPath], Field(min_length=1)] | None = None
    reason: Annotated[str, Field(min_length=1)]
    owner: CiId
    expires: DateText

    @model_validator(mode="after")
    def _a_real_day(self) -> DiscoveryIgnore:
        date.fromisoformat(self.expires)  # the pattern lets 2027-02-31 through
        return self

    @property
    def last_day(self) -> date:
        return date.fromisoformat(self.expires)


class DiscoveryPolicySpec(_Model):
    """The spec of a DiscoveryPolicy document (policies/, optional): identification per
    kind, source precedence per attribute, ignores. Read by `cmdbctl.drift.policy`."""

    identification: dict[KindName, Annotated[list[IdentifierName], Field(min_length=1)]] = Field(
        default_factory=dict
    )
    precedence: dict[AttributePath, Annotated[list[SourceName], Field(min_length=1)]] = Field(
        default_factory=dict
    )
    ignores: list[DiscoveryIgnore] = Field(default_factory=list)


SPEC_MODELS: dict[str, type[BaseModel]] = {
    "SLA": SlaSpec,
    "ChangeRequest": ChangeSpec,
    "ChangePolicy": ChangePolicySpec,
    "StandardChange": StandardChangeSpec,
    "Person": PersonSpec,
    "Group": GroupSpec,
    "DiscoveryPolicy": DiscoveryPolicySpec,
}
"""The spec model of each kind the engine reads as objects, by kind name."""
