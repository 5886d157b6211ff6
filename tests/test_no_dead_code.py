"""Nothing kept for nobody: every test extra is used by the suite, and every method of
`Finding` by the package."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from cmdbctl.findings import Finding

PROJECT = Path(__file__).resolve().parents[1]


def _sources(folder: Path, *, besides: Path) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.py")) if p != besides
    )


def test_every_test_extra_is_used_by_the_suite() -> None:
    extras = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = extras["project"]["optional-dependencies"]["test"]
    modules_of: dict[str, set[str]] = {}
    for module, dists in metadata.packages_distributions().items():
        for dist in dists:
            modules_of.setdefault(dist.lower().replace("_", "-"), set()).add(module)
    tests = _sources(PROJECT / "tests", besides=Path(__file__).resolve())
    unused = []
    for requirement in requirements:
        name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()
        if name == "pytest":  # the runner itself
            continue
        modules = modules_of.get(name, set()) | {name.replace("-", "_")}
        if not any(re.search(rf"\b{re.escape(m)}\b", tests) for m in modules):
            unused.append(requirement)
    assert unused == []


def test_every_method_of_finding_is_used() -> None:
    package = _sources(PROJECT / "cmdbctl", besides=PROJECT / "cmdbctl" / "findings.py")
    methods = [
        name
        for name, value in vars(Finding).items()
        if callable(value) and not name.startswith("_")
    ]
    assert methods
    assert [m for m in methods if not re.search(rf"\.{m}\b", package)] == []
