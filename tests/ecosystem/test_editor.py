"""The editor: what `cmdbctl init` wires and `cmdbctl schema export` writes, checked by
the real yaml-language-server (the server behind VS Code's YAML extension, Neovim's
yamlls, Helix, Zed ...), spoken to over LSP on stdio as an editor speaks to it.

The server must be installed (`npm install -g yaml-language-server@1.25.0`); without
it these tests fail, saying so, rather than pass unchecked.
"""

from __future__ import annotations

import copy
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cmdbctl.kinds import KindRegistry, load_registry
from cmdbctl.schema_export import DOCUMENT_SCHEMA, schema_files
from tests.conftest import RunCli, snapshot

SERVER = "yaml-language-server"
WAIT = 30.0  # seconds any one answer may take before the test fails (never hangs)
Message = dict[str, Any]


class LanguageServer:
    """A yaml-language-server child speaking LSP (JSON-RPC with Content-Length framing)
    on stdio, as an editor runs it. Every wait has a deadline; `close` kills it."""

    def __init__(self, root: Path, settings: dict[str, Any]) -> None:
        executable = shutil.which(SERVER)
        if executable is None:
            pytest.fail(
                f"{SERVER} is not on PATH: install it with "
                f"`npm install -g {SERVER}@1.25.0` (these tests drive the real server)"
            )
        self.settings = settings
        self._proc = subprocess.Popen(
            [executable, "--stdio"],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._inbox: queue.Queue[Message | None] = queue.Queue()
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self._proc.stdout
        assert stream is not None
        try:
            while True:
                length = None
                while line := stream.readline():
                    if not line.strip():
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if length is None:
                    return
                self._inbox.put(json.loads(stream.read(length)))
        finally:
            self._inbox.put(None)  # the server is gone: a waiter fails at once

    def _send(self, message: Message) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        stdin = self._proc.stdin
        assert stdin is not None
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        stdin.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self._next_id += 1
        sent = self._next_id
        self._send({"id": sent, "method": method, "params": params})
        answer = self.wait_for(lambda m: m.get("id") == sent and "method" not in m)
        assert "error" not in answer, answer
        return answer["result"]

    def wait_for(self, wanted: Callable[[Message], bool]) -> Message:
        """The next message `wanted` accepts; the server's own requests are answered
        on the way (workspace/configuration with the settings, anything else with null)."""
        deadline = time.monotonic() + WAIT
        while True:
            left = deadline - time.monotonic()
            try:
                message = self._inbox.get(timeout=max(left, 0.001))
            except queue.Empty:
                pytest.fail(f"{SERVER} did not answer within {WAIT:.0f}s")
            if message is None:
                pytest.fail(f"{SERVER} exited (status {self._proc.poll()})")
            if "method" in message and "id" in message:
                self._send({"id": message["id"], "result": self._answer(message)})
            elif wanted(message):
                return message

    def _answer(self, request: Message) -> Any:
        if request["method"] != "workspace/configuration":
            return None
        return [self.settings.get(item.get("section")) for item in request["params"]["items"]]

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait(timeout=WAIT)
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                stream.close()


class Editor:
    """An editor with a CMDB folder open: the settings VS Code sends from the folder's
    .vscode/settings.json, documents opened and typed into."""

    def __init__(self, server: LanguageServer, root: Path) -> None:
        self.server, self.root = server, root
        folder = root.as_uri()
        capabilities = {
            "workspace": {"configuration": True, "workspaceFolders": True},
            "textDocument": {
                "publishDiagnostics": {},
                "completion": {"completionItem": {"snippetSupport": True}},
            },
        }
        server.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": folder,
                "workspaceFolders": [{"uri": folder, "name": root.name}],
                "capabilities": capabilities,
            },
        )
        server.notify("initialized", {})
        server.notify("workspace/didChangeConfiguration", {"settings": server.settings})
        self._version = 0
        self._opened: set[str] = set()

    def diagnostics(self, rel: str, text: str | None = None) -> list[dict[str, Any]]:
        """Open `rel` (its text on disk, or `text` as typed) and return what the
        server publishes for it."""
        found = self._open(rel, text if text is not None else (self.root / rel).read_text())
        self._close(rel)
        return found

    def completion(self, rel: str, text: str, line: int, character: int) -> list[str]:
        """The labels the server offers at (line, character), 0-based, in `text`."""
        self._open(rel, text)
        result = self.server.request(
            "textDocument/completion",
            {
                "textDocument": {"uri": (self.root / rel).as_uri()},
                "position": {"line": line, "character": character},
            },
        )
        self._close(rel)
        items = result["items"] if isinstance(result, dict) else result
        return [item["label"] for item in items]

    def _open(self, rel: str, text: str) -> list[dict[str, Any]]:
        # A closed document gets an empty publish, which could pass for the answer to
        # the next opening of the same path: every check opens a path of its own.
        assert rel not in self._opened, f"{rel} was opened before: give this check its own"
        self._opened.add(rel)
        uri = (self.root / rel).as_uri()
        self._version += 1
        document = {"uri": uri, "languageId": "yaml", "version": self._version, "text": text}
        self.server.notify("textDocument/didOpen", {"textDocument": document})
        published = self.server.wait_for(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
            )
        )
        return list(published["params"]["diagnostics"])

    def _close(self, rel: str) -> None:
        uri = (self.root / rel).as_uri()
        self.server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def vscode_settings(root: Path) -> dict[str, Any]:
    """What VS Code sends a YAML server for the folder: the `yaml.*` keys of its
    .vscode/settings.json as one `yaml` section. SchemaStore is switched off: it would
    fetch a catalog from the network, and our mapping outranks it anyway."""
    written = json.loads((root / ".vscode" / "settings.json").read_text())
    section = {
        key.removeprefix("yaml."): v for key, v in written.items() if key.startswith("yaml.")
    }
    return {"yaml": {**section, "schemaStore": {"enable": False}}}


