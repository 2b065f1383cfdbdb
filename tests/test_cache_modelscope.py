"""`weightlib cache` on ModelScope's cache, made by weightlib and by the real modelscope client
against the test hub: listed, verified, revisions removed, running downloads respected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.cache_helpers import document, repo_entry, weightlib
from tests.helpers import WEIGHTLIB, stop_process, wait_for, write_file
from tests.hubs.ms_fixtures import MsHubServer, add_standard_repos
from weightlib.cache.ms_scan import client_lock_path

pytest_plugins = ["tests.hubs.ms_plugin"]


@pytest.fixture
def ms_env_with_repos(ms_hub: MsHubServer, ms_env: dict[str, str]) -> dict[str, str]:
    """`ms_env`, with the standard repositories served."""
    add_standard_repos(ms_hub, v1_seed=5, secret_seed=6)
    return ms_env


CLIENT_DOWNLOAD = """
import sys
from modelscope import snapshot_download
print(snapshot_download(sys.argv[1]))
"""


def test_both_writers_caches_are_listed_complete(ms_env_with_repos: dict[str, str]) -> None:
    env = ms_env_with_repos
    assert weightlib(env, "download", "ms://org/tiny").returncode == 0
    made = subprocess.run(
        [sys.executable, "-c", CLIENT_DOWNLOAD, "org/sharded"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    listing = document(env, "cache", "ls", "--source", "modelscope")
    tiny, sharded = repo_entry(listing, "org/tiny"), repo_entry(listing, "org/sharded")
    assert tiny["source"] == sharded["source"] == "modelscope"
    assert tiny["state"] == sharded["state"] == "complete"
    assert sharded["files"] == sum(1 for p in Path(made.stdout.strip()).rglob("*") if p.is_file())
    assert document(env, "cache", "ls", "--source", "hf")["repos"] == []


def test_verify_against_the_record_or_the_hub(ms_env_with_repos: dict[str, str]) -> None:
    env = ms_env_with_repos
    folder = Path(weightlib(env, "download", "ms://org/tiny").stdout.strip().splitlines()[-1])
    assert document(env, "cache", "verify", "ms://org/tiny", "--offline")["unverified"] == 0
    write_file(folder / "config.json", '{"tampered": true}')
    report = document(env, "cache", "verify", "ms://org/tiny", code=6)
    assert [f["path"] for f in report["files"] if f["status"] == "bad"] == ["config.json"]
    repaired = document(env, "cache", "verify", "ms://org/tiny", "--repair")
    assert repaired["repaired"] == ["config.json"] and repaired["bad"] == 0


def test_removing_one_revision_keeps_the_other(ms_env_with_repos: dict[str, str]) -> None:
    env = ms_env_with_repos
    master = Path(weightlib(env, "download", "ms://org/tiny").stdout.strip().splitlines()[-1])
    v1 = Path(weightlib(env, "download", "ms://org/tiny@v1").stdout.strip().splitlines()[-1])
    done = document(env, "cache", "rm", "ms://org/tiny@v1", "--yes")
    assert done["removals"][0]["revisions"] == ["v1"] and not v1.exists() and master.is_dir()
    entry = repo_entry(document(env, "cache", "ls"), "org/tiny")
    assert [r["revision"] for r in entry["revisions"]] == ["master"]
    assert weightlib(env, "download", "ms://org/tiny", "--offline").returncode == 0


def test_a_running_download_makes_rm_refuse(
    ms_hub: MsHubServer, ms_env_with_repos: dict[str, str]
) -> None:
    env = ms_env_with_repos
    ms_hub.configure(bytes_per_second=50_000)
    write_file(ms_hub.repo_dir("org/slow") / "model.safetensors", b"x" * 1_000_000)
    write_file(ms_hub.repo_dir("org/slow") / "config.json", "{}")
    process = subprocess.Popen(
        [WEIGHTLIB, "download", "ms://org/slow"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    cache = Path(env["MODELSCOPE_CACHE"]) / "models" / "org--slow"
    try:
        wait_for(lambda: any(p.name.endswith(".incomplete") for p in cache.rglob("*")))
        result = weightlib(env, "cache", "rm", "ms://org/slow", "--yes")
        assert result.returncode == 7 and "a download is running" in result.stderr
        assert repo_entry(document(env, "cache", "ls"), "org/slow")["state"] == "downloading"
        assert cache.is_dir()
    finally:
        stop_process(process)


def test_the_client_lock_path_is_the_clients_own(tmp_path: Path) -> None:
    from modelscope_hub._download import DownloadManager

    # the client's own computation of where it locks one file (it reads nothing else of self)
    theirs = DownloadManager._lock_path(
        SimpleNamespace(_config=None),  # type: ignore[arg-type]
        "org/tiny",
        "model",
        cache_dir=tmp_path,
        file_path="sub/model.safetensors",
    )
    assert client_lock_path(tmp_path, "org/tiny", "sub/model.safetensors") == theirs
