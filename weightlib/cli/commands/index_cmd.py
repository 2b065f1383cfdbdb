"""`weightlib index MODEL`: every shard in load order with its tensors, bytes and dtypes."""

from __future__ import annotations

from typing import Any

import typer

from weightlib.checkpoint import CheckpointReport, describe_checkpoint, open_checkpoint

from ..console import stdout_console
from ..credentials import resolve_token
from ..errors import one_line_message
from ..examples import Example, add_command
from ..output import emit, format_bytes
from ..params import Format, Json, Model, Revision, Source, Token, TokenFile

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


def print_table(document: dict[str, Any]) -> None:
    """The human-readable table: one row per shard, the missing ones, and a total."""
    # start-up: rich.table costs ~20 ms; --json and the other commands never need it
    from rich.table import Table

    title = f"{document['model']} ({document['index_file'] or 'no index file'})"
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("shard")
    table.add_column("tensors", justify="right")
    table.add_column("bytes", justify="right")
    table.add_column("size", justify="right")
    table.add_column("dtypes")
    shards = document["shards"]
    for shard in shards:
        tensors = "?" if shard["tensors"] is None else str(shard["tensors"])
        size = format_bytes(shard["bytes"])
        table.add_row(
            shard["file"], tensors, f"{shard['bytes']:,}", size, ",".join(shard["dtypes"])
        )
    for name in document["missing"]:
        table.add_row(name, "-", "-", "missing", "")
    table.add_section()
    table.add_row(
        f"total: {len(shards)} file(s)",
        f"{document['total_tensors']:,}",
        f"{document['total_bytes']:,}",
        format_bytes(document["total_bytes"]),
        ",".join(sorted({d for s in shards for d in s["dtypes"]})),
    )
    stdout_console().print(table)


def index_command(
    model: Model,
    fmt: Format = "auto",
    revision: Revision = None,
    source: Source = None,
    token: Token = None,
    token_file: TokenFile = None,
    as_json: Json = False,
) -> None:
    """Show the shards a server would load, in order, with tensors, bytes and dtypes.

    Reads only safetensors headers (never tensor data) and works with or without an index file.
    Exit 6 when the index names missing shards or a header is corrupt (--json still prints).
    """
    hub_token = resolve_token(token, token_file)
    checkpoint = open_checkpoint(model, revision=revision, source=source, token=hub_token)
    report = describe_checkpoint(checkpoint, fmt)
    emit(report_document(report), render=print_table)
    report.raise_for_problems()


def register(app: typer.Typer) -> None:
    """Add `index` to the app."""
    add_command(app, "index", index_command, EXAMPLES)
