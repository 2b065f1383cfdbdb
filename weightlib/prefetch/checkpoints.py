"""Prefetch as a function call from a loader (vLLM's helper names): files in, stats out."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable

from .engine import run_prefetch
from .plan import check_memory, plan_prefetch
from .readers import ProgressCallback
from .report import PrefetchStats


class PrefetchHandle:
    """A prefetch running in a background thread: `wait()` returns its `PrefetchStats`."""

    def __init__(self, work: Callable[[], PrefetchStats]) -> None:
        self._result: PrefetchStats | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], PrefetchStats]) -> None:
        try:
            self._result = work()
        except BaseException as exc:  # handed to the caller of wait()
            self._error = exc

    def done(self) -> bool:
        """Whether the prefetch has ended (successfully or not)."""
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> PrefetchStats:
        """Block until the prefetch ends (TimeoutError after `timeout` s); re-raise its error."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("prefetch still running")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def prefetch_all_checkpoints(
    files: Iterable[str | os.PathLike[str]],
    num_threads: int | None = None,
    block_size: int | None = None,
    background: bool = False,
    *,
    tensors: str | re.Pattern[str] | None = None,
    max_memory: int | None = None,
    progress: ProgressCallback | None = None,
    method: str = "auto",
) -> PrefetchStats | PrefetchHandle:
    """Warm `files` into the page cache; returns stats (per-file failures in `.errors`).

    `background=True` returns a `PrefetchHandle` at once (the work runs in a daemon thread).
    `max_memory`: refuse with `ResourceError` when more than this many bytes are still to read.
    """
    file_list = [os.fspath(f) for f in files]

    def work() -> PrefetchStats:
        plan = plan_prefetch(file_list, tensors)
        if max_memory is not None:
            check_memory(plan, max_memory, str(max_memory))
        return run_prefetch(plan, num_threads, block_size, progress, method)

    if background:
        return PrefetchHandle(work)
    return work()


def prefetch_checkpoint(
    path: str | os.PathLike[str], block_size: int | None = None, num_threads: int | None = None
) -> PrefetchStats:
    """Warm one file into the page cache; raises the typed error when it cannot be read."""
    stats = run_prefetch(plan_prefetch([path]), num_threads, block_size)
    stats.raise_for_errors()
    return stats
