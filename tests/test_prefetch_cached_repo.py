"""`prefetch`/`status`/`evict org/name` resolve the repository in the local hub cache, offline."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CliRunner
from tests.helpers import output_path
from tests.hubs.fixtures import HubServer, make_sharded_repo
from tests.hubs.ms_fixtures import MsHubServer, make_single_repo

pytest_plugins = ["tests.hubs.hf_plugin", "tests.hubs.ms_plugin"]


def test_hf_repo_id_is_its_cached_snapshot(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    hf_hub.add_repo("org/cached", make_sharded_repo(tmp_path / "repo"))
    download = run_cli("download", "org/cached", env=hub_env)
    snapshot = output_path(download)
    offline = {**hub_env, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    mark = hf_hub.mark()

    evicted = json.loads(run_cli("evict", "org/cached", "--json", env=offline).stdout)
    paths = {Path(f["path"]).name for f in evicted["files"]}
    assert "config.json" in paths and "consolidated.safetensors" not in paths
    assert all(Path(f["path"]).parent == snapshot for f in evicted["files"])

    result = run_cli("prefetch", "org/cached", "--json", env=offline)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["files"] == len(evicted["files"])
    assert stats["resident_after_bytes"] >= 0.9 * stats["bytes"]

    status = json.loads(run_cli("status", "hf://org/cached", "--json", env=offline).stdout)
    assert status["total"]["files"] == stats["files"]
    assert hf_hub.requests(mark) == []  # the cache alone answered


def test_modelscope_repo_id_is_its_cached_snapshot(
    run_cli: CliRunner, ms_hub: MsHubServer, ms_env: dict[str, str]
) -> None:
    make_single_repo(ms_hub.repo_dir("org/ms-cached"))
    download = run_cli("download", "ms://org/ms-cached", env=ms_env)
    snapshot = output_path(download)
    result = run_cli(
        "prefetch", "ms://org/ms-cached", "--json", env={**ms_env, "WEIGHTLIB_OFFLINE": "1"}
    )
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["bytes"] >= (snapshot / "model.safetensors").stat().st_size
    assert stats["errors"] == []
