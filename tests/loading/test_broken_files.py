"""One broken file, one finding.

A file that holds no readable document (it does not parse, is empty, binary, not
UTF-8, not a mapping) still claims the id its file name gives, as the gate counts a CI
by its file: what refers to it is not `ref.dangling` as well, and is not judged for
kind (its kind is unknown). Warm runs, which take entries from the cache, agree. A tab
that indents a line gets the hint that YAML forbids tabs for indentation, at the tab.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cmdbctl.loading import load
from cmdbctl.validate import validate
from cmdbctl.workspace import find_workspace

# app-01 (a Server) is what shop-db (runsOn: Server) and shop-web (runsOn: [Server])
# refer to in the repository `cmdbctl init` writes.
BROKEN: dict[str, tuple[bytes, tuple[str, int, int]]] = {
    "tab-indented": (
        b"apiVersion: cmdb/v1\nkind: Server\nmetadata:\n\tid: app-01\n",
        ("yaml.syntax", 4, 1),
    ),
    "unclosed-bracket": (b"apiVersion: cmdb/v1\nkind: [Server\n", ("yaml.syntax", 3, 1)),
    "empty": (b"# nothing yet\n", ("document.empty", 1, 1)),
    "top-level-list": (b"- apiVersion: cmdb/v1\n", ("document.not-mapping", 1, 1)),
    "binary": (b"apiVersion: cmdb/v1\n\x00", ("file.binary", 2, 1)),
    "not-utf-8": (b"apiVersion: cmdb/v1\nkind: Serv\xe9r\n", ("file.encoding", 2, 11)),
}
# A field that refers to classes of CI (dependsOn) as well as kinds (runsOn).
DEPENDENT = """\
apiVersion: cmdb/v1
kind: Application
metadata:
  id: cron
  owner: team-ops
spec:
  runsOn: [app-01]
  dependsOn: [app-01]
