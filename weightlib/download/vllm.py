"""vLLM's download helpers (`weight_utils` / `transformers_utils` names) over weightlib's flow.

Same names, arguments and return values as vLLM's, so a server's loader can call these instead;
underneath, every file is selected, locked, resumed and verified by `weightlib.download`.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Sequence

# vLLM's helpers are called by servers that have imported the client already; the CLI imports
# this module only when it downloads, so `weightlib --help` does not pay for the client.
import huggingface_hub.constants
from huggingface_hub.errors import LocalEntryNotFoundError

from ..errors import NotFoundError
from ..hub import modelscope, parallel
from ..hub.base import RemoteFile, RepoListing
from ..hub.source import MODELSCOPE, env_offline, select_source
from ..index import parse_index
from ..locks import get_lock, hold_lock
from ..patterns import matches_any
from ..shards import SAFETENSORS_INDEX
from .flow import download


class NotCachedError(NotFoundError, LocalEntryNotFoundError):
    """Offline and not in the local cache: weightlib's NotFoundError (exit 3) that is also the hub
    client's LocalEntryNotFoundError, which vLLM's callers catch."""


def _hub_offline() -> bool:
    """vLLM's offline test: the client's `HF_HUB_OFFLINE` constant as it is now (a caller may
    set it at run time), or weightlib's own environment settings."""
    return bool(huggingface_hub.constants.HF_HUB_OFFLINE) or env_offline()


def _listed_in(listing: RepoListing, subfolder: str | None) -> list[str]:
    """What vLLM's `HfFileSystem.ls` of the repository (or its subfolder) names: the files
    directly in that folder, as `org/name/path`."""
    prefix = subfolder.strip("/") + "/" if subfolder else ""
    return [
        f"{listing.repo}/{f.path}"
        for f in listing.files
        if f.path.startswith(prefix) and "/" not in f.path[len(prefix) :]
    ]


def _glob_hits(path: str, pattern: str) -> bool:
    """`Path(folder).glob(pattern)` finding `path`: the same depth, segment by segment."""
    parts, wanted = path.split("/"), pattern.split("/")
    return len(parts) == len(wanted) and all(map(fnmatch.fnmatchcase, parts, wanted))


def _index_in_listing(
    listing: RepoListing, allow_patterns: Sequence[str], listed: list[str]
) -> bool:
    """vLLM takes the index's shards when `*.safetensors` is asked for and the listed folder
    holds the root index (so never with a subfolder: vLLM compares the root path)."""
    return "*.safetensors" in allow_patterns and f"{listing.repo}/{SAFETENSORS_INDEX}" in listed


def _vllm_patterns(
    listing: RepoListing,
    read_file: Callable[[str], bytes],
    allow_patterns: Sequence[str],
    listed: list[str],
) -> list[list[str]]:
    """vLLM 0.34's choice of what to fetch, as groups of patterns tried in turn: the index's
    shard names; else the first pattern that matches a listed file (ignore patterns play no
    part here); else every pattern, one after another."""
    if _index_in_listing(listing, allow_patterns, listed):
        data = read_file(SAFETENSORS_INDEX)
        named = parse_index(data, f"{listing.repo}/{SAFETENSORS_INDEX}").weight_map.values()
        return [sorted(set(named))]
    for pattern in allow_patterns:
        if fnmatch.filter(listed, pattern):
            return [[pattern]]
    return [[p] for p in allow_patterns]


def download_weights_from_hf(
    model_name_or_path: str,
    cache_dir: str | None,
    allow_patterns: list[str],
    revision: str | None = None,
    subfolder: str | None = None,
    ignore_patterns: str | list[str] | None = None,
) -> str:
    """vLLM's helper: fetch the weights of the first pattern matching remotely; return the folder.

    The same choice as vLLM 0.34 (`_vllm_patterns`); the chosen patterns then select from every
    file of the repository, minus `ignore_patterns`, as `snapshot_download` does (the index is
    fetched too when its shards were chosen). Offline (`HF_HUB_OFFLINE`, the client's constant
    included) it resolves the local cache only, and a revision missing there raises
    `NotCachedError` (a `LocalEntryNotFoundError`). Returns the snapshot folder.
    """
    ignores = [ignore_patterns] if isinstance(ignore_patterns, str) else list(ignore_patterns or [])

    def choose(listing: RepoListing, read_file: Callable[[str], bytes]) -> list[RemoteFile]:
        listed = _listed_in(listing, subfolder)
        chosen: list[RemoteFile] = []
        for patterns in _vllm_patterns(listing, read_file, allow_patterns, listed):
            matched = [
                f
                for f in listing.files
                if matches_any(f.path, patterns) and not matches_any(f.path, ignores)
            ]
            chosen += [f for f in matched if f not in chosen]
            if len(patterns) > 1 or any(_glob_hits(f.path, patterns[0]) for f in matched):
                break  # vLLM stops once a pattern put files where it globs for them
        if _index_in_listing(listing, allow_patterns, listed):
            chosen.append(listing.file(SAFETENSORS_INDEX))  # vLLM fetched it to read the names
        return chosen

    offline = _hub_offline()
    try:
        result = download(
            model_name_or_path,
            revision=revision,
            cache_dir=cache_dir,
            offline=offline,
            files=choose,
        )
    except NotFoundError as exc:
        if offline:
            raise NotCachedError(str(exc)) from None
        raise
    return result.path


