"""What the first CPU touch of a page the device filled costs here: measured, never assumed.

Reads that copy nothing (sendfile to /dev/null, readahead) leave page-cache pages no CPU has
touched. On some VMs (guest memory mapped lazily by the hypervisor) the first CPU access to such
a page costs microseconds, paid later by whoever touches it first: the server, during its load.
Copying reads pay it inside the read instead. On bare metal and VMs with pinned memory the touch
costs what any cached page costs (~0.2 µs, Python's loop included), and the no-copy fill
is cheaper. `sample_touch_ns` times one run of pages of a piece the prefetch has just filled
(`prefetch --method auto` samples every piece, `weightlib.prefetch.fill`); `touch_cost_ns` fills
and times a 64 MiB sample on its own (`doctor`, through `measure_in`).
"""

from __future__ import annotations

import mmap
import os
import statistics
import tempfile
import time

from .residency import PAGE_SIZE, resident_bytes_in

SAMPLE_BYTES = 64 * 1024 * 1024
"""Bytes filled for the sample, as the prefetch fills them (one sendfile piece). The first few
MiB the kernel allocates after a pause come from memory the hypervisor still maps, so a small
sample at the head of a file reads cheap where the rest costs 20x more (measured here: 0.26 µs
per page on the first 8 MiB, 4-8 µs on the rest of a 256 MiB file)."""
RUNS = 16
"""Runs of touched pages, spread evenly over the sample; the cost is their median."""
RUN_PAGES = 32
"""Pages per run: contiguous, so a cost paid per larger mapping is averaged, not per run."""
COSTLY_NS_PER_PAGE = 700.0
"""At or above this per-page first-touch cost, copying while reading wins. Measured on this
project's VMs (a Python loop reading one byte per page through a fresh mapping): 1.0-13 µs after
sendfile into memory the hypervisor has not mapped yet, 0.03-0.36 µs once mapped (as after any
copying read, or on bare metal); 0.7 µs is twice the cheap regime's worst."""


def touch_cost_ns(fd: int, size: int, offset: int, length: int = SAMPLE_BYTES) -> float | None:
    """Median nanoseconds per page to touch runs of pages spread over `length` cold bytes at
    `offset`, right after sendfile filled them; None when the sample is too small, already
    cached, or cannot be filled or mapped. The filled pages count as warmed."""
    start = offset - offset % PAGE_SIZE
    length = min(length, size - start) // PAGE_SIZE * PAGE_SIZE
    if length < 4 * RUN_PAGES * PAGE_SIZE:
        return None
    try:
        if resident_bytes_in(fd, size, [(start, start + length)]) > 0:
            return None  # not a device fill: some pages are already there
        _fill(fd, start, length)
        return statistics.median(_touch_runs(fd, start, length))
    except (OSError, ValueError):
        return None


def sample_touch_ns(fd: int, offset: int, length: int) -> float | None:
    """Nanoseconds per page to touch one run of `RUN_PAGES` pages in the middle of a range that
    was just filled (well under a millisecond even where costly); None when the range is too
    short or cannot be mapped."""
    run_bytes = RUN_PAGES * PAGE_SIZE
    if length < 2 * run_bytes:
        return None
    middle = offset + length // 2
    start = middle - middle % PAGE_SIZE
    try:
        mapping = mmap.mmap(fd, run_bytes, prot=mmap.PROT_READ, offset=start)
    except (OSError, ValueError):
        return None
    try:
        return _time_run(mapping, 0)
    finally:
        mapping.close()


def _time_run(mapping: mmap.mmap, first: int) -> float:
    """Nanoseconds per page to read one byte of each of `RUN_PAGES` pages from `first`."""
    began = time.perf_counter_ns()
    total = 0
    for position in range(first, first + RUN_PAGES * PAGE_SIZE, PAGE_SIZE):
        total += mapping[position]
    return (time.perf_counter_ns() - began) / RUN_PAGES


def _fill(fd: int, offset: int, length: int) -> None:
    """sendfile the range to /dev/null: the device fills the pages, no CPU copies them."""
    sink = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    try:
        end = offset + length
        while offset < end:
            sent = os.sendfile(sink, fd, offset, end - offset)
            if sent == 0:
                return
            offset += sent
    finally:
        os.close(sink)


def _touch_runs(fd: int, offset: int, length: int) -> list[float]:
    """Per run of `RUN_PAGES` pages spread over the range, nanoseconds per page to read one byte
    of each page through a fresh mapping."""
    run_bytes = RUN_PAGES * PAGE_SIZE
    stride = max(run_bytes, (length - run_bytes) // (RUNS - 1) // PAGE_SIZE * PAGE_SIZE)
    mapping = mmap.mmap(fd, length, prot=mmap.PROT_READ, offset=offset)
    try:
        return [_time_run(mapping, first) for first in range(0, length - run_bytes + 1, stride)]
    finally:
        mapping.close()


def is_costly(cost_ns: float | None) -> bool:
    """True when a measured first-touch cost makes copying while reading the faster fill."""
    return cost_ns is not None and cost_ns >= COSTLY_NS_PER_PAGE


def measure_in(folder: str | os.PathLike[str] | None = None) -> float | None:
    """The first-touch cost on a scratch file in `folder` (default: TMPDIR, else /var/tmp),
    written, synced, dropped from the cache and removed; None where its pages cannot be
    dropped (a memory-backed folder) or it cannot be written."""
    default = "/var/tmp" if os.path.isdir("/var/tmp") else None
    where = folder or os.environ.get("TMPDIR") or default
    try:
        with tempfile.NamedTemporaryFile(dir=where, prefix=".weightlib-touch-") as scratch:
            _write_scratch(scratch.name, SAMPLE_BYTES)
            fd = scratch.fileno()
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            return touch_cost_ns(fd, SAMPLE_BYTES, 0)
    except OSError:
        return None


def _write_scratch(path: str, length: int) -> None:
    """`length` random bytes, written with O_DIRECT where the filesystem allows: a buffered
    write would leave just-freed, still-mapped pages for the sample to reuse, reading cheap."""
    block = mmap.mmap(-1, 1024 * 1024)  # page-aligned, as O_DIRECT needs
    block.write(os.urandom(len(block)))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError:  # no O_DIRECT here (tmpfs and some FUSE): buffered
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        for _ in range(length // len(block)):
            os.write(fd, block)
    finally:
        os.close(fd)
        block.close()
