"""Hostile files through the real CLI: an error with a location, never a crash or a hang.

Every test checks the same contract: the expected findings at their exact positions (and
no others), exit 1, no traceback, and every file under tmp_path (the repository and
whatever lies beside it) byte-for-byte as it was. Runs that could hang go through a child
process with a timeout.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from cmdbctl.loading import positions

Expected = set[tuple[str, str, int, int]]  # (path, code, line, column)


def _located(findings: Sequence[dict[str, Any]]) -> Expected:
    return {(f["path"], f["code"], f["line"], f["column"]) for f in findings}


def _in_process(run_cli: Callable[..., Any], repo: Path) -> tuple[int, list[dict[str, Any]]]:
    result = run_cli("validate", "--format", "json", repo=repo)
    return result.exit_code, json.loads(result.stdout)["findings"]


def _child(
    run_cmdbctl: Callable[..., Any],
    repo: Path,
    timeout: float = 20.0,
    env: dict[str, str] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    proc = run_cmdbctl(
        "validate",
        "--format",
        "json",
        "--repo",
        str(repo),
        cwd=repo.parent,
        timeout=timeout,
        env=env,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)["findings"]


def _check(
    before: dict[str, Any], after: dict[str, Any], result: tuple[int, list[Any]], expected: Expected
) -> None:
    code, findings = result
    assert _located(findings) == expected, findings
    assert len(findings) == len(expected), findings
    assert all(f["severity"] == "error" for f in findings)
    assert code == 1
    assert after == before, "validate changed files"


Refused = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def refused(
    cmdb_repo: Path,
    tmp_path: Path,
    run_cli: Callable[..., Any],
    run_cmdbctl: Callable[..., Any],
    snapshot: Callable[..., dict[str, Any]],
) -> Refused:
    """`refused(expected, child=False)`: validate cmdb_repo (in a child process with a
    timeout when the run could hang) and hold it to the contract (`_check`); its findings."""

    def judge(expected: Expected, child: bool = False) -> list[dict[str, Any]]:
        before = snapshot(tmp_path)
        result = _child(run_cmdbctl, cmdb_repo) if child else _in_process(run_cli, cmdb_repo)
        _check(before, snapshot(tmp_path), result, expected)
        return result[1]

    return judge


def test_binary_file(cmdb_repo: Path, write_file: Callable[..., Path], refused: Refused) -> None:
    write_file(
        cmdb_repo,
        "inventory/binary.yaml",
        b"apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: bin\x00ary\nspec: {}\n",
    )
    refused({("inventory/binary.yaml", "file.binary", 4, 10)})


def test_binary_file_column_counts_characters(
    cmdb_repo: Path, write_file: Callable[..., Path], refused: Refused
) -> None:
    write_file(
        cmdb_repo,
        "inventory/binary-cjk.yaml",
        "apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: binary-cjk\n"
        "  name: 计费\x00\nspec: {}\n",
    )
    refused({("inventory/binary-cjk.yaml", "file.binary", 5, 11)})


def test_non_utf8_file(cmdb_repo: Path, write_file: Callable[..., Path], refused: Refused) -> None:
    write_file(
        cmdb_repo,
        "inventory/latin1.yaml",
        b"apiVersion: cmdb/v1\nkind: Server\nmeta\xffdata:\n  id: latin1\nspec: {}\n",
    )
    refused({("inventory/latin1.yaml", "file.encoding", 3, 5)})


def test_file_over_one_mebibyte(
    cmdb_repo: Path, write_file: Callable[..., Path], refused: Refused
) -> None:
    head = b"apiVersion: cmdb/v1\nkind: Server\nmetadata: {id: big}\nspec: {}\n# "
    write_file(cmdb_repo, "inventory/big.yaml", head + b"x" * (1024 * 1024 + 1 - len(head)))
    # Exactly the limit is still a document (a valid one, padded by a comment).
    head_ok = b"apiVersion: cmdb/v1\nkind: Server\nmetadata: {id: limit}\nspec: {}\n# "
    write_file(cmdb_repo, "inventory/limit.yaml", head_ok + b"x" * (1024 * 1024 - len(head_ok)))
    assert (cmdb_repo / "inventory/big.yaml").stat().st_size == 1024 * 1024 + 1
    refused({("inventory/big.yaml", "file.too-large", 1, 1)})


def _address_space_limit() -> None:
    limit = 1536 << 20  # 1.5 GiB: plenty for cmdbctl, too little to hold the file
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _huge_sparse_file(repo: Path) -> None:
    with open(repo / "inventory" / "huge.yaml", "wb") as handle:
        handle.truncate(3 << 30)  # 3 GiB of holes: no disk, but reading it needs 3 GiB


def _run_limited(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cmdbctl", "validate", "--format", "json", "--repo", str(repo)],
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=_address_space_limit,
        env={**os.environ, **env},
        cwd=repo.parent,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.parametrize(
    "cache",
    [
        "on",
        "off",
    ],
)
def test_huge_file_is_never_read_whole(
    cache: str, cmdb_repo: Path, tmp_path: Path, snapshot: Callable[..., dict[str, Any]]
) -> None:
    _huge_sparse_file(cmdb_repo)
    ignore = (".git/cmdbctl", "repo/inventory/huge.yaml")
    before = snapshot(tmp_path, ignore)
    proc = _run_limited(cmdb_repo, {"CMDBCTL_NO_CACHE": "1"} if cache == "off" else {})
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    findings = json.loads(proc.stdout)["findings"]
    _check(
        before,
        snapshot(tmp_path, ignore),
        (proc.returncode, findings),
        {("inventory/huge.yaml", "file.too-large", 1, 1)},
    )
    assert (cmdb_repo / "inventory" / "huge.yaml").stat().st_size == 3 << 30


SYMLINK_MESSAGE = "symlinked documents are not allowed: {} points to {}; a CI is its own file"
SYMLINK_HINT = "replace the link with the file itself (git stores the link, not the document)"


def _symlink_finding(findings: Sequence[dict[str, Any]], path: str, target: str) -> None:
    [found] = [f for f in findings if f["path"] == path]
    assert found["code"] == "file.symlink"
    assert (found["line"], found["column"]) == (1, 1)
    assert found["message"] == SYMLINK_MESSAGE.format(path, target)
    assert found["hint"] == SYMLINK_HINT


def _file_count(run_cli: Callable[..., Any], repo: Path) -> int:
    result = run_cli("validate", "--format", "json", repo=repo, env={"CMDBCTL_NO_CACHE": "1"})
    return int(json.loads(result.stdout)["summary"]["files"])


def test_symlink_to_etc_passwd(cmdb_repo: Path, refused: Refused) -> None:
    (cmdb_repo / "inventory" / "evil.yaml").symlink_to("/etc/passwd")
    findings = refused({("inventory/evil.yaml", "file.symlink", 1, 1)})
    _symlink_finding(findings, "inventory/evil.yaml", "/etc/passwd")
    assert "root:" not in json.dumps(findings)  # nothing of the target is shown


def test_symlink_escaping_through_a_relative_path(
    cmdb_repo: Path,
    tmp_path: Path,
    run_cli: Callable[..., Any],
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    write_file(tmp_path, "secret.yaml", "apiVersion: cmdb/v1\nkind: Server\n")
    (cmdb_repo / "inventory" / "sneaky.yaml").symlink_to("../../secret.yaml")
    before = snapshot(tmp_path)
    result = _in_process(run_cli, cmdb_repo)
    _check(before, snapshot(tmp_path), result, {("inventory/sneaky.yaml", "file.symlink", 1, 1)})
    _symlink_finding(result[1], "inventory/sneaky.yaml", "../../secret.yaml")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_symlink_out_of_the_repository_is_never_read(
    cmdb_repo: Path,
    tmp_path: Path,
    run_cmdbctl: Callable[..., Any],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    # reading the target would block: following the link would hang
    outside = tmp_path / "outside"
    outside.mkdir()
    os.mkfifo(outside / "trap.yaml")
    (cmdb_repo / "policies" / "trap.yml").symlink_to(outside / "trap.yaml")
    before = snapshot(tmp_path)
    result = _child(run_cmdbctl, cmdb_repo)
    _check(before, snapshot(tmp_path), result, {("policies/trap.yml", "file.symlink", 1, 1)})
    _symlink_finding(result[1], "policies/trap.yml", str(outside / "trap.yaml"))


def test_symlink_to_a_document_inside_the_repository(
    cmdb_repo: Path,
    tmp_path: Path,
    run_cli: Callable[..., Any],
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    # The target is judged once, as itself (its finding at its own path, no id.duplicate);
    # the link claims no id and refers to nothing (its target's reference to ghost is
    # reported once).
    files = _file_count(run_cli, cmdb_repo)
    write_file(
        cmdb_repo,
        "inventory/hw/web-09.yaml",
        "apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: web-09\n"
        "  owner: team-ops\nspec:\n  location: ghost\n",
    )
    (cmdb_repo / "inventory" / "alias.yaml").symlink_to("hw/web-09.yaml")
    (cmdb_repo / "changes" / "web-09.yaml").symlink_to("../inventory/hw/web-09.yaml")
    before = snapshot(tmp_path)
    result = run_cli("validate", "--format", "json", repo=cmdb_repo)
    report = json.loads(result.stdout)
    _check(
        before,
        snapshot(tmp_path),
        (result.exit_code, report["findings"]),
        {
            ("inventory/alias.yaml", "file.symlink", 1, 1),
            ("changes/web-09.yaml", "file.symlink", 1, 1),
            ("inventory/hw/web-09.yaml", "ref.dangling", 7, 13),
        },
    )
    _symlink_finding(report["findings"], "inventory/alias.yaml", "hw/web-09.yaml")
    _symlink_finding(report["findings"], "changes/web-09.yaml", "../inventory/hw/web-09.yaml")
    assert report["summary"]["files"] == files + 1  # web-09: links are not documents


def test_symlinked_document_claims_no_id(cmdb_repo: Path, refused: Refused) -> None:
    # app-01 kept elsewhere in the repository and linked in: the link is no app-01,
    # so what runs on app-01 refers to nothing
    store = cmdb_repo / "store"
    store.mkdir()
    (cmdb_repo / "inventory" / "app-01.yaml").rename(store / "app-01.yaml")
    (cmdb_repo / "inventory" / "app-01.yaml").symlink_to("../store/app-01.yaml")
    refused(
        {
            ("inventory/app-01.yaml", "file.symlink", 1, 1),
            ("inventory/shop-db.yaml", "ref.dangling", 11, 11),
            ("inventory/shop-web.yaml", "ref.dangling", 10, 12),
        }
    )


def test_dangling_symlink(cmdb_repo: Path, refused: Refused) -> None:
    (cmdb_repo / "inventory" / "gone.yaml").symlink_to("nowhere/gone.yaml")
    findings = refused({("inventory/gone.yaml", "file.symlink", 1, 1)})
    _symlink_finding(findings, "inventory/gone.yaml", "nowhere/gone.yaml")


def test_symlink_named_as_a_document_to_a_folder(cmdb_repo: Path, refused: Refused) -> None:
    (cmdb_repo / "inventory" / "hw.yaml").symlink_to("../policies", target_is_directory=True)
    refused({("inventory/hw.yaml", "file.symlink", 1, 1)})


def test_other_symlinks_inside_the_repository_are_not_followed(
    cmdb_repo: Path,
    tmp_path: Path,
    run_cli: Callable[..., Any],
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    # a folder link and links not named as documents: not entered, not read, no finding
    files = _file_count(run_cli, cmdb_repo)
    write_file(cmdb_repo, "store/hw/broken.yaml", "apiVersion: [unclosed\n")
    (cmdb_repo / "inventory" / "hw").symlink_to("../store/hw", target_is_directory=True)
    (cmdb_repo / "inventory" / "app-01").symlink_to("app-01.yaml")
    (cmdb_repo / "inventory" / "README").symlink_to("../store/hw/broken.yaml")
    (cmdb_repo / "inventory" / "nowhere").symlink_to("nowhere")
    before = snapshot(tmp_path)
    result = run_cli("validate", "--format", "json", repo=cmdb_repo)
    report = json.loads(result.stdout)
    assert result.exit_code == 0, report
    assert report["findings"] == []
    assert report["summary"]["files"] == files
    assert snapshot(tmp_path) == before


def test_symlinked_folder_outside_is_not_followed(
    cmdb_repo: Path,
    tmp_path: Path,
    run_cmdbctl: Callable[..., Any],
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    outside = tmp_path / "outside"
    write_file(outside, "broken.yaml", "apiVersion: [unclosed\n")
    os.mkfifo(outside / "trap.yaml")  # reading it would block: following the link would hang
    (cmdb_repo / "inventory" / "linked").symlink_to(outside, target_is_directory=True)
    before = snapshot(tmp_path)
    result = _child(run_cmdbctl, cmdb_repo)
    assert not [f for f in result[1] if f["path"].startswith("inventory/linked/")]
    _check(before, snapshot(tmp_path), result, {("inventory/linked", "file.symlink-escape", 1, 1)})


def test_symlink_loop(cmdb_repo: Path, refused: Refused) -> None:
    (cmdb_repo / "inventory" / "loop.yaml").symlink_to("loop.yaml")
    findings = refused({("inventory/loop.yaml", "file.symlink", 1, 1)})
    _symlink_finding(findings, "inventory/loop.yaml", "loop.yaml")


def test_fifo_does_not_hang(
    cmdb_repo: Path,
    tmp_path: Path,
    run_cmdbctl: Callable[..., Any],
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    os.mkfifo(cmdb_repo / "inventory" / "pipe.yaml")
    write_file(cmdb_repo, "inventory/after-pipe.yaml", "kind: Server\n")  # still checked
    before = snapshot(tmp_path)
    code, findings = _child(run_cmdbctl, cmdb_repo, timeout=20)
    assert ("inventory/after-pipe.yaml", "schema.required", 1, 1) in _located(findings)
    assert code == 1
    assert snapshot(tmp_path) == before


def test_fifo_is_reported(
    cmdb_repo: Path,
    tmp_path: Path,
    run_cmdbctl: Callable[..., Any],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    os.mkfifo(cmdb_repo / "inventory" / "pipe.yaml")
    before = snapshot(tmp_path)
    code, findings = _child(run_cmdbctl, cmdb_repo, timeout=20)
    assert {(f["path"], f["line"], f["column"]) for f in findings} == {
        ("inventory/pipe.yaml", 1, 1)
    }
    _check(before, snapshot(tmp_path), (code, findings), _located(findings))


def test_alias_bomb_finishes_quickly(
    cmdb_repo: Path, write_file: Callable[..., Path], refused: Refused
) -> None:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        levels.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    write_file(cmdb_repo, "inventory/lol.yaml", "\n".join(levels) + "\n")
    refused({("inventory/lol.yaml", "yaml.alias-bomb", 1, 1)}, child=True)


def test_alias_bomb_in_a_mapping_finishes_quickly(
    cmdb_repo: Path, write_file: Callable[..., Path], refused: Refused
) -> None:
    lines = ["l0: &l0 {a: lol, b: lol, c: lol, d: lol, e: lol, f: lol, g: lol, h: lol}"]
    for i in range(1, 10):
        keys = ", ".join(f"{k}: *l{i - 1}" for k in "abcdefgh")
        lines.append(f"l{i}: &l{i} {{{keys}}}")
    write_file(cmdb_repo, "inventory/lol-map.yaml", "\n".join(lines) + "\n")
    refused({("inventory/lol-map.yaml", "yaml.alias-bomb", 1, 1)}, child=True)


def test_deep_nesting(cmdb_repo: Path, write_file: Callable[..., Path], refused: Refused) -> None:
    write_file(cmdb_repo, "inventory/deep.yaml", "a: " + "[" * 10_000 + "]" * 10_000 + "\n")
    refused({("inventory/deep.yaml", "yaml.too-deep", 1, 1)})


def test_very_deep_flow_nesting_is_refused() -> None:
    # ruamel's scanner looks ahead over the first thousands of `[` (quadratic) before its
    # composer hits the recursion limit, unless cmdbctl stops the scanner at a depth no
    # composer reaches: 400,000 levels give the finding, not a stall (speed is measured
    # in bench/, not here).
    text = "a: " + "[" * 400_000 + "]" * 400_000 + "\n"
    found = positions.parse("inventory/deep.yaml", text)
    assert isinstance(found, list)
    assert [(f.code, f.line, f.column) for f in found] == [("yaml.too-deep", 1, 1)]


def test_deep_block_nesting(
    cmdb_repo: Path, write_file: Callable[..., Path], refused: Refused
) -> None:
    # 1,000 levels of block mappings: deep, but readable; the document just has no kind.
    text = "".join(" " * i + "k:\n" for i in range(1000))
    write_file(cmdb_repo, "inventory/deep-block.yaml", text)
    refused({("inventory/deep-block.yaml", "document.kind", 1, 1)})


_CONTROL = (
    "apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: control\n{anchor}spec:\n"
    '  hostname: control\n  model: "R\x1b[2J650"\n'
)


@pytest.mark.parametrize("anchor", ["", "x: &x 1\n"], ids=["plain-file", "file-with-anchor"])
def test_control_character(
    anchor: str,
    cmdb_repo: Path,
    tmp_path: Path,
    run_cli: Callable[..., Any],
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    text = _CONTROL.format(anchor=anchor)
    write_file(cmdb_repo, "inventory/control.yaml", text)
    line = text[: text.index("\x1b")].count("\n") + 1
    column = text.index("\x1b") - text.rfind("\n", 0, text.index("\x1b"))
    before = snapshot(tmp_path)
    code, findings = _in_process(run_cli, cmdb_repo)
    assert [(f["path"], f["line"], f["column"]) for f in findings] == [
        ("inventory/control.yaml", line, column)
    ], findings
    assert "\n" not in findings[0]["message"]
    _check(before, snapshot(tmp_path), (code, findings), _located(findings))


def _unprivileged_prefix() -> list[str] | None:
    """A command prefix under which root's file permissions apply, or None."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
    return prefix if probe.returncode == 0 else None


