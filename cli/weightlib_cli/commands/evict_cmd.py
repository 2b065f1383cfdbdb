"""`weightlib evict MODEL_OR_FILE...`: drop files' pages from the page cache."""

from __future__ import annotations

from typing import Annotated

import typer

from .status_cmd import each_file, emit_residency


def evict_command(
    models: Annotated[
        list[str],
        typer.Argument(
            help="Model folders, files, or repository ids resolved in the local hub cache.",
            metavar="MODEL_OR_FILE...",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Drop the files' pages from the page cache (fsync first) and show the residency left.

    Pages that running processes have mapped stay cached.
    """
    from weightlib.prefetch import resolve_files
    from weightlib.residency import evict

    resolved = resolve_files(models)
    results, errors = each_file(resolved, evict)
    emit_residency(results, errors, as_json, page_maps=False)


def register(app: typer.Typer) -> None:
    """Add `evict` to the app."""
    app.command("evict")(evict_command)
