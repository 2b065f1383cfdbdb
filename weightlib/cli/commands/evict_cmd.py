"""`weightlib evict MODEL_OR_FILE...`: drop files' pages from the page cache."""

from __future__ import annotations

import typer

from weightlib.prefetch.inputs import resolve_files
from weightlib.residency import evict, measure_files

from ..examples import Example, add_command
from ..params import Json, ModelsOrFiles
from .status_cmd import show_residency


def evict_command(models: ModelsOrFiles, as_json: Json = False) -> None:
    """Drop the files' pages from the page cache (fsync first) and show the residency left.

    Pages that running processes have mapped stay cached.
    """
    resolved = resolve_files(models)
    show_residency(measure_files(resolved.files, evict, resolved.errors), page_maps=False)


EXAMPLES = (
    Example("Make a model cold again (to measure a cold load):", "weightlib evict ./model"),
    Example("Drop one file's pages:", "weightlib evict ./model/model-00001-of-00002.safetensors"),
)


def register(app: typer.Typer) -> None:
    """Add `evict` to the app."""
    add_command(app, "evict", evict_command, EXAMPLES)
