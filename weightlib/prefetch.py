"""Warm a checkpoint's files into the page cache as fast as the storage allows, at little CPU.

How: pages already cached are skipped (cachestat / mincore, nothing faulted in). Whole files are
read with `sendfile` to /dev/null in 64 MiB pieces on a few threads: the kernel fills the page
cache (in large folios) and nothing is copied to user space. Byte ranges (`--tensors`) are
requested with `readahead(2)` in chunks of the device's readahead window, which reads exactly
the ranges. Afterwards residency is checked: ranges still missing get readahead again a few
times, and what is left is read with sendfile (plain `pread` where that is unsupported). That
last pass doubles as the barrier for reads still in flight and the fallback for filesystems
that ignore readahead.

Measured on this project's VMs (bench/prefetch.py): sendfile reached the same or higher GB/s
than readahead(2) at a third of the CPU, and a later mmap of the files faulted in faster.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import linux
from .errors import (
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    ResourceError,
    WeightlibError,
)
from .fs import get_fs_type, is_network_fs
from .memory import available_memory_bytes
from .residency import (
    PAGE_SIZE,
    Range,
    error_for_oserror,
    evict,
    merge_ranges,
    missing_ranges,
    open_for_cache,
    quick_missing_ranges,
    residency,
    residency_visible,
    resident_bytes_in,
)

__all__ = [
    "FileError",
    "FilePlan",
    "PrefetchError",
    "PrefetchHandle",
    "PrefetchPlan",
    "PrefetchStats",
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
    "rank_slice",
    "readahead_window",
    "residency",
    "resolve_files",
    "run_prefetch",
]

DEFAULT_WINDOW = 8 * 1024 * 1024
"""Bytes per readahead call when the device's window cannot be read from /sys."""

MIN_WINDOW = 128 * 1024
REISSUE_ROUNDS = 2
"""How often readahead is re-issued for ranges still missing before they are read outright."""

MAX_THREADS = 64
METHODS = ("auto", "readahead", "sendfile")
"""First-pass methods. `auto`: sendfile for whole files, readahead for byte ranges (--tensors),
where sendfile's own readahead would spill past the ranges."""
READ_CHUNK = 64 * 1024 * 1024
"""Bytes per sendfile call."""
BATCH_FILES = 64
"""Files held open at once while warming (fewer when the descriptor limit is low)."""
DROPPED_SHARE = 0.5
"""A file whose wanted bytes are less than this share cached right after reading was dropped."""
_UNSUPPORTED = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)
"""errno values meaning "this file or filesystem does not support the call"."""
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")

ProgressCallback = Callable[[int, int], None]
"""Called as progress(bytes_done, bytes_total) from worker threads (serialised by a lock)."""


