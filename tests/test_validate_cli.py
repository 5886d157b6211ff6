"""`cmdbctl validate` end to end: scope, repository discovery, exit codes, user schemas and
the parallel path."""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cmdbctl.cli.main import cli
from tests.conftest import ROLLED_BACK_CHANGE

PROJECT = Path(__file__).parents[1]


def test_init_repository_validates_clean(cmdb_repo: Path, run_cli: Callable[..., Any]) -> None:
    result = run_cli("validate", repo=cmdb_repo)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    files = _documents(cmdb_repo, ".")  # what `cmdbctl init` writes
    assert re.fullmatch(rf"{files} files valid\n", result.stderr), result.stderr


@pytest.mark.skipif(
    not (PROJECT / "inventory").is_dir(),
    reason="the project's example estate (inventory/) is not there",
)
def test_project_estate_validates_clean(run_cli: Callable[..., Any]) -> None:
    # No verdict cache: the test must not write into the project's own .git.
    result = run_cli("validate", repo=PROJECT, env={"CMDBCTL_NO_CACHE": "1"})
    assert result.stdout == ""
    assert result.exit_code == 0, result.stdout
    assert re.fullmatch(r"\d+ files valid\n", result.stderr), result.stderr
    json_result = run_cli(
        "validate", "--format", "json", repo=PROJECT, env={"CMDBCTL_NO_CACHE": "1"}
    )
    report = json.loads(json_result.stdout)
    assert report["findings"] == []
    assert report["summary"]["files"] > 20  # the estate was read, not skipped


def _scoped_repo(repo: Path, write_file: Callable[..., Path]) -> None:
    write_file(
        repo,
        "inventory/hw/web-01.yaml",
        "apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: web-01\n  owner: team-ops\n"
        "spec:\n  location: rack-a01\n  dependsOn: [shop-db, nowhere]\n",
    )
    write_file(
        repo,
        "inventory/hw/web-02.yaml",
        "apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: web-02\nspec:\n  location: rack-a01\n",
    )
    # Problems outside the scope, including one that refers into it.
    write_file(repo, "policies/broken.yaml", "kind: [unclosed\n")
    write_file(
        repo,
        "inventory/other.yaml",
        "apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: other\nspec:\n"
        "  dependsOn: [web-01, ghost]\n",
    )


@pytest.mark.parametrize("form", ["relative", "absolute", "trailing-slash", "file"])
def test_paths_limit_the_report_not_the_estate(
    form: str,
    cmdb_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_file: Callable[..., Path],
    validate_json: Callable[..., Any],
) -> None:
    _scoped_repo(cmdb_repo, write_file)
    monkeypatch.chdir(cmdb_repo)
    arg = {
        "relative": "inventory/hw",
        "absolute": str(cmdb_repo / "inventory" / "hw"),
        "trailing-slash": "inventory/hw/",
        "file": "inventory/hw/web-01.yaml",
    }[form]
    report = validate_json(cmdb_repo, arg)
    # rack-a01 and shop-db live outside the scope and still resolve; `nowhere` does not.
    assert {(f["path"], f["code"], f["line"], f["column"]) for f in report.findings} == {
        ("inventory/hw/web-01.yaml", "ref.dangling", 8, 24)
    }
    assert report.exit_code == 1
    assert report.data["summary"]["files"] == (1 if form == "file" else 2)


def test_whole_repository_reports_everything(
    cmdb_repo: Path, write_file: Callable[..., Path], validate_json: Callable[..., Any]
) -> None:
    _scoped_repo(cmdb_repo, write_file)
    report = validate_json(cmdb_repo)
    assert report.located() == {
        ("ref.dangling", 8, 24),
        ("yaml.syntax", 2, 1),
        ("ref.dangling", 6, 23),
    }
    assert {f["path"] for f in report.findings} == {
        "inventory/hw/web-01.yaml",
        "policies/broken.yaml",
        "inventory/other.yaml",
    }


