"""Free-space checks made before anything is written, so a full disk fails early with exit 8."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ResourceError

DISK_MARGIN_BYTES = 16 * 1024 * 1024
"""Free space kept beyond the bytes to write (plus 1 % of them)."""


def existing_ancestor(path: Path) -> Path:
    """`path` itself, or its nearest ancestor that exists (where a new file would land)."""
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return probe


def free_bytes(path: str | os.PathLike[str]) -> int:
    """Free space for an unprivileged writer on the filesystem that holds (or will hold) `path`."""
    stats = os.statvfs(existing_ancestor(Path(path)))
    return stats.f_bavail * stats.f_frsize


def check_disk_space(destination: str | os.PathLike[str], needed: int, what: str) -> None:
    """ResourceError (exit 8) unless `destination` has `needed` bytes free plus a margin."""
    if needed <= 0:
        return
    margin = DISK_MARGIN_BYTES + needed // 100
    available = free_bytes(destination)
    if available < needed + margin:
        raise ResourceError(
            f"{what}: not enough disk space at {destination}: {needed} bytes to write "
            f"(+{margin} margin), {available} free"
        )