class PrefetchError(WeightlibError):
    """Some inputs could not be processed; the exit code is that of the first failure."""

    def __init__(self, errors: Sequence[FileError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        self.exit_code = first.exit_code
        if len(self.errors) == 1:
            message = first.message
        else:
            message = f"{len(self.errors)} inputs failed: " + "; ".join(
                e.message for e in self.errors
            )
        super().__init__(message)


@dataclass(frozen=True)
class FileError:
    """A file (or input) that could not be warmed, the one-line reason and its exit code."""

    path: str
    message: str
    exit_code: int
    exception: WeightlibError | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_error(cls, path: str, exc: WeightlibError) -> FileError:
        return cls(path, str(exc), exc.exit_code, exc)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "message": self.message, "exit_code": self.exit_code}


@dataclass
class ResolvedFiles:
    """Inputs resolved to files: weights (in load order), support files, and inputs that failed."""

    weights: list[Path] = field(default_factory=list)
    support: list[Path] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [*self.weights, *self.support]


def resolve_files(inputs: Iterable[str | os.PathLike[str]], fmt: str = "auto") -> ResolvedFiles:
    """Files behind each input: a model folder gives its weights plus config/tokenizer files,
    a file is taken as is, a repo id (`org/name[@rev]`, `hf://…`, `ms://…`) is its snapshot in
    the local hub cache (never the network). Failures are collected per input, so the others
    still proceed.
    """
    from .checkpoint import looks_like_repo_id
    from .shards import local_serving_files

    resolved = ResolvedFiles()
    seen: set[str] = set()

    def add(target: list[Path], path: Path) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            target.append(path)

    for item in inputs:
        name = os.fspath(item)
        path = Path(name)
        try:
            if not name.strip():
                raise InvalidInputError("an empty path was given")
            if not path.exists() and looks_like_repo_id(name):
                from .hub import cached_snapshot

                path = cached_snapshot(name)
            if path.is_dir():
                weights, support = local_serving_files(path, fmt)
                for p in weights:
                    add(resolved.weights, p)
                for p in support:
                    add(resolved.support, p)
            elif path.exists():
                add(resolved.weights, path)
            else:
                raise NotFoundError(f"{name}: no such file or directory")
        except WeightlibError as exc:
            resolved.errors.append(FileError.from_error(name, exc))
        except OSError as exc:
            resolved.errors.append(FileError.from_error(name, error_for_oserror(name, exc)))
    return resolved


def rank_slice(files: Sequence[Path], rank: int | None, world_size: int | None) -> list[Path]:
    """`files[rank::world_size]`, after checking the pair (both or neither; 0 ≤ rank < N)."""
    if rank is None and world_size is None:
        return list(files)
    if rank is None or world_size is None:
        raise InvalidInputError("--rank and --world-size go together; give both")
    if world_size < 1:
        raise InvalidInputError(f"--world-size must be at least 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise InvalidInputError(f"--rank must be in 0..{world_size - 1}, got {rank}")
    return list(files[rank::world_size])


def default_threads() -> int:
    """2–4 threads: enough to keep a device queue busy, few enough for a network filesystem."""
    return min(4, max(2, os.cpu_count() or 2))


_window_cache: dict[int, int] = {}


def _read_kb(path: Path) -> int | None:
    try:
        return int(path.read_text().strip()) * 1024
    except (OSError, ValueError):
        return None


def readahead_window(st_dev: int, sys_root: str | os.PathLike[str] = "/sys") -> int:
    """Bytes one readahead call can fill on device `st_dev`: max(read_ahead_kb, max_sectors_kb).

    Reads /sys/dev/block/MAJ:MIN/queue (the parent disk's for a partition) and
    /sys/class/bdi/MAJ:MIN; 8 MiB when none is readable.
    """
    if st_dev in _window_cache and os.fspath(sys_root) == "/sys":
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
    if os.fspath(sys_root) == "/sys":
        _window_cache[st_dev] = window
    return window


@dataclass
class FilePlan:
    """One file to warm: its size, the wanted ranges, and the part of them not yet cached."""

    path: str
    size: int
    ranges: list[Range]
    missing: list[Range]
    st_dev: int = 0
    visible: bool = True
    """False when residency cannot be seen (not our file): everything is read, then counted."""

    @property
    def wanted_bytes(self) -> int:
        return sum(end - start for start, end in self.ranges)

    @property
    def missing_bytes(self) -> int:
        return sum(end - start for start, end in self.missing)


@dataclass
class PrefetchPlan:
    """What a prefetch will do: per-file wanted and missing ranges, and inputs that failed."""

    files: list[FilePlan]
    errors: list[FileError] = field(default_factory=list)
    tensors_matched: int | None = None
    """With a tensor pattern: how many tensors matched across all files."""

    @property
    def bytes(self) -> int:
        return sum(f.wanted_bytes for f in self.files)

    @property
    def to_read_bytes(self) -> int:
        return sum(f.missing_bytes for f in self.files)

    @property
    def already_resident_bytes(self) -> int:
        return self.bytes - self.to_read_bytes


@dataclass
class PrefetchStats:
    """The outcome of a prefetch, with the fields of `weightlib prefetch --json`."""

    files: int
    bytes: int
    already_resident_bytes: int
    read_bytes: int
    seconds: float
    resident_after_bytes: int
    errors: list[FileError] = field(default_factory=list)
    repaired_bytes: int = 0
    """Bytes that readahead did not bring in and that were read outright."""
    dropped_files: list[str] = field(default_factory=list)
    """Files read whose pages did not stay cached (see `warnings`)."""

    @property
    def warnings(self) -> list[str]:
        """One-line warnings about the outcome (files whose pages did not stay cached)."""
        if not self.dropped_files:
            return []
        first = self.dropped_files[0]
        more = f" and {len(self.dropped_files) - 1} more" if len(self.dropped_files) > 1 else ""
        fstype = get_fs_type(first) or "unknown"
        return [
            f"{first}{more}: pages read did not stay in the page cache ({fstype}); the "
            "filesystem may drop its cache on open (FUSE without kernel_cache/auto_cache, "
            "e.g. sshfs) or memory is short, so warming cannot help here"
        ]

    @property
    def gbps(self) -> float:
        """Read throughput in GB/s (10⁹ bytes per second)."""
        return self.read_bytes / self.seconds / 1e9 if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "bytes": self.bytes,
            "already_resident_bytes": self.already_resident_bytes,
            "read_bytes": self.read_bytes,
            "seconds": round(self.seconds, 4),
            "gbps": round(self.gbps, 3),
            "resident_after_bytes": self.resident_after_bytes,
            "repaired_bytes": self.repaired_bytes,
            "errors": [e.to_json() for e in self.errors],
            "warnings": self.warnings,
        }

    def raise_for_errors(self) -> None:
        """Raise the typed error of a single failure, or `PrefetchError` naming all of several."""
        if len(self.errors) == 1 and self.errors[0].exception is not None:
            raise self.errors[0].exception
        if self.errors:
            raise PrefetchError(self.errors)


def _compile(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern):
        return pattern
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidInputError(f"invalid --tensors regex {pattern!r}: {exc}") from None


def _tensor_ranges(path: str, pattern: re.Pattern[str]) -> tuple[list[Range], int]:
    """The header plus the byte ranges of tensors whose name matches, and how many matched."""
    from .safetensors_header import read_safetensors_header

    header = read_safetensors_header(path)
    matched = [t for t in header.tensors if pattern.search(t.name)]
    return [(0, header.data_start), *((t.file_start, t.file_end) for t in matched)], len(matched)


def _plan_file(path: str, pattern: re.Pattern[str] | None) -> tuple[FilePlan, int]:
    fd = open_for_cache(path)
    try:
        st = os.fstat(fd)
        size = st.st_size
        if size == 0 and path.endswith(WEIGHT_SUFFIXES):
            raise IntegrityError(f"{path}: weight file is empty (truncated download?)")
        matched = 0
        if pattern is not None and path.endswith(".safetensors"):
            raw, matched = _tensor_ranges(path, pattern)
        elif pattern is not None and path.endswith(WEIGHT_SUFFIXES):
            raise InvalidInputError(f"{path}: --tensors needs safetensors files (no tensor index)")
        else:
            raw = [(0, size)]
        ranges = merge_ranges(raw, size)
        visible = residency_visible(fd)
        try:
            missing = quick_missing_ranges(fd, size, ranges) if visible else list(ranges)
        except OSError:  # no mmap/cachestat on this filesystem: assume nothing is cached
            missing, visible = list(ranges), False
        return FilePlan(path, size, ranges, missing, st.st_dev, visible), matched
    except OSError as exc:
        raise error_for_oserror(path, exc) from None
    finally:
        os.close(fd)


def plan_prefetch(
    files: Iterable[str | os.PathLike[str]], tensors: str | re.Pattern[str] | None = None
) -> PrefetchPlan:
    """Stat every file and find which wanted pages are not cached yet (nothing is read).

    With `tensors` (a regex searched in tensor names), safetensors files contribute only their
    header and the matching tensors' byte ranges; other weight formats are an error.
    """
    pattern = None if tensors is None else _compile(tensors)
    plan = PrefetchPlan([], tensors_matched=None if pattern is None else 0)
    for item in files:
        path = os.fspath(item)
        try:
            file_plan, matched = _plan_file(path, pattern)
        except WeightlibError as exc:
            plan.errors.append(FileError.from_error(path, exc))
            continue
        plan.files.append(file_plan)
        if plan.tensors_matched is not None:
            plan.tensors_matched += matched
    return plan


def check_memory(plan: PrefetchPlan, limit: int, limit_text: str) -> None:
    """Raise `ResourceError` (exit 8) when the bytes still to read exceed `limit`."""
    needed = plan.to_read_bytes
    if needed > limit:
        hidden = sum(1 for f in plan.files if not f.visible)
        note = (
            f" ({hidden} file(s) you neither own nor may write count in full: the kernel hides "
            "their residency)"
            if hidden
            else ""
        )
        raise ResourceError(
            f"prefetch needs {needed} bytes ({_human(needed)}) still to read, more than the "
            f"{limit} bytes ({_human(limit)}) allowed by --max-memory {limit_text}{note}; "
            "use --force to read anyway"
        )


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class _Progress:
    """Thread-safe byte counter that reports to a callback."""

    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.total = total
        self.done = 0
        self.callback = callback
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            self.done = min(self.total, self.done + n)
            if self.callback is not None:
                self.callback(self.done, self.total)


@dataclass
class _Open:
    plan: FilePlan
    fd: int
    window: int
    """Bytes per readahead call."""
    method: str = "readahead"
    """How the first pass brings the file in: `readahead` or `sendfile`."""
    failed: FileError | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, exc: OSError) -> None:
        with self.lock:
            if self.failed is None:
                self.failed = FileError.from_error(
                    self.plan.path, error_for_oserror(self.plan.path, exc)
                )


