"""weightlib against an independent Hugging Face-compatible server: olah, offline on 127.0.0.1.

olah serves `org/tiny` from a git clone laid out as its local mirror (tests/hubs/third_party.py).
It answers unlike huggingface.co: the model info comes only at an explicit revision
(`/api/models/org/tiny` is 401 RepoNotFound) and names files without sizes or ids (`blobs=true`
is ignored); the tree wants a trailing slash (307); file GETs ignore `Range` and carry neither
`Content-Length`, `ETag` nor `X-Repo-Commit` (HEAD has them, the ETag unquoted). Each command
must work all the same, with the bytes of the source and of huggingface_hub's own `hf download`
from the same server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.conftest import CliRunner
from tests.helpers import output_path, sha256_of
from tests.layouts import INDEX, tensor_layout

if TYPE_CHECKING:
    from tests.hubs.third_party import OlahRepo, OlahServer

pytest_plugins = ["tests.hubs.third_party"]

HF = str(Path(sys.executable).with_name("hf"))
"""huggingface_hub's own command line, installed beside the interpreter."""


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout)


def _snapshot(env: dict[str, str], repo: OlahRepo) -> Path:
    """Where the client's cache keeps `repo`'s commit."""
    org, name = repo.name.split("/")
    return Path(env["HF_HOME"]) / "hub" / f"models--{org}--{name}" / "snapshots" / repo.commit


def _resolve_gets(server: OlahServer, since: int) -> list[str]:
    """The file bodies asked for (GET of a resolve URL) since the mark."""
    return [
        path
        for method, path, _ in server.requests(since)
        if method == "GET" and "/resolve/" in path
    ]


def test_download_gets_the_served_files_verified(
    run_cli: CliRunner, olah_repo: OlahRepo, olah_env: dict[str, str]
) -> None:
    doc = _json(run_cli("download", olah_repo.name, "--json", env=olah_env))
    assert (doc["repo"], doc["revision"], doc["commit"]) == ("org/tiny", "main", olah_repo.commit)
    folder = Path(doc["path"])
    assert folder == _snapshot(olah_env, olah_repo)
    files = {f["path"]: f for f in doc["files"]}
    assert sorted(files) == olah_repo.downloaded
    for name, entry in files.items():
        assert entry["bytes"] == olah_repo.size(name), name
        assert entry["sha256"] == olah_repo.sha256(name) == sha256_of(folder / name), name
        assert entry["cached"] is False, name
    assert doc["downloaded_bytes"] == sum(olah_repo.size(name) for name in files)
    for decoy in olah_repo.decoys:
        assert not (folder / decoy).exists(), decoy


def test_second_download_finds_everything_cached(
    run_cli: CliRunner, olah_repo: OlahRepo, olah_env: dict[str, str]
) -> None:
    first = output_path(run_cli("download", olah_repo.name, env=olah_env))
    assert first == _snapshot(olah_env, olah_repo)
    mark = olah_repo.server.mark()
    doc = _json(run_cli("download", olah_repo.name, "--json", env=olah_env))
    assert Path(doc["path"]) == first
    assert sorted(f["path"] for f in doc["files"]) == olah_repo.downloaded
    assert all(f["cached"] for f in doc["files"]), doc["files"]
    assert doc["downloaded_bytes"] == 0
    assert _resolve_gets(olah_repo.server, mark) == []
    for name in olah_repo.downloaded:
        assert sha256_of(first / name) == olah_repo.sha256(name), name


def test_size_bytes_counts_the_shards(
    run_cli: CliRunner, olah_repo: OlahRepo, olah_env: dict[str, str]
) -> None:
    result = run_cli("size", olah_repo.name, "--bytes", env=olah_env)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) == sum(olah_repo.size(s) for s in olah_repo.shards)