@pytest.fixture
def open_editor() -> Iterator[Callable[[Path, dict[str, Any]], Editor]]:
    servers: list[LanguageServer] = []

    def start(root: Path, settings: dict[str, Any]) -> Editor:
        server = LanguageServer(root, settings)
        servers.append(server)
        return Editor(server, root)

    yield start
    for server in servers:
        server.close()


def line_of(text: str, needle: str) -> int:
    """The 0-based line of the only line holding `needle`."""
    lines = [i for i, line in enumerate(text.splitlines()) if needle in line]
    assert len(lines) == 1, (needle, lines)
    return lines[0]


def fresh_cmdb(tmp_path: Path, run_cli: RunCli) -> Path:
    root = tmp_path / "cmdb"
    result = run_cli("init", "-q", str(root))
    assert result.exit_code == 0, result.output
    return root


# -- what init wires


def test_init_wires_the_schemas_for_vs_code(tmp_path: Path, run_cli: RunCli) -> None:
    root = fresh_cmdb(tmp_path, run_cli)
    settings = json.loads((root / ".vscode" / "settings.json").read_text())
    mapping = settings["yaml.schemas"]
    assert list(mapping) == [f"./.vscode/{DOCUMENT_SCHEMA}"]
    globs = set(mapping[f"./.vscode/{DOCUMENT_SCHEMA}"])
    assert {"inventory/**/*.yaml", "changes/**/*.yaml", "policies/**/*.yaml"} <= globs
    assert settings["yaml.validate"] is True
    recommended = json.loads((root / ".vscode" / "extensions.json").read_text())
    assert recommended["recommendations"] == ["redhat.vscode-yaml"]
    # The document schema init writes is the one `schema export` makes for its schemas:
    # exporting again writes nothing.
    before = snapshot(root)
    again = run_cli("schema", "export", repo=root)
    assert again.exit_code == 0, again.output
    assert again.stdout == ""
    assert "0 written, 1 unchanged" in again.stderr
    assert snapshot(root) == before
    # and init's repository still validates clean with the wiring in it
    assert run_cli("validate", "-q", repo=root).exit_code == 0


# -- the real language server