def _chunks(
    files: Sequence[_Open], ranges: Mapping[int, Sequence[Range]], by_method: bool = False
) -> Iterator[tuple[_Open, int, int]]:
    """(file, offset, length) pieces of each file's ranges, in order: one readahead window long,
    or `READ_CHUNK` for files read with sendfile when `by_method` is set."""
    for item in files:
        step = READ_CHUNK if by_method and item.method == "sendfile" else item.window
        for start, end in ranges.get(item.fd, ()):
            for offset in range(start, end, step):
                yield item, offset, min(end, offset + step) - offset


def _still_missing(opened: Sequence[_Open]) -> dict[int, list[Range]]:
    """Per open file, the planned ranges not cached yet.

    Where residency is hidden, a file read with sendfile is done (that read was synchronous);
    one that only got readahead is reported missing in full, to be read.
    """
    remaining: dict[int, list[Range]] = {}
    for item in opened:
        if item.failed is not None or (not item.plan.visible and item.method == "sendfile"):
            continue
        missing = list(item.plan.missing)
        if item.plan.visible:
            # A file that cannot be mapped is read in full (cheap where cached).
            with contextlib.suppress(OSError):
                missing = missing_ranges(item.fd, item.plan.size, item.plan.missing)
        if missing:
            remaining[item.fd] = missing
    return remaining


