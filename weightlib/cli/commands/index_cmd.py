"""`weightlib index MODEL`: every shard in load order with its tensors, bytes and dtypes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from ..console import stdout_console
from ..credentials import resolve_token
from ..errors import one_line_message
from ..examples import Example, add_command
from ..output import emit, silent
from ..params import Format, Json, Model, Revision, Source, Token, TokenFile
from ..units import format_bytes

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from weightlib.checkpoint import CheckpointReport

EXAMPLES = (
    Example(
        "Check a checkpoint's headers and index before serving (exit 6 if broken):",
        "weightlib index ./model",
    ),
    Example(
        "A hub repository's shards, from range reads of the headers only:",
        "weightlib index Qwen/Qwen2.5-7B-Instruct --json",
    ),
)


def report_document(report: CheckpointReport) -> dict[str, Any]:
    """The `--json` document of `weightlib index`; the table is drawn from it too."""
    return {
        "model": report.model,
        "format": report.format,
        "index_file": report.index_file,
        "shards": [
            {"file": s.file, "tensors": s.tensors, "bytes": s.bytes, "dtypes": s.dtypes}
            for s in report.shards
        ],
        "total_tensors": report.total_tensors,
        "total_bytes": report.total_bytes,
        "missing": report.missing,
        "errors": [one_line_message(e) for e in report.errors],
    }


COLUMNS = (("shard", "left"), ("tensors", "right"), ("bytes", "right"), ("size", "right"))
DTYPES = ("dtypes", "left")
DROPPED_FIRST = ("bytes", "tensors", "dtypes")
"""On a narrow terminal these columns go, in this order, before a shard name is ever cut."""


def table_rows(document: dict[str, Any]) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The table's cells by column: one row per shard and per missing shard, and the total."""
    shards = document["shards"]
    rows = [
        {
            "shard": shard["file"],
            "tensors": "?" if shard["tensors"] is None else str(shard["tensors"]),
            "bytes": f"{shard['bytes']:,}",
            "size": format_bytes(shard["bytes"]),
            "dtypes": ",".join(shard["dtypes"]),
        }
        for shard in shards
    ]
    rows += [
        {"shard": name, "tensors": "-", "bytes": "-", "size": "missing", "dtypes": ""}
        for name in document["missing"]
    ]
    total = {
        "shard": f"total: {len(shards)} file(s)",
        "tensors": f"{document['total_tensors']:,}",
        "bytes": f"{document['total_bytes']:,}",
        "size": format_bytes(document["total_bytes"]),
        "dtypes": ",".join(sorted({d for s in shards for d in s["dtypes"]})),
    }
    return rows, total


def print_table(document: dict[str, Any]) -> None:
    """The human-readable table: one row per shard, the missing ones, and a total.

    On a terminal too narrow for every column, `bytes`, then `tensors`, then `dtypes` are left
    out so that shard names stay whole; piped, the table is never narrowed.
    """
    console = stdout_console()
    rows, total = table_rows(document)
    names = [name for name, _ in (*COLUMNS, DTYPES)]
    table = _table(names, rows, total)
    for dropped in DROPPED_FIRST:
        if not console.is_terminal or _width(console, table) <= console.width:
            break
        names.remove(dropped)
        table = _table(names, rows, total)
    if not console.is_terminal:
        console.width = max(console.width, _width(console, table))
    elif _width(console, table) > console.width:  # names wider than the terminal: fold, not cut
        table = _table(names, rows, total, whole_names=False)
    title = f"{document['model']} ({document['index_file'] or 'no index file'})"
    console.print(title, style="italic", markup=False, highlight=False)
    console.print(table)


def _table(
    names: list[str], rows: list[dict[str, str]], total: dict[str, str], whole_names: bool = True
) -> Table:
    """A table of the columns `names` and a total row; numbers never wrap, and shard names
    neither wrap nor are cut (`whole_names`) or, when even they do not fit, fold."""
    # start-up: rich.table costs ~20 ms; --json and the other commands never need it
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for name, justify in (*COLUMNS, DTYPES):
        if name not in names:
            continue
        widest = max(len(row[name]) for row in (*rows, total))
        if name == "shard":
            table.add_column(name, min_width=widest if whole_names else None, overflow="fold")
        else:
            table.add_column(name, justify="right" if justify == "right" else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(row[name] for name in names))
    table.add_section()
    table.add_row(*(total[name] for name in names))
    return table


def _width(console: Console, table: Table) -> int:
    """The columns `table` takes when nothing limits its width."""
    return console.measure(table, options=console.options.update_width(1 << 16)).maximum


def index_command(
    model: Model,
    fmt: Format = "auto",
    revision: Revision = None,
    source: Source = None,
    token: Token = None,
    token_file: TokenFile = None,
    as_json: Json = False,
) -> None:
    """Show the shards a server would load: tensors, bytes, dtypes.

    Reads only safetensors headers (never tensor data) and works with or without an index file.
    Exit 6 when the index names missing shards or a header is corrupt (--json still prints).
    """
    hub_token = resolve_token(token, token_file)
    # start-up: the library's hub and checkpoint code loads only when the command runs, not
    # for `--help` or a Tab completion
    from weightlib.checkpoint import describe_checkpoint, open_checkpoint

    checkpoint = open_checkpoint(model, revision=revision, source=source, token=hub_token)
    report = describe_checkpoint(checkpoint, fmt)
    emit(report_document(report), render=print_table, quiet_render=silent)
    report.raise_for_problems()


def register(app: typer.Typer) -> None:
    """Add `index` to the app."""
    add_command(app, "index", index_command, EXAMPLES)