def test_a_wrong_enum_gets_a_diagnostic_at_its_line_a_good_file_none(
    tmp_path: Path, run_cli: RunCli, open_editor: Callable[[Path, dict[str, Any]], Editor]
) -> None:
    root = fresh_cmdb(tmp_path, run_cli)
    editor = open_editor(root, vscode_settings(root))

    assert editor.diagnostics("inventory/app-01.yaml") == []
    assert editor.diagnostics("changes/CHG-2026-0001.yaml") == []
    assert editor.diagnostics("policies/change-policy.yaml") == []

    good = (root / "inventory" / "app-01.yaml").read_text()
    typo = good.replace("status: active", "status: runing")
    (found,) = editor.diagnostics("inventory/typo/app-01.yaml", typo)
    line = line_of(typo, "status: runing")
    assert found["range"]["start"]["line"] == line
    assert found["range"]["start"]["character"] == typo.splitlines()[line].index("runing")
    assert found["severity"] == 1  # an error
    for status in ("planned", "ordered", "active", "maintenance", "retired"):
        assert status in found["message"]

    # a document in a sub-folder, of another kind (the dispatch is by kind, not folder)
    change = (root / "changes" / "CHG-2026-0001.yaml").read_text()
    assert "risk: medium " in change
    moved = "changes/2026/CHG-2026-0001.yaml"
    risky = change.replace("risk: medium ", "risk: hgh ")
    (found,) = editor.diagnostics(moved, risky)
    assert found["range"]["start"]["line"] == line_of(risky, "risk: hgh")
    assert "critical" in found["message"]


def test_a_misspelt_kind_and_an_unknown_field_are_flagged(
    tmp_path: Path, run_cli: RunCli, open_editor: Callable[[Path, dict[str, Any]], Editor]
) -> None:
    root = fresh_cmdb(tmp_path, run_cli)
    editor = open_editor(root, vscode_settings(root))
    good = (root / "inventory" / "app-01.yaml").read_text()

    servr = good.replace("kind: Server", "kind: Servr")
    (found,) = editor.diagnostics("inventory/hardware/app-01.yaml", servr)
    assert found["range"]["start"]["line"] == line_of(servr, "kind: Servr")
    assert "Server" in found["message"]

    extra = good.replace("  memoryMb: 65536\n", "  memoryMb: 65536\n  memoryGb: 64\n")
    (found,) = editor.diagnostics("inventory/extra/app-01.yaml", extra)
    assert found["range"]["start"]["line"] == line_of(extra, "memoryGb")
    assert "memoryGb" in found["message"]


def test_completion_offers_the_enum_values_and_the_kinds(
    tmp_path: Path, run_cli: RunCli, open_editor: Callable[[Path, dict[str, Any]], Editor]
) -> None:
    root = fresh_cmdb(tmp_path, run_cli)
    editor = open_editor(root, vscode_settings(root))
    good = (root / "inventory" / "app-01.yaml").read_text()

    typing = good.replace("status: active", "status: ")
    line = line_of(typing, "status: ")
    offered = editor.completion("inventory/app-01.yaml", typing, line, len("  status: "))
    assert {"planned", "ordered", "active", "maintenance", "retired"} <= set(offered)

    typing = good.replace("kind: Server", "kind: ")
    offered = editor.completion("inventory/new/app-01.yaml", typing, line_of(typing, "kind: "), 6)
    assert {"Server", "Database", "SLA", "ChangeRequest", "Person"} <= set(offered)


PRINTER_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Printer",
    "x-cmdb-class": "hardware",
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "cmdb/v1"},
        "kind": {"const": "Printer"},
        "metadata": {"$ref": "common.schema.json#/$defs/ciMetadata"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "status": {"$ref": "common.schema.json#/$defs/ciStatus"},
                "colour": {"type": "string", "enum": ["mono", "colour"]},
            },
        },
    },
}
PRINTER = """\
apiVersion: cmdb/v1
kind: Printer
metadata:
  id: prn-01
  owner: team-ops
spec:
  colour: {colour}
  status: active
"""


def test_a_custom_kind_is_checked_once_exported_again(
    tmp_path: Path, run_cli: RunCli, open_editor: Callable[[Path, dict[str, Any]], Editor]
) -> None:
    root = fresh_cmdb(tmp_path, run_cli)
    (root / "schemas" / "printer.schema.json").write_text(json.dumps(PRINTER_SCHEMA, indent=2))
    (root / "inventory" / "prn-01.yaml").write_text(PRINTER.format(colour="mono"))
    assert run_cli("validate", "-q", repo=root).exit_code == 0

    # The document schema init wrote does not know the new kind: export refuses to
    # replace it without --force, then writes it.
    refused = run_cli("schema", "export", repo=root)
    assert refused.exit_code == 2
    assert f".vscode/{DOCUMENT_SCHEMA}" in refused.stderr
    assert "--force" in refused.stderr
    forced = run_cli("schema", "export", "--force", repo=root)
    assert forced.exit_code == 0, forced.output
    assert forced.stdout.strip().endswith(f".vscode/{DOCUMENT_SCHEMA}")
    assert (
        "Printer"
        in json.loads((root / ".vscode" / DOCUMENT_SCHEMA).read_text())["properties"]["kind"][
            "enum"
        ]
    )

    editor = open_editor(root, vscode_settings(root))
    assert editor.diagnostics("inventory/prn-01.yaml") == []
    wrong = PRINTER.format(colour="cmyk")
    (found,) = editor.diagnostics("inventory/wrong/prn-01.yaml", wrong)
    assert found["range"]["start"]["line"] == line_of(wrong, "colour: cmyk")
    assert "mono" in found["message"]
    # an edit to an existing schema shows at once: .vscode refers to schemas/ in place
    widened = copy.deepcopy(PRINTER_SCHEMA)
    widened["properties"]["spec"]["properties"]["colour"]["enum"].append("cmyk")  # type: ignore[index]
    (root / "schemas" / "printer.schema.json").write_text(json.dumps(widened))
    fresh = open_editor(root, vscode_settings(root))
    assert fresh.diagnostics("inventory/prn-01.yaml", wrong) == []


