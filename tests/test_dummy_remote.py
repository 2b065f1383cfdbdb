"""`weightlib dummy-init org/repo` against the local test hub: headers only, no weight bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.hubs.fixtures import HubServer, make_sharded_repo
from tests.layouts import tensor_layout
from weightlib.safetensors_header import read_safetensors_header

pytest.importorskip("torch")

pytest_plugins = ["tests.hubs.hf_plugin"]
pytestmark = pytest.mark.torch


def test_remote_repo_reads_only_headers(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    repo = make_sharded_repo(tmp_path / "repo", shard_floats=64 * 1024)
    hf_hub.add_repo("org/dummy-src", repo)
    mark = hf_hub.mark()
    out = tmp_path / "out"
    result = run_cli("dummy-init", "org/dummy-src", "--output", out, "--json", env=hub_env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["source"] == "org/dummy-src" and doc["tensors"] == 6

    index = "model.safetensors.index.json"
    assert (out / index).read_bytes() == (repo / index).read_bytes()
    shards = sorted(json.loads((repo / index).read_text())["weight_map"].values())
    assert sorted(p.name for p in out.glob("*.safetensors")) == sorted(set(shards))
    expected = {n: v for n, v in tensor_layout(repo).items() if v[0] in shards}
    assert tensor_layout(out) == expected
    assert (out / "config.json").read_bytes() == (repo / "config.json").read_bytes()

    # The hub transport fetches a file's first 100 kB once (header block); nothing beyond.
    fetched: dict[str, int] = {}
    for request in hf_hub.file_gets(mark, repo="org/dummy-src"):
        if request["file"].endswith(".safetensors"):
            assert request["range"] is not None, request
            end = int(request["range"].removeprefix("bytes=").split("-")[1])
            header_end = read_safetensors_header(repo / request["file"]).data_start
            assert end < max(header_end, 100_000), request
            fetched[request["file"]] = fetched.get(request["file"], 0) + request["bytes"]
    assert set(fetched) == set(shards)
    for name, sent in fetched.items():
        assert sent <= 100_000 < (repo / name).stat().st_size, name
