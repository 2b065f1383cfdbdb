"""Which files of a repository a download takes: what the server loads and reads at start-up."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..errors import InvalidInputError, MissingShardsError, NotFoundError, NoWeightFilesError
from ..hub.base import RemoteFile, RepoListing
from ..natural_order import natural_sort_key
from ..patterns import matches_any
from ..shards import WEIGHT_FORMATS, select_serving_files

DOWNLOAD_FORMATS = (*WEIGHT_FORMATS, "all")
"""`--format` values: a weight format, `auto`, or `all` (every file of the repository)."""


def check_download_format(fmt: str) -> None:
    """Refuse (exit 2) a `--format` value that is not one of `DOWNLOAD_FORMATS`."""
    if fmt not in DOWNLOAD_FORMATS:
        raise InvalidInputError(f"unknown format {fmt!r}; use one of {', '.join(DOWNLOAD_FORMATS)}")


def _weights_and_support(
    listing: RepoListing, fmt: str, include: Sequence[str], read_file: Callable[[str], bytes]
) -> set[str]:
    """The weight files `filter` picks and the support files `filter --json` lists beside them."""
    serving = select_serving_files((f.path for f in listing.files), fmt, read_file, listing.repo)
    selection = serving.weights
    if selection.missing:
        raise MissingShardsError(f"{listing.repo}/{selection.index_file}", selection.missing)
    if not selection.files and not include:
        wanted = "weight files" if selection.format is None else f"{selection.format} files"
        raise NoWeightFilesError(f"{listing.repo}: no {wanted} found in the repository")
    return set(serving.files)


def select_inference_files(
    listing: RepoListing,
    fmt: str = "auto",
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    read_index: Callable[[str], bytes] | None = None,
) -> list[RemoteFile]:
    """The files a server needs from `listing`: the weights `filter` picks plus the support files
    of `weightlib.serving_files` (config, tokenizer, chat templates, sentence-transformers
    modules named by `modules.json`, …); `read_index(name)` reads the small files that decide
    it (the index, `modules.json`).

    `--format all` takes every file; `include` globs add files, `exclude` globs remove them
    (matched on the path or the base name). Datasets default to every file. Raises
    NoWeightFilesError (3) when a model repo has no weights of the format, MissingShardsError
    (6) when its index names files the repo lacks.
    """
    check_download_format(fmt)

    def small_file(name: str) -> bytes:
        if read_index is None:
            raise NotFoundError(f"{listing.repo}/{name}: not available to the selection")
        return read_index(name)

    paths = [f.path for f in listing.files]
    if fmt == "all" or listing.repo_type == "dataset":
        chosen = set(paths)
    else:
        chosen = _weights_and_support(listing, fmt, include, small_file)
    chosen |= {p for p in paths if matches_any(p, include, base_name=True)}
    chosen = {p for p in chosen if not matches_any(p, exclude, base_name=True)}
    return [listing.file(p) for p in sorted(chosen, key=natural_sort_key)]
