"""`cmdbctl`: the entry point and its command list."""

from __future__ import annotations

import gc

import click

from cmdbctl import __version__
from cmdbctl.cli.approve import approve
from cmdbctl.cli.gate import gate
from cmdbctl.cli.init import init
from cmdbctl.cli.review import review
from cmdbctl.cli.validate import validate


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cmdbctl")
def cli() -> None:
    """A CMDB kept as code.

    Configuration items, SLAs, change requests and the rules that govern them are YAML
    files in a Git repository (inventory/, changes/, policies/, schemas/). cmdbctl checks
    them in CI and on your machine.

    Exit status: 0 clean (warnings alone are clean), 1 findings or a refusal on the
    merits, 2 the command could not run.
    """


cli.add_command(validate)
cli.add_command(init)
cli.add_command(gate)
cli.add_command(approve)
cli.add_command(review)


def main() -> None:
    # A run builds hundreds of thousands of small acyclic objects (parsed documents,
    # index entries) and exits; the cycle collector's default rhythm rescans them all
    # again and again and costs a fifth of a large validate. Collect rarely instead.
    gc.set_threshold(100_000, 50, 100)
    cli(prog_name="cmdbctl")


if __name__ == "__main__":
    main()
