"""Every finding code and what it means: the registry behind `cmdbctl explain` and the
rule descriptions of SARIF logs.

A module that emits findings declares its codes where it emits them, in a module-level
`CODES` (code → one line a user understands), as yamllint's rule modules declare their
ids; `checks.schema` declares one code per JSON Schema keyword (`schema.<keyword>`).
This module gathers them from `MODULES`, an explicit list, and imports those modules
only when a code is first asked for: no other command pays for them at start-up.
tests/test_codes.py proves that every code cmdbctl/ emits is declared, and every
declared code emitted.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache

# Each module that declares codes, and the commands whose checks find them (commands that
# pass on another's findings, as `audit` the gate's and `rollback` validate's, are not
# named).
MODULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cmdbctl.workspace", ("validate",)),
    ("cmdbctl.loading.source", ("validate",)),
    ("cmdbctl.loading.positions", ("validate",)),
    ("cmdbctl.loading", ("validate",)),
    ("cmdbctl.validate.verdicts", ("validate",)),
    ("cmdbctl.kinds", ("validate",)),
    ("cmdbctl.checks.schema", ("validate", "gate")),  # the gate checks what a branch changes
    ("cmdbctl.checks.changes", ("validate", "gate")),
    ("cmdbctl.checks.slas", ("validate", "gate")),
    ("cmdbctl.checks.integrity", ("validate",)),
    ("cmdbctl.checks.policy", ("validate",)),
    ("cmdbctl.gate", ("gate",)),
    ("cmdbctl.gate.evaluate", ("gate",)),
    ("cmdbctl.gate.rules", ("gate",)),
    ("cmdbctl.gate.standard", ("gate",)),
    ("cmdbctl.gate.rollback", ("gate",)),
    ("cmdbctl.audit", ("audit",)),
    ("cmdbctl.drift", ("diff",)),
    ("cmdbctl.drift.ignores", ("diff",)),
)


@dataclass(frozen=True)
class Code:
    code: str
    description: str
    commands: tuple[str, ...]  # the commands whose checks find it


def declared(module: str) -> dict[str, str]:
    """The codes `module` (one of `MODULES`) declares, with their descriptions."""
    return dict(importlib.import_module(module).CODES)


@cache
def _registry() -> dict[str, Code]:
    found: dict[str, Code] = {}
    for module, emitting in MODULES:
        for code, description in declared(module).items():
            known = found.get(code)
            if known is None:
                found[code] = Code(code, description, emitting)
            else:  # declared by several modules (tests: with one meaning)
                found[code] = Code(
                    code, known.description, tuple(dict.fromkeys(known.commands + emitting))
                )
    return found


def lookup(code: str) -> Code | None:
    """The declared code, also when a schema keyword is spelt as in the schema
    (`schema.maxLength`, `schema.additionalProperties`); None when there is none."""
    registry = _registry()
    if code in registry:
        return registry[code]
    family, _, keyword = code.partition(".")
    if family == "schema" and keyword:
        from cmdbctl.checks.schema import keyword_code

        return registry.get(keyword_code(keyword))
    return None


def describe(code: str) -> str | None:
    """What `code` means, in one line; None for a code cmdbctl does not emit."""
    found = lookup(code)
    return found.description if found else None


def every() -> dict[str, str]:
    """Every code and its description, sorted by code."""
    return {code: c.description for code, c in sorted(_registry().items())}
