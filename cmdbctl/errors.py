"""The one exception for "the command could not run" (exit 2).

Findings (exit 1) are data, never exceptions; anything else that escapes is a bug (exit
3). `cmdbctl.cli.main` turns each into its exit code, in one place.
"""

from __future__ import annotations


class CommandError(Exception):
    """The command could not run: bad arguments, not a repository, unknown id, ...

    The message names what was wrong; `hint` says what to do about it.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message
