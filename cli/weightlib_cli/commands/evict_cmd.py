"""`weightlib evict MODEL_OR_FILE...`: drop files' pages from the page cache."""

from __future__ import annotations

from typing import Annotated

import typer

from ..output import print_json
from .status_cmd import each_file, print_residency_table, residency_document


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
    from weightlib.prefetch import PrefetchError, resolve_files
    from weightlib.residency import evict

    resolved = resolve_files(models)
    results, errors = each_file(resolved, evict)
    doc = residency_document(results, errors, page_maps=False)
    if as_json:
        print_json(doc)
    elif results:
        print_residency_table(doc)
    if errors:
        raise PrefetchError(errors)


def register(app: typer.Typer) -> None:
    """Add `evict` to the app."""
    app.command("evict")(evict_command)
