"""`weightlib size MODEL`: how many bytes a server would load (or the whole checkpoint holds)."""

from __future__ import annotations

from typing import Annotated

import typer

from weightlib.checkpoint import open_checkpoint, select_checkpoint_weights
from weightlib.shards import require_weights

from ..credentials import resolve_token
from ..output import format_bytes, print_json, print_line
from ..params import Format, Json, Model, Revision, Source, Token, TokenFile


def size_command(
    model: Model,
    fmt: Format = "auto",
    all_files: Annotated[
        bool,
        typer.Option("--all-files", help="Every file of the checkpoint, not just the weights."),
    ] = False,
    only_bytes: Annotated[bool, typer.Option("--bytes", help="Print only the byte count.")] = False,
    revision: Revision = None,
    source: Source = None,
    token: Token = None,
    token_file: TokenFile = None,
    as_json: Json = False,
) -> None:
    """Total size of the weight files `filter` selects, from metadata only (nothing is read).

    Symlinks are followed, so a Hugging Face cache snapshot reports its blobs' sizes.
    """
    hub_token = resolve_token(token, token_file)
    checkpoint = open_checkpoint(model, revision=revision, source=source, token=hub_token)
    sizes = checkpoint.file_sizes()
    if all_files:
        files = list(sizes)
    else:
        files = require_weights(select_checkpoint_weights(checkpoint, fmt), model).files
    total = sum(sizes[f] for f in files)
    if as_json:
        print_json({"model": model, "files": len(files), "bytes": total})
    elif only_bytes:
        print_line(str(total))
    else:
        print_line(f"{format_bytes(total)} ({total:,} bytes) in {len(files)} file(s)")


def register(app: typer.Typer) -> None:
    """Add `size` to the app."""
    app.command("size")(size_command)
