"""`cmdbctl`: the entry point, its command list, and how every run ends.

Exceptions become exit codes here and nowhere else (`Cli.main`), whether cmdbctl runs
from its console script, as `python -m cmdbctl`, or under click's CliRunner.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click
from click.core import ParameterSource

from cmdbctl import __version__
from cmdbctl.cli.approve import approve
from cmdbctl.cli.audit import audit
from cmdbctl.cli.common import Process, from_environment
from cmdbctl.cli.completion import completion
from cmdbctl.cli.diff import diff
from cmdbctl.cli.discover import discover
from cmdbctl.cli.explain import explain
from cmdbctl.cli.gate import gate
from cmdbctl.cli.history import history
from cmdbctl.cli.init import init
from cmdbctl.cli.review import review
from cmdbctl.cli.rollback import rollback
from cmdbctl.cli.schema import schema
from cmdbctl.cli.show import show
from cmdbctl.cli.validate import validate
from cmdbctl.errors import CommandError
from cmdbctl.printable import printable_lines

INTERNAL_ERROR = 3
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command ended by Ctrl-C
# The reader of our output went away (`cmdbctl validate | head -1`). `git log | head`
# dies of SIGPIPE there, which a shell reports as 128 + SIGPIPE: we end with that status,
# quietly, as 130 stands for SIGINT. Not 1 (Python's own choice): 1 means findings, and
# `set -o pipefail` scripts must not read an unread report as a verdict.
READER_GONE = 128 + getattr(signal, "SIGPIPE", 13)


class _ReaderGone(Exception):
    """A BrokenPipeError on stdout, carried past click: its `main` would end the run
    with status 1 itself."""


class Cli(click.Group):
    """The command group; its `main` turns every way a run can end into an exit code."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        super().add_command(cmd, name)
        _envvars_by_flag(cmd, f"CMDBCTL_{_upper(name or cmd.name or '')}")

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise _ReaderGone() from exc

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run a command and exit: 0 clean, 1 findings (the command exits so itself),
        2 it could not run (`CommandError`, bad usage), 3 a bug, 130 interrupted.
        `standalone_mode=False` is click's: exceptions reach the caller untouched."""
        if not standalone_mode:
            return super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        status = self._status(args, prog_name, complete_var, windows_expand_args, **extra)
        sys.exit(status)  # outside every try: click's Exit and SystemExit pass as they are

    def _status(
        self,
        args: Sequence[str] | None,
        prog_name: str | None,
        complete_var: str | None,
        windows_expand_args: bool,
        **extra: Any,
    ) -> int:
        try:
            rv = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except CommandError as exc:
            # A message may quote a file name, a revision, git's own words: shown escaped.
            click.echo(f"cmdbctl: error: {printable_lines(exc.message)}", err=True)
            if exc.hint:
                click.echo(f"  hint: {printable_lines(exc.hint)}", err=True)
            return exc.exit_code
        except click.ClickException as exc:  # bad usage: exit 2 (click's UsageError)
            exc.show()
            variable = _from_environment(exc)
            if variable is not None:
                click.echo(
                    f"  hint: that value came from the environment variable {variable}; "
                    "fix it, unset it, or give the option on the command line",
                    err=True,
                )
            return exc.exit_code
        except (click.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            click.echo("cmdbctl: interrupted", err=True)
            return INTERRUPTED
        except _ReaderGone:
            _silence_stdout()
            return READER_GONE
        except Exception:  # noqa: BLE001 - anything else is a bug: say so, show where
            click.echo(
                "cmdbctl: internal error: this is a bug in cmdbctl; please report it "
                "with the traceback below.",
                err=True,
            )
            traceback.print_exc()
            return INTERNAL_ERROR
        # --help and --version end in click's Exit, which returns its code here
        return rv if isinstance(rv, int) else 0


def _from_environment(exc: click.ClickException) -> str | None:
    """The environment variable a bad option value came from, if it came from one."""
    if not isinstance(exc, click.BadParameter) or exc.ctx is None or exc.param is None:
        return None
    param, ctx = exc.param, exc.ctx
    if param.name is None or ctx.get_parameter_source(param.name) != ParameterSource.ENVIRONMENT:
        return None
    envvar = param.envvar
    if isinstance(envvar, str):
        return envvar
    if envvar:
        return next((name for name in envvar if os.environ.get(name)), envvar[0])
    return f"{ctx.auto_envvar_prefix}_{_upper(param.name)}"


def _upper(name: str) -> str:
    return name.replace("-", "_").upper()


def _envvars_by_flag(command: click.Command, prefix: str) -> None:
    """Name each option's environment variable by its long flag, as users read it:
    CMDBCTL_VALIDATE_FORMAT for --format, where click's automatic name would follow the
    Python name (fmt). Sub-commands (schema export) get CMDBCTL_SCHEMA_EXPORT_...."""
    for param in command.params:
        from_environment(param, prefix)
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            _envvars_by_flag(sub, f"{prefix}_{_upper(name)}")


def _silence_stdout() -> None:
    """Point stdout at devnull: the output still buffered must not fail again when
    Python flushes it at exit (the Python docs' recipe for SIGPIPE)."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (CliRunner): nothing to flush later
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


@click.group(
    cls=Cli,
    context_settings={
        "help_option_names": ["-h", "--help"],
        "max_content_width": 100,
        # Every option can come from CMDBCTL_<COMMAND>_<OPTION> (CMDBCTL_VALIDATE_FORMAT);
        # a flag on the command line wins.
        "auto_envvar_prefix": "CMDBCTL",
    },
)
# Not from the environment: a CMDBCTL_VERSION=0.1.0 kept for an install step must not
# turn every command into a version print.
@click.version_option(__version__, prog_name="cmdbctl", allow_from_autoenv=False)
def cli() -> None:
    """A CMDB kept as code.

    Configuration items, SLAs, change requests and the rules that govern them are YAML
    files in a Git repository (inventory/, changes/, policies/, schemas/). cmdbctl checks
    them in CI and on your machine.

    Every option can also be set in the environment as CMDBCTL_<COMMAND>_<OPTION>
    (CMDBCTL_VALIDATE_FORMAT=json, CMDBCTL_GATE_BASE=origin/main); an option on the
    command line wins. Colour goes to a terminal only, never with NO_COLOR set, and
    always with FORCE_COLOR set. `cmdbctl completion SHELL` prints shell completion.

    \b
    Examples:
      cmdbctl validate
      cmdbctl gate --base origin/main
      cmdbctl COMMAND --help

    \b
    Exit status:
      0    clean (warnings alone are clean)
      1    findings, or a refusal on the merits
      2    the command could not run (bad arguments, not a repository, no git, ...)
      3    an internal error: a bug in cmdbctl, please report it
      130  interrupted
      141  the reader of its output went away (cmdbctl validate | head)
    """


cli.add_command(validate)
cli.add_command(init)
cli.add_command(gate)
cli.add_command(approve)
cli.add_command(review)
cli.add_command(explain)
cli.add_command(rollback)
cli.add_command(history)
cli.add_command(show)
cli.add_command(audit)
cli.add_command(discover)
cli.add_command(diff)
cli.add_command(schema)
cli.add_command(completion)


def main() -> None:
    # A run builds hundreds of thousands of small acyclic objects (parsed documents,
    # index entries) and exits; the cycle collector's default rhythm rescans them all
    # again and again and costs a fifth of a large validate. Collect rarely instead.
    gc.set_threshold(100_000, 50, 100)
    Process.console_script = True
    try:
        cli.main(prog_name="cmdbctl")
    except SystemExit as done:
        if isinstance(done.code, int | None) and Process.end_quickly:
            _leave(done.code or 0)
        raise


def _leave(status: int) -> None:
    """End the process now: its objects (millions, after a large diff) are not freed
    one by one, which takes longer than the OS takes to drop them all. Only once the
    output is flushed and no child process is left to wait for; else as usual."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    if multiprocessing.active_children():
        return
    os._exit(status)


if __name__ == "__main__":
    main()