@pytest.mark.parametrize(
    "cache",
    [
        "on",
        "off",
    ],
)
def test_unreadable_file(
    cache: str,
    cmdb_repo: Path,
    tmp_path: Path,
    write_file: Callable[..., Path],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    prefix = _unprivileged_prefix()
    if prefix is None:
        pytest.skip("running as root without setpriv: root reads a chmod 000 file")
    path = write_file(cmdb_repo, "inventory/secret.yaml", "apiVersion: cmdb/v1\n")
    path.chmod(0)
    try:
        before = snapshot(tmp_path)
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "CI")}
        if cache == "off":
            env["CMDBCTL_NO_CACHE"] = "1"
        proc = subprocess.run(
            [
                *prefix,
                sys.executable,
                "-m",
                "cmdbctl",
                "validate",
                "--format",
                "json",
                "--repo",
                str(cmdb_repo),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
        findings = json.loads(proc.stdout)["findings"]
        _check(
            before,
            snapshot(tmp_path),
            (proc.returncode, findings),
            {("inventory/secret.yaml", "file.unreadable", 1, 1)},
        )
    finally:
        path.chmod(0o644)


def test_document_folder_that_is_a_symlink_out_is_not_walked(
    cmdb_repo: Path,
    tmp_path: Path,
    run_cli: Callable[..., Any],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(
        "apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: secret\nspec:\n  password: hunter2\n"
    )
    shutil.rmtree(cmdb_repo / "changes")
    (cmdb_repo / "changes").symlink_to(outside, target_is_directory=True)
    before = snapshot(tmp_path)
    result = run_cli("validate", "--format", "json", repo=cmdb_repo)
    assert "secret" not in result.stdout and "password" not in result.stdout
    _check(
        before,
        snapshot(tmp_path),
        (result.exit_code, json.loads(result.stdout)["findings"]),
        {("changes", "file.symlink-escape", 1, 1)},
    )


def test_document_folder_that_is_a_symlink_inside_is_not_walked(
    cmdb_repo: Path,
    tmp_path: Path,
    run_cli: Callable[..., Any],
    snapshot: Callable[..., dict[str, Any]],
) -> None:
    # git stores the link, not the documents: the gate would see none of them
    (cmdb_repo / "changes").rename(cmdb_repo / "changes-store")
    (cmdb_repo / "changes-store" / "broken.yaml").write_text("kind: [unclosed\n")
    (cmdb_repo / "changes").symlink_to("changes-store", target_is_directory=True)
    before = snapshot(tmp_path)
    result = run_cli("validate", "--format", "json", repo=cmdb_repo)
    report = json.loads(result.stdout)
    _check(
        before,
        snapshot(tmp_path),
        (result.exit_code, report["findings"]),
        {("changes", "file.symlink", 1, 1)},
    )
    assert report["findings"][0]["message"] == (
        "symlinked document folders are not allowed: changes points to changes-store; "
        "a CI is its own file"
    )


def test_integer_too_long_to_convert(
    cmdb_repo: Path, write_file: Callable[..., Path], refused: Refused
) -> None:
    write_file(
        cmdb_repo,
        "inventory/big.yaml",
        "apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: big\n"
        f"spec:\n  cpu: {{cores: {'9' * 5000}}}\n",
    )
    refused({("inventory/big.yaml", "yaml.value", 1, 1)})


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_lone_surrogate_escape_is_reported_in_json(
    jobs: str, cmdb_repo: Path, run_cmdbctl: Callable[..., Any], write_file: Callable[..., Path]
) -> None:
    # "\ud800" names half a UTF-16 pair: no character, and orjson refuses to encode it.
    write_file(
        cmdb_repo,
        "inventory/half.yaml",
        "apiVersion: cmdb/v1\nkind: Server\nmetadata:\n  id: half\n"
        'spec:\n  hostname: "\\ud800"\n  bogus: 1\n',
    )
    for n in range(2100 if jobs == "2" else 0):  # past the parallel threshold
        write_file(cmdb_repo, f"inventory/bulk/b{n}.yaml", "apiVersion: cmdb/v1\n")
    for _ in range(2):  # the second run reads the cache the first could not write
        proc = run_cmdbctl(
            "validate",
            "--format",
            "json",
            "--jobs",
            jobs,
            "--repo",
            str(cmdb_repo),
            cwd=cmdb_repo.parent,
            timeout=60,
        )
        assert proc.returncode == 1, proc.stderr
        codes = {(f["path"], f["code"]) for f in json.loads(proc.stdout)["findings"]}
        assert ("inventory/half.yaml", "schema.additional-property") in codes
