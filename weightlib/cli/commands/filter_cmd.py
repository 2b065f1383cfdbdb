"""`weightlib filter MODEL`: the weight files a server would load, in load order (and, with
`--json`, the support files a download takes beside them)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from weightlib.errors import WeightlibError
from weightlib.shards import ServingSelection, require_weights

from ..credentials import resolve_token
from ..errors import failure_of
from ..examples import Example, add_command
from ..output import emit, error_entry, print_line
from ..params import Format, Json, Model, Revision, Source, Token, TokenFile

EXAMPLES = (
    Example("Which shards would vLLM load, in order?", "weightlib filter ./Llama-3.1-8B"),
    Example(
        "Hash them; paths are relative to MODEL and NUL-separated:",
        "cd ./model && weightlib filter . -0 | xargs -0 sha256sum",
    ),
    Example(
        "What a hub repository would load, and why the rest is left out:",
        "weightlib filter mistralai/Mistral-7B-Instruct-v0.3 --json",
    ),
)

QUIET = "on stdout the file list, as without -q"

Null = Annotated[
    bool, typer.Option("-0", "--null", help="Separate paths with NUL instead of newline.")
]


def selection_document(
    model: str, serving: ServingSelection, problem: WeightlibError | None = None
) -> dict[str, Any]:
    """The `--json` document of `weightlib filter`: the weight files, why other weight-looking
    files were left out, the support files a download takes beside them (and why), and what a
    server would fail on (`problem`: no weight files, missing shards) under `errors`."""
    selection = serving.weights
    return {
        "model": model,
        "format": selection.format,
        "files": selection.files,
        "excluded": [{"file": e.file, "reason": e.reason} for e in serving.excluded],
        "support": [{"file": s.file, "reason": s.reason} for s in serving.support],
        "errors": [] if problem is None else [error_entry(model, problem)],
    }


def print_paths(files: list[str], null: bool) -> None:
    """One path per line, or each followed by NUL (`-0`, for `xargs -0`)."""
    if null:
        sys.stdout.write("".join(f"{f}\0" for f in files))
    else:
        for name in files:
            print_line(name)


def filter_command(
    model: Model,
    fmt: Format = "auto",
    null: Null = False,
    revision: Revision = None,
    source: Source = None,
    token: Token = None,
    token_file: TokenFile = None,
    as_json: Json = False,
) -> None:
    """List the weight files a server would load, in natural order.

    One path per line, relative to MODEL. Training artifacts, shards the index does not name,
    other formats and subfolder weights are left out (--json says why). --json also lists the
    support files `download` takes beside the weights (config, tokenizer, chat templates, the
    sentence-transformers modules modules.json names), each with why it is there. Exit 3 when
    there are no weight files, 6 when the index names files that are missing or modules.json
    names an unsafe path. Beside HF shards, Mistral's consolidated*.safetensors is left out
    (every server loads the shards), where vLLM's default loader would pick consolidated*.
    """
    hub_token = resolve_token(token, token_file)
    # start-up: the library's hub and checkpoint code loads only when the command runs, not
    # for `--help` or a Tab completion
    from weightlib.checkpoint import open_checkpoint
    from weightlib.checkpoint.local import select_checkpoint_files

    checkpoint = open_checkpoint(model, revision=revision, source=source, token=hub_token)
    serving = select_checkpoint_files(checkpoint, fmt)
    problem = failure_of(lambda: require_weights(serving.weights, model))

    def render(document: dict[str, Any]) -> None:
        """Text: fail before printing any path, then the paths."""
        if problem is not None:
            raise problem
        print_paths(document["files"], null)

    emit(selection_document(model, serving, problem), render)
    if problem is not None:  # --json: the document (the problem in `errors`), then exit 3 or 6
        raise problem


def register(app: typer.Typer) -> None:
    """Add `filter` to the app."""
    add_command(app, "filter", filter_command, EXAMPLES)
