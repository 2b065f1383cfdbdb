"""`weightlib size MODEL`: how many bytes a server would load (or the whole checkpoint holds)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from weightlib.checkpoint import open_checkpoint, select_checkpoint_weights
from weightlib.shards import require_weights

from ..credentials import resolve_token
from ..examples import Example, add_command
from ..output import emit, format_bytes, print_line
from ..params import Format, Json, Model, Revision, Source, Token, TokenFile

EXAMPLES = (
    Example("Bytes a server will load, for a script:", "weightlib size ./model --bytes"),
    Example(
        "A whole hub repository, weights or not (one listing request):",
        "weightlib size meta-llama/Llama-3.1-8B-Instruct --all-files",
    ),
)

AllFiles = Annotated[
    bool, typer.Option("--all-files", help="Every file of the checkpoint, not just the weights.")
]
OnlyBytes = Annotated[bool, typer.Option("--bytes", help="Print only the byte count.")]


def print_size(document: dict[str, Any], only_bytes: bool) -> None:
    """`86.7 MiB (90,888,192 bytes) in 1 file(s)`, or only the integer with `--bytes`."""
    total = document["bytes"]
    if only_bytes:
        print_line(str(total))
    else:
        print_line(f"{format_bytes(total)} ({total:,} bytes) in {document['files']} file(s)")


def size_command(
    model: Model,
    fmt: Format = "auto",
    all_files: AllFiles = False,
    only_bytes: OnlyBytes = False,
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
    document = {"model": model, "files": len(files), "bytes": sum(sizes[f] for f in files)}
    emit(document, render=lambda doc: print_size(doc, only_bytes))


def register(app: typer.Typer) -> None:
    """Add `size` to the app."""
    add_command(app, "size", size_command, EXAMPLES)
