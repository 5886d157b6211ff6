"""`cmdbctl completion SHELL`, and what arguments complete to.

The scripts are click's own (what `_CMDBCTL_COMPLETE=bash_source cmdbctl` prints): a
shell calls cmdbctl back with `_CMDBCTL_COMPLETE=bash_complete` (zsh_, fish_) and the
words typed so far, and click answers from the command tree. Arguments that take an id
or a revision name complete through the callbacks below (`shell_complete=`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from click.shell_completion import CompletionItem, shell_complete

from cmdbctl.cli.common import quiet_option
from cmdbctl.errors import CommandError

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_CMDBCTL_COMPLETE"


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@quiet_option
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (bash, zsh or fish).

    Commands, options and choices complete; so do change ids (approve, review,
    rollback), document ids (history, show) and revisions (gate --base/--head, audit
    --since, show --at), read from the repository the command line names (--repo) or
    the one around the current directory. Load the script once per shell session, or
    save it where your shell reads completions. Bash needs version 4.4 or later.

    \b
    Examples:
      eval "$(cmdbctl completion bash)"            # in ~/.bashrc
      eval "$(cmdbctl completion zsh)"             # in ~/.zshrc, after compinit
      cmdbctl completion fish > ~/.config/fish/completions/cmdbctl.fish
    """
    root = click.get_current_context().find_root().command
    # exactly what `_CMDBCTL_COMPLETE=<shell>_source cmdbctl` prints
    shell_complete(root, {}, "cmdbctl", COMPLETE_VAR, f"{shell}_source")


def _repository(ctx: click.Context) -> Path | None:
    """The repository a command line being completed works on, if there is one."""
    from cmdbctl.workspace import find_workspace  # only a completion pays for it

    try:
        return find_workspace(ctx.params.get("repo")).root
    except CommandError:
        return None


def _completer(
    values: Callable[[Path], list[str]], kind: str
) -> Callable[[click.Context, click.Parameter, str], list[CompletionItem]]:
    def complete(
        ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        root = _repository(ctx)
        if root is None:
            return []
        return [CompletionItem(v, help=kind) for v in values(root) if v.startswith(incomplete)]

    return complete


def _change_ids(root: Path) -> list[str]:
    from cmdbctl.completion import change_ids

    return change_ids(root)


def _document_ids(root: Path) -> list[str]:
    from cmdbctl.completion import document_ids

    return document_ids(root)


def _revisions(root: Path) -> list[str]:
    from cmdbctl.completion import revisions

    return revisions(root)


complete_change_ids = _completer(_change_ids, "change request")
complete_document_ids = _completer(_document_ids, "document")
complete_revisions = _completer(_revisions, "revision")
