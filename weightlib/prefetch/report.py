"""What a prefetch did: its numbers, warnings and failures, as `weightlib prefetch` reports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..fs import get_fs_type
from ..residency import FailedInputsError, FileError


class PrefetchError(FailedInputsError):
    """Some inputs could not be warmed; the exit code is that of the first failure."""


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
    method: str = "sendfile"
    """How whole files were read first: sendfile, copy or readahead."""
    method_reason: str = ""
    """Why that method (for `auto`: the measured first-touch cost)."""
    first_touch_ns: float | None = None
    """Measured per-page cost of the first CPU touch after a device fill, if measured."""

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
        """The `weightlib prefetch --json` document."""
        return {
            "files": self.files,
            "bytes": self.bytes,
            "already_resident_bytes": self.already_resident_bytes,
            "read_bytes": self.read_bytes,
            "seconds": round(self.seconds, 4),
            "gbps": round(self.gbps, 3),
            "resident_after_bytes": self.resident_after_bytes,
            "repaired_bytes": self.repaired_bytes,
            "method": self.method,
            "method_reason": self.method_reason,
            "first_touch_ns_per_page": (
                None if self.first_touch_ns is None else round(self.first_touch_ns, 1)
            ),
            "errors": [e.to_json() for e in self.errors],
            "warnings": self.warnings,
        }

    def raise_for_errors(self) -> None:
        """Raise the typed error of a single failure, or `PrefetchError` naming all of several."""
        if len(self.errors) == 1 and self.errors[0].exception is not None:
            raise self.errors[0].exception
        if self.errors:
            raise PrefetchError(self.errors)


@dataclass
class PrefetchReport:
    """The result of `PreparedPrefetch.run`: the stats, or why `--auto` skipped the files."""

    stats: PrefetchStats
    skipped: str | None = None
    """With `--auto`: why nothing was warmed (no file is on a network filesystem)."""

    @property
    def warnings(self) -> list[str]:
        """One-line warnings about the outcome."""
        return self.stats.warnings

    def to_json(self) -> dict[str, Any]:
        """The `weightlib prefetch --json` document (`skipped` added when `--auto` skipped)."""
        document = self.stats.to_json()
        if self.skipped is not None:
            document["skipped"] = self.skipped
        return document

    def raise_for_errors(self) -> None:
        """Raise for the inputs that failed (a skipped run names them all in `PrefetchError`)."""
        if self.skipped is None:
            self.stats.raise_for_errors()
        elif self.stats.errors:
            raise PrefetchError(self.stats.errors)
