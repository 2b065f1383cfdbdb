"""`weightlib status MODEL_OR_FILE...`: how much of each file is in the page cache."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from weightlib.residency import ResidencyReport, measure_files, residency, without_vector

from ..console import OPTIONS
from ..examples import Example, add_command
from ..output import emit, print_line, silent
from ..params import Json, ModelsOrFiles, remember_verbose
from ..units import format_bytes


def status_command(
    models: ModelsOrFiles,
    as_json: Json = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "-v",
            "--verbose",
            help="More detail: a page map per file (O full, o partial, . none).",
            callback=lambda value: remember_verbose(value),
        ),
    ] = False,
) -> None:
    """Show how much of each file is in the page cache, like fincore.

    Reads no file data and faults no page in (cachestat, or mincore over an untouched mapping).
    """
    # start-up: the library's hub and checkpoint code loads only when the command runs, not
    # for `--help` or a Tab completion
    from weightlib.prefetch.inputs import resolve_files

    resolved = resolve_files(models)
    verbose = verbose or OPTIONS.verbose  # `weightlib -v status` means the same as `status -v`
    report = measure_files(
        resolved.files, lambda p: without_vector(residency(p, page_map=verbose)), resolved.errors
    )
    show_residency(report, page_maps=verbose, folders=resolved.folders)


def show_residency(
    report: ResidencyReport, page_maps: bool, folders: Mapping[Path, Path] | None = None
) -> None:
    """Print residency for `status` and `evict`: the JSON document (absolute paths as the files
    were found), or a table when there are files, with each file's name relative to the model
    folder in `folders` it came from (absolute for files given one by one); nothing with `-q`.
    Then raise for the inputs that failed."""
    where = {os.fspath(path): folder for path, folder in (folders or {}).items()}
    emit(
        report.to_json(page_maps),
        lambda document: _print_table(document, where),
        quiet_render=silent,
    )
    report.raise_for_errors()


def _print_table(document: dict[str, Any], folders: Mapping[str, Path]) -> None:
    if document["files"]:
        for line in residency_table(document, folders, _terminal_width()):
            print_line(line)


def _terminal_width() -> int | None:
    """The width of the terminal stdout is, or None when piped (lines are then never cut)."""
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


HEADER = f"{'resident':>10}  {'size':>10}  {'pages':>17}  {'%':>6}  file"
HIDDEN_NOTE = "?: residency hidden from this user (see README), or the file cannot be mapped"


def residency_table(
    document: dict[str, Any], folders: Mapping[str, Path], width: int | None = None
) -> list[str]:
    """Human-readable residency: files grouped by model folder (a `folder:` line, then one line
    per file named relative to it, plus its page map), files given alone with their absolute
    path, then the total. `width`: the terminal's, which folder and absolute paths are fitted
    to (`fit_path`)."""
    groups: dict[Path | None, list[dict[str, Any]]] = {}
    for entry in document["files"]:
        groups.setdefault(folders.get(entry["path"]), []).append(entry)
    lines = []
    for folder, entries in groups.items():
        if folder is not None:
            lines.append(fit_path("folder: ", os.fspath(folder), width, is_file=False))
        if len(lines) <= 1:
            lines.append(HEADER)
        for entry in entries:
            path = os.path.abspath(entry["path"])
            if folder is None:
                lines += _file_lines(entry, path, width)
            else:
                lines += _file_lines(entry, os.path.relpath(path, folder), None)
    lines.append(_total_line(document["total"]))
    if any(entry["resident_pages"] is None for entry in document["files"]):
        lines.append(HIDDEN_NOTE)
    return lines


def _total_line(total: dict[str, Any]) -> str:
    pages = f"{total['resident_pages']}/{total['pages']}"
    unknown = f", {total['unknown_files']} unknown" if total["unknown_files"] else ""
    shown = "     ?" if total["percent"] is None else f"{total['percent']:>5.1f}%"
    return (
        f"{format_bytes(total['resident_bytes']):>10}  {format_bytes(total['size']):>10}  "
        f"{pages:>17}  {shown}  total ({total['files']} files{unknown})"
    )


def _file_lines(entry: dict[str, Any], name: str, width: int | None) -> list[str]:
    """One file's line, `?` where the kernel hides residency, and its page map; the line ends
    with `name`, a path fitted to `width` (see `fit_path`) if that is given."""
    size = format_bytes(entry["size"])
    if entry["resident_pages"] is None:
        pages = "?/" + str(entry["pages"])
        return [fit_path(f"{'?':>10}  {size:>10}  {pages:>17}  {'?':>6}  ", name, width)]
    pages = f"{entry['resident_pages']}/{entry['pages']}"
    columns = (
        f"{format_bytes(entry['resident_bytes']):>10}  {size:>10}  "
        f"{pages:>17}  {entry['percent']:>5.1f}%  "
    )
    lines = [fit_path(columns, name, width)]
    if "page_map" in entry:
        lines.append(f"{'':>10}  [{entry['page_map']}]")
    return lines


SHORT_PART = 12
"""Characters kept of a path part that `fit_path` cuts short (a git short hash)."""


def fit_path(label: str, path: str, width: int | None, *, is_file: bool = True) -> str:
    """`label` + `path`, within `width` columns if given: the home folder written `~`, then the
    longest parts of the path (a snapshot's commit hash, `models--org--name`) cut to their
    first SHORT_PART characters and `…`, until the line fits; a file's name is never cut."""
    if width is None or len(label + path) <= width:
        return label + path
    home = os.path.expanduser("~").rstrip("/")
    if home and (path == home or path.startswith(home + "/")):
        path = "~" + path[len(home) :]
    parts = path.split("/")
    cuttable = range(len(parts) - 1 if is_file else len(parts))
    while len(label) + len("/".join(parts)) > width:
        longest = max(cuttable, key=lambda i: len(parts[i]), default=None)
        if longest is None or len(parts[longest]) <= SHORT_PART + 1:
            break
        parts[longest] = parts[longest][:SHORT_PART] + "…"
    return label + "/".join(parts)


EXAMPLES = (
    Example("How much of the model is in memory?", "weightlib status ./model"),
    Example("The same, with a page map per file:", "weightlib status ./model --verbose"),
    Example("For a script or a probe:", "weightlib status org/name --json"),
)


def register(app: typer.Typer) -> None:
    """Add `status` to the app."""
    add_command(app, "status", status_command, EXAMPLES)
