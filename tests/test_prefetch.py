"""`weightlib prefetch` and the prefetch library on real files made cold with POSIX_FADV_DONTNEED.

No timing assertions. This VM reclaims idle page cache on its own (DAMON), so residency is
checked against thresholds (≥ 90 % right after a prefetch), never exactly 100 %.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRunner
from tests.helpers import WEIGHTLIB, assert_error, random_file, run_with_fd_limit
from tests.layouts import write_shard
from weightlib.errors import NotFoundError
from weightlib.prefetch import (
    PrefetchHandle,
    PrefetchStats,
    network_files,
    plan_prefetch,
    prefetch_all_checkpoints,
    prefetch_checkpoint,
    rank_slice,
    readahead_window,
    resolve_files,
)
from weightlib.residency import PAGE_SIZE, evict, residency

MIB = 1024 * 1024


def cold(*paths: Path) -> None:
    for path in paths:
        evict(path)
        assert residency(path).percent <= 5


def percent(*paths: Path) -> float:
    results = [residency(p) for p in paths]
    return 100.0 * sum(r.resident_pages for r in results) / sum(r.pages for r in results)


@pytest.fixture
def shards(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "model"
    folder.mkdir()
    files = [
        random_file(folder / f"model-{i:05d}-of-00004.safetensors", 8 * MIB) for i in (1, 2, 3, 4)
    ]
    return files


def prefetch_json(run_cli: CliRunner, *args: str | os.PathLike[str]) -> dict[str, Any]:
    result = run_cli("prefetch", "--json", *args)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


def test_prefetch_raises_residency_and_warm_rerun_reads_nothing(
    shards: list[Path], run_cli: CliRunner
) -> None:
    cold(*shards)
    doc = prefetch_json(run_cli, *shards)
    assert set(doc) >= {
        "files", "bytes", "already_resident_bytes", "read_bytes", "seconds", "gbps",
        "resident_after_bytes", "errors",
    }  # fmt: skip
    assert doc["files"] == 4 and doc["bytes"] == 32 * MIB and doc["errors"] == []
    assert doc["read_bytes"] >= 30 * MIB
    assert doc["resident_after_bytes"] >= 0.9 * 32 * MIB
    assert percent(*shards) >= 90
    again = prefetch_json(run_cli, *shards)
    assert again["read_bytes"] <= 0.05 * 32 * MIB
    assert again["already_resident_bytes"] >= 0.95 * 32 * MIB


def test_prefetch_model_folder_warms_weights_and_support_files(
    shards: list[Path], run_cli: CliRunner
) -> None:
    folder = shards[0].parent
    (folder / "config.json").write_text('{"model_type": "x"}')
    (folder / "tokenizer.json").write_text("{}")
    (folder / "notes.md").write_text("not read by a server")
    paths = [*shards, folder / "config.json", folder / "tokenizer.json"]
    cold(*paths)
    doc = prefetch_json(run_cli, folder)
    assert doc["files"] == 6
    assert percent(*paths) >= 90
    human = run_cli("prefetch", folder)
    assert human.returncode == 0, human.stderr
    assert "prefetched 6 file(s)" in human.stdout and "already resident" in human.stdout


def test_prefetch_progress_lines_when_not_a_terminal(
    shards: list[Path], run_cli: CliRunner
) -> None:
    cold(*shards)
    result = run_cli("prefetch", *shards)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("prefetch: ")]
    assert 1 <= len(lines) <= 10 and "100%" in lines[-1] and "iB/s" in lines[-1]
    quiet = run_cli("-q", "prefetch", *shards)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_library_api(shards: list[Path]) -> None:
    cold(*shards)
    stats = prefetch_all_checkpoints(shards, num_threads=2, block_size=2 * MIB)
    assert isinstance(stats, PrefetchStats) and stats.errors == []
    assert stats.read_bytes == 32 * MIB and percent(*shards) >= 90
    cold(shards[0])
    single = prefetch_checkpoint(shards[0], block_size=MIB)
    assert single.files == 1 and residency(shards[0]).percent >= 90
    cold(*shards)
    handle = prefetch_all_checkpoints(shards, background=True)
    assert isinstance(handle, PrefetchHandle)
    result = handle.wait(timeout=60)
    assert handle.done() and result.resident_after_bytes >= 0.9 * 32 * MIB
    with pytest.raises(NotFoundError, match=r"missing\.bin"):
        prefetch_checkpoint(shards[0].parent / "missing.bin")


def test_readahead_window_of_this_device(tmp_path: Path) -> None:
    window = readahead_window(os.stat(tmp_path).st_dev)
    assert window >= 128 * 1024 and window % PAGE_SIZE == 0
    assert readahead_window(os.makedev(4095, 4095), sys_root=tmp_path) == 8 * MIB


def test_tensors_warms_only_matching_ranges(tmp_path: Path, run_cli: CliRunner) -> None:
    path = tmp_path / "experts.safetensors"
    experts = {f"layers.0.experts.{e}.w": (8 * MIB,) for e in range(4)}
    ranges = write_shard(path, experts, dtype="U8")
    cold(path)
    doc = prefetch_json(run_cli, "--tensors", r"experts\.[13]\.", path)
    assert doc["bytes"] < 17 * MIB  # the header page plus two tensors
    vector = residency(path, page_map=True).page_vector
    assert vector is not None

    def share(name: str) -> float:
        start, end = ranges[name]
        first, last = -(-start // PAGE_SIZE), end // PAGE_SIZE  # whole pages inside the tensor
        return vector[first:last].count(1) / (last - first)

    assert share("layers.0.experts.1.w") >= 0.9 and share("layers.0.experts.3.w") >= 0.9
    assert share("layers.0.experts.0.w") <= 0.1 and share("layers.0.experts.2.w") <= 0.1


def test_tensors_rejects_bad_regex_and_bin_files(tmp_path: Path, run_cli: CliRunner) -> None:
    path = tmp_path / "a.safetensors"
    write_shard(path, {"w": (MIB,)}, dtype="U8")
    assert_error(run_cli("prefetch", "--tensors", "([", path), 2, "--tensors")
    binary = random_file(tmp_path / "pytorch_model.bin", MIB)
    assert_error(run_cli("prefetch", "--tensors", "w", binary), 2, "pytorch_model.bin")


def test_tensors_on_corrupt_header_is_exit_6(tmp_path: Path, run_cli: CliRunner) -> None:
    path = random_file(tmp_path / "garbage.safetensors", MIB)
    assert_error(run_cli("prefetch", "--tensors", "w", path), 6, "garbage.safetensors")


def test_memory_guard_refuses_and_force_overrides(shards: list[Path], run_cli: CliRunner) -> None:
    cold(*shards)
    refused = run_cli("prefetch", "--max-memory", "1M", *shards)
    assert_error(refused, 8, str(32 * MIB), str(MIB), "--max-memory 1M", "--force")
    assert percent(*shards) <= 5
    forced = prefetch_json(run_cli, "--max-memory", "1M", "--force", *shards)
    assert forced["read_bytes"] == 32 * MIB and percent(*shards) >= 90
    # Already resident bytes do not count against the limit.
    warm_rerun = prefetch_json(run_cli, "--max-memory", "2M", *shards)
    assert warm_rerun["read_bytes"] <= 0.05 * 32 * MIB


def test_memory_guard_percent_names_available_memory(
    shards: list[Path], run_cli: CliRunner
) -> None:
    cold(*shards)
    refused = run_cli("prefetch", "--max-memory", "0%", *shards)
    assert_error(refused, 8, str(32 * MIB), "0% of", "available")
    assert_error(run_cli("prefetch", "--max-memory", "lots", *shards), 2, "--max-memory")


def test_network_fs_detection_from_mounts_text(tmp_path: Path) -> None:
    local = random_file(tmp_path / "local.bin", 10)
    nfs_dir = tmp_path / "nfs"
    nfs_dir.mkdir()
    remote = random_file(nfs_dir / "remote.bin", 10)
    mounts = (
        f"/dev/vda / ext4 rw,relatime 0 0\nserver:/export {nfs_dir} nfs4 rw,relatime,vers=4.2 0 0\n"
    )
    chosen, reason = network_files([local, remote], mounts)
    assert chosen == [remote] and reason == ""
    chosen, reason = network_files([local], mounts)
    assert chosen == [] and "ext4" in reason and "network" in reason
    lustre = f"/dev/vda / ext4 rw 0 0\n10.0.0.1@tcp:/fs {tmp_path} lustre rw 0 0\n"
    assert network_files([local], lustre)[0] == [local]


def test_auto_on_local_fs_skips(shards: list[Path], run_cli: CliRunner) -> None:
    cold(*shards)
    result = run_cli("prefetch", "--auto", *shards)
    assert result.returncode == 0, result.stderr
    assert "skipped" in result.stdout and "network filesystem" in result.stdout
    assert percent(*shards) <= 5
    doc = prefetch_json(run_cli, "--auto", *shards)
    assert doc["read_bytes"] == 0 and "skipped" in doc


def test_rank_slices_weight_files(shards: list[Path], run_cli: CliRunner) -> None:
    folder = shards[0].parent
    (folder / "config.json").write_text("{}")
    resolved = resolve_files([folder])
    assert rank_slice(resolved.weights, 1, 2) == [shards[1], shards[3]]
    assert rank_slice(resolved.weights, None, None) == shards
    cold(*shards)
    doc = prefetch_json(run_cli, "--rank", "1", "--world-size", "2", folder)
    assert doc["files"] == 3  # shards 2 and 4, plus config.json on every rank
    assert percent(shards[1], shards[3]) >= 90 and percent(shards[0], shards[2]) <= 5


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--rank", "2", "--world-size", "2"], "--rank must be in 0..1"),
        (["--rank", "-1", "--world-size", "2"], "--rank must be in"),
        (["--rank", "0", "--world-size", "0"], "--world-size must be at least 1"),
        (["--rank", "0"], "--rank and --world-size go together"),
        (["--world-size", "4"], "--rank and --world-size go together"),
        (["--block-size", "8X"], "--block-size"),
        (["--threads", "1000"], "--threads"),
        (["--method", "mmap"], "--method"),
    ],
)
def test_invalid_options_are_exit_2(
    shards: list[Path], run_cli: CliRunner, args: list[str], needle: str
) -> None:
    assert_error(run_cli("prefetch", *args, *shards), 2, needle)


def test_missing_path_is_exit_3_and_others_are_warmed(
    shards: list[Path], run_cli: CliRunner
) -> None:
    cold(*shards)
    result = run_cli("prefetch", shards[0], shards[0].parent / "nope.safetensors", shards[1])
    assert_error(result, 3, "nope.safetensors", "no such file")
    assert percent(shards[0], shards[1]) >= 90


def test_repo_id_not_in_the_cache_is_exit_3(tmp_path: Path, run_cli: CliRunner) -> None:
    result = run_cli("prefetch", "some-org/some-model", cwd=tmp_path)
    assert_error(result, 3, "some-org/some-model", "not in the local cache")


def test_folder_without_weights_is_exit_3(tmp_path: Path, run_cli: CliRunner) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert_error(run_cli("prefetch", tmp_path), 3, str(tmp_path), "no weight files")


def test_directory_among_files_is_exit_3_and_the_files_are_warmed(
    shards: list[Path], tmp_path: Path, run_cli: CliRunner
) -> None:
    empty_dir = tmp_path / "not-a-model"
    empty_dir.mkdir()
    cold(*shards)
    result = run_cli("prefetch", "--json", shards[0], empty_dir, shards[1])
    assert_error(result, 3, "not-a-model", "no weight files")
    doc = json.loads(result.stdout)
    assert doc["files"] == 2 and [e["path"] for e in doc["errors"]] == [str(empty_dir)]
    assert percent(shards[0], shards[1]) >= 90


def test_empty_weight_file_is_exit_6_and_empty_support_file_is_fine(
    shards: list[Path], run_cli: CliRunner
) -> None:
    empty = shards[0].parent / "model-00005-of-00005.safetensors"
    empty.write_bytes(b"")
    result = run_cli("prefetch", shards[0], empty)
    assert_error(result, 6, "model-00005-of-00005.safetensors", "empty")
    blank = shards[0].parent / "added_tokens.json"
    blank.write_bytes(b"")
    doc = prefetch_json(run_cli, shards[0], blank)
    assert doc["files"] == 2 and doc["errors"] == []


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A world-traversable temp dir (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="weightlib-perm-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_unreadable_file_is_exit_4_and_others_are_warmed(
    shared_dir: Path, cli_env: dict[str, str]
) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the CLI as an unprivileged user")
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    env = {**cli_env, "HOME": str(shared_dir)}
    probe = subprocess.run([*drop, WEIGHTLIB, "--version"], env=env, capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"the unprivileged user cannot run weightlib: {probe.stderr.strip()}")
    readable = random_file(shared_dir / "readable.safetensors", 4 * MIB)
    secret = random_file(shared_dir / "secret.safetensors", 4 * MIB)
    readable.chmod(0o644)
    secret.chmod(0o600)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    cold(readable, secret)
    result = subprocess.run(
        [*drop, WEIGHTLIB, "prefetch", secret, readable],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_error(result, 4, "secret.safetensors", "Permission denied")
    assert residency(readable).percent >= 90 and residency(secret).percent <= 5
    # The kernel hides residency of files one neither owns nor may write: reported as unknown.
    status = subprocess.run(
        [*drop, WEIGHTLIB, "status", "--json", readable], env=env, capture_output=True, text=True
    )
    assert status.returncode == 0, status.stderr
    entry = json.loads(status.stdout)["files"][0]
    assert entry["resident_bytes"] is None and entry["percent"] is None


def test_background_returns_a_pid_and_warms(shards: list[Path], run_cli: CliRunner) -> None:
    cold(*shards)
    result = run_cli("prefetch", "--background", *shards)
    assert result.returncode == 0, result.stderr
    assert "in the background, pid" in result.stdout
    pid = int(result.stdout.rsplit("pid", 1)[1].split()[0])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)
    assert not _running(pid)
    assert percent(*shards) >= 90


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_plan_counts_resident_bytes(shards: list[Path]) -> None:
    cold(*shards)
    with shards[0].open("rb") as handle:
        while handle.read(MIB):
            pass
    plan = plan_prefetch(shards)
    assert plan.bytes == 32 * MIB
    assert 7 * MIB <= plan.already_resident_bytes <= 17 * MIB  # the first shard (+ readahead)
    assert plan.to_read_bytes == plan.bytes - plan.already_resident_bytes


def test_ranges_readahead_skipped_are_repaired(tmp_path: Path, run_cli: CliRunner) -> None:
    # One readahead call fills at most the device's window, so with a 1 GiB block size most of
    # the file is left to the verify pass: re-issue, then read what is still missing.
    path = random_file(tmp_path / "big.safetensors", 32 * MIB)
    cold(path)
    args = ("--method", "readahead", "--block-size", "1G", "--threads", "1")
    doc = prefetch_json(run_cli, *args, path)
    assert doc["resident_after_bytes"] >= 0.9 * 32 * MIB
    assert residency(path).percent >= 90
    if readahead_window(os.stat(path).st_dev) <= 8 * MIB:
        assert doc["repaired_bytes"] > 0


def test_tensors_matching_nothing_warns_and_warms_only_the_header(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    path = tmp_path / "a.safetensors"
    write_shard(path, {"w": (4 * MIB,)}, dtype="U8")
    cold(path)
    result = run_cli("prefetch", "--json", "--tensors", "^nothing$", path)
    assert result.returncode == 0, result.stderr
    assert "warning: --tensors '^nothing$' matched no tensor" in result.stderr
    assert json.loads(result.stdout)["bytes"] == PAGE_SIZE
    assert residency(path).percent <= 10


def test_prefetch_real_minilm_folder(minilm_dir: Path, run_cli: CliRunner) -> None:
    doc = prefetch_json(run_cli, "--tensors", "embeddings", minilm_dir)
    assert doc["errors"] == [] and doc["files"] >= 3  # weights + config + tokenizer files
    assert doc["resident_after_bytes"] >= 0.9 * doc["bytes"]


def test_many_files_fit_a_low_descriptor_limit(tmp_path: Path, cli_env: dict[str, str]) -> None:
    files = [random_file(tmp_path / f"part-{i:03d}.bin", 64 * 1024) for i in range(100)]
    cold(*files)
    result = run_with_fd_limit(
        [WEIGHTLIB, "prefetch", "--json", *files], 48, env=cli_env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-500:]
    doc = json.loads(result.stdout)
    assert doc["files"] == 100 and doc["errors"] == [] and doc["warnings"] == []
    assert percent(*files) >= 90


def test_dropped_pages_become_a_warning(tmp_path: Path) -> None:
    path = random_file(tmp_path / "a.bin", MIB)
    stats = PrefetchStats(1, MIB, 0, MIB, 0.1, 0, dropped_files=[str(path)])
    (message,) = stats.warnings
    assert str(path) in message and "kernel_cache" in message
    assert stats.to_json()["warnings"] == [message]
