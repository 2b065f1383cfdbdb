"""`prefetch` inside a real memory-limited cgroup, as in a DaemonSet pod with a memory limit.

Page cache a process reads in is charged to its memory cgroup. Below the model's size the memory
guard refuses up front (exit 8, naming both numbers); `--force` reads anyway and the kernel
reclaims the pages to stay under the limit; above size plus headroom everything stays resident.
Uses cgroup v2 where its memory controller can be delegated, else v1; skips where neither can be
created (no root, a read-only cgroupfs).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import WEIGHTLIB, hermetic_env
from tests.layouts import write_checkpoint
from weightlib.memory import parse_cgroup_mounts, parse_proc_cgroup

MiB = 1024 * 1024
SHARD = 128 * MiB
MODEL_BYTES = 2 * SHARD


def _own_dir(mount: str | None, path: str | None) -> Path | None:
    """This process's cgroup folder under `mount`, or None."""
    if mount is None or path is None:
        return None
    folder = Path(mount) / path.lstrip("/")
    return folder if folder.is_dir() else None


def _v2_parent() -> Path | None:
    """A cgroup v2 folder whose children get the memory controller, or None."""
    v2_path, _ = parse_proc_cgroup(Path("/proc/self/cgroup").read_text())
    v2_mount, _ = parse_cgroup_mounts(Path("/proc/self/mounts").read_text())
    own = _own_dir(v2_mount, v2_path)
    if own is None or "memory" not in (own / "cgroup.controllers").read_text().split():
        return None
    try:  # refused (EBUSY) in a non-root cgroup that holds processes: the no-internal-process rule
        (own / "cgroup.subtree_control").write_text("+memory")
    except OSError:
        return None
    return own


def _v1_parent() -> Path | None:
    """This process's cgroup v1 memory folder, or None."""
    _, v1_path = parse_proc_cgroup(Path("/proc/self/cgroup").read_text())
    _, v1_mount = parse_cgroup_mounts(Path("/proc/self/mounts").read_text())
    return _own_dir(v1_mount, v1_path)


@contextlib.contextmanager
def memory_cgroup(limit: int) -> Iterator[Path]:
    """A new child cgroup with a memory limit of `limit` bytes (removed afterwards)."""
    v2 = _v2_parent()
    parent, limit_file = (v2, "memory.max") if v2 else (_v1_parent(), "memory.limit_in_bytes")
    if parent is None:
        pytest.skip("no cgroup v2 memory controller to delegate and no cgroup v1 memory mount")
    child = parent / f"weightlib-test-{os.getpid()}-{limit}"
    try:
        child.mkdir()
        (child / limit_file).write_text(str(limit))
    except OSError as error:
        with contextlib.suppress(OSError):
            child.rmdir()
        pytest.skip(f"cannot create a memory cgroup under {parent}: {error}")
    try:
        yield child
    finally:
        child.rmdir()  # its processes have exited; the kernel moves the charges to the parent


def run_in(cgroup: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `weightlib args…` as a member of `cgroup` (the shell joins it, then execs)."""
    join = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
    return subprocess.run(
        ["sh", "-c", join, str(cgroup), WEIGHTLIB, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def cold_model(tmp_path: Path) -> Path:
    """A 256 MiB two-shard checkpoint with none of its pages cached."""
    folder = tmp_path / "model"
    write_checkpoint(folder, [{"a": (SHARD,)}, {"b": (SHARD,)}], dtype="U8", index=False)
    env = hermetic_env(tmp_path / "home")
    subprocess.run([WEIGHTLIB, "evict", str(folder)], env=env, check=True, capture_output=True)
    return folder


def test_limit_below_the_model_is_refused_naming_both_numbers(
    cold_model: Path, tmp_path: Path
) -> None:
    env = hermetic_env(tmp_path / "home")
    with memory_cgroup(128 * MiB) as cgroup:
        result = run_in(cgroup, "prefetch", str(cold_model), "--json", env=env)
    assert result.returncode == 8, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert json.loads(result.stdout)["error"] == {"message": line[len("error: ") :], "exit_code": 8}
    needed, allowed = (int(n) for n in re.findall(r"(\d+) bytes", line))
    assert needed >= MODEL_BYTES  # the bytes still to read…
    assert allowed < 128 * MiB  # …and the ceiling, with where it comes from
    assert "under the cgroup memory limit of 128.0 MiB" in line


def test_forced_past_the_limit_the_kernel_keeps_only_what_fits(
    cold_model: Path, tmp_path: Path
) -> None:
    env = hermetic_env(tmp_path / "home")
    with memory_cgroup(128 * MiB) as cgroup:
        result = run_in(cgroup, "prefetch", str(cold_model), "--force", "--json", env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["bytes"] >= MODEL_BYTES
    assert summary["resident_after_bytes"] <= 128 * MiB  # what was read past the limit is gone


def test_limit_above_the_model_plus_headroom_warms_it_all(cold_model: Path, tmp_path: Path) -> None:
    env = hermetic_env(tmp_path / "home")
    with memory_cgroup(MODEL_BYTES + 256 * MiB) as cgroup:
        result = run_in(cgroup, "prefetch", str(cold_model), "--json", env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["resident_after_bytes"] >= 0.99 * summary["bytes"]
    assert summary["read_bytes"] >= MODEL_BYTES
