"""`weightlib status MODEL_OR_FILE...`: how much of each file is in the page cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from weightlib.prefetch import FileError, ResolvedFiles
    from weightlib.residency import FileResidency

from ..output import format_bytes, print_json, print_line


def residency_document(
    results: list[FileResidency], errors: list[FileError], page_maps: bool
) -> dict[str, Any]:
    """The JSON shared by `status` and `evict`: per-file and total residency, and failures."""
    files = []
    for r in results:
        entry: dict[str, Any] = {
            "path": r.path,
            "size": r.size,
            "pages": r.pages,
            "resident_pages": r.resident_pages if r.known else None,
            "resident_bytes": r.resident_bytes if r.known else None,
            "percent": round(r.percent, 2) if r.known else None,
        }
        if page_maps and r.known:
            entry["page_map"] = r.page_map()
        files.append(entry)
    known = [r for r in results if r.known]
    pages = sum(r.pages for r in known)
    resident_pages = sum(r.resident_pages for r in known)
    return {
        "files": files,
        "total": {
            "files": len(results),
            "size": sum(r.size for r in results),
            "pages": pages,
            "resident_pages": resident_pages,
            "resident_bytes": sum(r.resident_bytes for r in known),
            "percent": None
            if pages == 0 and len(known) < len(results)
            else round(100.0 if pages == 0 else 100.0 * resident_pages / pages, 2),
            "unknown_files": len(results) - len(known),
        },
        "errors": [e.to_json() for e in errors],
    }


def print_residency_table(doc: dict[str, Any]) -> None:
    """Human-readable residency: one line per file (plus its page map), then the total."""
    header = f"{'resident':>10}  {'size':>10}  {'pages':>17}  {'%':>6}  file"
    print_line(header)
    for entry in doc["files"]:
        if entry["resident_pages"] is None:
            print_line(
                f"{'?':>10}  {format_bytes(entry['size']):>10}  {'?/' + str(entry['pages']):>17}"
                f"  {'?':>6}  {entry['path']} (residency hidden or unmappable)"
            )
            continue
        pages = f"{entry['resident_pages']}/{entry['pages']}"
        print_line(
            f"{format_bytes(entry['resident_bytes']):>10}  {format_bytes(entry['size']):>10}  "
            f"{pages:>17}  {entry['percent']:>5.1f}%  {entry['path']}"
        )
        if "page_map" in entry:
            print_line(f"{'':>10}  [{entry['page_map']}]")
    total = doc["total"]
    pages = f"{total['resident_pages']}/{total['pages']}"
    unknown = f", {total['unknown_files']} unknown" if total["unknown_files"] else ""
    shown = "     ?" if total["percent"] is None else f"{total['percent']:>5.1f}%"
    print_line(
        f"{format_bytes(total['resident_bytes']):>10}  {format_bytes(total['size']):>10}  "
        f"{pages:>17}  {shown}  total ({total['files']} files{unknown})"
    )


def each_file(
    resolved: ResolvedFiles, action: Callable[[Path], FileResidency]
) -> tuple[list[FileResidency], list[FileError]]:
    """Apply `action(path) -> FileResidency` to every resolved file, collecting failures."""
    from weightlib.errors import WeightlibError
    from weightlib.prefetch import FileError

    results, errors = [], list(resolved.errors)
    for path in resolved.files:
        try:
            results.append(action(path))
        except WeightlibError as exc:
            errors.append(FileError.from_error(str(path), exc))
    return results, errors


def status_command(
    models: Annotated[
        list[str],
        typer.Argument(
            help="Model folders, files, or repository ids resolved in the local hub cache.",
            metavar="MODEL_OR_FILE...",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Add a page map per file (O full, o partial, . none).")
    ] = False,
) -> None:
    """Show how much of each file is in the page cache (bytes, pages, %), like fincore/vmtouch.

    Reads no file data and faults no page in (cachestat, or mincore over an untouched mapping).
    """
    from weightlib.prefetch import resolve_files
    from weightlib.residency import residency, without_vector

    resolved = resolve_files(models)
    results, errors = each_file(resolved, lambda p: without_vector(residency(p, page_map=verbose)))
    emit_residency(results, errors, as_json, page_maps=verbose)


def emit_residency(
    results: list[FileResidency], errors: list[FileError], as_json: bool, page_maps: bool
) -> None:
    """Print residency (JSON or table) for `status` and `evict`; then raise the files' errors."""
    from weightlib.prefetch import PrefetchError

    doc = residency_document(results, errors, page_maps)
    if as_json:
        print_json(doc)
    elif results:
        print_residency_table(doc)
    if errors:
        raise PrefetchError(errors)


def register(app: typer.Typer) -> None:
    """Add `status` to the app."""
    app.command("status")(status_command)
