"""vLLM's `weight_utils` names in one module: `from weightlib.vllm import …` is a drop-in.

Every name of `vllm.model_executor.model_loader.weight_utils` (0.34.0) that weightlib implements,
with vLLM's signature (extra weightlib parameters come after vLLM's and have defaults), plus the
names earlier vLLM releases had there (`convert_bin_to_safetensor_file`,
`convert_pyslice_to_tensor`, `initialize_dummy_weights`, `enable_hf_transfer`).
`tests/test_vllm_parity.py` runs each against vLLM's own code; the README lists the deliberate
differences. Names that need a vLLM model or config (`get_quant_config`,
`finalize_model_weights`, the MoE and multimodal remaps …) are not provided. Importing this module
loads neither torch nor huggingface_hub: the download helpers are imported on first use and the
tensor functions import torch when called.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Collection, Iterable
from typing import IO, TYPE_CHECKING, Any

import filelock

from . import atomic, iterators, locks
from .dummy import initialize_dummy_weights, initialize_single_dummy_weight
from .errors import InvalidInputError
from .iterators import (
    WeightIterator,
    fastsafetensors_weights_iterator,
    multi_thread_pt_weights_iterator,
    np_cache_weights_iterator,
    pt_weights_iterator,
    runai_safetensors_weights_iterator,
)
from .loaders import (
    LoaderFunction,
    composed_weight_loader,
    convert_bin_to_safetensor_file,
    convert_pyslice_to_tensor,
    default_weight_loader,
    get_tensor_model_parallel_rank,
    maybe_remap_kv_scale_name,
    row_parallel_weight_loader,
    sharded_weight_loader,
)
from .natural_order import natural_sorted
from .shards import filter_duplicate_safetensors_files, filter_files_not_needed_for_inference

if TYPE_CHECKING:
    from .download import (
        download_safetensors_index_file_from_hf,
        download_weights_from_hf,
        enable_hf_transfer,
        enable_xet_high_performance,
        maybe_download_from_modelscope,
    )

_DOWNLOAD_NAMES = frozenset(
    {
        "download_safetensors_index_file_from_hf",
        "download_weights_from_hf",
        "enable_hf_transfer",
        "enable_xet_high_performance",
        "maybe_download_from_modelscope",
    }
)
"""Loaded from `weightlib.download` on first use: it imports huggingface_hub."""

DEFAULT_SAFETENSORS_PREFETCH_NUM_THREADS = 8
DEFAULT_SAFETENSORS_PREFETCH_BLOCK_SIZE = 16 * 1024 * 1024
"""vLLM's defaults (`vllm.config.load`) for its prefetch options."""


def __getattr__(name: str) -> Any:
    if name in _DOWNLOAD_NAMES:
        from . import download  # imports huggingface_hub: only when a download helper is used

        return getattr(download, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_DOWNLOAD_NAMES})


def get_lock(
    model_name_or_path: str | os.PathLike[str],
    cache_dir: str | None = None,
    timeout: float | None = None,
) -> filelock.FileLock:
    """vLLM's lock for `model_name_or_path` in `cache_dir` (else the temp dir): the same file."""
    return locks.get_lock(str(model_name_or_path), cache_dir, timeout)


def atomic_writer(
    filepath: str | os.PathLike[str], mode: str = "w", encoding: str | None = None
) -> contextlib.AbstractContextManager[IO[Any]]:
    """Write `filepath` through a temporary file renamed over it on success (`weightlib.atomic`).

    As vLLM's: every mode starts from an empty temporary file, so `a` and `x` (with `+`, `b`,
    `t`) write only the new content and replace the target; `weightlib.atomic.atomic_writer`
    itself keeps their `open()` meaning (append to the old content; refuse an existing file).
    """
    fresh = "w" + mode[1:] if mode[:1] in ("a", "x") else mode
    return atomic.atomic_writer(filepath, fresh, encoding)


def _check_prefetch_options(threads: int, block_size: int) -> None:
    if threads < 1:
        raise InvalidInputError("safetensors prefetch num threads must be >= 1")
    if block_size < 1:
        raise InvalidInputError("safetensors prefetch block size must be >= 1")


def _rank_shuffled(files: Iterable[str | os.PathLike[str]]) -> list[str]:
    """vLLM's `shuffle_safetensors_files` order: natural order shuffled with the rank as seed."""
    order = natural_sorted(os.fspath(f) for f in files)
    random.Random(get_tensor_model_parallel_rank()).shuffle(order)
    return order