def test_filter_selects_the_indexed_shards(
    run_cli: CliRunner, olah_repo: OlahRepo, olah_env: dict[str, str]
) -> None:
    result = run_cli("filter", olah_repo.name, env=olah_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == olah_repo.shards
    doc = _json(run_cli("filter", olah_repo.name, "--json", env=olah_env))
    assert doc["files"] == olah_repo.shards and doc["format"] == "safetensors"
    assert {e["file"]: e["reason"] for e in doc["excluded"]} == olah_repo.decoys


def test_index_reads_the_served_headers(
    run_cli: CliRunner, olah_repo: OlahRepo, olah_env: dict[str, str]
) -> None:
    doc = _json(run_cli("index", olah_repo.name, "--json", env=olah_env))
    layout = tensor_layout(olah_repo.source)
    assert doc["index_file"] == INDEX and doc["format"] == "safetensors"
    assert [s["file"] for s in doc["shards"]] == olah_repo.shards
    for shard in doc["shards"]:
        tensors = [t for t in layout.values() if t[0] == shard["file"]]
        assert shard["tensors"] == len(tensors), shard
        assert shard["bytes"] == olah_repo.size(shard["file"]), shard
        assert sorted(shard["dtypes"]) == sorted({t[1] for t in tensors}), shard
    assert doc["total_tensors"] == sum(s["tensors"] for s in doc["shards"])
    assert doc["missing"] == [] and doc["errors"] == []
    local = _json(run_cli("index", olah_repo.source, "--json", env=olah_env))
    assert doc["shards"] == local["shards"] and doc["total_bytes"] == local["total_bytes"]


def test_dummy_init_writes_the_layout(
    run_cli: CliRunner, olah_repo: OlahRepo, olah_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "dummy"
    result = run_cli("dummy-init", olah_repo.name, "--output", out, env=olah_env)
    assert result.returncode == 0, result.stderr
    source = {k: v for k, v in tensor_layout(olah_repo.source).items() if v[0] in olah_repo.shards}
    assert tensor_layout(out) == source
    index = json.loads((out / INDEX).read_text())
    assert index["weight_map"] == json.loads((olah_repo.source / INDEX).read_text())["weight_map"]
    assert (out / "config.json").read_bytes() == (olah_repo.source / "config.json").read_bytes()
    for shard in olah_repo.shards:  # random values, not the source's
        assert sha256_of(out / shard) != olah_repo.sha256(shard), shard


def test_hf_client_gets_the_same_bytes_and_weightlib_reuses_its_cache(
    run_cli: CliRunner, olah_repo: OlahRepo, olah_env: dict[str, str]
) -> None:
    hf = subprocess.run(
        [HF, "download", olah_repo.name, "--quiet"],
        env=olah_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert hf.returncode == 0, hf.stderr
    snapshot = Path(hf.stdout.strip().splitlines()[-1])
    assert snapshot == _snapshot(olah_env, olah_repo)
    for name in [*olah_repo.downloaded, *olah_repo.decoys]:
        assert sha256_of(snapshot / name) == olah_repo.sha256(name), name
    mark = olah_repo.server.mark()
    doc = _json(run_cli("download", olah_repo.name, "--json", env=olah_env))
    assert Path(doc["path"]) == snapshot
    assert all(f["cached"] for f in doc["files"]) and doc["downloaded_bytes"] == 0, doc
    assert _resolve_gets(olah_repo.server, mark) == []


def test_server_asked_for_nothing_but_loopback(
    run_cli: CliRunner, olah_repo: OlahRepo, olah_env: dict[str, str], tmp_path: Path
) -> None:
    """Serving a whole download, the guard around the server refused nothing (this test makes
    its own requests: under xdist the module's other tests may run in another worker)."""
    env = {**olah_env, "HF_HUB_CACHE": str(tmp_path / "cache")}
    assert run_cli("download", olah_repo.name, env=env).returncode == 0
    assert olah_repo.server.violations() == []
    served = [path for _, path, status in olah_repo.server.requests() if status < 400]
    assert any(f"/{olah_repo.name}/resolve/{olah_repo.commit}/" in path for path in served)
