"""The DiscoveryPolicy (policies/, optional): identification per kind, source precedence
per attribute, ignores; the defaults when there is none.

At most one may exist. One that does not pass its schema, or two, stop `diff` (exit 2):
a diff under rules other than those written would report or hide the wrong things.
`cmdbctl validate` shows every problem with its line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cmdbctl.errors import CommandError
from cmdbctl.kinds import KindRegistry
from cmdbctl.loading import load

if TYPE_CHECKING:
    from cmdbctl.models import DiscoveryIgnore

KIND = "DiscoveryPolicy"
DEFAULT_IDENTIFICATION: tuple[str, ...] = ("serial", "fqdn", "hostname", "macs")
ANY = "*"


@dataclass(frozen=True)
class Ignore:
    """One ignore rule, with where it is written (for findings about it)."""

    rule: DiscoveryIgnore
    index: int  # in spec.ignores
    path: str  # the policy file

    @property
    def pointer(self) -> str:
        return f"/spec/ignores/{self.index}"


@dataclass(frozen=True)
class DiscoveryPolicy:
    path: str | None = None  # None: no policy, the defaults
    identification: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    precedence: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ignores: tuple[Ignore, ...] = ()

    def identifiers(self, kind: str) -> tuple[str, ...]:
        """The identifiers tried, in order, for items of `kind`."""
        return self.identification.get(kind, DEFAULT_IDENTIFICATION)

    def trusted(self, attribute: str) -> tuple[str, ...]:
        """The sources in order of trust for an attribute path (os.version): the most
        specific entry that covers it (os.version, then os), else "*"."""
        parts = attribute.split(".")
        for end in range(len(parts), 0, -1):
            found = self.precedence.get(".".join(parts[:end]))
            if found is not None:
                return found
        return self.precedence.get(ANY, ())


def read_policy(root: Path, paths: Sequence[str], kinds: KindRegistry) -> DiscoveryPolicy:
    """The DiscoveryPolicy among `paths` (the files under policies/), or the defaults."""
    # The models and checks (pydantic: a tenth of a second to import) only where there
    # is a policy to read.
    from pydantic import ValidationError

    from cmdbctl.checks import check_document
    from cmdbctl.document import Document
    from cmdbctl.models import DiscoveryPolicySpec

    found: list[tuple[str, Document]] = []
    for path in paths:
        raw = (root / path).read_bytes()
        if b"DiscoveryPolicy" not in raw:  # people and groups: not parsed for nothing
            continue
        loaded = load(path, raw)
        if loaded.data is None:
            continue  # a broken file is validate's to report; it is no policy we could read
        doc = Document(path, loaded.data)
        if doc.kind == KIND:
            found.append((path, doc))
    if not found:
        return DiscoveryPolicy()
    if len(found) > 1:
        raise CommandError(
            f"{len(found)} DiscoveryPolicy documents: {', '.join(p for p, _ in found)}; "
            "at most one may exist",
            "merge them into one file under policies/",
        )
    path, doc = found[0]
    if KIND in kinds.kinds:
        problems = [f for f in check_document(doc, kinds) if f.severity == "error"]
        if problems:
            raise _invalid(path, f"{problems[0].message} (at {problems[0].pointer or '/'})")
    try:
        spec = DiscoveryPolicySpec.model_validate(doc.spec)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = "/spec/" + "/".join(str(p) for p in error["loc"])
        raise _invalid(path, f"{error['msg']} (at {where})") from exc
    return DiscoveryPolicy(
        path=path,
        identification={k: tuple(v) for k, v in spec.identification.items()},
        precedence={k: tuple(v) for k, v in spec.precedence.items()},
        ignores=tuple(Ignore(rule, i, path) for i, rule in enumerate(spec.ignores)),
    )


def _invalid(path: str, why: str) -> CommandError:
    return CommandError(
        f"{path} is not a valid DiscoveryPolicy: {why}",
        f"`cmdbctl validate {path}` shows every problem and where; fix it, then diff again",
    )