def safetensors_weights_iterator(
    hf_weights_files: Iterable[str | os.PathLike[str]],
    use_tqdm_on_load: bool = False,
    safetensors_load_strategy: str | None = None,
    local_expert_ids: Collection[int] | None = None,
    *,
    safetensors_prefetch_num_threads: int = DEFAULT_SAFETENSORS_PREFETCH_NUM_THREADS,
    safetensors_prefetch_block_size: int = DEFAULT_SAFETENSORS_PREFETCH_BLOCK_SIZE,
    shuffle_safetensors_files: bool = False,
) -> WeightIterator:
    """`weightlib.iterators.safetensors_weights_iterator` with vLLM's keyword options.

    The prefetch thread count and block size are checked as vLLM does and otherwise unused
    (weightlib reads ahead with one thread); `shuffle_safetensors_files` reads the files in
    vLLM's rank-seeded order, one at a time.
    """
    _check_prefetch_options(safetensors_prefetch_num_threads, safetensors_prefetch_block_size)
    if not shuffle_safetensors_files:
        yield from iterators.safetensors_weights_iterator(
            hf_weights_files, use_tqdm_on_load, safetensors_load_strategy, local_expert_ids
        )
        return
    for path in _rank_shuffled(hf_weights_files):
        yield from iterators.safetensors_weights_iterator(
            [path], False, safetensors_load_strategy, local_expert_ids
        )


def multi_thread_safetensors_weights_iterator(
    hf_weights_files: Iterable[str | os.PathLike[str]],
    use_tqdm_on_load: bool = False,
    max_workers: int = 4,
    shuffle_safetensors_files: bool = False,
) -> WeightIterator:
    """`weightlib.iterators.multi_thread_safetensors_weights_iterator`; with
    `shuffle_safetensors_files`, files are loaded `max_workers` at a time in vLLM's order."""
    if not shuffle_safetensors_files:
        yield from iterators.multi_thread_safetensors_weights_iterator(
            hf_weights_files, use_tqdm_on_load, max_workers
        )
        return
    order = _rank_shuffled(hf_weights_files)
    for start in range(0, len(order), max(max_workers, 1)):
        batch = order[start : start + max(max_workers, 1)]
        yield from iterators.multi_thread_safetensors_weights_iterator(batch, False, max_workers)


def instanttensor_weights_iterator(
    hf_weights_files: Iterable[str | os.PathLike[str]],
    use_tqdm_on_load: bool = False,
    local_expert_ids: Collection[int] | None = None,
    *,
    load_engram_on_cpu: bool = False,
    device: str | None = None,
) -> WeightIterator:
    """`weightlib.iterators.instanttensor_weights_iterator` with vLLM's arguments: tensors of
    experts not in `local_expert_ids` are skipped; `load_engram_on_cpu` is not supported."""
    if load_engram_on_cpu:
        raise InvalidInputError(
            "instanttensor_weights_iterator: load_engram_on_cpu is not supported"
        )
    for name, tensor in iterators.instanttensor_weights_iterator(
        hf_weights_files, use_tqdm_on_load, device
    ):
        expert = iterators.extract_expert_id(name)
        if local_expert_ids is None or expert is None or expert in local_expert_ids:
            yield name, tensor


__all__ = [
    "LoaderFunction",
    "atomic_writer",
    "composed_weight_loader",
    "convert_bin_to_safetensor_file",
    "convert_pyslice_to_tensor",
    "default_weight_loader",
    "download_safetensors_index_file_from_hf",
    "download_weights_from_hf",
    "enable_hf_transfer",
    "enable_xet_high_performance",
    "fastsafetensors_weights_iterator",
    "filter_duplicate_safetensors_files",
    "filter_files_not_needed_for_inference",
    "get_lock",
    "initialize_dummy_weights",
    "initialize_single_dummy_weight",
    "instanttensor_weights_iterator",
    "maybe_download_from_modelscope",
    "maybe_remap_kv_scale_name",
    "multi_thread_pt_weights_iterator",
    "multi_thread_safetensors_weights_iterator",
    "np_cache_weights_iterator",
    "pt_weights_iterator",
    "row_parallel_weight_loader",
    "runai_safetensors_weights_iterator",
    "safetensors_weights_iterator",
    "sharded_weight_loader",
]
