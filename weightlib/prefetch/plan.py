"""What a prefetch will read: each file's wanted byte ranges minus what is already cached.

Planning reads no data: it stats the files, reads safetensors headers for `--tensors`, and asks
the kernel which pages are resident (cachestat, mincore). `check_memory` is the memory guard.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import IntegrityError, InvalidInputError, ResourceError, WeightlibError
from ..memory import format_size
from ..residency import (
    FileError,
    Range,
    error_for_oserror,
    merge_ranges,
    open_for_cache,
    quick_missing_ranges,
    residency_visible,
)
from ..safetensors_header import read_safetensors_header

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


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
        """Bytes of the wanted ranges."""
        return sum(end - start for start, end in self.ranges)

    @property
    def missing_bytes(self) -> int:
        """Bytes of the wanted ranges not cached when planned."""
        return sum(end - start for start, end in self.missing)

    @property
    def whole_file(self) -> bool:
        """Whether the whole file is wanted (no `--tensors` ranges)."""
        return self.ranges == [(0, self.size)]


@dataclass
class PrefetchPlan:
    """What a prefetch will do: per-file wanted and missing ranges, and inputs that failed."""

    files: list[FilePlan]
    errors: list[FileError] = field(default_factory=list)
    tensors_matched: int | None = None
    """With a tensor pattern: how many tensors matched across all files."""

    @property
    def bytes(self) -> int:
        """Bytes wanted in all files."""
        return sum(f.wanted_bytes for f in self.files)

    @property
    def to_read_bytes(self) -> int:
        """Bytes wanted and not cached yet: what the prefetch will read."""
        return sum(f.missing_bytes for f in self.files)

    @property
    def already_resident_bytes(self) -> int:
        """Bytes wanted and already cached."""
        return self.bytes - self.to_read_bytes

    def to_json(self) -> dict[str, Any]:
        """Counts of the plan and its failures (`prefetch --background --json` adds the pid)."""
        return {
            "files": len(self.files),
            "bytes": self.bytes,
            "to_read_bytes": self.to_read_bytes,
            "errors": [e.to_json() for e in self.errors],
        }


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
    if needed <= limit:
        return
    hidden = sum(1 for f in plan.files if not f.visible)
    note = (
        f" ({hidden} file(s) you neither own nor may write count in full: the kernel hides "
        "their residency)"
        if hidden
        else ""
    )
    raise ResourceError(
        f"prefetch needs {needed} bytes ({format_size(needed)}) still to read, more than the "
        f"{limit} bytes ({format_size(limit)}) allowed by --max-memory {limit_text}{note}; "
        "use --force to read anyway"
    )


def _compile(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    """The `--tensors` regex, or `InvalidInputError` naming what is wrong with it."""
    if isinstance(pattern, re.Pattern):
        return pattern
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidInputError(f"invalid --tensors regex {pattern!r}: {exc}") from None


def _plan_file(path: str, pattern: re.Pattern[str] | None) -> tuple[FilePlan, int]:
    """The plan of one file and how many of its tensors matched `pattern`."""
    fd = open_for_cache(path)
    try:
        st = os.fstat(fd)
        raw, matched = _wanted_ranges(path, st.st_size, pattern)
        ranges = merge_ranges(raw, st.st_size)
        visible = residency_visible(fd)
        try:
            missing = quick_missing_ranges(fd, st.st_size, ranges) if visible else list(ranges)
        except OSError:  # no mmap/cachestat on this filesystem: assume nothing is cached
            missing, visible = list(ranges), False
        return FilePlan(path, st.st_size, ranges, missing, st.st_dev, visible), matched
    except OSError as exc:
        raise error_for_oserror(path, exc) from None
    finally:
        os.close(fd)


def _wanted_ranges(
    path: str, size: int, pattern: re.Pattern[str] | None
) -> tuple[list[Range], int]:
    """The byte ranges to warm (all of the file, or its header plus the matching tensors) and
    how many tensors matched; an empty weight file or `--tensors` on a non-safetensors weight
    file is an error."""
    if size == 0 and path.endswith(WEIGHT_SUFFIXES):
        raise IntegrityError(f"{path}: weight file is empty (truncated download?)")
    if pattern is not None and path.endswith(".safetensors"):
        header = read_safetensors_header(path)
        matched = [t for t in header.tensors if pattern.search(t.name)]
        tensor_ranges = [(t.file_start, t.file_end) for t in matched]
        return [(0, header.data_start), *tensor_ranges], len(matched)
    if pattern is not None and path.endswith(WEIGHT_SUFFIXES):
        raise InvalidInputError(f"{path}: --tensors needs safetensors files (no tensor index)")
    return [(0, size)], 0
