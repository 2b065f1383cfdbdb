"""Arguments and options that several commands share, so they read and behave the same."""

from __future__ import annotations

from typing import Annotated

import typer

from weightlib.shards import WEIGHT_FORMATS

Model = Annotated[
    str,
    typer.Argument(
        help="A model folder, or a hub repository: org/name[@revision], hf://org/name, ms://org/name.",
        show_default=False,
        metavar="MODEL",
    ),
]
Repository = Annotated[
    str,
    typer.Argument(
        help="A hub repository: org/name[@revision], hf://org/name, ms://org/name.",
        show_default=False,
        metavar="MODEL",
    ),
]
Format = Annotated[
    str,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help=f"Weight format: {', '.join(WEIGHT_FORMATS)} (auto: safetensors, else bin).",
    ),
]
Revision = Annotated[
    str | None,
    typer.Option(
        "--revision",
        metavar="REV",
        help="Branch, tag or commit of a hub repository.",
        show_default=False,
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        metavar="TOKEN",
        help=(
            "Hub access token (default: HF_TOKEN / MODELSCOPE_API_TOKEN, else the stored login); "
            "'-' reads one line from stdin, without echo on a terminal. "
            "Warning: --token T is visible to other users in ps; prefer --token -, "
            "--token-file or HF_TOKEN / MODELSCOPE_API_TOKEN."
        ),
        show_default=False,
    ),
]
TokenFile = Annotated[
    str | None,
    typer.Option(
        "--token-file",
        metavar="PATH",
        help="Read the hub access token from the first line of PATH (not with --token).",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
Source = Annotated[
    str | None,
    typer.Option(
        "--source",
        metavar="HUB",
        help="hf or modelscope (default: from MODEL, WEIGHTLIB_SOURCE, VLLM_USE_MODELSCOPE).",
        show_default=False,
    ),
]