def _run_threads(
    work: Iterator[tuple[_Open, int, int]],
    action: Callable[[_Open, int, int], None],
    num_threads: int,
) -> None:
    """Run `action` on every chunk of `work`, pulled by `num_threads` threads."""
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


class _Reader:
    """Reads ranges outright: sendfile to /dev/null (no copy to user space), else pread."""

    def __init__(self) -> None:
        self.devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        self.local = threading.local()

    def close(self) -> None:
        os.close(self.devnull)

    def read(self, target: _Open, offset: int, length: int) -> None:
        end = offset + length
        use_sendfile = getattr(self.local, "sendfile", True)
        while offset < end:
            if use_sendfile:
                try:
                    sent = os.sendfile(self.devnull, target.fd, offset, end - offset)
                except OSError as exc:
                    if exc.errno not in _UNSUPPORTED:
                        raise
                    use_sendfile = self.local.sendfile = False
                    continue
            else:
                sent = self._pread(target.fd, offset, end - offset)
            if sent == 0:  # the file shrank
                return
            offset += sent

    def _pread(self, fd: int, offset: int, length: int) -> int:
        import mmap

        buffer = getattr(self.local, "buffer", None)
        if buffer is None:  # page-aligned buffers make readinto much faster than bytearray
            buffer = self.local.buffer = mmap.mmap(-1, 16 * 1024 * 1024)
        view = memoryview(buffer)[: min(length, len(buffer))]
        try:
            return os.preadv(fd, [view], offset)
        finally:
            view.release()


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
    if method not in METHODS:
        raise InvalidInputError(f"unknown --method {method!r}; use one of {', '.join(METHODS)}")
    threads = default_threads() if num_threads is None else num_threads
    if not 1 <= threads <= MAX_THREADS:
        raise InvalidInputError(f"--threads must be in 1..{MAX_THREADS}, got {threads}")
    if block_size is not None and block_size < PAGE_SIZE:
        raise InvalidInputError(f"--block-size must be at least {PAGE_SIZE} bytes")
    started = time.monotonic()
    errors = list(plan.errors)
    todo = [f for f in plan.files if f.missing]
    tracker = _Progress(plan.to_read_bytes, progress)
    reader = _Reader()
    repaired = 0
    try:
        step = _batch_size()
        for first in range(0, len(todo), step):
            batch = todo[first : first + step]
            repaired += _warm_batch(batch, threads, block_size, method, tracker, reader, errors)
    finally:
        reader.close()
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
    )