def test_an_exported_folder_is_self_contained(
    tmp_path: Path, run_cli: RunCli, open_editor: Callable[[Path, dict[str, Any]], Editor]
) -> None:
    root = fresh_cmdb(tmp_path, run_cli)
    out = tmp_path / "published" / "schemas"
    result = run_cli("schema", "export", str(out), repo=root)
    assert result.exit_code == 0, result.output
    exported = {p.name for p in out.iterdir()}
    assert exported == {p.name for p in (root / "schemas").iterdir()} | {DOCUMENT_SCHEMA}
    for name in exported - {DOCUMENT_SCHEMA}:
        assert (out / name).read_bytes() == (root / "schemas" / name).read_bytes()
    assert sorted(result.stdout.split()) == sorted(str(out / n) for n in exported)

    # the copy alone checks documents: schemas/ moved away, an absolute mapping
    shutil.move(root / "schemas", tmp_path / "elsewhere")
    settings = {
        "yaml": {
            "schemas": {str(out / DOCUMENT_SCHEMA): ["inventory/**/*.yaml"]},
            "validate": True,
            "schemaStore": {"enable": False},
        }
    }
    editor = open_editor(root, settings)
    good = (root / "inventory" / "shop-db.yaml").read_text()
    assert editor.diagnostics("inventory/shop-db.yaml") == []
    assert "criticality: high" in good
    wrong = good.replace("criticality: high", "criticality: urgent")
    (found,) = editor.diagnostics("inventory/wrong/shop-db.yaml", wrong)
    assert found["range"]["start"]["line"] == line_of(wrong, "criticality: urgent")


# -- schema export: where, and what it refuses


def test_export_never_replaces_a_differing_file_without_force(
    tmp_path: Path, run_cli: RunCli
) -> None:
    root = fresh_cmdb(tmp_path, run_cli)
    out = tmp_path / "out"
    (out).mkdir()
    (out / "server.schema.json").write_text("{}\n")
    (out / "notes.txt").write_text("mine\n")
    before = snapshot(out)
    refused = run_cli("schema", "export", str(out), repo=root)
    assert refused.exit_code == 2
    assert "server.schema.json" in refused.stderr and "--force" in refused.stderr
    assert snapshot(out) == before  # nothing written, not even the files that were free

    forced = run_cli("schema", "export", "--force", str(out), repo=root)
    assert forced.exit_code == 0, forced.output
    assert (out / "server.schema.json").read_bytes() == (
        root / "schemas" / "server.schema.json"
    ).read_bytes()
    assert (out / "notes.txt").read_text() == "mine\n"

    # a folder where a schema goes is in the way even with --force
    (out / "server.schema.json").unlink()
    (out / "server.schema.json").mkdir()
    blocked = run_cli("schema", "export", "--force", str(out), repo=root)
    assert blocked.exit_code == 2
    assert "in the way" in blocked.stderr


