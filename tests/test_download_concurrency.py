"""Many concurrent `weightlib download` processes, and resuming after SIGKILL (real client)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.helpers import WEIGHTLIB, kill_when, largest_under, output_path, run_parallel, sha256_of
from tests.hubs.fixtures import HubServer, make_sharded_repo
from tests.layouts import support_files, write_shard

pytest_plugins = ["tests.hubs.hf_plugin"]


def test_eight_processes_fetch_each_file_once(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    folder = make_sharded_repo(tmp_path / "repo", shards=4, shard_floats=32 * 1024)
    hf_hub.add_repo("org/shared", folder)
    hf_hub.set_faults(bandwidth=2_000_000)  # ~0.3 s of transfer so the processes overlap
    mark = hf_hub.mark()
    runs = run_parallel([WEIGHTLIB, "download", "org/shared"], 8, env=hub_env)
    assert [r.returncode for r in runs] == [0] * 8, [r.stderr for r in runs]
    paths = {Path(r.stdout.strip().splitlines()[-1]) for r in runs}
    assert len(paths) == 1
    path = paths.pop()
    gets = Counter(r["file"] for r in hf_hub.file_gets(mark, repo="org/shared"))
    assert gets and set(gets.values()) == {1}, gets
    for name in gets:
        assert sha256_of(path / name) == sha256_of(folder / name), name


def test_sigkill_then_rerun_resumes(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "repo"
    write_shard(folder / "model.safetensors", {"w": (768 * 1024,)})  # 3 MiB
    support_files(folder)
    hf_hub.add_repo("org/resume", folder)
    hf_hub.set_faults(bandwidth=1_000_000, paths=["model.safetensors"])
    cache = tmp_path / "cache"
    env = {**hub_env, "WEIGHTLIB_HF_TRANSFER": "0"}
    mark = hf_hub.mark()
    killed = kill_when(
        [WEIGHTLIB, "download", "org/resume", "--cache-dir", cache],
        lambda: largest_under(cache, (".incomplete",)) >= 512 * 1024,
        env=env,
        settle=0.2,
        timeout=30,
    )
    assert killed.ready, "no partial download appeared"
    first = hf_hub.file_gets(mark, repo="org/resume")
    small_done = {r["file"] for r in first if r["file"] != "model.safetensors"}
    assert "config.json" in small_done
    hf_hub.set_faults()
    mark = hf_hub.mark()
    result = killed.rerun()
    path = output_path(result)
    for name in ["model.safetensors", *small_done]:
        assert sha256_of(path / name) == sha256_of(folder / name), name
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
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path, run_cli: CliRunner, workers: str
) -> None:
    folder = make_sharded_repo(tmp_path / "repo", shards=3, extras=False)
    hf_hub.add_repo("org/workers", folder)
    result = run_cli("download", "org/workers", "--max-workers", workers, env=hub_env)
    path = output_path(result)
    assert sha256_of(path / "model-00003-of-00003.safetensors") == sha256_of(
        folder / "model-00003-of-00003.safetensors"
    )


def test_sigkill_during_parallel_download_restarts_cleanly(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    """hf_transfer's side file has holes after a kill: the rerun must not trust it."""
    pytest.importorskip("hf_transfer")
    folder = tmp_path / "repo"
    write_shard(folder / "model.safetensors", {"w": (1024 * 1024,)})  # 4 MiB
    (folder / "config.json").write_text("{}")
    hf_hub.add_repo("org/parallel-kill", folder)
    hf_hub.set_faults(bandwidth=500_000, paths=["model.safetensors"])
    cache = tmp_path / "cache"
    env = {
        **hub_env,
        "WEIGHTLIB_HF_TRANSFER_MIN_BYTES": str(1024 * 1024),
        "WEIGHTLIB_HF_TRANSFER_CHUNK": str(512 * 1024),
    }
    killed = kill_when(
        [WEIGHTLIB, "download", "org/parallel-kill", "--cache-dir", cache],
        lambda: list(cache.rglob("*.parallel")),
        env=env,
        settle=0.5,
        timeout=30,
    )
    hf_hub.set_faults()
    result = killed.rerun()
    path = output_path(result)
    assert sha256_of(path / "model.safetensors") == sha256_of(folder / "model.safetensors")
    assert not list(cache.rglob("*.parallel")) and not list(cache.rglob("*.incomplete"))
