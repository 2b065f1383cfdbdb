"""One module per subcommand; `register_all` adds them to the app in the order `--help` shows."""

from __future__ import annotations

import typer

from . import filter_cmd, index_cmd, size_cmd


def register_all(app: typer.Typer) -> None:
    """Attach every subcommand to `app`."""
    for module in (filter_cmd, index_cmd, size_cmd):
        module.register(app)