"""


@pytest.mark.parametrize("broken", list(BROKEN))
def test_a_broken_file_is_one_finding(
    broken: str, cmdb_repo: Path, write_file: Callable[..., Path], validate_json: Callable[..., Any]
) -> None:
    raw, expected = BROKEN[broken]
    write_file(cmdb_repo, "inventory/cron.yaml", DEPENDENT)
    write_file(cmdb_repo, "inventory/app-01.yaml", raw)

    report = validate_json(cmdb_repo)

    # No ref.dangling in shop-db, shop-web or cron; no ref.kind for the unknown kind.
    assert [(f["path"], f["code"], f["line"], f["column"]) for f in report.findings] == [
        ("inventory/app-01.yaml", *expected)
    ]
    assert report.exit_code == 1


def test_a_broken_file_and_another_of_its_id_are_duplicates(
    cmdb_repo: Path, write_file: Callable[..., Path], validate_json: Callable[..., Any]
) -> None:
    # Two files claim app-01 (the gate counts both as that CI): so the report says.
    app = (cmdb_repo / "inventory" / "app-01.yaml").read_bytes()
    write_file(cmdb_repo, "inventory/old/app-01.yaml", app)
    write_file(cmdb_repo, "inventory/app-01.yaml", b"kind: [\n")
    report = validate_json(cmdb_repo)
    assert {(f["path"], f["code"]) for f in report.findings} == {
        ("inventory/app-01.yaml", "yaml.syntax"),
        ("inventory/app-01.yaml", "id.duplicate"),
        ("inventory/old/app-01.yaml", "id.duplicate"),
    }


def test_a_reference_to_no_file_still_dangles(
    cmdb_repo: Path, write_file: Callable[..., Path], validate_json: Callable[..., Any]
) -> None:
    write_file(cmdb_repo, "inventory/cron.yaml", DEPENDENT.replace("app-01", "app-02"))
    write_file(cmdb_repo, "inventory/app-03.yaml", b"kind: [\n")  # claims app-03 only
    report = validate_json(cmdb_repo)
    assert {(f["path"], f["code"], f["pointer"]) for f in report.findings} == {
        ("inventory/app-03.yaml", "yaml.syntax", ""),
        ("inventory/cron.yaml", "ref.dangling", "/spec/runsOn/0"),
        ("inventory/cron.yaml", "ref.dangling", "/spec/dependsOn/0"),
    }


def _findings(root: Path) -> list[tuple[Any, ...]]:
    result = validate(find_workspace(root), jobs=1)
    return [
        (f.path, f.code, f.message, f.severity, f.pointer, f.line, f.column, f.hint)
        for f in result.findings
    ]


def test_warm_runs_agree_that_a_broken_file_claims_its_id(
    cmdb_repo: Path, write_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_file(cmdb_repo, "inventory/cron.yaml", DEPENDENT)
    subprocess.run(["git", "add", "-A"], cwd=cmdb_repo, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "start"],
        cwd=cmdb_repo,
        check=True,
    )
    assert _findings(cmdb_repo) == []  # primes the cache
    app = cmdb_repo / "inventory" / "app-01.yaml"
    good = app.read_bytes()

    def warm_is_cold() -> list[tuple[str, str]]:
        warm = _findings(cmdb_repo)
        with monkeypatch.context() as m:
            m.setenv("CMDBCTL_NO_CACHE", "1")
            assert warm == _findings(cmdb_repo)
        return [(path, code) for path, code, *_ in warm]

    for raw, _ in BROKEN.values():
        app.write_bytes(raw)
        assert warm_is_cold() == [("inventory/app-01.yaml", BROKEN_CODE[raw])]
        app.write_bytes(good)
        assert warm_is_cold() == []
    app.write_bytes(b"kind: [\n")
    assert warm_is_cold() == [("inventory/app-01.yaml", "yaml.syntax")]
    assert warm_is_cold() == [("inventory/app-01.yaml", "yaml.syntax")]  # from the cache
    app.rename(app.with_name("app-02.yaml"))  # now nothing claims app-01
    assert sorted(warm_is_cold()) == [
        ("inventory/app-02.yaml", "yaml.syntax"),
        ("inventory/cron.yaml", "ref.dangling"),
        ("inventory/cron.yaml", "ref.dangling"),
        ("inventory/shop-db.yaml", "ref.dangling"),
        ("inventory/shop-web.yaml", "ref.dangling"),
    ]


BROKEN_CODE = {raw: code for raw, (code, _, _) in BROKEN.values()}


# -- tabs ---------------------------------------------------------------------------

_FORBIDS = "YAML forbids tabs for indentation"


@pytest.mark.parametrize(
    ("text", "line", "column", "indentation"),
    [
        ("metadata:\n\tid: app-01\n", 2, 1, True),
        ("metadata:\n  id: app-01\n  \tname: x\n", 3, 3, True),  # spaces, then a tab
        ("metadata:\r\n\tid: app-01\r\n", 2, 1, True),
        ("spec:\n  notes: >\n    one\n\ttwo\n", 4, 1, True),  # a block scalar's line
        ("spec:\n  tags:\n\t\t- a\n", 3, 1, True),
        ("name: 名前\nmetadata:\n\tid: a\n", 3, 1, True),  # columns count characters
        ("kind: Server   \t\nspec: {}\n", 1, 16, False),  # after the value
    ],
    ids=[
        "tab",
        "spaces-then-tab",
        "crlf",
        "block-scalar",
        "two-tabs",
        "wide-characters",
        "trailing",
    ],
)
def test_a_tab_ruamel_refuses_gets_a_hint_at_the_tab(
    text: str, line: int, column: int, indentation: bool
) -> None:
    loaded = load("inventory/x.yaml", text.encode())
    [finding] = loaded.findings
    assert (finding.code, finding.line, finding.column) == ("yaml.syntax", line, column)
    assert finding.hint is not None and _FORBIDS in finding.hint
    assert finding.hint.startswith(_FORBIDS) == indentation


def test_other_syntax_errors_get_no_tab_hint() -> None:
    [finding] = load("inventory/x.yaml", b"kind: [\n\tServer\n").findings  # a tab, fine
    assert finding.code == "yaml.syntax"
    assert finding.hint is None or "tab" not in finding.hint


def test_a_tab_in_a_quoted_string_is_no_finding() -> None:
    loaded = load("inventory/x.yaml", b'metadata: {name: "a\tb"}\n')
    assert loaded.findings == [] and loaded.data == {"metadata": {"name": "a\tb"}}
