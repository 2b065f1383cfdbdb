"""`weightlib filter/size/index org/name` on the test hub: one listing, header reads, no weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.helpers import assert_error
from tests.hubs.fixtures import VALID_TOKEN, HubServer, make_sharded_repo

pytest_plugins = ["tests.hubs.hf_plugin"]

SHARDS = [f"model-{i:05d}-of-00003.safetensors" for i in (1, 2, 3)]


@pytest.fixture(scope="module")
def remote(hf_hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_sharded_repo(tmp_path_factory.mktemp("remote"), shard_floats=64 * 1024)
    dev = make_sharded_repo(tmp_path_factory.mktemp("remote-dev"), shards=2, extras=False)
    hf_hub.add_repo("org/remote", {"main": folder, "dev": dev})
    hf_hub.add_repo("org/remote-gated", folder, gated=True)
    return folder


def test_size_is_one_listing_request(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], remote: Path
) -> None:
    mark = hf_hub.mark()
    result = run_cli("size", "org/remote", "--bytes", "--all-files", env=hub_env)
    assert result.returncode == 0, result.stderr
    total = sum(p.stat().st_size for p in remote.rglob("*") if p.is_file())
    assert int(result.stdout.strip()) == total
    requests = hf_hub.requests(mark)
    # one listing, asked at an explicit revision as snapshot_download does (mirrors need it)
    assert len(requests) == 1 and requests[0]["path"] == "/api/models/org/remote/revision/main"
    mark = hf_hub.mark()
    weights = run_cli("size", "org/remote", "--json", env=hub_env)
    assert weights.returncode == 0, weights.stderr
    doc = json.loads(weights.stdout)
    assert doc["bytes"] == sum((remote / s).stat().st_size for s in SHARDS)
    api = [r for r in hf_hub.requests(mark) if r["path"].startswith("/api/")]
    assert len(api) == 1
    assert {r.get("file") for r in hf_hub.file_gets(mark)} <= {"model.safetensors.index.json"}


def test_filter_remote_with_revision(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], remote: Path
) -> None:
    mark = hf_hub.mark()
    result = run_cli("filter", "org/remote", env=hub_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == SHARDS
    assert [r["file"] for r in hf_hub.file_gets(mark)] == ["model.safetensors.index.json"]
    dev = run_cli("filter", "hf://org/remote", "--revision", "dev", env=hub_env)
    assert dev.stdout.split() == [f"model-{i:05d}-of-00002.safetensors" for i in (1, 2)]
    at = run_cli("filter", "org/remote@dev", env=hub_env)
    assert at.stdout == dev.stdout


def test_index_reads_only_headers(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], remote: Path
) -> None:
    mark = hf_hub.mark()
    result = run_cli("index", "org/remote", "--json", env=hub_env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [s["file"] for s in doc["shards"]] == SHARDS
    assert doc["total_tensors"] == 6 and doc["errors"] == []
    gets = hf_hub.file_gets(mark)
    for shard in SHARDS:
        reads = [r for r in gets if r["file"] == shard]
        assert reads and all(r["range"] for r in reads)
        assert sum(r["bytes"] for r in reads) < (remote / shard).stat().st_size // 2
    assert not any(r["file"] in ("pytorch_model.bin", "consolidated.safetensors") for r in gets)


@pytest.mark.parametrize(
    ("command", "args", "code", "needle"),
    [
        ("size", ["org/absent"], 3, "org/absent"),
        ("filter", ["org/remote", "--revision", "nope"], 3, "revision"),
        ("index", ["org/remote-gated"], 4, "--token"),
    ],
)
def test_remote_errors(
    run_cli: CliRunner,
    hub_env: dict[str, str],
    remote: Path,
    command: str,
    args: list[str],
    code: int,
    needle: str,
) -> None:
    assert_error(run_cli(command, *args, env=hub_env), code, needle)


def test_gated_with_token(run_cli: CliRunner, hub_env: dict[str, str], remote: Path) -> None:
    result = run_cli("filter", "org/remote-gated", "--token", VALID_TOKEN, env=hub_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == SHARDS
    assert VALID_TOKEN not in result.stdout + result.stderr


def test_offline_remote_reads_the_cache(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], remote: Path
) -> None:
    assert run_cli("download", "org/remote", env=hub_env).returncode == 0
    mark = hf_hub.mark()
    env = {**hub_env, "HF_HUB_OFFLINE": "1"}
    result = run_cli("filter", "org/remote", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == SHARDS
    index = run_cli("index", "org/remote", "--json", env=env)
    assert index.returncode == 0, index.stderr
    assert hf_hub.requests(mark) == []
    missing = run_cli("size", "org/never", env=env)
    assert_error(missing, 3, "org/never")