def download_safetensors_index_file_from_hf(
    model_name_or_path: str,
    index_file: str,
    cache_dir: str | None,
    subfolder: str | None = None,
    revision: str | None = None,
) -> None:
    """vLLM's helper: fetch the safetensors index into the cache.

    As in vLLM, a repository without that index is not an error, nor is an index missing from
    the local cache offline; a repository or revision that does not exist raises NotFoundError.
    """
    name = f"{subfolder.strip('/')}/{index_file}" if subfolder else index_file

    def choose(listing: RepoListing, read_file: Callable[[str], bytes]) -> list[RemoteFile]:
        return [listing.file(name)] if listing.has(name) else []

    offline = _hub_offline()
    try:
        download(
            model_name_or_path,
            revision=revision,
            cache_dir=cache_dir,
            offline=offline,
            files=choose,
        )
    except NotFoundError:
        if not offline:
            raise


def _patterns(value: str | Sequence[str] | None) -> list[str]:
    """vLLM passes one pattern or a list; the client also reads legacy `.*` regexes as `*`."""
    patterns = [] if value is None else [value] if isinstance(value, str) else list(value)
    return patterns + [p.replace(".*", "*") for p in patterns if ".*" in p]


def maybe_download_from_modelscope(
    model: str,
    revision: str | None = None,
    download_dir: str | None = None,
    ignore_patterns: str | Sequence[str] | None = None,
    allow_patterns: str | Sequence[str] | None = None,
) -> str | None:
    """vLLM's helper: when ModelScope is selected, the local snapshot path of `model`, else None.

    ModelScope is selected by an `ms://`/`modelscope://` prefix, `WEIGHTLIB_SOURCE=modelscope` or
    `VLLM_USE_MODELSCOPE=1`. A path that exists is returned as is. Otherwise every file matching
    the patterns is fetched by weightlib's download flow (sha256-verified, resumable) into
    ModelScope's cache layout under `download_dir`, holding vLLM's lock there;
    `HF_HUB_OFFLINE`/`WEIGHTLIB_OFFLINE` resolve the local cache only.
    """
    if os.path.exists(model):
        return model if select_source(model) == MODELSCOPE else None
    if select_source(model) != MODELSCOPE:
        return None
    ref = modelscope.modelscope_ref(model, revision)
    allow, ignore = _patterns(allow_patterns), _patterns(ignore_patterns)

    def choose(listing: RepoListing, read_file: Callable[[str], bytes]) -> list[RemoteFile]:
        return [
            f
            for f in listing.files
            if (not allow or matches_any(f.path, allow)) and not matches_any(f.path, ignore)
        ]

    with hold_lock(get_lock(ref.repo, download_dir), modelscope.label(ref.repo, ref.revision)):
        result = download(
            modelscope.label(ref.repo),
            revision=ref.revision,
            cache_dir=download_dir,
            offline=_hub_offline(),
            files=choose,
        )
    return result.path


def enable_xet_high_performance() -> None:
    """Turn on hf_xet high-performance mode, unless the user set `HF_XET_HIGH_PERFORMANCE`
    (as vLLM: an explicit setting, `0` included, wins)."""
    if "HF_XET_HIGH_PERFORMANCE" not in os.environ:
        set_xet_high_performance()


def set_xet_high_performance() -> None:
    """hf_xet high-performance mode on (`--high-performance`): hf_xet reads the environment
    variable, the client the Python constant, so both are set."""
    os.environ["HF_XET_HIGH_PERFORMANCE"] = "1"
    huggingface_hub.constants.HF_XET_HIGH_PERFORMANCE = True


def enable_hf_transfer() -> bool:
    """Use hf_transfer's multi-connection downloads for large files when it is installed."""
    parallel.set_hf_transfer(True)
    if parallel.hf_transfer_available():
        return True
    parallel.set_hf_transfer(False)
    return False
