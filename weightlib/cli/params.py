"""Arguments and options that several commands share, declared once so they read the same.

A command declares `model: Model` or `revision: Revision = None` instead of its own
`typer.Option(...)`. Where one option name means different things in different commands
(`--format`, `--force`), each meaning has its own alias here.
"""

from __future__ import annotations

from typing import Annotated

import typer

from weightlib.shards import WEIGHT_FORMATS

from .console import OPTIONS

REPOSITORY_FORMS = "org/name[@revision], hf://org/name, ms://org/name"


def _remember_json(value: bool) -> bool:
    """Record `--json` for `output.emit`, which then prints the JSON document, not text."""
    OPTIONS.json = value
    return value


# ---- what a command works on ------------------------------------------------------------------

Model = Annotated[
    str,
    typer.Argument(
        help=f"A model folder, or a hub repository: {REPOSITORY_FORMS}.",
        show_default=False,
        metavar="MODEL",
    ),
]
Repository = Annotated[
    str,
    typer.Argument(
        help=f"A hub repository: {REPOSITORY_FORMS}.", show_default=False, metavar="MODEL"
    ),
]
ModelsOrFiles = Annotated[
    list[str],
    typer.Argument(
        help="Model folders, files, or repository ids resolved in the local hub cache.",
        metavar="MODEL_OR_FILE...",
    ),
]
"""For prefetch, status and evict: local inputs only, never the network."""

# ---- which revision, hub and credentials ------------------------------------------------------

Revision = Annotated[
    str | None,
    typer.Option(
        "--revision",
        metavar="REV",
        help="Branch, tag or commit of a hub repository.",
        show_default=False,
    ),
]
Source = Annotated[
    str | None,
    typer.Option(
        "--source",
        metavar="HUB",
        help="hf or modelscope (default: from MODEL, WEIGHTLIB_SOURCE, VLLM_USE_MODELSCOPE).",
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
CacheDir = Annotated[
    str | None,
    typer.Option("--cache-dir", metavar="DIR", help="Hub cache folder (default: HF_HUB_CACHE)."),
]

# ---- what to select ---------------------------------------------------------------------------

Format = Annotated[
    str,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help=f"Weight format: {', '.join(WEIGHT_FORMATS)} (auto: safetensors, else bin, else pt).",
    ),
]
"""The weights a server loads (filter, index, size)."""
DownloadFormat = Annotated[
    str,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help=(
            "Weights to fetch: auto, safetensors, bin, pt, or all (every file of the repository). "
            "auto: safetensors, else bin, else pt."
        ),
    ),
]
"""The weights download fetches: `Format`'s choices plus all."""

# ---- overrides and output ---------------------------------------------------------------------

ForceOverwrite = Annotated[
    bool, typer.Option("--force", help="Write into a non-empty --output (replaces files).")
]
"""dummy-init's --force."""
ForceMemory = Annotated[bool, typer.Option("--force", help="Skip the memory guard.")]
"""prefetch's --force."""
Json = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout.", callback=_remember_json),
]
"""Sets `OPTIONS.json`; commands print through `output.emit`, which reads it."""
