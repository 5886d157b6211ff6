"""What `cmdbctl diff` prints never carries a snapshot's or a document's control
characters to a terminal: in text and Markdown, C0 (line breaks and tabs too), DEL, C1,
the line and paragraph separators and the bidirectional controls are written as
escapes (`\\x1b`, `\\u202e`), in ids, paths, values, sources and labels alike, and in
what an unreadable snapshot's error says. JSON, for programs, keeps every value as it is.
"""

from __future__ import annotations

import re

import pytest

from cmdbctl.printable import printable
from tests.drift.kit import NOW, Estate, item

# What no line printed may hold (but its own line break).
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("\x00\x07\x08\x7f", "\\x00\\x07\\x08\\x7f"),
        ("tab\tline\nreturn\r", "tab\\tline\\nreturn\\r"),
        ("csi\x9b31m \x85 \x80", "csi\\x9b31m \\x85 \\x80"),
        (
            "\u202eevil\u202c \u2066x\u2069 \u200e\u200f\u061c",
            "\\u202eevil\\u202c \\u2066x\\u2069 \\u200e\\u200f\\u061c",
        ),
        ("\u2028\u2029", "\\u2028\\u2029"),
        ("Debian → é ü 東京 \U0001f600 \xa0 \\x1b", "Debian → é ü 東京 \U0001f600 \xa0 \\x1b"),
    ],
    ids=["escape", "c0-del", "named", "c1", "bidi", "separators", "printable"],
)
def test_printable_escapes_what_a_terminal_acts_on_and_nothing_else(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert CONTROL.search(printable(text)) is None


@pytest.fixture
def hostile(estate: Estate) -> tuple[Estate, list[str]]:
    """Documents and snapshots that put control characters everywhere a report shows."""
    estate.server("db-01", hostname="db-01", serial="CZ1234", extra='  location: "rack\\e[7m"\n')
    estate.server("db-02", hostname="db-02", serial="CZ\\e[1m")  # YAML's \e: ESC
    estate.server("db-04", hostname="db-04", fqdn="db-04.example.net")
    estate.server("db-05", hostname="db-05")  # discovered by no one: missing
    estate.commit_all()
    first = estate.snapshot(
        [
            item(
                serial="CZ1234",
                attributes={
                    "os": {"name": "Debian\x1b]0;pwned\x07", "version": "12\u202e"},
                    "location": "rack-b\x9b",
                },
            ),
            item(serial="CZ\x1b[1m", hostname="db-02"),
            item(hostname="w\x1b]0;x\x07"),
            item(hostname="db-03\u2066\r"),
            item(hostname="db-04"),
            item(fqdn="db-04.example.net"),
        ],
        source="a\x1b[2J\x9b",
        name="first\x1b[5m.json",
    )
    second = estate.snapshot([item(hostname="db-01")], source="b")
    return estate, ["-d", first, "-d", second]


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_no_control_character_of_a_snapshot_or_document_reaches_the_report(
    hostile: tuple[Estate, list[str]], fmt: str
) -> None:
    estate, snapshots = hostile
    result = estate.run(*snapshots, "--explain", "--format", fmt, "--now", NOW)
    assert result.exit_code == 0, result.stderr
    printed = result.stdout + result.stderr
    assert CONTROL.search(printed) is None, CONTROL.findall(printed)
    for shown in [
        "a\\x1b[2J\\x9b",  # the source
        "first\\x1b[5m.json",  # the snapshot's file
        "Debian\\x1b]0;pwned\\x07",  # a discovered value
        "12\\u202e",
        "rack-b\\x9b",
        "rack\\x1b[7m",  # a document's value
        "CZ\\x1b[1m",  # an identifier, as --explain shows it matched
        "w\\x1b]0;x\\x07",  # unmanaged items' names
        "db-03\\u2066\\r",
    ]:
        assert shown in printed, shown
    assert "Ambiguous" in printed and "db-05" in printed  # every section was written


def test_json_keeps_every_value_as_it_is(hostile: tuple[Estate, list[str]]) -> None:
    estate, snapshots = hostile
    code, report = estate.diff(*snapshots)
    assert code == 0
    changes = {c["path"]: c for d in report["drifted"] for c in d["changes"]}
    assert changes["spec.os.name"]["discovered"] == "Debian\x1b]0;pwned\x07"
    assert changes["spec.location"] == {
        "path": "spec.location",
        "desired": "rack\x1b[7m",
        "discovered": "rack-b\x9b",
        "source": "a\x1b[2J\x9b",
    }
    assert {u["source"] for u in report["unmanaged"]} == {"a\x1b[2J\x9b"}


def test_an_unreadable_snapshot_s_error_is_escaped_too(estate: Estate) -> None:
    snap = estate.snapshot(
        [{"kind": "Server\x1b[2J", "identifiers": {"hostname": "h\x1b]0;x\x07"}, "attributes": 1}]
    )
    result = estate.run("-d", snap, "--now", NOW)
    assert result.exit_code == 2
    assert CONTROL.search(result.stdout + result.stderr) is None
    assert "item 0 (Server\\x1b[2J h\\x1b]0;x\\x07): field 'attributes' must be" in result.stderr


def test_markdown_cells_stay_one_line_and_one_cell(estate: Estate) -> None:
    estate.server("db-01", hostname="db-01", serial="CZ1234")
    estate.commit_all()
    snap = estate.snapshot([item(serial="CZ1234", attributes={"os": {"name": "a|b\nc"}})])
    result = estate.run("-d", snap, "--format", "markdown", "--now", NOW)
    row = next(line for line in result.stdout.splitlines() if "spec.os.name" in line)
    assert row.endswith("| a\\|b c | ansible |")
    changes = estate.diff("-d", snap)[1]["drifted"][0]["changes"]
    assert {c["path"]: c["discovered"] for c in changes}["spec.os.name"] == "a|b\nc"
