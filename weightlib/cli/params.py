"""Arguments and options that several commands share, declared once so they read the same.

A command declares `model: Model` or `revision: Revision = None` instead of its own
`typer.Option(...)`. Where one option name means different things in different commands
(`--format`, `--force`), each meaning has its own alias here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from typer.core import TyperOption

from weightlib.shards import WEIGHT_FORMATS

from .completion import (
    complete_cache_source,
    complete_download_format,
    complete_source,
    complete_weight_format,
)
from .console import OPTIONS

REPOSITORY_FORMS = "org/name[@revision], hf://org/name, ms://org/name"


# ---- the global flags: before the command (the app's options) or after it (each command's) ----
# Each callback only ever switches a flag on, so a flag given before the command is not undone by
# the same flag's default after it; `-v` wins over `-q` whatever their order.

VERBOSE_HELP = "More detail on stderr; a traceback on errors."
QUIET_HELP = (
    "Quiet: on stdout only what scripts use (see each command's --help), "
    "on stderr only errors and warnings."
)
JSON_HELP = "Print one JSON document on stdout, on failure too."


def remember_verbose(value: bool) -> bool:
    """`-v`: more detail; it also cancels `-q`, given before or after it."""
    if value:
        OPTIONS.verbose = True
        OPTIONS.quiet = False
    return value


def _remember_quiet(value: bool) -> bool:
    """`-q`: only what scripts use, unless `-v` was given too."""
    if value:
        OPTIONS.quiet = not OPTIONS.verbose
    return value


def _remember_json(value: bool) -> bool:
    """Record `--json` for `output.emit`, which then prints the JSON document, not text."""
    if value:
        OPTIONS.json = True
    return value


Verbose = Annotated[
    bool, typer.Option("-v", "--verbose", help=VERBOSE_HELP, callback=remember_verbose)
]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help=QUIET_HELP, callback=_remember_quiet)]
"""The app's `-v` and `-q` (before the command); `command_flags` makes each command's."""
AppJson = Annotated[bool, typer.Option("--json", help=JSON_HELP, callback=_remember_json)]
"""The app's `--json` (before the command); the app accepts it only for a command with `--json`."""


def command_flags(quiet_help: str | None = None) -> list[TyperOption]:
    """New `-v` and `-q` options for one command (the same as the app's), not passed to it.

    `quiet_help` says what `-q` leaves on stdout for this command (e.g. "on stdout only the
    byte count"); without it `-q` changes only stderr.
    """
    stdout = f"{quiet_help}; " if quiet_help else ""
    return [
        _flag(["-v", "--verbose", "verbose"], VERBOSE_HELP, remember_verbose),
        _flag(
            ["-q", "--quiet", "quiet"],
            f"Quiet: {stdout}on stderr only errors and warnings.",
            _remember_quiet,
        ),
    ]


def _flag(decls: list[str], help_text: str, remember: Callable[[bool], bool]) -> TyperOption:
    """A boolean flag that only calls `remember(value)`; the command function never sees it."""
    return TyperOption(
        param_decls=decls,
        is_flag=True,
        default=False,
        expose_value=False,
        help=help_text,
        callback=lambda _ctx, _param, value: remember(value),
    )


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
        autocompletion=complete_source,
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

CacheFolder = Annotated[
    str | None,
    typer.Option(
        "--cache-dir",
        metavar="DIR",
        help="Cache folder to read (default: HF_HUB_CACHE and MODELSCOPE_CACHE).",
        show_default=False,
    ),
]
"""`weightlib cache`'s --cache-dir: either hub's cache layout."""
CacheSource = Annotated[
    str,
    typer.Option(
        "--source",
        metavar="HUB",
        help="hf, modelscope, or all (both hubs' caches).",
        autocompletion=complete_cache_source,
    ),
]
"""`weightlib cache`'s --source: one hub's cache, or both."""

# ---- what to select ---------------------------------------------------------------------------

Format = Annotated[
    str,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help=f"Weight format: {', '.join(WEIGHT_FORMATS)} (auto: safetensors, else bin, else pt).",
        autocompletion=complete_weight_format,
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
        autocompletion=complete_download_format,
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
Json = Annotated[bool, typer.Option("--json", help=JSON_HELP, callback=_remember_json)]
"""Sets `OPTIONS.json`; commands print through `output.emit`, which reads it."""
