"""Warm a plan's missing ranges into the page cache as fast as the storage allows, at little CPU.

How: pages already cached are skipped (the plan holds only what is missing). Whole files are
read with `sendfile` to /dev/null in 64 MiB pieces on a few threads: the kernel fills the page
cache (in large folios) and nothing is copied to user space. Byte ranges (`--tensors`) are
requested with `readahead(2)` in chunks of the device's readahead window, which reads exactly
the ranges. Afterwards residency is checked: ranges still missing get readahead again a few
times, and what is left is read with sendfile (plain `pread` where that is unsupported). That
last pass doubles as the barrier for reads still in flight and the fallback for filesystems
that ignore readahead.

Measured on this project's VMs (bench/prefetch.py): sendfile reached the same or higher GB/s
than readahead(2) at a third of the CPU. But where the first CPU touch of a page the device filled
is expensive (lazily mapped VM memory, `weightlib.first_touch`), the server pays that during its
load, and warming first made the load slower (bench/load.py). So `auto` samples that cost on every
piece it fills and, from the moment it is costly, reads by copying into a reused buffer (`copy`:
the touch is paid inside the prefetch, across several threads), else keeps sendfile (`fill`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence

from .. import linux
from ..errors import InvalidInputError, WeightlibError
from ..fs import get_fs_type, is_network_fs
from ..residency import (
    PAGE_SIZE,
    FileError,
    Range,
    missing_ranges,
    open_for_cache,
    resident_bytes_in,
)
from .fill import AutoFill, FillChoice, explicit_choice
from .plan import FilePlan, PrefetchPlan
from .readers import (
    ByteCounter,
    OpenFile,
    ProgressCallback,
    Readahead,
    Reader,
    chunks,
    readahead_window,
    run_threads,
)
from .report import PrefetchStats

REISSUE_ROUNDS = 2
"""How often readahead is re-issued for ranges still missing before they are read outright."""
MAX_THREADS = 64
METHODS = ("auto", "readahead", "sendfile", "copy")
"""First-pass methods. `auto`: for whole files `copy` where the first CPU touch of a page the
device filled is costly (measured), else `sendfile`; readahead for byte ranges (--tensors),
where a whole-file read would spill past the ranges."""
NETWORK_THREADS = 8
"""Reader threads on a network filesystem: a single stream is latency-bound there, so more
requests in flight fill the link (bench/load.py, sshfs through a 2 ms relay)."""
BATCH_FILES = 64
"""Files held open at once while warming (fewer when the descriptor limit is low)."""
DROPPED_SHARE = 0.5
"""A file whose wanted bytes are less than this share cached right after reading was dropped."""


def default_threads(network: bool = False) -> int:
    """2–4 threads: enough to keep a local device's queue busy; `NETWORK_THREADS` on a network
    filesystem, where latency bounds each stream."""
    if network:
        return NETWORK_THREADS
    return min(4, max(2, os.cpu_count() or 2))


def _on_network(plan: PrefetchPlan) -> bool:
    """True when the first file to read is on a network filesystem."""
    first = next((f for f in plan.files if f.missing), None)
    return first is not None and is_network_fs(get_fs_type(first.path))


def check_method(method: str) -> None:
    """Refuse a first-pass method not in `METHODS` (exit 2)."""
    if method not in METHODS:
        raise InvalidInputError(f"unknown --method {method!r}; use one of {', '.join(METHODS)}")


def check_threads(threads: int) -> None:
    """Refuse a thread count outside 1..`MAX_THREADS` (exit 2)."""
    if not 1 <= threads <= MAX_THREADS:
        raise InvalidInputError(f"--threads must be in 1..{MAX_THREADS}, got {threads}")


def run_prefetch(
    plan: PrefetchPlan,
    num_threads: int | None = None,
    block_size: int | None = None,
    progress: ProgressCallback | None = None,
    method: str = "auto",
) -> PrefetchStats:
    """Bring the plan's missing ranges into the page cache and verify they arrived.

    `block_size` is the size of each readahead call (default: the device's readahead window).
    `method` (see `METHODS`) chooses the first pass. Files are opened in batches (at most
    `BATCH_FILES`, fewer under a low descriptor limit), so thousands of shards fit. Per-file
    failures land in `errors`; the other files are still warmed.
    """
    check_method(method)
    threads = default_threads(_on_network(plan)) if num_threads is None else num_threads
    check_threads(threads)
    if block_size is not None and block_size < PAGE_SIZE:
        raise InvalidInputError(f"--block-size must be at least {PAGE_SIZE} bytes")
    started = time.monotonic()
    errors = list(plan.errors)
    todo = [f for f in plan.files if f.missing]
    warmer = _Warmer(threads, block_size, method, ByteCounter(plan.to_read_bytes, progress))
    repaired = 0
    try:
        step = _batch_size()
        for first in range(0, len(todo), step):
            repaired += warmer.warm(todo[first : first + step], errors)
    finally:
        warmer.close()
    fill = warmer.choice()
    failed = {e.path for e in errors[len(plan.errors) :]}
    resident_after, dropped = _resident_after(plan, failed)
    return PrefetchStats(
        files=len(plan.files) - len(failed),
        bytes=plan.bytes,
        already_resident_bytes=plan.already_resident_bytes,
        read_bytes=plan.to_read_bytes,
        seconds=time.monotonic() - started,
        resident_after_bytes=resident_after,
        errors=errors,
        repaired_bytes=repaired,
        dropped_files=dropped,
        method=fill.method,
        method_reason=fill.reason,
        first_touch_ns=fill.first_touch_ns,
    )


def _batch_size() -> int:
    """`BATCH_FILES`, or fewer so the batch fits the descriptors left under RLIMIT_NOFILE."""
    try:
        import resource  # POSIX only: elsewhere the default batch applies

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        in_use = len(os.listdir("/proc/self/fd"))
    except (ImportError, OSError, ValueError):
        return BATCH_FILES
    if soft == resource.RLIM_INFINITY:
        return BATCH_FILES
    return max(1, min(BATCH_FILES, soft - in_use - 8))


class _Warmer:
    """Warms batches of planned files with one set of settings, one reader and one counter."""

    def __init__(
        self, threads: int, block_size: int | None, method: str, counter: ByteCounter
    ) -> None:
        self.threads = threads
        self.block_size = block_size
        self.method = method
        self.counter = counter
        self.reader = Reader()
        self.auto_fill = AutoFill(self.reader)
        """`auto`'s whole-file pass: sendfile, or copy once touches prove costly."""

    def close(self) -> None:
        """Release the reader."""
        self.reader.close()

    def choice(self) -> FillChoice:
        """How whole files were read, and why."""
        return self.auto_fill.choice() if self.method == "auto" else explicit_choice(self.method)

    def warm(self, batch: Sequence[FilePlan], errors: list[FileError]) -> int:
        """Open, warm, verify and close one batch; return the bytes read in the repair pass."""
        opened: list[OpenFile] = []
        try:
            self._open(batch, opened, errors)
            readahead = Readahead()

            def first_pass(target: OpenFile, offset: int, length: int) -> None:
                if target.method == "auto":
                    self.auto_fill(target, offset, length)
                elif target.method == "sendfile":
                    self.reader.read(target, offset, length)
                elif target.method == "copy":
                    self.reader.copy(target, offset, length)
                else:
                    readahead.issue(target, offset, length)
                self.counter.add(length)

            planned = {item.fd: item.plan.missing for item in opened}
            run_threads(chunks(opened, planned, by_method=True), first_pass, self.threads)
            self.auto_fill.finish_batch(self.threads)
            repaired = self._repair(opened, readahead)
        finally:
            for item in opened:
                os.close(item.fd)
        errors.extend(item.failed for item in opened if item.failed is not None)
        return repaired

    def _open(
        self, batch: Sequence[FilePlan], opened: list[OpenFile], errors: list[FileError]
    ) -> None:
        """Open the batch's files into `opened`, each with its window and first-pass method."""
        for file_plan in batch:
            try:
                fd = open_for_cache(file_plan.path)
            except WeightlibError as exc:
                errors.append(FileError.from_error(file_plan.path, exc))
                continue
            window = self.block_size or readahead_window(file_plan.st_dev)
            opened.append(OpenFile(file_plan, fd, window, self._first_pass_method(file_plan)))

    def _first_pass_method(self, file_plan: FilePlan) -> str:
        """`--method`, or for `auto` its whole-file pass (`AutoFill`); ranges get readahead."""
        if self.method != "auto":
            return self.method
        return "auto" if file_plan.whole_file else "readahead"

    def _repair(self, opened: Sequence[OpenFile], readahead: Readahead) -> int:
        """Re-issue readahead for what is still missing, then read what is left outright;
        return the bytes that had no page cached at all before that last read."""
        hidden = {item.fd for item in opened if not item.plan.visible}
        remaining = _still_missing(opened)
        for _ in range(REISSUE_ROUNDS):
            if not remaining:
                break
            visible = {fd: r for fd, r in remaining.items() if fd not in hidden}
            run_threads(chunks(opened, visible), readahead.issue, self.threads)
            remaining = _still_missing(opened)
        repaired = _absent_bytes(opened, remaining)
        for item in opened:
            if item.fd in remaining and not item.plan.whole_file:
                # Partial ranges (--tensors): no readahead beyond what was asked for.
                os.posix_fadvise(item.fd, 0, 0, os.POSIX_FADV_RANDOM)
        run_threads(chunks(opened, remaining), self.reader.read, self.threads)
        return repaired


def _still_missing(opened: Sequence[OpenFile]) -> dict[int, list[Range]]:
    """Per open file, the planned ranges not cached yet.

    Where residency is hidden, a file read with sendfile is done (that read was synchronous);
    one that only got readahead is reported missing in full, to be read.
    """
    remaining: dict[int, list[Range]] = {}
    for item in opened:
        synchronous = item.method in ("sendfile", "copy", "auto")
        if item.failed is not None or (not item.plan.visible and synchronous):
            continue
        missing = list(item.plan.missing)
        if item.plan.visible:
            # A file that cannot be mapped is read in full (cheap where cached).
            with contextlib.suppress(OSError):
                missing = missing_ranges(item.fd, item.plan.size, item.plan.missing)
        if missing:
            remaining[item.fd] = missing
    return remaining


def _absent_bytes(opened: Sequence[OpenFile], remaining: dict[int, list[Range]]) -> int:
    """Bytes of `remaining` with no page in the cache at all (not merely still in flight)."""
    total = 0
    for item in opened:
        if not item.plan.visible:
            continue
        for start, end in remaining.get(item.fd, []):
            try:
                present = linux.cachestat(item.fd, start, end - start) * PAGE_SIZE
            except OSError:
                present = 0
            total += max(0, end - start - present)
    return total


def _resident_after(plan: PrefetchPlan, failed: set[str]) -> tuple[int, list[str]]:
    """Cached bytes of the wanted ranges, re-measured through a new open, and the files that
    lost most of what was read (a filesystem that drops its cache, or memory pressure)."""
    total, dropped = 0, []
    for plan_file in plan.files:
        if plan_file.path in failed:
            continue
        if not plan_file.visible:  # read in full by sendfile; residency cannot be seen
            total += plan_file.wanted_bytes
            continue
        cached = _cached_bytes(plan_file)
        if cached is None:
            continue
        total += cached
        if plan_file.missing and cached < DROPPED_SHARE * plan_file.wanted_bytes:
            dropped.append(plan_file.path)
    return total, dropped


def _cached_bytes(plan_file: FilePlan) -> int | None:
    """Cached bytes of a file's wanted ranges through a new open; None when it cannot be opened,
    0 when residency cannot be read."""
    try:
        fd = open_for_cache(plan_file.path)
    except WeightlibError:
        return None
    try:
        return resident_bytes_in(fd, plan_file.size, plan_file.ranges)
    except OSError:
        return 0
    finally:
        os.close(fd)
