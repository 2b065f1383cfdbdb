"""Warm a checkpoint's files into the page cache before a server mmaps them.

The package, by job:

- `inputs`: MODEL_OR_FILE arguments resolved to files (`resolve_files`), a rank's slice,
  the files on a network filesystem (also used by `status` and `evict`);
- `plan`: what to read — wanted ranges minus resident pages (`plan_prefetch`), the memory guard;
- `engine` and `readers`: the warming itself (sendfile, copy, readahead, verification, repair);
- `fill`: `auto`'s whole-file pass (`AutoFill`: sendfile, or copy once sampled first touches
  prove costly, `weightlib.first_touch`);
- `report`: the outcome (`PrefetchStats`, `PrefetchReport`, `PrefetchError`);
- `flow`: `weightlib prefetch` as a call (`prepare_prefetch(PrefetchOptions(...)).run()`);
- `checkpoints`: vLLM-style helpers (`prefetch_checkpoint`, `prefetch_all_checkpoints`).
"""

from __future__ import annotations

from ..fs import is_network_fs
from ..memory import DEFAULT_MAX_MEMORY, available_memory_bytes
from ..residency import FileError, evict, residency
from .checkpoints import PrefetchHandle, prefetch_all_checkpoints, prefetch_checkpoint
from .engine import (
    BATCH_FILES,
    DROPPED_SHARE,
    MAX_THREADS,
    METHODS,
    NETWORK_THREADS,
    REISSUE_ROUNDS,
    default_threads,
    run_prefetch,
)
from .fill import AutoFill, FillChoice
from .flow import PrefetchOptions, PreparedPrefetch, prepare_prefetch
from .inputs import ResolvedFiles, network_files, rank_slice, resolve_files
from .plan import WEIGHT_SUFFIXES, FilePlan, PrefetchPlan, check_memory, plan_prefetch
from .readers import DEFAULT_WINDOW, MIN_WINDOW, READ_CHUNK, ProgressCallback, readahead_window
from .report import PrefetchError, PrefetchReport, PrefetchStats

__all__ = [
    "BATCH_FILES",
    "DEFAULT_MAX_MEMORY",
    "DEFAULT_WINDOW",
    "DROPPED_SHARE",
    "MAX_THREADS",
    "METHODS",
    "MIN_WINDOW",
    "NETWORK_THREADS",
    "READ_CHUNK",
    "REISSUE_ROUNDS",
    "WEIGHT_SUFFIXES",
    "AutoFill",
    "FileError",
    "FilePlan",
    "FillChoice",
    "PrefetchError",
    "PrefetchHandle",
    "PrefetchOptions",
    "PrefetchPlan",
    "PrefetchReport",
    "PrefetchStats",
    "PreparedPrefetch",
    "ProgressCallback",
    "ResolvedFiles",
    "available_memory_bytes",
    "check_memory",
    "default_threads",
    "evict",
    "is_network_fs",
    "network_files",
    "plan_prefetch",
    "prefetch_all_checkpoints",
    "prefetch_checkpoint",
    "prepare_prefetch",
    "rank_slice",
    "readahead_window",
    "residency",
    "resolve_files",
    "run_prefetch",
]