def test_path_outside_the_repository(
    cmdb_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., Any]
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.chdir(cmdb_repo)
    for given in (str(outside), "../elsewhere", "inventory/../../elsewhere"):
        result = run_cli("validate", given, repo=cmdb_repo)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert f"{given}: path is outside the repository" in result.stderr


def test_missing_path(
    cmdb_repo: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., Any]
) -> None:
    monkeypatch.chdir(cmdb_repo)
    result = run_cli("validate", "inventory/no-such.yaml", repo=cmdb_repo)
    assert result.exit_code == 2
    assert "inventory/no-such.yaml: no such file or directory" in result.stderr
    assert result.stdout == ""


_ACCEPTS = "validate checks the *.yaml and *.yml files under inventory/, changes/ and policies/"


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("README.md", "README.md is not a document"),
        ("schemas/server.schema.json", "schemas/server.schema.json is not a document"),
        ("schemas", "schemas holds no document"),
        (".github", ".github holds no document"),
        ("inventory/empty", "inventory/empty holds no document"),
        ("inventory/notes.txt", "inventory/notes.txt is not a document"),
        ("inventory/.draft.yaml", "inventory/.draft.yaml is not a document"),
        ("inventory/.drafts", "inventory/.drafts holds no document"),
    ],
    ids=[
        "file",
        "schema",
        "schemas-folder",
        "other-folder",
        "empty-folder",
        "not-yaml",
        "hidden-file",
        "hidden-folder",
    ],
)
def test_a_path_that_holds_no_document_is_refused(
    given: str,
    said: str,
    cmdb_repo: Path,
    write_file: Callable[..., Path],
    run_cmdbctl: Callable[..., Any],
) -> None:
    """A report on such a path would say "0 files valid" and exit 0: a typo or a wrong
    folder would pass CI unnoticed. Exit 2 instead, naming the path and what counts."""
    (cmdb_repo / "inventory" / "empty" / "sub").mkdir(parents=True)
    write_file(cmdb_repo, "inventory/notes.txt", "not a document\n")
    app = (cmdb_repo / "inventory" / "app-01.yaml").read_text()
    write_file(cmdb_repo, "inventory/.draft.yaml", app)
    write_file(cmdb_repo, "inventory/.drafts/app-02.yaml", app.replace("app-01", "app-02"))
    for cwd in (cmdb_repo, cmdb_repo / "inventory"):
        arg = given if cwd == cmdb_repo else str(cmdb_repo / given)
        proc = run_cmdbctl("validate", arg, cwd=cwd)
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        assert f"{said}: {_ACCEPTS}" in proc.stderr
        assert "hint: give documents or folders holding them" in proc.stderr
        assert "files valid" not in proc.stderr
    proc = run_cmdbctl("validate", "inventory", given, "changes", cwd=cmdb_repo)
    assert proc.returncode == 2  # among paths that hold documents: named alone
    assert f"error: {said}: {_ACCEPTS}" in proc.stderr


def test_every_refused_path_is_named(cmdb_repo: Path, run_cmdbctl: Callable[..., Any]) -> None:
    proc = run_cmdbctl("validate", "README.md", "inventory", "schemas", cwd=cmdb_repo)
    assert proc.returncode == 2
    assert (
        f"error: README.md is not a document; schemas holds no document: {_ACCEPTS}" in proc.stderr
    )


