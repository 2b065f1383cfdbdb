"""Memory a prefetch may fill: MemAvailable, lowered by cgroup v1/v2 limits; SIZE/PCT in and out.

Page cache is charged to the reading process's memory cgroup, so warming more than the cgroup
allows only evicts what was just read. Every parser takes text so it can be tested without
the files it normally reads.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidInputError

UNLIMITED = 1 << 62
"""cgroup v1 reports "no limit" as a huge page-rounded number; anything above this is no limit."""

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kib": 1024,
    "kb": 1000,
    "m": 1024**2,
    "mib": 1024**2,
    "mb": 1000**2,
    "g": 1024**3,
    "gib": 1024**3,
    "gb": 1000**3,
    "t": 1024**4,
    "tib": 1024**4,
    "tb": 1000**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")

DEFAULT_MAX_MEMORY = "90%"
"""The memory guard's default: this share of available memory (cgroup limits honoured)."""


def parse_size(text: str, what: str = "size") -> int:
    """Bytes from `8M`, `8MiB`, `1.5G`, `4096` (K/M/G/T and KiB… are binary; KB/MB/GB… decimal)."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise InvalidInputError(f"invalid {what} {text!r}; use bytes or a unit like 512M, 8MiB, 2G")
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(n: int) -> str:
    """`n` bytes in binary units with one decimal (`86.7 MiB`), the inverse of `parse_size`."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} TiB"


def parse_memory_limit(text: str, available: int, what: str = "--max-memory") -> int:
    """Bytes from SIZE (`16G`) or a percentage of `available` (`90%`)."""
    match = _PERCENT.match(text)
    if match:
        percent = float(match.group(1))
        if percent > 100:
            raise InvalidInputError(f"invalid {what} {text!r}; a percentage must be at most 100%")
        return int(available * percent / 100)
    return parse_size(text, what)


def parse_meminfo_available(text: str) -> int:
    """MemAvailable (bytes) from /proc/meminfo text; MemFree + Cached on kernels without it."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name.strip()] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    if "MemAvailable" in fields:
        return fields["MemAvailable"]
    if "MemFree" in fields:
        return fields["MemFree"] + fields.get("Cached", 0)
    raise ValueError("no MemAvailable or MemFree in /proc/meminfo")


def parse_proc_cgroup(text: str) -> tuple[str | None, str | None]:
    """(cgroup v2 path, cgroup v1 memory-controller path) from /proc/self/cgroup text."""
    v2 = v1 = None
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v2, v1


def parse_cgroup_mounts(text: str) -> tuple[str | None, str | None]:
    """(cgroup2 mount point, cgroup v1 memory mount point) from /proc/mounts text."""
    v2 = v1 = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        mount_point, fstype, options = fields[1], fields[2], fields[3].split(",")
        if fstype == "cgroup2" and v2 is None:
            v2 = mount_point
        elif fstype == "cgroup" and "memory" in options and v1 is None:
            v1 = mount_point
    return v2, v1


def parse_stat_value(text: str, key: str) -> int | None:
    """The value of `key` in a memory.stat file, or None."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
            return int(parts[1])
    return None


@dataclass(frozen=True)
class CgroupMemory:
    """One cgroup level with a memory limit, as the guard reads it (bytes)."""

    path: str
    """The level's folder under the cgroup mount."""
    version: int
    limit: int
    usage: int
    inactive_file: int
    """Reclaimable file cache, counted as room."""
    headroom: int
    """limit − usage + inactive_file, at least 0."""


def cgroup_memory(
    path: str, limit_text: str, usage_text: str, stat_text: str, version: int
) -> CgroupMemory | None:
    """One cgroup level's limit, usage and room; None when it has no limit (`max` in v2, a huge
    number in v1)."""
    limit_text = limit_text.strip()
    if limit_text in ("", "max"):
        return None
    limit = int(limit_text)
    if limit >= UNLIMITED:
        return None
    usage = int(usage_text.strip() or 0)
    key = "inactive_file" if version == 2 else "total_inactive_file"
    inactive = parse_stat_value(stat_text, key)
    if inactive is None and version == 1:
        inactive = parse_stat_value(stat_text, "inactive_file")
    inactive = inactive or 0
    return CgroupMemory(path, version, limit, usage, inactive, max(0, limit - usage + inactive))


