"""`weightlib size MODEL`: how many bytes a server would load (or the whole checkpoint holds)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from weightlib.shards import require_weights

from ..console import OPTIONS
from ..credentials import resolve_token
from ..errors import failure_of
from ..examples import Example, add_command
from ..output import emit, error_entry, format_bytes, print_line
from ..params import Format, Json, Model, Revision, Source, Token, TokenFile

EXAMPLES = (
    Example("Bytes a server will load, for a script:", "weightlib size ./model --bytes"),
    Example(
        "A whole hub repository, weights or not (one listing request):",
        "weightlib size meta-llama/Llama-3.1-8B-Instruct --all-files",
    ),
)

QUIET = "on stdout only the byte count, as --bytes"

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
    """Total size of the weights `filter` selects (metadata only).

    Symlinks are followed, so a Hugging Face cache snapshot reports its blobs' sizes.
    """
    hub_token = resolve_token(token, token_file)
    # start-up: the library's hub and checkpoint code loads only when the command runs, not
    # for `--help` or a Tab completion
    from weightlib.checkpoint import open_checkpoint, select_checkpoint_weights

    checkpoint = open_checkpoint(model, revision=revision, source=source, token=hub_token)
    sizes = checkpoint.file_sizes()
    files = list(sizes)
    problem = None
    if not all_files:
        selection = select_checkpoint_weights(checkpoint, fmt)
        problem = failure_of(lambda: require_weights(selection, model))
        files = selection.files
    document = {
        "model": model,
        "files": len(files),
        "bytes": sum(sizes[f] for f in files),
        "errors": [] if problem is None else [error_entry(model, problem)],
    }
    if problem is not None and not OPTIONS.json:
        raise problem  # text: no size of an incomplete checkpoint, only the error
    emit(document, lambda doc: print_size(doc, only_bytes), lambda doc: print_size(doc, True))
    if problem is not None:  # --json: the document (the problem in `errors`), then exit 3 or 6
        raise problem


def register(app: typer.Typer) -> None:
    """Add `size` to the app."""
    add_command(app, "size", size_command, EXAMPLES)
