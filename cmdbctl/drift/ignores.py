"""Ignore rules: which drift the DiscoveryPolicy hides, and which rules have expired.

A rule applies to a CI when every `match` key it gives holds (kind; id among `ids`;
every label in `labels` on the CI). With `fields`, it hides the drift of those paths
(each covers what lies below it); without, the whole CI: its drift, and its being
missing. An unmanaged item has no id or labels yet: a rule without `fields` hides it
when the rule names no labels and its kind matches, and its `ids`, if any, hold the id
the item would get (from its host name).

A rule is in force through its `expires` day (the date of `now`, in `now`'s offset);
after it, it hides nothing and is a finding (`drift.ignore-expired`): an accepted drift
needs someone to accept it again, or to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cmdbctl.drift.policy import Ignore
from cmdbctl.findings import Finding
from cmdbctl.loading import locate

CODES: dict[str, str] = {
    "drift.ignore-expired": "an ignore rule of the DiscoveryPolicy is past its expiry date: "
    "it hides nothing any more; renew it (a new date, and a reason) or remove it",
}


@dataclass
class Ignores:
    active: Sequence[Ignore]
    expired: Sequence[Ignore]
    items: int = 0  # CIs and unmanaged items hidden whole
    fields: int = 0  # field changes hidden
    used: set[int] = field(default_factory=set)  # indexes of the rules that hid something

    @classmethod
    def of(cls, rules: Sequence[Ignore], today: date) -> Ignores:
        return cls(
            [r for r in rules if r.rule.last_day >= today],
            [r for r in rules if r.rule.last_day < today],
        )

    def _applies(self, rule: Ignore, kind: str, ci: str | None, labels: Mapping[str, Any]) -> bool:
        match = rule.rule.match
        if match.kind is not None and match.kind != kind:
            return False
        if match.ids is not None and ci not in match.ids:
            return False
        if match.labels:
            return all(labels.get(k) == v for k, v in match.labels.items())
        return True

    def hides_item(self, kind: str, ci: str | None, labels: Mapping[str, Any]) -> bool:
        for rule in self.active:
            if rule.rule.fields is None and self._applies(rule, kind, ci, labels):
                self.items += 1
                self.used.add(rule.index)
                return True
        return False

    def field_rules(self, kind: str, ci: str, labels: Mapping[str, Any]) -> list[Ignore]:
        """The rules with fields that apply to this CI."""
        return [
            r
            for r in self.active
            if r.rule.fields is not None and self._applies(r, kind, ci, labels)
        ]

    def hides_field(self, rules: Sequence[Ignore], path: str) -> bool:
        for rule in rules:
            for ignored in rule.rule.fields or ():
                if path == ignored or path.startswith(ignored + "."):
                    self.fields += 1
                    self.used.add(rule.index)
                    return True
        return False

    def findings(self, root: Path) -> list[Finding]:
        """One `drift.ignore-expired` per expired rule, located in the policy file."""
        if not self.expired:
            return []
        path = self.expired[0].path
        found = [
            Finding(
                path,
                "drift.ignore-expired",
                f"ignore rule {r.index} ({r.rule.reason!r}, owner {r.rule.owner}) expired on "
                f"{r.rule.expires}: the drift it hid is reported again",
                pointer=f"{r.pointer}/expires",
                hint="renew it with a new expiry date if the drift is still accepted, or "
                "remove it and fix the drift",
            )
            for r in self.expired
        ]
        try:
            text: str | None = (root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
        return locate(text, found)