def _documents(root: Path, under: str) -> int:
    """Regular *.yaml / *.yml files at or below `under`, as validate's walk finds them."""
    start = Path(os.path.normpath(root / under))
    found = [start] if start.is_file() else [*start.rglob("*.yaml"), *start.rglob("*.yml")]
    return sum(
        1
        for p in found
        if p.is_file()
        and not p.is_symlink()
        and p.relative_to(root).parts[0] in ("inventory", "changes", "policies")
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


@pytest.mark.parametrize(
    "given",
    [
        ".",
        "inventory",
        "inventory/app-01.yaml",
        "inventory/hw",
        "changes",
        "inventory/link.yaml",
        "inventory/hw/../app-01.yaml",
    ],
)
def test_a_path_that_holds_documents_is_reported_on(
    given: str, cmdb_repo: Path, write_file: Callable[..., Path], run_cmdbctl: Callable[..., Any]
) -> None:
    """Documents, folders holding one at any depth, and what the walk reports on (a
    symlinked document: a finding, never read) are all accepted."""
    app = (cmdb_repo / "inventory" / "app-01.yaml").read_text()
    write_file(cmdb_repo, "inventory/hw/deep/app-02.yaml", app.replace("app-01", "app-02"))
    (cmdb_repo / "inventory" / "link.yaml").symlink_to("app-01.yaml")
    write_file(cmdb_repo, "changes/CHG-2026-0300.yaml", ROLLED_BACK_CHANGE)
    proc = run_cmdbctl("validate", "--format", "json", given, cwd=cmdb_repo)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["summary"]["files"] == _documents(cmdb_repo, given)
    assert report["summary"]["files"] > 0 or given == "inventory/link.yaml"
    if given == "inventory/link.yaml":
        assert [f["code"] for f in report["findings"]] == ["file.symlink"]


def test_folder_that_is_not_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., Any]
) -> None:
    plain = tmp_path / "plain"
    (plain / "docs").mkdir(parents=True)
    result = run_cli("validate", repo=plain)
    assert result.exit_code == 2
    assert f"{plain} is not a CMDB repository" in result.stderr
    assert "cmdbctl init" in result.stderr  # says what to do
    monkeypatch.chdir(plain / "docs")
    result = run_cli("validate")
    assert result.exit_code == 2
    assert f"{plain / 'docs'} is not a CMDB repository" in result.stderr


def test_repo_option_to_a_missing_folder(tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    missing = tmp_path / "nope"
    result = run_cli("validate", repo=missing)
    assert result.exit_code == 2
    assert f"{missing}: no such directory" in result.stderr
    assert not missing.exists()


@pytest.mark.parametrize("sub", ["inventory", "policies", "changes", "inventory/a/b"])
def test_finds_the_root_from_a_sub_folder(
    sub: str, cmdb_repo: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., Any]
) -> None:
    (cmdb_repo / sub).mkdir(parents=True, exist_ok=True)
    (cmdb_repo / "inventory" / "app-01.yaml").write_text(
        (cmdb_repo / "inventory" / "app-01.yaml")
        .read_text()
        .replace("status: active", "status: on")
    )
    monkeypatch.chdir(cmdb_repo / sub)
    result = run_cli("validate")
    assert result.exit_code == 1
    # Paths are relative to the root found, not to the current folder.
    assert result.stdout.startswith("inventory/app-01.yaml:18:11: error schema.enum: ")
    assert f"in {_documents(cmdb_repo, '.')} files" in result.stderr


def test_warnings_alone_exit_zero(
    cmdb_repo: Path,
    write_file: Callable[..., Path],
    run_cli: Callable[..., Any],
    validate_json: Callable[..., Any],
) -> None:
    write_file(cmdb_repo, "changes/CHG-2026-0300.yaml", ROLLED_BACK_CHANGE)
    report = validate_json(cmdb_repo)
    assert [
        (f["path"], f["code"], f["severity"], f["line"], f["column"]) for f in report.findings
    ] == [("changes/CHG-2026-0300.yaml", "change.rollback-record-missing", "warning", 14, 11)]
    assert report.exit_code == 0
    files = _documents(cmdb_repo, ".")
    assert report.data["summary"] == {"files": files, "errors": 0, "warnings": 1, "infos": 0}
    text = run_cli("validate", repo=cmdb_repo)
    assert text.exit_code == 0
    assert text.stdout.startswith(
        "changes/CHG-2026-0300.yaml:14:11: warning change.rollback-record-missing: "
    )
    assert text.stderr == f"1 warning in {files} files\n"


