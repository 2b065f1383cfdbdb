"""available_memory_bytes and the SIZE/PCT parsers: from text, and from a copied /proc + /sys."""

from __future__ import annotations

from pathlib import Path

import pytest

from weightlib.errors import InvalidInputError
from weightlib.memory import (
    available_memory_bytes,
    cgroup_headroom,
    parse_cgroup_mounts,
    parse_meminfo_available,
    parse_memory_limit,
    parse_proc_cgroup,
    parse_size,
)

MEMINFO = "MemTotal:       24684084 kB\nMemFree:        22879000 kB\nMemAvailable:   20000000 kB\n"
MOUNTS_V2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n"
MOUNTS_V1 = (
    "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
    "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4096", 4096),
        ("8M", 8 * 1024**2),
        ("8MiB", 8 * 1024**2),
        ("8MB", 8 * 1000**2),
        ("1.5G", int(1.5 * 1024**3)),
        ("2 GiB", 2 * 1024**3),
        ("1k", 1024),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-1G", "8Q", "1e9"])
def test_parse_size_rejects_garbage(text: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid"):
        parse_size(text)


def test_parse_memory_limit_percent_and_size() -> None:
    assert parse_memory_limit("90%", 1000) == 900
    assert parse_memory_limit("50 %", 1000) == 500
    assert parse_memory_limit("1K", 1000) == 1024
    with pytest.raises(InvalidInputError, match="at most 100%"):
        parse_memory_limit("150%", 1000)


def test_parse_meminfo() -> None:
    assert parse_meminfo_available(MEMINFO) == 20000000 * 1024
    old_kernel = "MemFree: 100 kB\nCached: 50 kB\n"
    assert parse_meminfo_available(old_kernel) == 150 * 1024


def test_parse_proc_cgroup_v1_and_v2() -> None:
    hybrid = "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n"
    assert parse_proc_cgroup(hybrid) == ("/", "/process_api/abc")
    assert parse_proc_cgroup("0::/user.slice/app.scope\n") == ("/user.slice/app.scope", None)
    assert parse_proc_cgroup("5:cpuacct,memory:/docker/x\n") == (None, "/docker/x")


def test_parse_cgroup_mounts() -> None:
    assert parse_cgroup_mounts(MOUNTS_V2) == ("/sys/fs/cgroup", None)
    assert parse_cgroup_mounts(MOUNTS_V1) == ("/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory")


def test_cgroup_headroom() -> None:
    assert cgroup_headroom("max\n", "100", "", 2) is None
    assert cgroup_headroom("1000\n", "600\n", "inactive_file 100\n", 2) == 500
    assert cgroup_headroom("9223372036854771712\n", "5", "", 1) is None
    assert cgroup_headroom("1000", "900", "total_inactive_file 300\ninactive_file 1\n", 1) == 400
    assert cgroup_headroom("1000", "2000", "", 2) == 0


def _tree(root: Path, mounts: str, cgroup: str, files: dict[str, str]) -> None:
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/meminfo").write_text(MEMINFO)
    (root / "proc/self/mounts").write_text(mounts)
    (root / "proc/self/cgroup").write_text(cgroup)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_available_memory_v2_limit_of_an_ancestor(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        MOUNTS_V2,
        "0::/kubepods/pod1/ctr\n",
        {
            "sys/fs/cgroup/kubepods/pod1/memory.max": "2147483648\n",
            "sys/fs/cgroup/kubepods/pod1/memory.current": "1073741824\n",
            "sys/fs/cgroup/kubepods/pod1/memory.stat": "anon 1\ninactive_file 1048576\n",
            "sys/fs/cgroup/kubepods/pod1/ctr/memory.max": "max\n",
            "sys/fs/cgroup/kubepods/pod1/ctr/memory.current": "1073741824\n",
        },
    )
    assert available_memory_bytes(tmp_path) == 1073741824 + 1048576


def test_available_memory_v2_namespace_root(tmp_path: Path) -> None:
    # Inside a cgroup namespace /proc/self/cgroup says "/" and the mount root is our cgroup.
    _tree(
        tmp_path,
        MOUNTS_V2,
        "0::/\n",
        {"sys/fs/cgroup/memory.max": "1000000\n", "sys/fs/cgroup/memory.current": "0\n"},
    )
    assert available_memory_bytes(tmp_path) == 1000000


def test_available_memory_v1_limit(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        MOUNTS_V1,
        "4:memory:/docker/abc\n0::/\n",
        {
            "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
            "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "3000000\n",
            "sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes": "2000000\n",
            "sys/fs/cgroup/memory/docker/abc/memory.stat": "total_inactive_file 500000\n",
        },
    )
    assert available_memory_bytes(tmp_path) == 1500000


def test_available_memory_without_limits_is_memavailable(tmp_path: Path) -> None:
    _tree(tmp_path, MOUNTS_V1, "4:memory:/\n0::/\n", {})
    assert available_memory_bytes(tmp_path) == 20000000 * 1024


def test_available_memory_on_this_machine() -> None:
    assert available_memory_bytes() > 0
