"""`weightlib prefetch` as a library call: options in, a report out.

`prepare_prefetch` validates the options, resolves and selects the files, plans the reads and
applies the memory guard, all before any byte is read; `PreparedPrefetch.run` then warms. The
two steps are apart so a caller can hand the prepared files to another process instead
(`--background`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..memory import DEFAULT_MAX_MEMORY, memory_limit, parse_size
from .engine import check_method, check_threads, run_prefetch
from .inputs import network_files, rank_slice, resolve_files
from .plan import PrefetchPlan, check_memory, plan_prefetch
from .readers import ProgressCallback
from .report import PrefetchReport, PrefetchStats


@dataclass(frozen=True)
class PrefetchOptions:
    """What to warm and how: the arguments of `weightlib prefetch`."""

    inputs: Sequence[str]
    """Model folders, files, or repository ids resolved in the local hub cache."""
    threads: int | None = None
    """Reader threads (default: 2-4 by CPU count)."""
    block_size: int | str | None = None
    """Bytes per readahead call, or SIZE text like 8M (default: the device's window)."""
    max_memory: str = DEFAULT_MAX_MEMORY
    """SIZE or PCT of available memory that may still be read; more is refused (exit 8)."""
    force: bool = False
    """Skip the memory guard."""
    auto: bool = False
    """Warm only files on a network filesystem; skip the others."""
    tensors: str | None = None
    """A regex: warm only the byte ranges of the safetensors tensors whose name matches."""
    rank: int | None = None
    """With `world_size`: warm `weights[rank::world_size]` (support files on every rank)."""
    world_size: int | None = None
    method: str = "auto"
    """First pass: auto, readahead, sendfile or copy (see `METHODS`)."""


@dataclass
class PreparedPrefetch:
    """A prefetch decided but not started: its plan, or why `--auto` skips the files."""

    options: PrefetchOptions
    plan: PrefetchPlan
    block_size: int | None = None
    """`options.block_size` in bytes."""
    skipped: str | None = None

    def run(self, progress: ProgressCallback | None = None) -> PrefetchReport:
        """Warm the plan (nothing when skipped); per-file failures land in the report."""
        if self.skipped is not None:
            stats = PrefetchStats(0, 0, 0, 0, 0.0, 0, errors=list(self.plan.errors))
            return PrefetchReport(stats, skipped=self.skipped)
        options = self.options
        stats = run_prefetch(self.plan, options.threads, self.block_size, progress, options.method)
        return PrefetchReport(stats)


def prepare_prefetch(
    options: PrefetchOptions, on_warning: Callable[[str], None] | None = None
) -> PreparedPrefetch:
    """Check the options, pick the files and plan what to read; nothing is read yet.

    Inputs that fail are kept in `plan.errors` so the others still proceed; bad options raise
    `InvalidInputError` (exit 2) and the memory guard `ResourceError` (exit 8). `on_warning`
    hears about a `--tensors` pattern that matched nothing.
    """
    block_size = _checked_settings(options)
    resolved = resolve_files(options.inputs)
    weights = rank_slice(resolved.weights, options.rank, options.world_size)
    files = [*weights, *resolved.support]
    if options.auto and files:
        files, reason = network_files(files)
        if not files:
            nothing = PrefetchPlan([], errors=resolved.errors)
            return PreparedPrefetch(options, nothing, block_size, skipped=reason)
    plan = plan_prefetch(files, options.tensors)
    plan.errors[:0] = resolved.errors
    if plan.tensors_matched == 0 and plan.files and on_warning is not None:
        on_warning(f"--tensors {options.tensors!r} matched no tensor; only headers are warmed")
    if not options.force:
        check_memory(plan, *memory_limit(options.max_memory))
    return PreparedPrefetch(options, plan, block_size)


def _checked_settings(options: PrefetchOptions) -> int | None:
    """Refuse a bad method or thread count before any file is touched; the block size in bytes."""
    check_method(options.method)
    if options.threads is not None:
        check_threads(options.threads)
    if isinstance(options.block_size, str):
        return parse_size(options.block_size, "--block-size")
    return options.block_size