def test_broken_user_schema_is_a_finding(
    cmdb_repo: Path, validate_json: Callable[..., Any], write_file: Callable[..., Path]
) -> None:
    write_file(
        cmdb_repo,
        "schemas/server.schema.json",
        '{\n  "title": "Server",\n  "type": "object",,\n  "properties": {}\n}\n',
    )
    report = validate_json(cmdb_repo)
    assert report.exit_code == 1
    assert {(f["path"], f["code"], f["line"], f["column"]) for f in report.findings} == {
        ("schemas/server.schema.json", "schema.unreadable", 3, 20),
        # Without its schema, the scaffold's one Server has an unknown kind.
        ("inventory/app-01.yaml", "document.kind", 2, 7),
    }


def test_schema_that_is_not_a_json_schema_is_a_finding(
    cmdb_repo: Path, validate_json: Callable[..., Any], write_file: Callable[..., Path]
) -> None:
    write_file(
        cmdb_repo,
        "schemas/server.schema.json",
        '{"properties": {"kind": {"const": "Server"}}, "type": "bogus"}',
    )
    report = validate_json(cmdb_repo)
    assert report.exit_code == 1
    assert {(f["path"], f["code"]) for f in report.findings} == {
        ("schemas/server.schema.json", "schema.invalid"),
        ("inventory/app-01.yaml", "document.kind"),
    }


_BACKUP = """\
apiVersion: cmdb/v1
kind: Server
metadata:
  id: {id}
spec:
  hostname: {id}
  backupTarget: {target}
"""


def test_reference_fields_come_from_the_schemas(
    cmdb_repo: Path, write_file: Callable[..., Path], validate_json: Callable[..., Any]
) -> None:
    write_file(
        cmdb_repo,
        "inventory/san-01.yaml",
        "apiVersion: cmdb/v1\nkind: StorageDevice\nmetadata: {id: san-01}\n"
        "spec: {capacityTb: 100}\n",
    )
    for name, target in (("backup-01", "san-99"), ("backup-02", "san-01"), ("backup-03", "app-01")):
        write_file(cmdb_repo, f"inventory/{name}.yaml", _BACKUP.format(id=name, target=target))

    # With the shipped schema the field does not exist.
    before = validate_json(cmdb_repo)
    assert before.located() == {("schema.additional-property", 7, 17)}
    assert len(before.findings) == 3

    schema_path = cmdb_repo / "schemas" / "server.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["properties"]["spec"]["properties"]["backupTarget"] = {
        "$ref": "common.schema.json#/$defs/ciId",
        "x-cmdb-ref": {"kinds": ["StorageDevice"]},
    }
    schema_path.write_text(json.dumps(schema, indent=2))

    after = validate_json(cmdb_repo)
    assert {(f["path"], f["code"], f["line"], f["column"]) for f in after.findings} == {
        ("inventory/backup-01.yaml", "ref.dangling", 7, 17),
        ("inventory/backup-03.yaml", "ref.kind", 7, 17),
    }
    dangling = next(f for f in after.findings if f["code"] == "ref.dangling")
    assert dangling["pointer"] == "/spec/backupTarget"
    assert "'san-99'" in dangling["message"] and "StorageDevice" in dangling["message"]
    assert after.exit_code == 1


def _generate_estate(repo: Path, count: int) -> set[tuple[str, str, int, int]]:
    """Write `count` small Servers, some broken on purpose; return the findings due."""
    folder = repo / "inventory" / "generated"
    folder.mkdir()
    expected: set[tuple[str, str, int, int]] = set()

    def syntax_error(i: int) -> bool:
        return i % 499 == 0

    def renamed(i: int) -> bool:
        return i % 211 == 0

    for i in range(count):
        name = f"gen-{i:04d}"
        path = f"inventory/generated/{name}.yaml"
        status = "broken" if i % 97 == 0 else "active"
        location = "rack-zz" if i % 101 == 0 else "rack-a01"
        ident = f"{name}x" if renamed(i) else name
        target = (i + 1) % count
        body = (
            f"apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: {ident}\n"
            f"  owner: team-ops\nspec:\n  hostname: {name}\n  status: {status}\n"
            f"  location: {location}\n  dependsOn: [gen-{target:04d}]\n"
        )
        if syntax_error(i):
            body += "  memoryMb: [unclosed\n"
            expected.add((path, "yaml.syntax", 12, 1))
        else:
            if status == "broken":
                expected.add((path, "schema.enum", 8, 11))
            if location == "rack-zz":
                expected.add((path, "ref.dangling", 9, 13))
            if renamed(i):
                expected.add((path, "id.file-name", 4, 7))
            # no file claims that id (a broken file claims the id of its name)
            if renamed(target) and not syntax_error(target):
                expected.add((path, "ref.dangling", 10, 15))
        (folder / f"{name}.yaml").write_text(body)
    return expected


