"""`weightlib cache ls|verify|rm|prune`: the models a node holds, on disk and in the page cache.

A command group; each subcommand lives in its own module and is registered here, with its
examples, in the order `weightlib cache --help` shows them.
"""

from __future__ import annotations

import typer

from ..examples import SummaryGroup
from . import cache_ls_cmd, cache_remove_cmd, cache_verify_cmd

HELP = (
    "See, verify and clean cached models: disk and page cache.\n\n"
    "Both hubs' caches (and model folders given by path) in one view. "
    "The layout stays the hub clients' own, so `hf cache ls`, transformers and vLLM keep "
    "reading what remains."
)


def register(app: typer.Typer) -> None:
    """Add the `cache` group and its subcommands to the app."""
    group = typer.Typer(
        name="cache",
        cls=SummaryGroup,
        help=HELP,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for module in (cache_ls_cmd, cache_verify_cmd, cache_remove_cmd):
        module.register(group)
    app.add_typer(group, name="cache")
