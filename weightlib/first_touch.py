"""What the first CPU touch of a page the device filled costs here: measured, never assumed.

Reads that copy nothing (sendfile to /dev/null, readahead) leave page-cache pages no CPU has
touched. On some VMs (guest memory mapped lazily by the hypervisor) the first CPU access to such
a page costs microseconds, paid later by whoever touches it first: the server, during its load.
Copying reads pay it inside the read instead. On bare metal and VMs with pinned memory the touch
costs what any cached page costs (~0.2 µs, Python's loop included), and the no-copy fill
is cheaper. `touch_cost_ns` measures it on a few hundred real pages of the file being warmed.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import time

from .residency import PAGE_SIZE, resident_bytes_in

SAMPLE_PAGES = 2048
"""Pages sampled: 8 MiB, filled the way the prefetch fills (large folios), a few milliseconds
of work; the pages count as warmed."""
COSTLY_NS_PER_PAGE = 1000.0
"""At or above this per-page first-touch cost, copying while reading wins. Measured on this
project's VMs: 1.1-6.7 µs after sendfile while the guest's memory is still fresh, 0.2-0.26 µs
once mapped (as after any copying read): about 4x the cheap case."""


def touch_cost_ns(fd: int, size: int, offset: int, pages: int = SAMPLE_PAGES) -> float | None:
    """Nanoseconds per page to touch `pages` cold pages at `offset` right after sendfile filled
    them; None when the sample is too small, already cached, or cannot be filled or mapped."""
    start = offset - offset % PAGE_SIZE
    length = min(pages * PAGE_SIZE, size - start)
    if length < 16 * PAGE_SIZE:
        return None
    try:
        if resident_bytes_in(fd, size, [(start, start + length)]) > 0:
            return None  # not a device fill: some pages are already there
        _fill(fd, start, length)
        return _touch(fd, start, length) / (length // PAGE_SIZE)
    except (OSError, ValueError):
        return None


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


def _touch(fd: int, offset: int, length: int) -> float:
    """Nanoseconds to read one byte of every page of the range through a fresh mapping."""
    mapping = mmap.mmap(fd, length, prot=mmap.PROT_READ, offset=offset)
    try:
        began = time.perf_counter_ns()
        total = 0
        for position in range(0, length, PAGE_SIZE):
            total += mapping[position]
        return float(time.perf_counter_ns() - began)
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
    length = SAMPLE_PAGES * PAGE_SIZE
    try:
        with tempfile.NamedTemporaryFile(dir=where, prefix=".weightlib-touch-") as scratch:
            scratch.write(os.urandom(length))
            scratch.flush()
            os.fsync(scratch.fileno())
            os.posix_fadvise(scratch.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            return touch_cost_ns(scratch.fileno(), length, 0)
    except OSError:
        return None