def _located(findings: list[dict[str, Any]]) -> set[tuple[str, str, int, int]]:
    return {(f["path"], f["code"], f["line"], f["column"]) for f in findings}


def test_parallel_path_gives_the_same_findings(
    cmdb_repo: Path, run_cmdbctl: Callable[..., Any]
) -> None:
    scaffold = _documents(cmdb_repo, ".")
    expected = _generate_estate(cmdb_repo, 2050)
    outputs = []
    for jobs in ("1", "2"):
        proc = run_cmdbctl(
            "validate",
            "--format",
            "json",
            "--jobs",
            jobs,
            "--repo",
            str(cmdb_repo),
            cwd=cmdb_repo,
            timeout=60,
            env={"CMDBCTL_NO_CACHE": "1"},
        )  # no cache: both runs judge
        assert proc.returncode == 1, proc.stderr[-2000:]
        outputs.append(json.loads(proc.stdout))
    serial, parallel = outputs
    assert _located(serial["findings"]) == expected
    assert len(serial["findings"]) == len(expected)
    assert serial["summary"]["files"] == 2050 + scaffold
    assert parallel == serial


def test_serial_path_on_a_large_estate(cmdb_repo: Path, validate_json: Callable[..., Any]) -> None:
    """The generator's expectations hold on the serial path (what the test above compares)."""
    scaffold = _documents(cmdb_repo, ".")
    expected = _generate_estate(cmdb_repo, 600)
    report = validate_json(cmdb_repo, "--jobs", "1")
    assert {f["code"] for f in report.findings} == {
        "schema.enum",
        "ref.dangling",
        "id.file-name",
        "yaml.syntax",
    }
    assert _located(report.findings) == expected
    assert len(report.findings) == len(expected)
    assert report.data["summary"]["files"] == 600 + scaffold


