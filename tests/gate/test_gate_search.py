"""Who refers to a CI, read from git objects: `gitio.grep_words` finds the files that
hold an id as a word (one regex for many ids, in several git processes), `gitio.ls_tree`
lists a revision's files, and `revision.Snapshot` walks the dependencies upward from
them. An id may hold any character a file name can; a reference may sit in any folder,
beside any other kind, behind any text; the branch under review may write it on purpose
so that no search sees it. Every repository here is real git."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from cmdbctl import gitio
from cmdbctl.revision import Snapshot, split_folders


def _git(root: Path, *args: str, input: bytes | None = None) -> bytes:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Alice",
        "GIT_AUTHOR_EMAIL": "alice@example.com",
        "GIT_COMMITTER_NAME": "Alice",
        "GIT_COMMITTER_EMAIL": "alice@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=root, input=input, capture_output=True, check=True, env=env
    ).stdout


def _commit(root: Path, files: Mapping[bytes, bytes], extra: bytes = b"") -> str:
    """A commit of exactly `files` (raw path → content), made with plumbing so that any
    name git can store goes in as it is; `extra`: more `--index-info` records."""
    if not (root / ".git").exists():
        root.mkdir(parents=True, exist_ok=True)
        _git(root, "init", "--quiet")
    blobs: dict[bytes, bytes] = {}
    records = []
    for path, content in files.items():
        if content not in blobs:
            blobs[content] = _git(root, "hash-object", "-w", "--stdin", input=content).strip()
        records.append(b"100644 " + blobs[content] + b"\t" + path + b"\0")
    _git(root, "read-tree", "--empty")
    _git(root, "update-index", "-z", "--index-info", input=b"".join(records) + extra)
    tree = _git(root, "write-tree").decode().strip()
    return _git(root, "commit-tree", tree, "-m", "estate").decode().strip()


# --- gitio.ls_tree ----------------------------------------------------------------------


def _ls_tree_as_before(root: Path, rev: str) -> dict[str, str]:
    """What ls_tree gave before it decoded the whole listing at once."""
    out = _git(root, "ls-tree", "-r", "-z", "--full-tree", rev, "--", "inventory")
    return {
        path.decode("utf-8", "surrogateescape"): blob.decode()
        for kind, blob, path in re.findall(rb"\d+ (\w+) ([0-9a-f]+)\t([^\0]*)\0", out)
        if kind == b"blob"
    }


def test_ls_tree_keeps_odd_file_names(tmp_path: Path) -> None:
    names = [
        b"inventory/plain.yaml",
        b"inventory/with space.yaml",
        b"inventory/tab\there.yaml",
        b"inventory/new\nline.yaml",
        b"inventory/caf\xe9.yaml",  # Latin-1: no UTF-8
        b"inventory/caf\xc3\xa9.yaml",
        b"inventory/cut\xc3.yaml",
        b"inventory/a\\b.yaml",
        b"inventory/deep/er/x 1 blob " + b"0" * 40 + b"\tinventory/fake.yaml",
    ]
    first = _commit(tmp_path, {n: b"kind: Server\n" for n in names})
    link = _git(tmp_path, "hash-object", "-w", "--stdin", input=b"plain.yaml").strip()
    # A symlink is a blob (listed, as before); a submodule is a commit (left out).
    rev = _commit(
        tmp_path,
        {n: b"kind: Server\n" for n in names},
        extra=b"120000 "
        + link
        + b"\tinventory/link.yaml\0"
        + b"160000 "
        + first.encode()
        + b"\tinventory/sub\0",
    )

    listed = gitio.ls_tree(tmp_path, rev, ["inventory"])

    assert listed == _ls_tree_as_before(tmp_path, rev)
    assert list(listed) == list(_ls_tree_as_before(tmp_path, rev))  # same order too
    assert set(listed) == {os.fsdecode(n) for n in names} | {"inventory/link.yaml"}
    assert os.fsencode("inventory/caf\udce9.yaml") == b"inventory/caf\xe9.yaml"
    assert "inventory/fake.yaml" not in listed and "inventory/sub" not in listed


# --- gitio.grep_words -------------------------------------------------------------------

# File names hold what no regex may read as one: each id is found as itself only.
_ODD_IDS = [
    "a.b",
    "c++",
    "x(1)",
    "y[2]",
    "p|q",
    "s$t",
    "^u",
    "v{3}",
    "w\\z",
    "k?",
    "st*r",
    "m]n",
    "o}p",
    "é.e",
]
_LOOKALIKES = "axb cc x1 y2 p q st u vvv wz k sr str mn op éxe a.bc ^uu c+x"


def test_ids_with_regex_characters_are_found_and_match_nothing_else(tmp_path: Path) -> None:
    refers = "spec:\n  dependsOn: [" + ", ".join(f'"{i}"' for i in _ODD_IDS) + "]\n"
    rev = _commit(
        tmp_path,
        {
            b"inventory/refers.yaml": refers.encode(),
            b"inventory/lookalikes.yaml": f"notes: {_LOOKALIKES}\n".encode(),
        },
    )

    found = gitio.grep_words(tmp_path, rev, _ODD_IDS, ["inventory/"])

    assert sorted(found) == sorted(("inventory/refers.yaml", i) for i in _ODD_IDS)
    for i in _ODD_IDS:  # alone, as one regex of its own
        assert gitio.grep_words(tmp_path, rev, [i], ["inventory/"]) == [
            ("inventory/refers.yaml", i)
        ]


def test_many_ids_are_searched_in_pieces(tmp_path: Path) -> None:
    ids = [f"srv.{n:05}" for n in range(5000)]  # more than one regex can take at speed
    rev = _commit(
        tmp_path,
        {
            b"inventory/app.yaml": b"runsOn: [srv.00000, srv.04999]\n",
            b"inventory/other.yaml": b"runsOn: [srv-00001, srv.4999]\n",
        },
    )

    found = gitio.grep_words(tmp_path, rev, ids, ["inventory/"])

    assert sorted(found) == [
        ("inventory/app.yaml", "srv.00000"),
        ("inventory/app.yaml", "srv.04999"),
    ]


def test_ids_that_overlap_are_each_found(tmp_path: Path) -> None:
    """One regex for `srv-1|srv-1, x` takes the longer at a place where both match; git's
    -w refuses it before "y" and moves on: srv-1, a whole word there, must still count.
    And a match that ends inside another id (`a, srv` in `a, srv-1`) hides nothing."""
    ids = ["srv-1", "srv-1, x", "a, srv", "srv-1.old"]
    rev = _commit(
        tmp_path,
        {
            b"inventory/one.yaml": b"runsOn: [srv-1, xy]\n",
            b"inventory/two.yaml": b"dependsOn: [a, srv-1]\n",
            b"inventory/three.yaml": b"dependsOn: [srv-1.olde]\n",
            b"inventory/four.yaml": b"dependsOn: [srv-1.old]\n",
        },
    )

    found = set(gitio.grep_words(tmp_path, rev, ids, ["inventory/"]))

    # As git's -w has it, a word ends before any character but a letter, digit or _.
    assert found == {
        ("inventory/one.yaml", "srv-1"),
        ("inventory/two.yaml", "srv-1"),
        ("inventory/two.yaml", "a, srv"),
        ("inventory/three.yaml", "srv-1"),
        ("inventory/four.yaml", "srv-1"),
        ("inventory/four.yaml", "srv-1.old"),
    }


def _estate(tmp_path: Path) -> tuple[Path, str, list[str]]:
    """5,000 files in folders of every shape: loose files beside folders, nested
    folders, a folder whose name is a pathspec glob, a file that is no YAML."""
    folders = [
        *(f"inventory/servers/{c}" for c in "abcdefgh"),
        "inventory/[s]*",
        "inventory/servers",
        "inventory/apps/x/y",
        "inventory",
    ]
    files: dict[bytes, bytes] = {}
    for n in range(5000):
        files[f"{folders[n % 12]}/item-{n:04}.yaml".encode()] = b"kind: Server\n"
    files[b"inventory/apps/x/README.txt"] = b"runs on item-0001\n"
    files[b"inventory/servers/b/app.yaml"] = b"spec:\n  runsOn: [item-0001, item-4999]\n"
    files[b"inventory/[s]*/app.yaml"] = b"spec:\n  runsOn: [item-0001]\n"
    files[b"inventory/app.yaml"] = b"spec:\n  runsOn: [item-4999]\n"
    files[b"outside/app.yaml"] = b"spec:\n  runsOn: [item-0001]\n"
    rev = _commit(tmp_path, files)
    paths = [p for p in gitio.ls_tree(tmp_path, rev, ["inventory"]) if p.endswith(".yaml")]
    return tmp_path, rev, paths


def test_several_git_processes_search_every_file_once(tmp_path: Path) -> None:
    root, rev, paths = _estate(tmp_path)
    groups = split_folders(paths, "inventory/", 3)
    assert len(groups) == 3
    _git(root, "read-tree", rev)
    shares = [_git(root, "ls-files", "-z", "--", *g).split(b"\0")[:-1] for g in groups]
    everything = _git(root, "ls-files", "-z", "--", "inventory/").split(b"\0")[:-1]
    assert sorted(f for share in shares for f in share) == sorted(everything)
    assert all(0 < len(share) < len(everything) / 2 for share in shares)

    found = gitio.grep_words(root, rev, ["item-0001", "item-4999"], *groups)

    assert sorted(found) == sorted(
        gitio.grep_words(root, rev, ["item-0001", "item-4999"], ["inventory/"])
    )
    assert sorted(found) == [
        ("inventory/[s]*/app.yaml", "item-0001"),
        ("inventory/app.yaml", "item-4999"),
        ("inventory/apps/x/README.txt", "item-0001"),
        ("inventory/servers/b/app.yaml", "item-0001"),
        ("inventory/servers/b/app.yaml", "item-4999"),
    ]


def test_a_failing_search_is_an_error_not_an_empty_answer(tmp_path: Path) -> None:
    rev = _commit(tmp_path, {b"inventory/a.yaml": b"runsOn: [srv-1]\n"})
    with pytest.raises(gitio.GitFailed):
        gitio.grep_words(tmp_path, "0" * 40, ["srv-1"], ["inventory/"])
    assert gitio.grep_words(tmp_path, rev, ["srv-2"], ["inventory/"]) == []


# --- Snapshot.before: the merge base's ids from the head's ------------------------------


@pytest.mark.parametrize("duplicate", [False, True])
def test_ids_of_the_merge_base_are_those_of_its_files(tmp_path: Path, duplicate: bool) -> None:
    base = {
        p: f"file: {p.decode()}\nlong: enough to be found again when renamed\n".encode()
        for p in [
            b"inventory/a/kept.yaml",
            b"inventory/a/edited.yaml",
            b"inventory/a/gone.yaml",
            b"inventory/a/moved.yaml",
            b"inventory/a/renamed.yaml",
            b"inventory/z/twice.yaml",
            b"inventory/b/twice.yaml",
            b"changes/CHG-2026-0001.yaml",
        ]
    }
    head = {
        **base,
        b"inventory/a/edited.yaml": b"v: 2\n",
        b"inventory/c/new.yaml": b"v: 1\n",
        b"changes/CHG-2026-0001.yaml": b"v: 2\n",
    }
    del head[b"inventory/a/gone.yaml"]
    head[b"inventory/c/moved.yaml"] = head.pop(b"inventory/a/moved.yaml")  # same id
    head[b"inventory/a/other.yaml"] = head.pop(b"inventory/a/renamed.yaml")
    if duplicate:  # an id two files give, one the branch changed
        head[b"inventory/b/twice.yaml"] = b"v: 3\n"
    old_rev, head_rev = _commit(tmp_path, base), _commit(tmp_path, head)
    with gitio.BlobReader(tmp_path) as blobs:
        head_snap = Snapshot(tmp_path, head_rev, blobs)
        assert head_snap.by_id  # the head's first, as the gate asks for them
        changes = gitio.diff_tree(tmp_path, old_rev, head_rev, ["inventory", "changes"])
        old = Snapshot.before(head_snap, old_rev, changes)

        built = Snapshot(tmp_path, old_rev, blobs, paths=dict(old.paths)).by_id

        assert old.by_id == built
        assert old.by_id == {
            "kept": "inventory/a/kept.yaml",
            "edited": "inventory/a/edited.yaml",
            "gone": "inventory/a/gone.yaml",
            "moved": "inventory/a/moved.yaml",
            "renamed": "inventory/a/renamed.yaml",
            "CHG-2026-0001": "changes/CHG-2026-0001.yaml",
            # `before` lists the files the branch changed last
            "twice": f"inventory/{'z' if duplicate else 'b'}/twice.yaml",
        }
        assert set(old.paths) == {os.fsdecode(p) for p in base}


# --- the dependency walk in the gate ----------------------------------------------------


def _server(repo: Any, sid: str) -> str:
    return repo.read("inventory/app-01.yaml").replace("app-01", sid)


def _app(aid: str, *, runs_on: str = "", depends_on: str = "") -> str:
    return (
        f"apiVersion: cmdb/v1\nkind: Application\nmetadata:\n  id: {aid}\n  owner: team-ops\n"
        f"spec:\n  version: '1'\n  runsOn: [{runs_on}]\n  dependsOn: [{depends_on}]\n"
        "  status: active\n"
    )


def _service(sid: str, depends_on: str) -> str:
    return (
        f"apiVersion: cmdb/v1\nkind: Service\nmetadata:\n  id: {sid}\n  owner: team-ops\n"
        f"spec:\n  sla: sla-standard\n  dependsOn: [{depends_on}]\n  status: active\n"
    )


def _affected(
    repo: Any, kit: Any, target: str, files: Mapping[str, str] | None = None
) -> list[str]:
    """Base files are committed on main; on feature, alice edits `target` (plus `files`)
    under one change request; the services the gate names for it."""
    path = f"inventory/hw/{target}.yaml"
    repo.commit(
        "alice",
        f"edit {target}\n\nChange-Id: {kit.CHANGE_ID}",
        files={
            path: repo.edit(path, "memoryMb: 65536", "memoryMb: 131072"),
            kit.CHANGE_PATH: kit.change_yaml(targets=(target,)),
            **(files or {}),
        },
    )
    _, report = repo.gate()
    (change,) = report["changes"]
    return list(change["affectedServices"])


def _base(repo: Any, files: Mapping[str, str]) -> None:
    repo.checkout("main")
    repo.commit("carol", "estate", files=files)
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")


def test_a_chain_across_folders_of_any_name_and_mixed_kinds_is_found(repo: Any, kit: Any) -> None:
    _base(
        repo,
        {
            "inventory/hw/srv.a.01.yaml": _server(repo, "srv.a.01"),  # servers only
            "inventory/hw/srvxax01.yaml": _server(repo, "srvxax01"),
            "inventory/mixed/app.a.yaml": _app("app.a", runs_on="srv.a.01"),  # servers and apps
            "inventory/mixed/srv-c.yaml": _server(repo, "srv-c"),
            "inventory/mixed/app-c.yaml": _app("app-c", runs_on="srvxax01"),
            "inventory/z/deeper/app-b.yaml": _app("app-b", depends_on="app.a"),
            "inventory/biz/svc-a.yaml": _service("svc-a", "app-b"),
            "inventory/biz/svc-c.yaml": _service("svc-c", "app-c"),  # on the look-alike only
            "inventory/svc-d.yaml": _service("svc-d", "app.a"),
        },
    )

    assert _affected(repo, kit, "srv.a.01") == ["svc-a", "svc-d"]


# Applications whose only column-0 `kind:` line, if any, is not their kind.
_LIARS = {
    # the real kind is a quoted key; a line inside a quoted scalar says Person
    "quoted-key": (
        'apiVersion: cmdb/v1\n"kind": Application\n'
        "metadata: {id: app-liar, owner: team-ops}\n"
        'notes: "looks like a kind line\nkind: Person\n  "\n'
        "spec:\n  dependsOn: [app-a]\n"
    ),
    # two column-0 kind lines, one of them inside a quoted scalar
    "two-lines": (
        'apiVersion: cmdb/v1\nnotes: "looks like a kind line\nkind: Person\n  "\n'
        "kind: Application\nmetadata: {id: app-liar, owner: team-ops}\n"
        "spec:\n  dependsOn: [app-a]\n"
    ),
    # flow style: no kind line at all
    "flow": (
        "{apiVersion: cmdb/v1, kind: Application, metadata: {id: app-liar, owner: team-ops},"
        "\n spec: {dependsOn: [app-a]}}\n"
    ),
}


@pytest.mark.parametrize("liar", list(_LIARS.values()), ids=list(_LIARS))
def test_a_file_whose_kind_line_lies_hides_no_referrer(liar: str, repo: Any, kit: Any) -> None:
    """A folder of Persons (who can refer to no Application) holds an Application that
    depends on app-a; only its text says otherwise."""
    _base(
        repo,
        {
            "inventory/hw/srv-a.yaml": _server(repo, "srv-a"),
            "inventory/apps/app-a.yaml": _app("app-a", runs_on="srv-a"),
            "inventory/people/erin.yaml": kit.person_yaml("erin"),
            "inventory/people/app-liar.yaml": liar,
            "inventory/biz/svc-b.yaml": _service("svc-b", "app-liar"),
        },
    )

    assert _affected(repo, kit, "srv-a") == ["svc-b"]


def test_a_referrer_the_branch_adds_to_a_folder_of_servers_is_found(repo: Any, kit: Any) -> None:
    _base(
        repo,
        {
            "inventory/hw/srv-a.yaml": _server(repo, "srv-a"),
            "inventory/hw/srv-b.yaml": _server(repo, "srv-b"),
            "inventory/biz/svc-c.yaml": _service("svc-c", "app-new"),
        },
    )

    assert _affected(
        repo, kit, "srv-a", {"inventory/hw/app-new.yaml": _app("app-new", runs_on="srv-a")}
    ) == ["svc-c"]


def test_a_reference_the_branch_writes_so_that_no_search_sees_it_is_found(
    repo: Any, kit: Any
) -> None:
    """ "srv\\x2da" is srv-a to YAML and not the word srv-a to git grep: what the branch
    changed is read whatever its text."""
    _base(
        repo,
        {
            "inventory/hw/srv-a.yaml": _server(repo, "srv-a"),
            "inventory/biz/svc-e.yaml": _service("svc-e", "app-esc"),
        },
    )
    escaped = _app("app-esc").replace("runsOn: []", 'runsOn: ["srv\\x2da"]')

    assert _affected(repo, kit, "srv-a", {"inventory/apps/app-esc.yaml": escaped}) == ["svc-e"]


@pytest.mark.parametrize(
    "attributes",
    [None, "inventory/** binary\n", "inventory/** -diff\n"],
    ids=["no attributes", "binary", "-diff"],
)
def test_attributes_the_branch_adds_hide_no_referrer(
    attributes: str | None, repo: Any, kit: Any
) -> None:
    """`git grep -I` skips the files git takes for binary, and the branch under review
    decides which those are: a .gitattributes of its own saying `binary` (or `-diff`)
    for every inventory file would keep the application on the edited server, and the
    service above it, out of every search. The gate must name the service just as it
    does without the file."""
    _base(
        repo,
        {
            "inventory/hw/srv-a.yaml": _server(repo, "srv-a"),
            "inventory/apps/app-a.yaml": _app("app-a", runs_on="srv-a"),
            "inventory/biz/svc-a.yaml": _service("svc-a", "app-a"),
        },
    )
    files = {".gitattributes": attributes} if attributes is not None else {}

    assert _affected(repo, kit, "srv-a", files) == ["svc-a"]