def _batch_size() -> int:
    """`BATCH_FILES`, or fewer so the batch fits the descriptors left under RLIMIT_NOFILE."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        in_use = len(os.listdir("/proc/self/fd"))
    except (ImportError, OSError, ValueError):
        return BATCH_FILES
    if soft == resource.RLIM_INFINITY:
        return BATCH_FILES
    return max(1, min(BATCH_FILES, soft - in_use - 8))


def _warm_batch(
    batch: Sequence[FilePlan],
    threads: int,
    block_size: int | None,
    method: str,
    tracker: _Progress,
    reader: _Reader,
    errors: list[FileError],
) -> int:
    """Open, warm, verify and close one batch of files; return the bytes read in the repair pass."""
    opened: list[_Open] = []
    try:
        for file_plan in batch:
            try:
                fd = open_for_cache(file_plan.path)
            except WeightlibError as exc:
                errors.append(FileError.from_error(file_plan.path, exc))
                continue
            window = block_size or readahead_window(file_plan.st_dev)
            whole = file_plan.ranges == [(0, file_plan.size)]
            chosen = "sendfile" if method == "sendfile" or (method == "auto" and whole) else ""
            opened.append(_Open(file_plan, fd, window, chosen or "readahead"))

        no_readahead: set[int] = set()
        hidden = {o.fd for o in opened if not o.plan.visible}

        def issue(target: _Open, offset: int, length: int) -> None:
            if target.fd not in no_readahead:
                try:
                    linux.readahead(target.fd, offset, length)
                except OSError as exc:
                    if exc.errno not in _UNSUPPORTED:  # this filesystem has no readahead
                        raise
                    no_readahead.add(target.fd)

        def first_pass(target: _Open, offset: int, length: int) -> None:
            if target.method == "sendfile":
                reader.read(target, offset, length)
            else:
                issue(target, offset, length)
            tracker.add(length)

        planned = {item.fd: item.plan.missing for item in opened}
        _run_threads(_chunks(opened, planned, by_method=True), first_pass, threads)

        # Verify: re-issue readahead for what is still missing, then read what is left.
        remaining = _still_missing(opened)
        for _ in range(REISSUE_ROUNDS):
            if not remaining:
                break
            visible = {fd: r for fd, r in remaining.items() if fd not in hidden}
            _run_threads(_chunks(opened, visible), issue, threads)
            remaining = _still_missing(opened)
        repaired = _absent_bytes(opened, remaining)
        for item in opened:
            if item.fd in remaining and item.plan.ranges != [(0, item.plan.size)]:
                # Partial ranges (--tensors): no readahead beyond what was asked for.
                os.posix_fadvise(item.fd, 0, 0, os.POSIX_FADV_RANDOM)
        _run_threads(_chunks(opened, remaining), reader.read, threads)
    finally:
        for item in opened:
            os.close(item.fd)
    errors.extend(item.failed for item in opened if item.failed is not None)
    return repaired


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
        try:
            fd = open_for_cache(plan_file.path)
        except WeightlibError:
            continue
        try:
            cached = resident_bytes_in(fd, plan_file.size, plan_file.ranges)
        except OSError:
            cached = 0
        finally:
            os.close(fd)
        total += cached
        if plan_file.missing and cached < DROPPED_SHARE * plan_file.wanted_bytes:
            dropped.append(plan_file.path)
    return total, dropped


def _absent_bytes(opened: Sequence[_Open], remaining: dict[int, list[Range]]) -> int:
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
        except BaseException as exc:
            self._error = exc

    def done(self) -> bool:
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


def network_files(files: Iterable[Path], mounts_text: str | None = None) -> tuple[list[Path], str]:
    """The files on a network filesystem, and a one-line reason when there are none."""
    if mounts_text is None:
        try:
            mounts_text = Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
        except OSError:
            mounts_text = ""
    chosen, local_types = [], []
    for path in files:
        fstype = get_fs_type(path, mounts_text)
        if is_network_fs(fstype):
            chosen.append(path)
        else:
            local_types.append(fstype or "unknown")
    reason = ""
    if not chosen:
        kinds = ", ".join(sorted(set(local_types))) or "none"
        reason = f"no file is on a network filesystem (found: {kinds}); --auto warms only those"
    return chosen, reason
