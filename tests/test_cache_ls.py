"""`weightlib cache ls` on caches made by weightlib and by the real clients: bytes counted once,
residency, and each state (complete, incomplete, downloading, partial files)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cache_helpers import (
    CHANGED_SHARD,
    CLIENT_DOWNLOAD,
    document,
    hf_cache,
    repo_entry,
    two_revision_repo,
    weightlib,
)
from tests.helpers import WEIGHTLIB, kill_when, size_of, stop_process, wait_for
from tests.hubs.fixtures import HubServer, make_sharded_repo
from weightlib.cli.commands.cache_ls_cmd import table_lines

pytest_plugins = ["tests.hubs.hf_plugin"]


def test_a_download_is_listed_complete_with_its_bytes_and_residency(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    make_sharded_repo(tmp_path / "repo")
    hf_hub.add_repo("org/one", tmp_path / "repo")
    snapshot = Path(weightlib(hub_env, "download", "org/one").stdout.strip().splitlines()[-1])
    on_disk = sum(p.stat().st_size for p in snapshot.iterdir())
    weightlib(hub_env, "evict", str(snapshot))
    cold = repo_entry(document(hub_env, "cache", "ls"), "org/one")
    assert cold["state"] == "complete" and cold["source"] == "hf"
    assert cold["bytes"] == on_disk and cold["files"] == len(list(snapshot.iterdir()))
    assert cold["refs"] == ["main"] and cold["downloading"] is False
    assert cold["resident_bytes"] < on_disk
    weightlib(hub_env, "prefetch", str(snapshot))
    warm = repo_entry(document(hub_env, "cache", "ls", "org/one"), "org/one")
    assert warm["resident_bytes"] == on_disk and warm["resident_percent"] == 100.0


def test_blobs_shared_between_revisions_count_once(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    _main, v1 = two_revision_repo(hf_hub, tmp_path)
    weightlib(hub_env, "download", "org/two")
    weightlib(hub_env, "download", "org/two", "--revision", "v1")
    entry = repo_entry(document(hub_env, "cache", "ls", "--revisions"), "org/two")
    revisions = {tuple(r["refs"]): r for r in entry["revisions"]}
    assert set(revisions) == {("main",), ("v1",)}
    blobs = hf_cache(hub_env) / "models--org--two" / "blobs"
    assert entry["bytes"] == sum(p.stat().st_size for p in blobs.iterdir())
    assert entry["bytes"] < revisions[("main",)]["bytes"] + revisions[("v1",)]["bytes"]
    changed = size_of(v1 / CHANGED_SHARD) + size_of(v1 / "config.json")
    assert entry["bytes"] == revisions[("main",)]["bytes"] + changed


def test_a_download_killed_mid_file_is_incomplete_with_its_partial_bytes(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    repo = make_sharded_repo(tmp_path / "repo", shard_floats=400_000)
    hf_hub.add_repo("org/killed", repo)
    hf_hub.set_faults(bandwidth=400_000, paths=["*.safetensors"])
    blobs = hf_cache(hub_env) / "models--org--killed" / "blobs"
    killed = kill_when(
        [WEIGHTLIB, "download", "org/killed", "--max-workers", "1"],
        lambda: any(
            p.name.endswith(".incomplete") and p.stat().st_size > 0 for p in blobs.glob("*")
        ),
        env=hub_env,
    )
    assert killed.ready
    entry = repo_entry(document(hub_env, "cache", "ls"), "org/killed")
    # no snapshot yet (the largest files come first), or one whose index names missing shards
    assert entry["state"] == "incomplete"
    missing = [m for r in entry["revisions"] for m in r["missing"]]
    assert not entry["revisions"] or any(m.endswith(".safetensors") for m in missing)
    assert entry["partial_bytes"] > 0 and entry["partial_files"][0]["path"].endswith(".incomplete")
    text = weightlib(hub_env, "cache", "ls").stdout
    assert "incomplete" in text and "partial files: 1" in text


def test_a_running_download_shows_as_downloading(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    repo = make_sharded_repo(tmp_path / "repo", shard_floats=400_000)
    hf_hub.add_repo("org/running", repo)
    hf_hub.set_faults(bandwidth=200_000, paths=["*.safetensors"])
    blobs = hf_cache(hub_env) / "models--org--running" / "blobs"
    process = subprocess.Popen(
        [WEIGHTLIB, "download", "org/running"], env=hub_env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: any(p.name.endswith(".incomplete") for p in blobs.glob("*")))
        entry = repo_entry(document(hub_env, "cache", "ls"), "org/running")
        assert entry["state"] == "downloading" and entry["downloading"] is True
    finally:
        stop_process(process)
    after = repo_entry(document(hub_env, "cache", "ls"), "org/running")
    assert after["downloading"] is False  # the lock died with its holder


def test_a_cache_made_by_the_hub_client_itself_is_read(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    two_revision_repo(hf_hub, tmp_path, "org/client")
    result = subprocess.run(
        [sys.executable, "-c", CLIENT_DOWNLOAD, "org/client"],
        env=hub_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    snapshot = Path(result.stdout.strip().splitlines()[-1])
    entry = repo_entry(document(hub_env, "cache", "ls"), "org/client")
    assert entry["state"] == "complete"
    assert entry["files"] == sum(1 for p in snapshot.rglob("*") if p.is_file())


def test_a_local_folder_given_by_path_is_listed(hub_env: dict[str, str], tmp_path: Path) -> None:
    folder = make_sharded_repo(tmp_path / "model", extras=False)
    entry = document(hub_env, "cache", "ls", str(folder))["repos"][0]
    assert entry["source"] == "local" and entry["state"] == "complete"
    (folder / CHANGED_SHARD).unlink()
    broken = document(hub_env, "cache", "ls", str(folder))["repos"][0]
    assert broken["state"] == "incomplete" and broken["revisions"][0]["missing"] == [CHANGED_SHARD]


def test_sorted_by_size_then_by_name(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    for name, floats in (("org/b-small", 64), ("org/a-large", 40_000)):
        hf_hub.add_repo(name, make_sharded_repo(tmp_path / name, shard_floats=floats))
        weightlib(hub_env, "download", name)
    by_size = [r["repo"] for r in document(hub_env, "cache", "ls")["repos"]]
    assert by_size == ["org/a-large", "org/b-small"]
    by_name = [r["repo"] for r in document(hub_env, "cache", "ls", "--sort", "name")["repos"]]
    assert by_name == ["org/a-large", "org/b-small"][::1] and by_name == sorted(by_name)


def test_an_uncached_model_is_named_and_exits_3(hub_env: dict[str, str]) -> None:
    listing = document(hub_env, "cache", "ls", "org/absent", code=3)
    assert listing["repos"] == [] and listing["errors"][0]["exit_code"] == 3
    result = weightlib(hub_env, "cache", "ls", "org/absent")
    assert result.returncode == 3 and result.stderr.count("\n") == 1
    assert "org/absent" in result.stderr


@pytest.mark.parametrize("option", [["--sort", "speed"], ["--source", "pypi"]])
def test_bad_choices_exit_2_with_one_line(hub_env: dict[str, str], option: list[str]) -> None:
    result = weightlib(hub_env, "cache", "ls", *option)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert option[1] in result.stderr


def test_the_table_fits_60_columns() -> None:
    repo: dict[str, Any] = {
        "repo": "an-organisation/a-very-long-model-name-that-goes-on-and-on-Instruct-2507",
        "source": "hf", "repo_type": "model", "refs": ["main"], "bytes": 15 << 30,
        "resident_bytes": 7 << 30, "resident_percent": 46.7, "files": 12, "accessed": 0,
        "state": "partial files", "revisions": [], "partial_files": [], "partial_bytes": 0,
    }  # fmt: skip
    total = {"repos": 1, "files": 12, "bytes": 15 << 30, "resident_bytes": 7 << 30}
    lines = table_lines({"repos": [repo], "total": total}, revisions=False, width=60)
    assert all(len(line) <= 60 for line in lines[:-1]), lines
    assert "partial files" in lines[1] and "…" in lines[1]
    wide = table_lines({"repos": [repo], "total": total}, revisions=False, width=None)
    assert str(repo["repo"]) in wide[1] and "hf" in wide[1]
