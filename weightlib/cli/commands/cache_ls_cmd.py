"""`weightlib cache ls [MODEL...]`: every cached repository, its bytes, residency and state."""

from __future__ import annotations

import shutil
import sys
import time
from typing import Annotated, Any

import typer

from ..completion import complete_cache_sort
from ..examples import Example, add_command
from ..output import emit, print_line
from ..params import CacheFolder, CacheSource, Json
from ..units import format_bytes


def cache_ls_command(
    models: Annotated[
        list[str] | None,
        typer.Argument(
            help="Repositories (org/name, ms://org/name, …) or model folders; default: all.",
            metavar="MODEL...",
            show_default=False,
        ),
    ] = None,
    cache_dir: CacheFolder = None,
    source: CacheSource = "all",
    sort: Annotated[
        str,
        typer.Option(
            "--sort",
            metavar="KEY",
            help="size, accessed, modified or name.",
            autocompletion=complete_cache_sort,
        ),
    ] = "size",
    revisions: Annotated[
        bool, typer.Option("--revisions", help="A line per revision under each repository.")
    ] = False,
    as_json: Json = False,
) -> None:
    """List cached repositories: files, bytes on disk, bytes in the page cache, state.

    State: complete; incomplete (an index names missing shards, a link's blob is gone, or a
    file's size differs from the recorded listing); downloading (a live process holds its
    lock); partial files (bytes an interrupted download left). Blobs shared between revisions
    count once. Reads no file data: residency comes from cachestat/mincore.
    """
    # start-up: the cache package reaches the hub layer; it loads only when the command runs
    from weightlib.cache import list_cache
    from weightlib.residency import FailedInputsError

    found = list_cache(models or [], cache_dir=cache_dir, source=source, sort=sort)
    document = {
        "repos": [repo.to_json() for repo in found.repos],
        "total": _total(found.repos),
        "errors": [e.to_json() for e in found.errors],
    }
    emit(document, lambda d: _print_table(d, revisions))
    if found.errors:
        raise FailedInputsError(found.errors)


def _total(repos: list[Any]) -> dict[str, Any]:
    resident = [r.resident for r in repos if r.resident is not None]
    return {
        "repos": len(repos),
        "files": sum(r.files for r in repos),
        "bytes": sum(r.size for r in repos),
        "resident_bytes": sum(resident),
        "partial_bytes": sum(r.partial_bytes for r in repos),
    }


def _ago(moment: float, now: float) -> str:
    """`5m ago`, `3h ago`, `12d ago`; `-` for never."""
    if moment <= 0:
        return "-"
    seconds = max(0.0, now - moment)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "now"


COLUMNS = (
    # name, header, width, right-aligned; dropped from the end of DROP_ORDER when narrow
    ("size", "size", 9, True),
    ("resident", "resident", 9, True),
    ("percent", "%", 6, True),
    ("files", "files", 6, True),
    ("accessed", "accessed", 9, False),
    ("state", "state", 13, False),
    ("source", "hub", 10, False),
)
DROP_ORDER = ("source", "accessed", "files")
MIN_REPO = 16
"""Columns left for the repository id before a column is dropped."""


def _cells(repo: dict[str, Any], now: float) -> dict[str, str]:
    percent = repo["resident_percent"]
    return {
        "size": format_bytes(repo["bytes"]),
        "resident": "?" if repo["resident_bytes"] is None else format_bytes(repo["resident_bytes"]),
        "percent": "?" if percent is None else f"{percent:.1f}",
        "files": str(repo["files"]),
        "accessed": _ago(repo["accessed"], now),
        "state": repo["state"],
        "source": repo["source"],
    }


def _label(repo: dict[str, Any]) -> str:
    prefix = "ms://" if repo["source"] == "modelscope" else ""
    kind = "datasets/" if repo["repo_type"] == "dataset" else ""
    refs = f" ({', '.join(repo['refs'])})" if repo["refs"] and repo["source"] == "hf" else ""
    return f"{prefix}{kind}{repo['repo']}{refs}"


def _fit(text: str, room: int | None) -> str:
    """`text` cut in the middle with `…` to `room` characters (None: whole)."""
    if room is None or len(text) <= room or room < 5:
        return text
    keep = room - 1
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2 :]


def table_lines(document: dict[str, Any], revisions: bool, width: int | None) -> list[str]:
    """The human listing: a header, a line per repository (and its revisions, partial and
    missing files), and a total; columns dropped and ids cut to fit `width` if given."""
    columns = list(COLUMNS)
    for name in DROP_ORDER:
        used = sum(c[2] + 2 for c in columns)
        if width is None or width - used >= MIN_REPO:
            break
        columns = [c for c in columns if c[0] != name]
    used = sum(c[2] + 2 for c in columns)
    room = None if width is None else max(width - used, 8)
    now = time.time()

    def row(cells: dict[str, str], last: str) -> str:
        parts = [cells[n].rjust(w) if right else cells[n].ljust(w) for n, _h, w, right in columns]
        return "  ".join(parts) + "  " + _fit(last, room)

    lines = [row({n: h for n, h, _w, _r in columns}, "repository")]
    for repo in document["repos"]:
        lines.append(row(_cells(repo, now), _label(repo)))
        lines += _detail_lines(repo, revisions, width)
    total = document["total"]
    repositories = "repository" if total["repos"] == 1 else "repositories"
    lines.append(
        f"total: {total['repos']} {repositories}, {total['files']} files, "
        f"{format_bytes(total['bytes'])} on disk, {format_bytes(total['resident_bytes'])} resident"
    )
    return lines


def _detail_lines(repo: dict[str, Any], revisions: bool, width: int | None) -> list[str]:
    out = []
    if revisions:
        for rev in repo["revisions"]:
            refs = ",".join(rev["refs"]) or "detached"
            out.append(
                _fit(
                    f"    {rev['revision'][:12]:<12}  {format_bytes(rev['bytes']):>9}  "
                    f"{rev['files']:>6} files  {refs}",
                    width,
                )
            )
    missing = sorted({m for rev in repo["revisions"] for m in rev["missing"] + rev["wrong_size"]})
    if missing:
        shown = ", ".join(missing[:3]) + (" …" if len(missing) > 3 else "")
        out.append(_fit(f"    missing or wrong size: {shown}", width))
    if repo["partial_files"]:
        count = len(repo["partial_files"])
        out.append(f"    partial files: {count} ({format_bytes(repo['partial_bytes'])})")
    return out


def _print_table(document: dict[str, Any], revisions: bool) -> None:
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    for line in table_lines(document, revisions, width):
        print_line(line)


EXAMPLES = (
    Example("What does this machine hold, and what is warm?", "weightlib cache ls"),
    Example(
        "Most recently read first, with revisions:",
        "weightlib cache ls --sort accessed --revisions",
    ),
    Example("One model, for a script:", "weightlib cache ls org/name --json"),
)


def register(app: typer.Typer) -> None:
    """Add `cache ls` to the group."""
    add_command(app, "ls", cache_ls_command, EXAMPLES)
