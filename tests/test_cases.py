"""The case files in tests/cases/, each validated inside a fresh `cmdbctl init` repository.

A case file is one document. Its leading comment lines say what to expect:

    # place: changes/             folder to put it in (default inventory/), or a full path
    # expect: CODE LINE:COL       one line per finding cmdbctl must report for the file
    # message: TEXT               some finding of the file has TEXT in its message
    # hint: TEXT                  some finding of the file has TEXT in its hint

Invalid cases must produce exactly the expected (code, line, column) set for their file,
nothing for any other file, and exit 1; valid cases must produce no finding and exit 0.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CASES = Path(__file__).parent / "cases"
INVALID = sorted((CASES / "invalid").glob("*.yaml"))
VALID = sorted((CASES / "valid").glob("*.yaml"))
_EXPECT = re.compile(r"^# expect: ([a-z][a-z.-]*) (\d+):(\d+)\s*$")

KNOWN_BUGS: dict[str, str] = {}


@dataclass(frozen=True)
class Case:
    file: Path
    place: str
    expected: set[tuple[str, int, int]] = field(default_factory=set)
    messages: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)


def read_case(file: Path) -> Case:
    text = file.read_bytes().decode("utf-8-sig", errors="replace")
    place = "inventory/"
    expected: set[tuple[str, int, int]] = set()
    messages: list[str] = []
    hints: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("# place:"):
            place = line.split(":", 1)[1].strip()
        elif line.startswith("# expect:"):
            match = _EXPECT.match(line)
            assert match, f"{file.name}: malformed expectation {line!r}"
            expected.add((match[1], int(match[2]), int(match[3])))
        elif line.startswith("# message:"):
            messages.append(line.split(":", 1)[1].strip())
        elif line.startswith("# hint:"):
            hints.append(line.split(":", 1)[1].strip())
    rel = place + file.name if place.endswith("/") else place
    return Case(file, rel, expected, messages, hints)


def _param(file: Path) -> object:
    marks = (
        [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[file.name])]
        if file.name in KNOWN_BUGS
        else []
    )
    return pytest.param(file, id=file.stem, marks=marks)


def _no_pwned(*roots: Path) -> None:
    for root in roots:
        assert not [p for p in root.rglob("pwned")], f"a tag ran code: pwned in {root}"


@pytest.mark.parametrize("case_file", [_param(f) for f in INVALID])
def test_invalid_case(
    case_file: Path,
    cmdb_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_file: Callable[..., Path],
    validate_json: Callable[..., Any],
) -> None:
    monkeypatch.chdir(tmp_path)  # anything a hostile tag would write lands here
    case = read_case(case_file)
    assert case.expected, f"{case_file.name} has no `# expect:` line"
    write_file(cmdb_repo, case.place, case_file.read_bytes())

    report = validate_json(cmdb_repo)

    mine = [f for f in report.findings if f["path"] == case.place]
    assert report.located(case.place) == case.expected, mine
    assert len(mine) == len(case.expected), mine
    others = [f for f in report.findings if f["path"] != case.place]
    assert others == []
    assert report.exit_code == 1
    for text in case.messages:
        assert any(text in f["message"] for f in mine), (text, mine)
    for text in case.hints:
        assert any(text in (f["hint"] or "") for f in mine), (text, mine)
    _no_pwned(tmp_path)


@pytest.mark.parametrize("case_file", [_param(f) for f in VALID])
def test_valid_case(
    case_file: Path,
    cmdb_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_file: Callable[..., Path],
    validate_json: Callable[..., Any],
) -> None:
    monkeypatch.chdir(tmp_path)
    case = read_case(case_file)
    assert not case.expected, f"valid case {case_file.name} expects findings"
    init_documents = validate_json(cmdb_repo).data["summary"]["files"]
    write_file(cmdb_repo, case.place, case_file.read_bytes())

    report = validate_json(cmdb_repo)

    assert report.findings == []
    assert report.exit_code == 0
    # The case file was read and counted, not skipped.
    assert report.data["summary"]["files"] == init_documents + 1


def test_python_tag_runs_nothing_in_a_child_process(
    cmdb_repo: Path,
    tmp_path: Path,
    write_file: Callable[..., Path],
    run_cmdbctl: Callable[..., Any],
) -> None:
    case = read_case(CASES / "invalid" / "python-tag.yaml")
    write_file(cmdb_repo, case.place, case.file.read_bytes())
    for cwd in (tmp_path, cmdb_repo / "inventory"):
        proc = run_cmdbctl("validate", "--repo", str(cmdb_repo), cwd=cwd)
        assert proc.returncode == 1
        assert "yaml.tag" in proc.stdout
        _no_pwned(tmp_path)


REQUIRED_CASES = {
    "invalid": {
        "unknown-kind",
        "missing-apiversion",
        "unknown-metadata-key",
        "Bad_Id",
        "id-not-file-name",
        "bad-enum-deep",
        "version-number",
        "bad-duration",
        "change-window-no-offset",
        "change-window-reversed",
        "change-approved-without-approvals",
        "change-emergency-without-review",
        "sla-targets-order",
        "sla-unknown-timezone",
        "dangling-reference",
        "reference-wrong-kind",
        "duplicate-key",
        "python-tag",
        "local-tag",
        "alias-bomb",
        "unclosed-bracket",
        "two-documents",
        "empty",
        "top-level-list",
        "non-string-key",
        "service-hours-best-branch",
    },
    "valid": {
        "flow-style",
        "anchors-and-merge",
        "bom-and-comments",
        "chinese-names",
        "quoted-timestamps",
    },
}


@pytest.mark.parametrize("kind", sorted(REQUIRED_CASES))
def test_catalogue_is_complete(kind: str) -> None:
    present = {p.stem for p in (CASES / kind).glob("*.yaml")}
    assert REQUIRED_CASES[kind] <= present, REQUIRED_CASES[kind] - present


def test_bom_case_really_starts_with_a_bom() -> None:
    assert (CASES / "valid" / "bom-and-comments.yaml").read_bytes().startswith(b"\xef\xbb\xbf")
