"""`weightlib filter MODEL`: the weight files a server would load, in load order."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from weightlib.checkpoint import open_checkpoint, select_checkpoint_weights
from weightlib.shards import require_weights

from ..credentials import resolve_token
from ..output import print_json, print_line
from ..params import Format, Json, Model, Revision, Source, Token, TokenFile


def filter_command(
    model: Model,
    fmt: Format = "auto",
    null: Annotated[
        bool, typer.Option("-0", "--null", help="Separate paths with NUL instead of newline.")
    ] = False,
    revision: Revision = None,
    source: Source = None,
    token: Token = None,
    token_file: TokenFile = None,
    as_json: Json = False,
) -> None:
    """List the weight files a server (vLLM, SGLang) would load, in natural order.

    One path per line, relative to MODEL. Training artifacts, shards the index does not name,
    other formats and subfolder weights are left out (--json says why). Exit 3 when there are no
    weight files, 6 when the index names files that are missing.
    """
    hub_token = resolve_token(token, token_file)
    checkpoint = open_checkpoint(model, revision=revision, source=source, token=hub_token)
    selection = select_checkpoint_weights(checkpoint, fmt)
    if as_json:
        print_json(
            {
                "model": model,
                "format": selection.format,
                "files": selection.files,
                "excluded": [{"file": e.file, "reason": e.reason} for e in selection.excluded],
            }
        )
    require_weights(selection, model)
    if as_json:
        return
    if null:
        sys.stdout.write("".join(f"{f}\0" for f in selection.files))
    else:
        for name in selection.files:
            print_line(name)


def register(app: typer.Typer) -> None:
    """Add `filter` to the app."""
    app.command("filter")(filter_command)
