"""The parts that move bytes: open files cut into chunks, reader threads, readahead and sendfile.

Every call here releases the GIL (os.sendfile, os.preadv, readahead through ctypes), so a few
threads keep a device queue busy while Python only hands out chunks.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import linux
from ..residency import FileError, Range, error_for_oserror
from .plan import FilePlan

ProgressCallback = Callable[[int, int], None]
"""Called as progress(bytes_done, bytes_total) from worker threads (serialised by a lock)."""

DEFAULT_WINDOW = 8 * 1024 * 1024
"""Bytes per readahead call when the device's window cannot be read from /sys."""
MIN_WINDOW = 128 * 1024
READ_CHUNK = 64 * 1024 * 1024
"""Bytes per sendfile call."""
PREAD_BUFFER = 16 * 1024 * 1024
"""Bytes of the per-thread buffer where sendfile is unsupported."""
UNSUPPORTED = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)
"""errno values meaning "this file or filesystem does not support the call"."""

_window_cache: dict[int, int] = {}


def readahead_window(st_dev: int, sys_root: str | os.PathLike[str] = "/sys") -> int:
    """Bytes one readahead call can fill on device `st_dev`: max(read_ahead_kb, max_sectors_kb).

    Reads /sys/dev/block/MAJ:MIN/queue (the parent disk's for a partition) and
    /sys/class/bdi/MAJ:MIN; 8 MiB when none is readable.
    """
    real_sys = os.fspath(sys_root) == "/sys"
    if real_sys and st_dev in _window_cache:
        return _window_cache[st_dev]
    root = Path(sys_root)
    dev = f"{os.major(st_dev)}:{os.minor(st_dev)}"
    block = root / "dev/block" / dev
    candidates = [
        block / "queue/read_ahead_kb",
        block / "queue/max_sectors_kb",
        block / "../queue/read_ahead_kb",
        block / "../queue/max_sectors_kb",
        root / "class/bdi" / dev / "read_ahead_kb",
    ]
    values = [v for v in (_read_kb(c) for c in candidates) if v]
    window = max(MIN_WINDOW, max(values)) if values else DEFAULT_WINDOW
    if real_sys:
        _window_cache[st_dev] = window
    return window


def _read_kb(path: Path) -> int | None:
    """Bytes from a /sys file holding KiB, or None when it is missing or not a number."""
    try:
        return int(path.read_text().strip()) * 1024
    except (OSError, ValueError):
        return None


class ByteCounter:
    """Thread-safe count of bytes requested, reported to a progress callback."""

    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.total = total
        self.done = 0
        self.callback = callback
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        """Count `n` more bytes (capped at the total) and report."""
        with self.lock:
            self.done = min(self.total, self.done + n)
            if self.callback is not None:
                self.callback(self.done, self.total)


@dataclass
class OpenFile:
    """A planned file held open while its batch is warmed, and its first failure."""

    plan: FilePlan
    fd: int
    window: int
    """Bytes per readahead call."""
    method: str = "readahead"
    """How the first pass brings the file in: `readahead`, `sendfile`, `copy`, or `auto` (whole
    files under `--method auto`: `fill.AutoFill` decides per piece)."""
    failed: FileError | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, exc: OSError) -> None:
        """Record the first OS failure on this file; later chunks of it are skipped."""
        with self.lock:
            if self.failed is None:
                self.failed = FileError.from_error(
                    self.plan.path, error_for_oserror(self.plan.path, exc)
                )


Chunk = tuple[OpenFile, int, int]
"""(file, offset, length) of one call."""


def chunks(
    files: Sequence[OpenFile], ranges: Mapping[int, Sequence[Range]], by_method: bool = False
) -> Iterator[Chunk]:
    """(file, offset, length) pieces of each file's ranges, in order: one readahead window long,
    or `READ_CHUNK` for files read with sendfile when `by_method` is set."""
    for item in files:
        whole = item.method in ("sendfile", "copy", "auto")
        step = READ_CHUNK if by_method and whole else item.window
        for start, end in ranges.get(item.fd, ()):
            for offset in range(start, end, step):
                yield item, offset, min(end, offset + step) - offset


def run_threads(
    work: Iterator[Chunk], action: Callable[[OpenFile, int, int], None], num_threads: int
) -> None:
    """Run `action` on every chunk of `work`, pulled by `num_threads` threads; an OS failure
    marks its file failed and the rest of that file is skipped."""
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                item = next(work, None)
            if item is None:
                return
            target, offset, length = item
            if target.failed is not None:
                continue
            try:
                action(target, offset, length)
            except OSError as exc:
                target.fail(exc)

    if num_threads <= 1:
        worker()
        return
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(num_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class Readahead:
    """Queues readahead(2) calls; a file whose filesystem refuses them is left to the reader."""

    def __init__(self) -> None:
        self.unsupported: set[int] = set()

    def issue(self, target: OpenFile, offset: int, length: int) -> None:
        """Ask the kernel to start reading `length` bytes at `offset` (returns at once)."""
        if target.fd in self.unsupported:
            return
        try:
            linux.readahead(target.fd, offset, length)
        except OSError as exc:
            if exc.errno not in UNSUPPORTED:
                raise
            self.unsupported.add(target.fd)


class Reader:
    """Reads ranges outright: sendfile to /dev/null (no copy to user space), else pread."""

    def __init__(self) -> None:
        self.devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        self.local = threading.local()

    def close(self) -> None:
        """Close /dev/null."""
        os.close(self.devnull)

    def read(self, target: OpenFile, offset: int, length: int) -> None:
        """Bring `length` bytes at `offset` into the page cache by reading them."""
        end = offset + length
        use_sendfile = getattr(self.local, "sendfile", True)
        while offset < end:
            if use_sendfile:
                try:
                    sent = os.sendfile(self.devnull, target.fd, offset, end - offset)
                except OSError as exc:
                    if exc.errno not in UNSUPPORTED:
                        raise
                    use_sendfile = self.local.sendfile = False
                    continue
            else:
                sent = self._pread(target.fd, offset, end - offset)
            if sent == 0:  # the file shrank
                return
            offset += sent

    def copy(self, target: OpenFile, offset: int, length: int) -> None:
        """Bring `length` bytes at `offset` in by copying them into this thread's reused buffer:
        the CPU touches every page now, inside the read, not during the server's load."""
        end = offset + length
        while offset < end:
            got = self._pread(target.fd, offset, end - offset)
            if got == 0:  # the file shrank
                return
            offset += got

    def _pread(self, fd: int, offset: int, length: int) -> int:
        """One pread into this thread's buffer; the bytes read."""
        buffer = getattr(self.local, "buffer", None)
        if buffer is None:  # page-aligned buffers make readinto much faster than bytearray
            buffer = self.local.buffer = mmap.mmap(-1, PREAD_BUFFER)
        view = memoryview(buffer)[: min(length, len(buffer))]
        try:
            return os.preadv(fd, [view], offset)
        finally:
            view.release()