def test_export_outside_a_repository_is_a_clear_error(tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli("schema", "export", str(tmp_path / "out"), repo=tmp_path)
    assert result.exit_code == 2
    assert "not a CMDB repository" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_repository_without_schemas_gets_the_built_in_ones_for_its_editor(
    tmp_path: Path, run_cli: RunCli
) -> None:
    root = tmp_path / "bare"
    (root / "inventory").mkdir(parents=True)
    result = run_cli("schema", "export", repo=root)
    assert result.exit_code == 0, result.output
    document = json.loads((root / ".vscode" / DOCUMENT_SCHEMA).read_text())
    targets = {branch["then"]["$ref"] for branch in document["allOf"]}
    assert "schemas/server.schema.json" in targets
    for target in targets:
        assert (root / ".vscode" / target).is_file(), target
    assert "built-in" in result.stderr


def test_the_schemas_exported_are_the_ones_validate_reads(tmp_path: Path, run_cli: RunCli) -> None:
    root = fresh_cmdb(tmp_path, run_cli)
    (root / "schemas" / "printer.schema.json").write_text(json.dumps(PRINTER_SCHEMA))
    (root / "schemas" / "notes.md").write_text("not a schema\n")
    outside = tmp_path / "outside.schema.json"
    outside.write_text(json.dumps(PRINTER_SCHEMA))
    (root / "schemas" / "linked.schema.json").symlink_to(outside)
    files, origin = schema_files(root)
    assert origin == "schemas/"
    assert "printer.schema.json" in files and "linked.schema.json" not in files
    assert KindRegistry(files, origin).fingerprint == load_registry(root).fingerprint


def test_a_broken_schema_is_exported_with_a_warning(tmp_path: Path, run_cli: RunCli) -> None:
    root = fresh_cmdb(tmp_path, run_cli)
    (root / "schemas" / "printer.schema.json").write_text("{not json")
    result = run_cli("schema", "export", str(tmp_path / "out"), repo=root)
    assert result.exit_code == 0, result.output
    assert "warning: schemas/printer.schema.json:1" in result.stderr
    assert (tmp_path / "out" / "printer.schema.json").read_text() == "{not json"
    quiet = run_cli("schema", "export", "-q", str(tmp_path / "out2"), repo=root)
    assert "warning: schemas/printer.schema.json" in quiet.stderr  # warnings stay under -q
    assert "exported" not in quiet.stderr


def test_an_older_repository_gets_the_whole_wiring_and_keeps_its_own_settings(
    tmp_path: Path, run_cli: RunCli, open_editor: Callable[[Path, dict[str, Any]], Editor]
) -> None:
    root = fresh_cmdb(tmp_path, run_cli)
    shutil.rmtree(root / ".vscode")  # a repository made before init wired the editor
    result = run_cli("schema", "export", repo=root)
    assert result.exit_code == 0, result.output
    assert sorted(Path(line).name for line in result.stdout.split()) == [
        DOCUMENT_SCHEMA,
        "extensions.json",
        "settings.json",
    ]
    editor = open_editor(root, vscode_settings(root))
    typo = (root / "inventory" / "app-01.yaml").read_text().replace("active", "actv")
    (found,) = editor.diagnostics("inventory/typo/app-01.yaml", typo)
    assert found["range"]["start"]["line"] == line_of(typo, "status: actv")

    # settings of the user's own are never changed: a note says what to add
    own = '{"editor.tabSize": 2}\n'
    (root / ".vscode" / "settings.json").write_text(own)
    again = run_cli("schema", "export", repo=root)
    assert again.exit_code == 0, again.output
    assert (root / ".vscode" / "settings.json").read_text() == own
    assert "note:" in again.stderr and "inventory/**/*.yaml" in again.stderr
    assert run_cli("schema", "export", "-q", repo=root).stderr == ""


def test_an_exported_folder_checks_documents_with_check_jsonschema(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """The example `schema export --help` gives, run as written: another real tool
    reads the exported set (relative $refs, draft 2020-12) without schemas/."""
    root = fresh_cmdb(tmp_path, run_cli)
    out = tmp_path / "build" / "schemas"
    assert run_cli("schema", "export", "-q", str(out), repo=root).exit_code == 0
    shutil.move(root / "schemas", tmp_path / "elsewhere")

    def check(*files: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "check_jsonschema", "--schemafile", str(out / DOCUMENT_SCHEMA)]
            + list(files),
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if "No module named check_jsonschema" in proc.stderr:
            pytest.fail("check-jsonschema is not installed: pip install 'check-jsonschema>=0.29'")
        return proc

    every = [str(p.relative_to(root)) for p in sorted(root.glob("*/**/*.yaml"))]
    assert len(every) == 15
    clean = check(*every)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    app = root / "inventory" / "app-01.yaml"
    app.write_text(app.read_text().replace("status: active", "status: runing"))
    broken = check("inventory/app-01.yaml")
    assert broken.returncode == 1
    assert "inventory/app-01.yaml::$.spec.status: 'runing' is not one of" in broken.stdout
