"""What cmdbctl prints of text it did not write reaches a terminal escaped: a file name,
a document's value or an id on the command line never moves the cursor, retitles the
window or reorders the line (CVE-2021-42574)."""

from __future__ import annotations

from pathlib import Path

from cmdbctl.printable import printable, printable_lines
from tests.conftest import RunCli, write_file

ESCAPE = "\x1b]0;pwned\x07\u202e"


def test_control_characters_are_written_as_escapes() -> None:
    assert printable(f"a{ESCAPE}b\tc\n") == "a\\x1b]0;pwned\\x07\\u202eb\\tc\\n"
    assert printable("srv-01 ünïcode") == "srv-01 ünïcode"
    assert printable_lines("first\x1b\nsecond") == "first\\x1b\nsecond"


def test_a_finding_about_a_hostile_file_shows_its_name_and_value_escaped(
    cmdb_repo: Path, run_cli: RunCli
) -> None:
    write_file(cmdb_repo, f"inventory/{ESCAPE}.yaml", f"kind: [\n{ESCAPE}\n")
    text = run_cli("validate", repo=cmdb_repo)
    assert text.exit_code == 1
    assert "\x1b" not in text.stdout and "\u202e" not in text.stdout
    assert "\\x1b]0;pwned\\x07\\u202e.yaml" in text.stdout


def test_an_error_quoting_the_command_line_shows_it_escaped(
    cmdb_repo: Path, run_cli: RunCli
) -> None:
    result = run_cli("validate", f"inventory/app{ESCAPE}.yaml", repo=cmdb_repo)
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and "\\x1b]0;pwned" in result.stderr