def cgroup_headroom(limit_text: str, usage_text: str, stat_text: str, version: int) -> int | None:
    """Bytes one cgroup level can still take: limit − usage + reclaimable inactive file cache.

    None when the level has no limit (`max` in v2, a huge number in v1).
    """
    level = cgroup_memory("", limit_text, usage_text, stat_text, version)
    return None if level is None else level.headroom


@dataclass(frozen=True)
class _Level:
    path: Path
    limit: str
    usage: str
    stat: str


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _levels(mount: str, cgroup_path: str, names: tuple[str, str, str]) -> list[_Level]:
    """The cgroup directory of this process and its ancestors up to the mount's root."""
    root = Path(mount)
    leaf = root / cgroup_path.lstrip("/")
    if not leaf.is_dir():  # inside a cgroup namespace the mount root is our own cgroup
        leaf = root
    levels = []
    directory = leaf
    while True:
        limit = _read(directory / names[0])
        if limit is not None:
            usage, stat = _read(directory / names[1]) or "0", _read(directory / names[2]) or ""
            levels.append(_Level(directory, limit, usage, stat))
        if directory == root or root not in directory.parents:
            break
        directory = directory.parent
    return levels


@dataclass(frozen=True)
class MemoryView:
    """What the memory guard sees: MemAvailable, the cgroup level in effect, and the result."""

    mem_available: int | None
    """MemAvailable (MemFree + Cached on old kernels); None without /proc/meminfo."""
    cgroup: CgroupMemory | None
    """The enclosing cgroup level (v1 or v2) that leaves the least room; None when none has a
    limit."""
    available: int
    """The smaller of the two: what `available_memory_bytes` returns."""


def available_memory_bytes(root: str | os.PathLike[str] = "/") -> int:
    """Bytes that can be filled without pushing out other memory: the smaller of MemAvailable and
    every enclosing cgroup's (v1 or v2) limit − usage + inactive file cache.

    `root` prefixes /proc and /sys (for tests on a copied tree).
    """
    return memory_view(root).available


def memory_view(root: str | os.PathLike[str] = "/") -> MemoryView:
    """`available_memory_bytes` with what it was computed from (for `weightlib doctor`)."""
    base = Path(root)
    meminfo = _read(base / "proc/meminfo")
    mem_available = parse_meminfo_available(meminfo) if meminfo else None
    available = UNLIMITED if mem_available is None else mem_available
    v2_path, v1_path = parse_proc_cgroup(_read(base / "proc/self/cgroup") or "")
    v2_mount, v1_mount = parse_cgroup_mounts(_read(base / "proc/self/mounts") or "")
    levels: list[tuple[_Level, int]] = []
    if v2_path is not None and v2_mount is not None:
        mount = base / v2_mount.lstrip("/")
        names = ("memory.max", "memory.current", "memory.stat")
        levels += [(lv, 2) for lv in _levels(str(mount), v2_path, names)]
    if v1_path is not None and v1_mount is not None:
        mount = base / v1_mount.lstrip("/")
        names = ("memory.limit_in_bytes", "memory.usage_in_bytes", "memory.stat")
        levels += [(lv, 1) for lv in _levels(str(mount), v1_path, names)]
    binding: CgroupMemory | None = None
    for level, version in levels:
        try:
            limited = cgroup_memory(str(level.path), level.limit, level.usage, level.stat, version)
        except ValueError:
            continue
        if limited is not None and (binding is None or limited.headroom < binding.headroom):
            binding = limited
    if binding is not None:
        available = min(available, binding.headroom)
    return MemoryView(mem_available, binding, available)


def memory_limit(text: str, what: str = "--max-memory") -> tuple[int, str]:
    """The bytes SIZE or PCT (of `available_memory_bytes`) allows, and how messages name it."""
    view = memory_view()
    limit = parse_memory_limit(text, view.available, what)
    if not text.strip().endswith("%"):
        return limit, text
    source = f"{format_size(view.available)} available"
    if view.cgroup is not None and view.cgroup.headroom == view.available:
        # Say why "available" is small inside a container: the cgroup's limit, not the machine.
        source += f" under the cgroup memory limit of {format_size(view.cgroup.limit)}"
    return limit, f"{text} of {source}"
