"""How much of a file is in the page cache, which ranges are missing, and dropping it.

Residency never faults pages in: `cachestat(2)` counts cached pages where the kernel has it
(Linux ≥ 6.5), else `mincore` runs over a read-only mapping that is never touched.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import linux
from .errors import (
    AuthError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    WeightlibError,
)

PAGE_SIZE = linux.PAGE_SIZE

Range = tuple[int, int]
"""A byte range as (start, end), end exclusive."""

PAGE_MAP_WIDTH = 64
MINCORE_WINDOW_PAGES = 16384
"""Pages per mincore call (64 MiB): the vector stays 16 KiB whatever the file size."""


@dataclass(frozen=True)
class FileError:
    """A file (or input) that could not be processed, the one-line reason and its exit code."""

    path: str
    message: str
    exit_code: int
    exception: WeightlibError | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_error(cls, path: str, exc: WeightlibError) -> FileError:
        """The record of `exc`, which keeps the exception so a lone failure can be re-raised."""
        return cls(path, str(exc), exc.exit_code, exc)

    def to_json(self) -> dict[str, Any]:
        """The entry of the `errors` list in every `--json` document that has one."""
        return {"path": self.path, "message": self.message, "exit_code": self.exit_code}


class FailedInputsError(WeightlibError):
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


class ResidencyError(FailedInputsError):
    """`status` or `evict` could not resolve, measure or drop some of its inputs."""


@dataclass(frozen=True)
class FileResidency:
    """Residency of one file: size, pages, cached pages, and optionally the per-page vector."""

    path: str
    size: int
    pages: int
    resident_pages: int
    page_vector: bytes | None = None
    """One byte per page, 1 = cached (only when asked for)."""
    known: bool = True
    """False when residency cannot be seen: hidden from this user (see `residency_visible`)
    or a file that cannot be mapped."""
    map_text: str | None = None
    """A page map already drawn (`without_vector`), kept when the vector is dropped."""

    @property
    def resident_bytes(self) -> int:
        """Cached bytes (the last page counts only up to the end of the file)."""
        if self.resident_pages >= self.pages:
            return self.size
        return min(self.size, self.resident_pages * PAGE_SIZE)

    @property
    def percent(self) -> float:
        return 100.0 if self.pages == 0 else 100.0 * self.resident_pages / self.pages

    def page_map(self, width: int = PAGE_MAP_WIDTH) -> str:
        """A vmtouch-style map: `O` all pages of a bucket cached, `o` some, `.` none."""
        if self.page_vector is None and self.map_text is not None:
            return self.map_text
        if self.page_vector is None or not self.pages:
            return ""
        buckets = min(width, self.pages)
        out = []
        for i in range(buckets):
            chunk = self.page_vector[i * self.pages // buckets : (i + 1) * self.pages // buckets]
            hits = chunk.count(1)
            out.append("O" if hits == len(chunk) else "o" if hits else ".")
        return "".join(out)


def without_vector(state: FileResidency, width: int = PAGE_MAP_WIDTH) -> FileResidency:
    """`state` with its page map drawn and the per-page vector dropped (1 byte per 4 KiB page:
    256 MB for 1 TB of weights), so a command over many files holds one vector at a time."""
    if state.page_vector is None:
        return state
    return replace(state, page_vector=None, map_text=state.page_map(width))


def error_for_oserror(path: str, exc: OSError) -> WeightlibError:
    """The typed error for an OS failure on a local `path`: missing 3, unreadable 4, I/O 6,
    anything else (name too long, a loop, an unsupported file) 2."""
    reason = exc.strerror or str(exc)
    message = f"{path}: {reason}"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return NotFoundError(message)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AuthError(message)
    if exc.errno == errno.EIO:
        return IntegrityError(message)
    return InvalidInputError(message)


def open_for_cache(path: str | os.PathLike[str]) -> int:
    """An O_RDONLY descriptor of a regular file, or the typed error naming `path`."""
    name = os.fspath(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise error_for_oserror(name, exc) from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise error_for_oserror(name, exc) from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise InvalidInputError(f"{name}: not a regular file")
    return fd


def residency_visible(fd: int) -> bool:
    """Whether mincore/cachestat tell this process the truth about `fd`'s file.

    The kernel answers only to the file's owner, root, or a process that may write it: mincore
    claims every page is cached and cachestat fails with EPERM for everyone else.
    """
    euid = os.geteuid()
    if euid == 0 or os.fstat(fd).st_uid == euid:
        return True
    try:
        return os.access(f"/proc/self/fd/{fd}", os.W_OK, effective_ids=True)
    except (OSError, NotImplementedError):
        return False


def page_span(start: int, end: int) -> tuple[int, int]:
    """The page indices [first, last) covering bytes [start, end)."""
    return start // PAGE_SIZE, (end + PAGE_SIZE - 1) // PAGE_SIZE


def merge_ranges(ranges: Iterable[Range], size: int, align: int = PAGE_SIZE) -> list[Range]:
    """Sort, clip to `size`, widen to `align` boundaries, merge overlapping or touching ranges."""
    widened = []
    for start, end in ranges:
        start, end = max(0, start), min(size, end)
        if end <= start:
            continue
        widened.append((start - start % align, min(size, -(-end // align) * align)))
    widened.sort()
    merged: list[Range] = []
    for start, end in widened:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def missing_runs(vector: bytes, first_page: int, last_page: int) -> list[tuple[int, int]]:
    """Runs of uncached pages [a, b) inside [first_page, last_page) of a mincore vector."""
    runs = []
    pos = first_page
    while pos < last_page:
        gap = vector.find(b"\x00", pos, last_page)
        if gap < 0:
            break
        back = vector.find(b"\x01", gap, last_page)
        stop = last_page if back < 0 else back
        runs.append((gap, stop))
        pos = stop
    return runs


def _count_cached(fd: int, size: int, ranges: Sequence[Range], method: str) -> int:
    if method == "cachestat" or (method == "auto" and linux.cachestat_available()):
        total = 0
        for start, end in ranges:
            total += linux.cachestat(fd, start, end - start)
        return total
    total = 0
    for start, end in ranges:
        first, last = page_span(start, end)
        for window in range(first, last, MINCORE_WINDOW_PAGES):
            stop = min(last, window + MINCORE_WINDOW_PAGES)
            begin = window * PAGE_SIZE
            total += linux.mincore_vector(fd, min(size, stop * PAGE_SIZE) - begin, begin).count(1)
    return total


def residency(
    path: str | os.PathLike[str], *, page_map: bool = False, method: str = "auto"
) -> FileResidency:
    """Residency of `path` in the page cache, without faulting any page in.

    `method`: "auto" (cachestat when the kernel has it, mincore otherwise), "cachestat" or
    "mincore". `page_map=True` always uses mincore and keeps the per-page vector.
    """
    if method not in ("auto", "cachestat", "mincore"):
        raise InvalidInputError(f"unknown residency method {method!r}")
    name = os.fspath(path)
    fd = open_for_cache(name)
    try:
        size = os.fstat(fd).st_size
        pages = (size + PAGE_SIZE - 1) // PAGE_SIZE
        if not residency_visible(fd):
            return FileResidency(name, size, pages, 0, known=False)
        try:
            if page_map:
                vector = linux.mincore_vector(fd, size)
                return FileResidency(name, size, pages, vector.count(1), vector)
            cached = _count_cached(fd, size, [(0, size)] if size else [], method)
        except OSError:  # the filesystem cannot map the file: residency cannot be seen
            return FileResidency(name, size, pages, 0, known=False)
        return FileResidency(name, size, pages, min(pages, cached))
    finally:
        os.close(fd)


def _add_range(out: list[Range], start: int, end: int) -> None:
    if out and out[-1][1] == start:
        out[-1] = (out[-1][0], end)
    else:
        out.append((start, end))


def missing_ranges(
    fd: int, size: int, ranges: Sequence[Range], *, trust_cachestat: bool = False
) -> list[Range]:
    """The byte ranges inside `ranges` (page-aligned) whose pages are not cached and up to date.

    Works in windows of `MINCORE_WINDOW_PAGES`, so memory stays flat on a 1 TB file. With
    `trust_cachestat` a window that cachestat finds full (reads in flight count) or empty is
    answered without mincore: planning a mostly cold or mostly warm terabyte takes milliseconds.
    """
    quick = trust_cachestat and linux.cachestat_available()
    out: list[Range] = []
    for start, end in ranges:
        first, last = page_span(start, end)
        for window in range(first, last, MINCORE_WINDOW_PAGES):
            stop = min(last, window + MINCORE_WINDOW_PAGES)
            begin, finish = window * PAGE_SIZE, min(size, stop * PAGE_SIZE)
            if quick:
                cached = linux.cachestat(fd, begin, (stop - window) * PAGE_SIZE)
                if cached >= stop - window:
                    continue
                if cached == 0:
                    _add_range(out, begin, finish)
                    continue
            vector = linux.mincore_vector(fd, finish - begin, begin)
            for a, b in missing_runs(vector, 0, stop - window):
                _add_range(out, (window + a) * PAGE_SIZE, min(size, (window + b) * PAGE_SIZE))
    return out


def quick_missing_ranges(fd: int, size: int, ranges: Sequence[Range]) -> list[Range]:
    """Like `missing_ranges`, but answers fully cached or fully uncached ranges by cachestat alone.

    A warm set is confirmed in microseconds per file; mincore runs only for partly cached ranges.
    """
    if not linux.cachestat_available():
        return missing_ranges(fd, size, ranges)
    out: list[Range] = []
    partial: list[Range] = []
    for start, end in ranges:
        first, last = page_span(start, end)
        cached = linux.cachestat(fd, first * PAGE_SIZE, (last - first) * PAGE_SIZE)
        if cached >= last - first:
            continue
        if cached == 0:
            out.append((start, end))
        else:
            partial.append((start, end))
    out.extend(missing_ranges(fd, size, partial, trust_cachestat=True))
    out.sort()
    return out


def resident_bytes_in(fd: int, size: int, ranges: Sequence[Range], method: str = "auto") -> int:
    """Cached bytes inside page-aligned `ranges` of an open file."""
    cached_pages = 0
    if ranges:
        cached_pages = _count_cached(fd, size, ranges, method)
    wanted = sum(end - start for start, end in ranges)
    return min(wanted, cached_pages * PAGE_SIZE)


def evict(path: str | os.PathLike[str]) -> FileResidency:
    """Drop `path`'s pages from the page cache (fsync first: dirty pages are not dropped).

    Pages mapped by running processes stay; the returned residency shows what is left.
    """
    name = os.fspath(path)
    fd = open_for_cache(name)
    try:
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError as exc:
            raise error_for_oserror(name, exc) from None
    finally:
        os.close(fd)
    return residency(name)


@dataclass
class ResidencyReport:
    """Residency of several files and the inputs that failed: what `status` and `evict` show."""

    files: list[FileResidency] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)

    def to_json(self, page_maps: bool = False) -> dict[str, Any]:
        """Per-file entries (with page maps when asked), the total, and the failures."""
        return {
            "files": [_file_json(r, page_maps) for r in self.files],
            "total": self._total_json(),
            "errors": [e.to_json() for e in self.errors],
        }

    def _total_json(self) -> dict[str, Any]:
        known = [r for r in self.files if r.known]
        pages = sum(r.pages for r in known)
        resident_pages = sum(r.resident_pages for r in known)
        percent = None
        if pages or len(known) == len(self.files):  # None: nothing measured, some files hidden
            percent = round(100.0 if pages == 0 else 100.0 * resident_pages / pages, 2)
        return {
            "files": len(self.files),
            "size": sum(r.size for r in self.files),
            "pages": pages,
            "resident_pages": resident_pages,
            "resident_bytes": sum(r.resident_bytes for r in known),
            "percent": percent,
            "unknown_files": len(self.files) - len(known),
        }

    def raise_for_errors(self) -> None:
        """Raise `ResidencyError` naming the inputs that failed, if any did."""
        if self.errors:
            raise ResidencyError(self.errors)


def _file_json(state: FileResidency, page_map: bool) -> dict[str, Any]:
    """One file's entry; the residency fields are null when the kernel hides them."""
    entry: dict[str, Any] = {
        "path": state.path,
        "size": state.size,
        "pages": state.pages,
        "resident_pages": state.resident_pages if state.known else None,
        "resident_bytes": state.resident_bytes if state.known else None,
        "percent": round(state.percent, 2) if state.known else None,
    }
    if page_map and state.known:
        entry["page_map"] = state.page_map()
    return entry


def measure_files(
    paths: Iterable[Path],
    action: Callable[[Path], FileResidency],
    errors: Iterable[FileError] = (),
) -> ResidencyReport:
    """Apply `action` (`residency`, `evict`) to every file; failures join `errors`, in order."""
    report = ResidencyReport(errors=list(errors))
    for path in paths:
        try:
            report.files.append(action(path))
        except WeightlibError as exc:
            report.errors.append(FileError.from_error(str(path), exc))
    return report
