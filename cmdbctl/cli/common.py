"""What every command shares: `--repo`, `--format`, `-q`, colour, progress, output.

Errors are turned into exit codes once, in `cmdbctl.cli.main`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from cmdbctl.findings import Report
from cmdbctl.reporters import REPORTERS, Reporter
from cmdbctl.reporters.text import summary_line

F = TypeVar("F", bound=Callable[..., Any])

repo_option = click.option(
    "--repo",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="The CMDB repository (default: the one around the current directory).",
)


# `--format` of the commands whose output is not a findings report.
text_or_json_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people; json for scripts.",
)

# `--sign` of the commands that record a decision as the person's own commit.
sign_option = click.option(
    "--sign",
    "-S",
    is_flag=True,
    help="Sign the commit (always done when the policy requires signed approvals); "
    "uses git's user.signingkey and gpg.format, e.g. ssh.",
)


def format_option(
    choices: Sequence[str] = tuple(REPORTERS),
    help: str = "text for people; json for scripts; github for workflow annotations; "
    "sarif for code-scanning dashboards; markdown for a pull-request comment.",
) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default="text",
        show_default=True,
        help=help,
    )


class Instant(click.ParamType):
    """An ISO 8601 instant with its UTC offset: a usage error names the option, or the
    environment variable it came from."""

    name = "instant"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(
                f"{value!r} is not an ISO 8601 instant: write it like 2026-11-28T22:00:00+08:00"
            )
        if moment.tzinfo is None:
            self.fail(f"{value!r} has no UTC offset: add one, e.g. +08:00 or Z")
        return moment


def now_option(judged: str) -> Callable[[F], F]:
    """`--now INSTANT`: the moment `judged` (a phrase: "freezes and review deadlines")
    is judged at, for a re-run of a past day or a test; the command gets a datetime."""
    return click.option(
        "--now",
        "now",
        type=Instant(),
        default=None,
        metavar="INSTANT",
        help=f"Judge {judged} as of this instant (default: now), ISO 8601 with an offset.",
    )


_QUIET = "cmdbctl.quiet"


class Process:
    """What the process cmdbctl runs in allows: set by the console script (main.py),
    which runs one command and ends; not under click's CliRunner or as a library."""

    console_script = False  # this process ends with the command
    end_quickly = False  # the command asked to end without freeing its objects
    kept: object = None  # what the command made, kept to the end: not freed at all


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_QUIET] = True  # `meta` is shared by a context and its children


# `-q/--quiet` of every command: what it prints to stderr besides errors and warnings
# (the summary line, notes, progress, where a document came from) is left out; its
# results on stdout and its exit status stay as they are.
quiet_option = click.option(
    "--quiet",
    "-q",
    is_flag=True,
    expose_value=False,
    is_eager=True,  # before the others: their notes (an option from the environment) heed it
    callback=_set_quiet,
    help="Print only results (stdout) and errors: no summary, notes or progress.",
)


def quiet() -> bool:
    """Whether the running command was given -q (or CMDBCTL_<COMMAND>_QUIET)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_QUIET))


def inform(message: str) -> None:
    """A summary or note on stderr, which -q leaves out."""
    if not quiet():
        click.echo(message, err=True)


def _set(name: str) -> bool:
    """An environment variable counts as set when it is there and not empty."""
    return bool(os.environ.get(name))


def use_color(stream: Any) -> bool:
    """Colour on a terminal unless NO_COLOR is set (no-color.org); always when
    FORCE_COLOR is set (force-color.org), which wins when both are, as that page's
    example orders them. Set means present and not empty, whatever the value."""
    if _set("FORCE_COLOR"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)()) and not _set("NO_COLOR")


def show_progress(fmt: str) -> bool:
    """Progress goes to a terminal's stderr; never into CI logs or machine output,
    nor under -q."""
    return fmt == "text" and sys.stderr.isatty() and not os.environ.get("CI") and not quiet()


class ProgressBar:
    """A progress bar on stderr, created once the number of items is known."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar: Any = None

    def __call__(self, total: int) -> Callable[[int], None]:
        self._bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
        self._bar.__enter__()
        return self._bar.update

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@contextmanager
def progress_bar(fmt: str, label: str) -> Iterator[ProgressBar | None]:
    bar = ProgressBar(label) if show_progress(fmt) else None
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def emit(report: Report, fmt: str) -> None:
    out = sys.stdout
    render: Reporter = REPORTERS[fmt]
    render(report, out, use_color(out))
    out.flush()
    if fmt == "text":
        inform(summary_line(report.summary))


def committed(commit: str, signed: bool) -> str:
    """Where a recorded decision went: "in 3f2a9c1d0e (signed)"."""
    return f"in {commit[:10]}{' (signed)' if signed else ''}"


def from_environment(param: click.Parameter, prefix: str) -> None:
    """Let an option come from the environment as PREFIX_<FLAG>, named by its long flag
    as users read it (CMDBCTL_VALIDATE_FORMAT for --format, where click would follow
    the Python name, fmt), and say so on stderr when it does."""
    if not isinstance(param, click.Option) or param.envvar is not None:
        return
    flags = [opt for opt in param.opts if opt.startswith("--")]
    if param.allow_from_autoenv and flags:
        param.envvar = f"{prefix}_{flags[0][2:].replace('-', '_').upper()}"
        param.callback = _noting_environment(param.callback)


def _noting_environment(callback: Any) -> Any:
    """The option's callback, then a note on stderr when its value came from the
    environment: a variable left set (CMDBCTL_GATE_BASE=HEAD) changes what a command
    judges, and must not do so unseen. -q (eager, so set first) leaves the notes out."""

    def noted(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if callback is not None:
            value = callback(ctx, param, value)
        from_environment = ctx.get_parameter_source(param.name or "") == ParameterSource.ENVIRONMENT
        if from_environment and not quiet():
            flag = next((o for o in param.opts if o.startswith("--")), param.name)
            click.echo(
                f"cmdbctl: note: {flag} {os.environ.get(str(param.envvar), '')!r} "
                f"from the environment ({param.envvar})",
                err=True,
            )
        return value

    return noted
