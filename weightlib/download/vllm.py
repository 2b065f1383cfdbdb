"""vLLM's download helpers (`weight_utils` / `transformers_utils` names) over weightlib's flow.

Same names, arguments and return values as vLLM's, so a server's loader can call these instead;
underneath, every file is selected, locked, resumed and verified by `weightlib.download`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence

from ..errors import NotFoundError
from ..hub import modelscope, parallel
from ..hub.base import RemoteFile, RepoListing
from ..hub.source import MODELSCOPE, env_offline, select_source
from ..index import parse_index
from ..locks import get_lock, hold_lock
from ..patterns import matches_any
from ..shards import SAFETENSORS_INDEX
from .flow import download


def _in_subfolder(path: str, subfolder: str | None) -> str | None:
    if not subfolder:
        return path
    prefix = subfolder.strip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def _named_by_index(
    listing: RepoListing, index_file: RemoteFile, read_file: Callable[[str], bytes]
) -> set[str]:
    """The shard names the repository's safetensors index lists."""
    data = read_file(index_file.path)
    return set(parse_index(data, f"{listing.repo}/{index_file.path}").weight_map.values())


def download_weights_from_hf(
    model_name_or_path: str,
    cache_dir: str | None,
    allow_patterns: list[str],
    revision: str | None = None,
    subfolder: str | None = None,
    ignore_patterns: str | list[str] | None = None,
) -> str:
    """vLLM's helper: fetch the weights of the first pattern matching remotely; return the folder.

    With `*.safetensors` and an index in the repository, only the shards the index names are
    fetched (plus the index). Offline (`HF_HUB_OFFLINE=1`) it resolves the local cache only.
    Returns the snapshot folder (not the subfolder), as vLLM does.
    """
    ignores = [ignore_patterns] if isinstance(ignore_patterns, str) else list(ignore_patterns or [])

    def choose(listing: RepoListing, read_file: Callable[[str], bytes]) -> list[RemoteFile]:
        relative = {}
        for file in listing.files:
            rel = _in_subfolder(file.path, subfolder)
            if rel is not None:
                relative[rel] = file
        for pattern in allow_patterns:
            matched = [
                f
                for rel, f in relative.items()
                if matches_any(rel, [pattern]) and not matches_any(rel, ignores)
            ]
            if not matched:
                continue
            if pattern == "*.safetensors" and SAFETENSORS_INDEX in relative:
                index_file = relative[SAFETENSORS_INDEX]
                named = _named_by_index(listing, index_file, read_file)
                matched = [f for f in matched if _in_subfolder(f.path, subfolder) in named]
                matched.append(index_file)
            return matched
        return []

    result = download(model_name_or_path, revision=revision, cache_dir=cache_dir, files=choose)
    return result.path


def download_safetensors_index_file_from_hf(
    model_name_or_path: str,
    index_file: str,
    cache_dir: str | None,
    subfolder: str | None = None,
    revision: str | None = None,
) -> None:
    """vLLM's helper: fetch the safetensors index into the cache; a missing one is not an error."""
    name = f"{subfolder.strip('/')}/{index_file}" if subfolder else index_file

    def choose(listing: RepoListing, read_file: Callable[[str], bytes]) -> list[RemoteFile]:
        return [listing.file(name)] if listing.has(name) else []

    with contextlib.suppress(NotFoundError):
        download(model_name_or_path, revision=revision, cache_dir=cache_dir, files=choose)


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
            offline=env_offline(),
            files=choose,
        )
    return result.path


def enable_xet_high_performance() -> None:
    """Turn on hf_xet high-performance mode (hf_xet reads the env var, not the Python constant)."""
    os.environ["HF_XET_HIGH_PERFORMANCE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        setattr(constants, "HF_XET_HIGH_PERFORMANCE", True)  # noqa: B010 - untyped module attr


def enable_hf_transfer() -> bool:
    """Use hf_transfer's multi-connection downloads for large files when it is installed."""
    parallel.set_hf_transfer(True)
    if parallel.hf_transfer_available():
        return True
    parallel.set_hf_transfer(False)
    return False
