"""`weightlib status MODEL_OR_FILE...`: how much of each file is in the page cache."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from weightlib.prefetch.inputs import resolve_files
from weightlib.residency import ResidencyReport, measure_files, residency, without_vector

from ..examples import Example, add_command
from ..output import emit, format_bytes, print_line
from ..params import Json, ModelsOrFiles


def status_command(
    models: ModelsOrFiles,
    as_json: Json = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Add a page map per file (O full, o partial, . none).")
    ] = False,
) -> None:
    """Show how much of each file is in the page cache (bytes, pages, %), like fincore/vmtouch.

    Reads no file data and faults no page in (cachestat, or mincore over an untouched mapping).
    """
    resolved = resolve_files(models)
    report = measure_files(
        resolved.files, lambda p: without_vector(residency(p, page_map=verbose)), resolved.errors
    )
    show_residency(report, page_maps=verbose)


def show_residency(report: ResidencyReport, page_maps: bool) -> None:
    """Print residency (JSON, or a table when there are files) for `status` and `evict`; then
    raise for the inputs that failed."""
    emit(report.to_json(page_maps), _print_table)
    report.raise_for_errors()


def _print_table(document: dict[str, Any]) -> None:
    if document["files"]:
        for line in residency_table(document):
            print_line(line)


def residency_table(document: dict[str, Any]) -> list[str]:
    """Human-readable residency: one line per file (plus its page map), then the total."""
    lines = [f"{'resident':>10}  {'size':>10}  {'pages':>17}  {'%':>6}  file"]
    for entry in document["files"]:
        lines += _file_lines(entry)
    total = document["total"]
    pages = f"{total['resident_pages']}/{total['pages']}"
    unknown = f", {total['unknown_files']} unknown" if total["unknown_files"] else ""
    shown = "     ?" if total["percent"] is None else f"{total['percent']:>5.1f}%"
    lines.append(
        f"{format_bytes(total['resident_bytes']):>10}  {format_bytes(total['size']):>10}  "
        f"{pages:>17}  {shown}  total ({total['files']} files{unknown})"
    )
    return lines


def _file_lines(entry: dict[str, Any]) -> list[str]:
    """One file's line, `?` where the kernel hides residency, and its page map if any."""
    size = format_bytes(entry["size"])
    if entry["resident_pages"] is None:
        pages = "?/" + str(entry["pages"])
        return [
            f"{'?':>10}  {size:>10}  {pages:>17}  {'?':>6}  {entry['path']} "
            "(residency hidden or unmappable)"
        ]
    pages = f"{entry['resident_pages']}/{entry['pages']}"
    lines = [
        f"{format_bytes(entry['resident_bytes']):>10}  {size:>10}  "
        f"{pages:>17}  {entry['percent']:>5.1f}%  {entry['path']}"
    ]
    if "page_map" in entry:
        lines.append(f"{'':>10}  [{entry['page_map']}]")
    return lines


EXAMPLES = (
    Example("How much of the model is in memory?", "weightlib status ./model"),
    Example("The same, with a page map per file:", "weightlib status ./model --verbose"),
    Example("For a script or a probe:", "weightlib status org/name --json"),
)


def register(app: typer.Typer) -> None:
    """Add `status` to the app."""
    add_command(app, "status", status_command, EXAMPLES)
