"""`weightlib evict MODEL_OR_FILE...`: drop files' pages from the page cache."""

from __future__ import annotations

import typer

from weightlib.residency import evict, measure_files

from ..examples import Example, add_command
from ..params import Json, ModelsOrFiles
from .status_cmd import show_residency


def evict_command(models: ModelsOrFiles, as_json: Json = False) -> None:
    """Drop files' pages from the page cache; show what stays cached.

    Pages that running processes have mapped stay cached.
    """
    # start-up: the library's hub and checkpoint code loads only when the command runs, not
    # for `--help` or a Tab completion
    from weightlib.prefetch.inputs import resolve_files

    resolved = resolve_files(models)
    report = measure_files(resolved.files, evict, resolved.errors)
    show_residency(report, page_maps=False, folders=resolved.folders)


EXAMPLES = (
    Example("Make a model cold again (to measure a cold load):", "weightlib evict ./model"),
    Example("Drop one file's pages:", "weightlib evict ./model/model-00001-of-00002.safetensors"),
)


def register(app: typer.Typer) -> None:
    """Add `evict` to the app."""
    add_command(app, "evict", evict_command, EXAMPLES)
