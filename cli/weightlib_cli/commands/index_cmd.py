"""`weightlib index MODEL`: every shard in load order with its tensors, bytes and dtypes."""

from __future__ import annotations

import typer

from weightlib.checkpoint import CheckpointReport, describe_checkpoint, open_checkpoint

from ..credentials import resolve_token
from ..errors import one_line_message
from ..output import format_bytes, print_json, stdout_console
from ..params import Format, Json, Model, Revision, Source, Token, TokenFile


def report_document(report: CheckpointReport) -> dict[str, object]:
    """The `--json` document of `weightlib index`."""
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


def print_table(report: CheckpointReport) -> None:
    """The human-readable table: one row per shard and a total."""
    from rich.table import Table

    title = f"{report.model} ({report.index_file or 'no index file'})"
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("shard")
    table.add_column("tensors", justify="right")
    table.add_column("bytes", justify="right")
    table.add_column("size", justify="right")
    table.add_column("dtypes")
    for shard in report.shards:
        tensors = "?" if shard.tensors is None else str(shard.tensors)
        table.add_row(
            shard.file,
            tensors,
            f"{shard.bytes:,}",
            format_bytes(shard.bytes),
            ",".join(shard.dtypes),
        )
    for name in report.missing:
        table.add_row(name, "-", "-", "missing", "")
    table.add_section()
    table.add_row(
        f"total: {len(report.shards)} file(s)",
        f"{report.total_tensors:,}",
        f"{report.total_bytes:,}",
        format_bytes(report.total_bytes),
        ",".join(sorted({d for s in report.shards for d in s.dtypes})),
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
    report = describe_checkpoint(
        open_checkpoint(model, revision=revision, source=source, token=hub_token), fmt
    )
    if as_json:
        print_json(report_document(report))
    else:
        print_table(report)
    report.raise_for_problems()


def register(app: typer.Typer) -> None:
    """Add `index` to the app."""
    app.command("index")(index_command)