def test_cli_uses_no_deprecated_click_api(cmdb_repo: Path) -> None:
    """pytest runs with filterwarnings=error, as a strict CI would run cmdbctl."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = CliRunner().invoke(cli, ["validate", "--repo", str(cmdb_repo)])
    assert "Traceback" not in result.stderr, result.stderr
    assert result.exit_code == 0


def _edit_server_schema(repo: Path, field: dict[str, Any]) -> None:
    path = repo / "schemas" / "server.schema.json"
    schema = json.loads(path.read_text())
    schema["properties"]["spec"]["properties"]["backupTarget"] = field
    path.write_text(json.dumps(schema, indent=2))


def test_user_schema_with_a_dangling_ref_is_a_finding(
    cmdb_repo: Path, validate_json: Callable[..., Any]
) -> None:
    _edit_server_schema(cmdb_repo, {"$ref": "storage.schema.json#/$defs/id"})
    report = validate_json(cmdb_repo)
    assert report.exit_code == 1
    mine = [f for f in report.findings if f["path"] == "schemas/server.schema.json"]
    assert len(mine) == 1 and mine[0]["code"].startswith("schema.")
    assert "storage.schema.json" in mine[0]["message"]


@pytest.mark.parametrize(
    "mark",
    [{"kinds": 5}, {"kinds": "StorageDevice"}, {"classes": "hardware"}],
    ids=["number", "string-kinds", "string-classes"],
)
def test_malformed_x_cmdb_ref_is_a_schema_finding(
    mark: dict[str, Any],
    cmdb_repo: Path,
    write_file: Callable[..., Path],
    validate_json: Callable[..., Any],
) -> None:
    _edit_server_schema(cmdb_repo, {"type": "string", "x-cmdb-ref": mark})
    write_file(
        cmdb_repo, "inventory/backup-01.yaml", _BACKUP.format(id="backup-01", target="app-01")
    )
    report = validate_json(cmdb_repo)
    assert report.exit_code == 1
    assert [(f["path"], f["code"].split(".")[0]) for f in report.findings] == [
        ("schemas/server.schema.json", "schema")
    ], report.findings


@pytest.mark.parametrize(
    ("ref", "named"),
    [
        ("common.schema.json#/$defs/nope", "common.schema.json has no /$defs/nope"),
        ("#/$defs/nope", "server.schema.json has no /$defs/nope"),
        ("common.schema.json#nope", "has no $anchor 'nope'"),
        ("https://example.com/id.schema.json", "https://example.com/id.schema.json"),
    ],
    ids=["missing-pointer", "missing-local-pointer", "missing-anchor", "remote"],
)
def test_every_kind_of_dangling_ref_is_a_located_finding(
    ref: str,
    named: str,
    cmdb_repo: Path,
    write_file: Callable[..., Path],
    validate_json: Callable[..., Any],
) -> None:
    _edit_server_schema(cmdb_repo, {"$ref": ref})
    # The rest of the schema still checks documents; the field with the $ref is unchecked.
    write_file(
        cmdb_repo, "inventory/backup-01.yaml", _BACKUP.format(id="backup-01", target="anything")
    )
    text = (cmdb_repo / "schemas" / "server.schema.json").read_text()
    line = text[: text.index(f'"$ref": "{ref}"')].count("\n") + 1
    column = text.splitlines()[line - 1].index(f'"{ref}"') + 1
    report = validate_json(cmdb_repo)
    assert report.exit_code == 1
    assert [
        (f["path"], f["code"], f["line"], f["column"], f["pointer"]) for f in report.findings
    ] == [
        (
            "schemas/server.schema.json",
            "schema.dangling-ref",
            line,
            column,
            "/properties/spec/properties/backupTarget/$ref",
        )
    ]
    assert named in report.findings[0]["message"]


def test_user_schema_without_dollar_schema_or_with_a_foreign_id_still_checks(
    cmdb_repo: Path, validate_json: Callable[..., Any]
) -> None:
    path = cmdb_repo / "schemas" / "server.schema.json"
    schema = json.loads(path.read_text())
    del schema["$schema"]  # draft 2020-12 is what cmdbctl reads a schema as
    schema["$id"] = "https://example.com/cmdb/server.json"  # relative $refs stay in schemas/
    path.write_text(json.dumps(schema, indent=2))
    app = cmdb_repo / "inventory" / "app-01.yaml"
    app.write_text(app.read_text().replace("status: active", "status: on"))
    report = validate_json(cmdb_repo)
    assert {(f["path"], f["code"]) for f in report.findings} == {
        ("inventory/app-01.yaml", "schema.enum")
    }


def test_schema_nesting_deeper_than_the_validator_compiles_is_a_finding(
    cmdb_repo: Path, write_file: Callable[..., Path], validate_json: Callable[..., Any]
) -> None:
    write_file(
        cmdb_repo,
        "schemas/deep.schema.json",
        '{"allOf": [' + '{"allOf": [' * 200 + "{}" + "]}" * 200 + "]}",
    )
    write_file(cmdb_repo, "schemas/deeper.schema.json", "[" * 100_000 + "]" * 100_000)
    report = validate_json(cmdb_repo)
    assert {(f["path"], f["code"]) for f in report.findings} == {
        ("schemas/deep.schema.json", "schema.invalid"),
        ("schemas/deeper.schema.json", "schema.unreadable"),
    }
