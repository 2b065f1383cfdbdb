"""Many concurrent `weightlib download` processes, and resuming after SIGKILL (real client)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import WEIGHTLIB
from tests.hubs.fixtures import HubServer, make_safetensors, make_sharded_repo

pytest_plugins = ["tests.hubs.hf_plugin"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_eight_processes_fetch_each_file_once(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    folder = make_sharded_repo(tmp_path / "repo", shards=4, shard_floats=32 * 1024)
    hf_hub.add_repo("org/shared", folder)
    hf_hub.set_faults(bandwidth=2_000_000)  # ~0.3 s of transfer so the processes overlap
    mark = hf_hub.mark()
    procs = [
        subprocess.Popen(
            [WEIGHTLIB, "download", "org/shared"],
            env=hub_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outputs]
    paths = {Path(out.strip().splitlines()[-1]) for out, _ in outputs}
    assert len(paths) == 1
    path = paths.pop()
    gets = Counter(r["file"] for r in hf_hub.file_gets(mark, repo="org/shared"))
    assert gets and set(gets.values()) == {1}, gets
    for name in gets:
        assert sha256(path / name) == sha256(folder / name), name


def _wait_for_partial(cache: Path, minimum: int, timeout: float) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for partial in cache.rglob("*.incomplete"):
            if partial.stat().st_size >= minimum:
                return partial
        time.sleep(0.05)
    raise AssertionError("no partial download appeared")


def test_sigkill_then_rerun_resumes(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path, run_cli
) -> None:
    folder = tmp_path / "repo"
    make_safetensors(folder / "model.safetensors", {"w": (768 * 1024,)})  # 3 MiB
    make_sharded_repo(folder, shards=1, extras=False)  # + support files and a small shard set
    (folder / "model.safetensors.index.json").unlink()
    for shard in folder.glob("model-0*.safetensors"):
        shard.unlink()
    hf_hub.add_repo("org/resume", folder)
    hf_hub.set_faults(bandwidth=1_000_000, paths=["model.safetensors"])
    cache = tmp_path / "cache"
    env = {**hub_env, "WEIGHTLIB_HF_TRANSFER": "0"}
    mark = hf_hub.mark()
    proc = subprocess.Popen(
        [WEIGHTLIB, "download", "org/resume", "--cache-dir", str(cache)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_partial(cache, 512 * 1024, timeout=30)
        time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    first = hf_hub.file_gets(mark, repo="org/resume")
    small_done = {r["file"] for r in first if r["file"] != "model.safetensors"}
    assert "config.json" in small_done
    hf_hub.set_faults()
    mark = hf_hub.mark()
    result = run_cli("download", "org/resume", "--cache-dir", cache, env=env)
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    for name in ["model.safetensors", *small_done]:
        assert sha256(path / name) == sha256(folder / name), name
    again = hf_hub.file_gets(mark, repo="org/resume")
    assert [r["file"] for r in again] == ["model.safetensors"]  # completed files not refetched
    (resumed,) = again
    assert resumed["range"] and resumed["range"].startswith("bytes=")
    offset = int(resumed["range"][6:].split("-")[0])
    assert offset >= 512 * 1024
    assert resumed["bytes"] == (folder / "model.safetensors").stat().st_size - offset
    assert not list(cache.rglob("*.incomplete"))


@pytest.mark.parametrize("workers", ["1", "4"])
def test_max_workers(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path, run_cli, workers: str
) -> None:
    folder = make_sharded_repo(tmp_path / "repo", shards=3, extras=False)
    hf_hub.add_repo("org/workers", folder)
    result = run_cli("download", "org/workers", "--max-workers", workers, env=hub_env)
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert sha256(path / "model-00003-of-00003.safetensors") == sha256(
        folder / "model-00003-of-00003.safetensors"
    )


def test_sigkill_during_parallel_download_restarts_cleanly(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path, run_cli
) -> None:
    """hf_transfer's side file has holes after a kill: the rerun must not trust it."""
    pytest.importorskip("hf_transfer")
    folder = tmp_path / "repo"
    make_safetensors(folder / "model.safetensors", {"w": (1024 * 1024,)})  # 4 MiB
    (folder / "config.json").write_text("{}")
    hf_hub.add_repo("org/parallel-kill", folder)
    hf_hub.set_faults(bandwidth=500_000, paths=["model.safetensors"])
    cache = tmp_path / "cache"
    env = {
        **hub_env,
        "WEIGHTLIB_HF_TRANSFER_MIN_BYTES": str(1024 * 1024),
        "WEIGHTLIB_HF_TRANSFER_CHUNK": str(512 * 1024),
    }
    proc = subprocess.Popen(
        [WEIGHTLIB, "download", "org/parallel-kill", "--cache-dir", str(cache)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not list(cache.rglob("*.parallel")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    hf_hub.set_faults()
    result = run_cli("download", "org/parallel-kill", "--cache-dir", cache, env=env)
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert sha256(path / "model.safetensors") == sha256(folder / "model.safetensors")
    assert not list(cache.rglob("*.parallel")) and not list(cache.rglob("*.incomplete"))
