"""Shell completion of the options that take one of a fixed set of values.

Each function is an option's `autocompletion=`: given what has been typed of the value, it
returns the values that start with it, each with a short description (zsh and fish show it,
bash only the value). Without them the shell falls back to file names. The values come from the
tables the commands check them against, so completion and validation cannot disagree.

Completion runs the whole program on every Tab: these functions stay cheap, and a table from a
heavy module is imported only when its option is completed, so that wiring them adds nothing
to the start-up of other commands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from weightlib.shards import WEIGHT_FORMATS

Completion = tuple[str, str]
"""A value and its description."""
Completer = Callable[[str], list[Completion]]
"""What an option's `autocompletion=` is: the values that start with the typed text."""

_DESCRIPTIONS = {
    "auto": "safetensors, else bin, else pt",
    "safetensors": "*.safetensors files",
    "bin": "PyTorch pickles (*.bin)",
    "pt": "PyTorch pickles (*.pt)",
    "all": "every file of the repository",
    "hf": "Hugging Face (or HF_ENDPOINT)",
    "modelscope": "ModelScope (or MODELSCOPE_ENDPOINT)",
    "readahead": "queued readahead(2) calls",
    "sendfile": "whole files, kernel-side, no copy",
    "keep": "each tensor keeps its dtype",
    "bf16": "bfloat16",
    "fp16": "float16",
    "fp32": "float32",
    "size": "largest first",
    "accessed": "most recently read first",
    "modified": "most recently written first",
    "name": "by repository id",
}
_METHOD_DESCRIPTIONS = {
    "auto": "copy or sendfile by measured first-touch cost; readahead for --tensors",
    "copy": "whole files through a reused buffer: pages touched now",
}


def _matching(
    values: Iterable[str], incomplete: str, overrides: dict[str, str] | None = None
) -> list[Completion]:
    """`values` that start with `incomplete`, in their table's order, with descriptions."""
    described = {**_DESCRIPTIONS, **(overrides or {})}
    return [(v, described.get(v, "")) for v in values if v.startswith(incomplete)]


def complete_weight_format(incomplete: str) -> list[Completion]:
    """`--format` of filter, index and size: the weight formats."""
    return _matching(WEIGHT_FORMATS, incomplete)


DOWNLOAD_FORMATS = (*WEIGHT_FORMATS, "all")
"""`weightlib.download.DOWNLOAD_FORMATS`, which download checks: that package costs ~50 ms to
import, a Tab must not wait for it (tests/test_cli_help.py holds the two equal)."""


def complete_download_format(incomplete: str) -> list[Completion]:
    """`--format` of download: the weight formats, and `all`."""
    return _matching(DOWNLOAD_FORMATS, incomplete)


def complete_source(incomplete: str) -> list[Completion]:
    """`--source`: the hubs."""
    # start-up: weightlib.hub loads every hub's transport (~30 ms); local commands need none
    from weightlib.hub.refs import SOURCES

    return _matching(SOURCES, incomplete)


def complete_method(incomplete: str) -> list[Completion]:
    """`--method` of prefetch: the first-pass methods."""
    # start-up: weightlib.prefetch reaches the checkpoint and hub layers (~50 ms)
    from weightlib.prefetch.engine import METHODS

    return _matching(METHODS, incomplete, _METHOD_DESCRIPTIONS)


def complete_dtype(incomplete: str) -> list[Completion]:
    """`--dtype` of dummy-init: keep or a floating dtype."""
    # start-up: weightlib.dummy costs ~14 ms; imported only when --dtype is completed
    from weightlib.dummy import DTYPE_CHOICES

    return _matching(DTYPE_CHOICES, incomplete)


CACHE_SOURCES = ("hf", "modelscope", "all")
"""`weightlib.cache.SOURCES` (tests/test_cli_help.py holds them equal): a Tab must not import
the cache package."""
CACHE_SORT_ORDERS = ("size", "accessed", "modified", "name")
"""`weightlib.cache.SORT_ORDERS`, likewise."""


def complete_cache_source(incomplete: str) -> list[Completion]:
    """`--source` of `cache ls`/`prune`: a hub, or both."""
    return _matching(CACHE_SOURCES, incomplete, {"all": "both hubs' caches"})


def complete_cache_sort(incomplete: str) -> list[Completion]:
    """`--sort` of `cache ls`."""
    return _matching(CACHE_SORT_ORDERS, incomplete)
