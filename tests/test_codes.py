"""Finding codes are declared, not scattered: every code cmdbctl/ emits is declared in its
module's `CODES` (gathered by `cmdbctl.codes`), and every declared code is emitted.

The source is read as Python (ast): a string constant that is a whole code
(`"gate.approval.stale"`) is an emitted code; one that ends in a dot (`"schema." + ...`,
`f"schema.{keyword}"`) builds codes at run time, which only a declared family may do.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import cmdbctl
from cmdbctl import codes
from cmdbctl.checks import schema
from tests.test_cases import INVALID, read_case

PACKAGE = Path(cmdbctl.__file__).resolve().parent
FAMILIES = (
    "file",
    "yaml",
    "document",
    "schema",
    "id",
    "ref",
    "change",
    "sla",
    "policy",
    "gate",
    "audit",
    "drift",
)
_FAMILY = "(?:" + "|".join(FAMILIES) + ")"
CODE = re.compile(rf"{_FAMILY}(?:\.[a-z][a-z0-9-]*)+")
PREFIX = re.compile(rf"{_FAMILY}\.(?:[a-z][a-z0-9-]*\.)*")
# Declarations, not emissions: what a module's CODES names.
_DECLARATIONS = frozenset({"CODES"})
# Prefixes that build codes at run time, and every code each builds: `schema.<keyword>`,
# one per keyword of the JSON Schema validator (checks/schema.py).
DYNAMIC: dict[str, Callable[[], set[str]]] = {
    "schema.": lambda: {schema.keyword_code(k) for k in jsonschema.Draft202012Validator.VALIDATORS},
}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield _module(path), ast.parse(path.read_text(encoding="utf-8"), str(path))


def _is_declaration(node: ast.stmt) -> bool:
    targets = (
        node.targets
        if isinstance(node, ast.Assign)
        else [node.target]
        if isinstance(node, ast.AnnAssign)
        else []
    )
    return any(isinstance(t, ast.Name) and t.id in _DECLARATIONS for t in targets)


def _strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Each string constant outside the declarations, with its line."""
    for statement in tree.body:
        if not _is_declaration(statement):
            yield from (
                (n.lineno, n.value)
                for n in ast.walk(statement)
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
            )


def _used() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Codes and code-building prefixes in the package's source, each → where."""
    whole: dict[str, list[str]] = {}
    prefixes: dict[str, list[str]] = {}
    for module, tree in _sources():
        for line, text in _strings(tree):
            if CODE.fullmatch(text):
                whole.setdefault(text, []).append(f"{module}:{line}")
            elif PREFIX.fullmatch(text):
                prefixes.setdefault(text, []).append(f"{module}:{line}")
    return whole, prefixes


def _dynamic() -> set[str]:
    return {code for build in DYNAMIC.values() for code in build()}


def test_every_code_in_the_source_is_declared() -> None:
    whole, _ = _used()
    assert len(whole) > 70  # the scan sees the codes
    declared = codes.every()
    assert {c: w for c, w in whole.items() if c not in declared} == {}


def test_codes_are_built_only_by_declared_families() -> None:
    _, prefixes = _used()
    assert "schema." in prefixes  # checks/schema.py: `schema.<keyword>`
    assert {p: w for p, w in prefixes.items() if p not in DYNAMIC} == {}


def test_every_keyword_of_the_schema_validator_has_its_code() -> None:
    """Whatever keyword jsonschema reports, its code says what it means."""
    assert set(schema.KEYWORDS) == set(jsonschema.Draft202012Validator.VALIDATORS)
    assert {c for c in _dynamic() if codes.describe(c) is None} == set()


def test_every_declared_code_is_emitted() -> None:
    """No stale declarations: each declared code is in the source, or built at run time."""
    whole, _ = _used()
    stale = set(codes.every()) - set(whole) - _dynamic()
    assert stale == set()


def test_every_module_that_declares_codes_is_gathered() -> None:
    gathered = {name for name, _ in codes.MODULES}
    declaring = {
        module for module, tree in _sources() if any(_is_declaration(s) for s in tree.body)
    } - {"cmdbctl.codes"}
    assert declaring - gathered == set()
    for name in gathered:
        assert codes.declared(name), name


def test_a_code_declared_twice_means_one_thing() -> None:
    meanings: dict[str, set[str]] = {}
    for name, _ in codes.MODULES:
        for code, description in codes.declared(name).items():
            meanings.setdefault(code, set()).add(description)
    assert {c: d for c, d in meanings.items() if len(d) > 1} == {}


@pytest.mark.parametrize("code", sorted(codes.every()))
def test_each_code_is_well_formed_and_described_in_one_line(code: str) -> None:
    assert CODE.fullmatch(code), code
    description = codes.every()[code]
    assert description == description.strip() and "\n" not in description
    assert 20 <= len(description) <= 200, description
    assert description[0].islower() and not description.endswith("."), description


def test_every_and_lookup() -> None:
    every = codes.every()
    assert list(every) == sorted(every)
    assert codes.describe("gate.approval.stale") == every["gate.approval.stale"]
    assert codes.describe("no.such-code") is None
    assert codes.describe("schema.nonsense") is None
    # A schema keyword spelt as in the schema finds its code.
    found = codes.lookup("schema.maxLength")
    assert found is not None and found.code == "schema.max-length"
    found = codes.lookup("schema.additionalProperties")
    assert found is not None and found.code == "schema.additional-property"
    # A code both commands report says so.
    found = codes.lookup("id.duplicate")
    assert found is not None and {"validate", "gate"} <= set(found.commands)


def test_every_code_the_invalid_cases_produce_is_declared(
    cmdb_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_file: Callable[..., Path],
    validate_json: Callable[..., Any],
) -> None:
    """Each case of tests/cases/invalid in one repository, validated once: every code
    in the output is declared, and the output has every code the cases expect."""
    monkeypatch.chdir(tmp_path)  # anything a hostile tag would write lands here
    expected: set[str] = set()
    for file in INVALID:
        case = read_case(file)
        write_file(cmdb_repo, case.place, file.read_bytes())
        expected |= {code for code, _, _ in case.expected}

    report = validate_json(cmdb_repo)

    found = {f["code"] for f in report.findings}
    assert expected <= found
    assert {c for c in found | expected if codes.describe(c) is None} == set()
