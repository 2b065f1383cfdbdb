"""One module per subcommand; `register_all` adds them to the app in the order `--help` shows.

A command module declares the options only it has (shared ones come from `params`), its
`EXAMPLES`, the command function (which prints through `output.emit`) and `register(app)`, which
calls `examples.add_command`.
"""

from __future__ import annotations

import typer

from . import (
    doctor_cmd,
    download_cmd,
    dummy_init_cmd,
    evict_cmd,
    filter_cmd,
    index_cmd,
    prefetch_cmd,
    size_cmd,
    status_cmd,
)


def register_all(app: typer.Typer) -> None:
    """Attach every subcommand to `app`."""
    for module in (
        download_cmd,
        filter_cmd,
        index_cmd,
        size_cmd,
        dummy_init_cmd,
        prefetch_cmd,
        status_cmd,
        evict_cmd,
        doctor_cmd,
    ):
        module.register(app)
