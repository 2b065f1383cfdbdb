"""vLLM-compatible helpers (`download_weights_from_hf`, `download_safetensors_index_file_from_hf`)
against the test hub, each in a subprocess so HF_ENDPOINT is set before the client is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.helpers import write_file
from tests.hubs.fixtures import HubServer, make_sharded_repo
from tests.layouts import write_shard

pytest_plugins = ["tests.hubs.hf_plugin"]


@pytest.fixture(scope="module")
def compat(hf_hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_sharded_repo(tmp_path_factory.mktemp("compat"))
    hf_hub.add_repo("org/compat", folder)
    plain = tmp_path_factory.mktemp("plain")
    write_shard(plain / "model.safetensors", {"w": (8,)})
    write_file(plain / "config.json", "{}")
    hf_hub.add_repo("org/plain", plain)
    return folder


def run_py(code: str, env: dict[str, str]) -> object:
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_download_weights_from_hf_first_pattern_and_index(
    hf_hub: HubServer, compat: Path, tmp_path: Path
) -> None:
    env = hf_hub.env(tmp_path / "home")
    cache = tmp_path / "cache"
    code = f"""
import json, os
from weightlib.download import download_weights_from_hf
path = download_weights_from_hf("org/compat", {str(cache)!r}, ["*.safetensors", "*.bin"])
files = sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs)
print(json.dumps({{"path": path, "files": files}}))
"""
    mark = hf_hub.mark()
    doc = run_py(code, env)
    assert isinstance(doc, dict)
    assert doc["files"] == [
        "model-00001-of-00003.safetensors",
        "model-00002-of-00003.safetensors",
        "model-00003-of-00003.safetensors",
        "model.safetensors.index.json",
    ]
    assert Path(doc["path"]).parent.parent.name == "models--org--compat"
    fetched = sorted(r["file"] for r in hf_hub.file_gets(mark))
    assert fetched == doc["files"]
    bins = run_py(code.replace('["*.safetensors", "*.bin"]', '["*.pt", "*.bin"]'), env)
    assert isinstance(bins, dict) and "pytorch_model.bin" in bins["files"]
    mark = hf_hub.mark()
    offline = run_py(code, {**env, "HF_HUB_OFFLINE": "1"})
    assert isinstance(offline, dict) and offline["path"] == doc["path"]
    assert hf_hub.requests(mark) == []


def test_download_index_file_missing_is_not_an_error(
    hf_hub: HubServer, compat: Path, tmp_path: Path
) -> None:
    env = hf_hub.env(tmp_path / "home")
    cache = tmp_path / "cache"
    code = f"""
import json, glob
from weightlib.download import download_safetensors_index_file_from_hf as get
a = get("org/compat", "model.safetensors.index.json", {str(cache)!r})
b = get("org/plain", "model.safetensors.index.json", {str(cache)!r})
print(json.dumps([a, b, sorted(glob.glob({str(cache)!r} + "/*/snapshots/*/*"))]))
"""
    doc = run_py(code, env)
    assert isinstance(doc, list) and doc[0] is None and doc[1] is None
    assert [Path(p).name for p in doc[2]] == ["model.safetensors.index.json"]


def test_client_finds_weightlib_downloads_offline(
    hf_hub: HubServer, compat: Path, tmp_path: Path, run_cli: CliRunner
) -> None:
    """What weightlib puts in the cache, huggingface_hub itself resolves offline."""
    env = hf_hub.env(tmp_path / "home")
    result = run_cli("download", "org/compat", "--json", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    names = [f["path"] for f in doc["files"]]
    code = f"""
import json
from huggingface_hub import hf_hub_download, snapshot_download
from huggingface_hub.errors import LocalEntryNotFoundError
snap = snapshot_download("org/compat", allow_patterns={names!r}, local_files_only=True)
one = hf_hub_download("org/compat", "config.json", local_files_only=True)
try:
    snapshot_download("org/compat", local_files_only=True)
    incomplete = False
except LocalEntryNotFoundError:
    incomplete = True
print(json.dumps([snap, one, incomplete]))
"""
    out = run_py(code, {**env, "HF_HUB_OFFLINE": "1"})
    assert out == [doc["path"], f"{doc['path']}/config.json", True]


def test_index_helper_raises_for_a_repository_that_does_not_exist(
    hf_hub: HubServer, compat: Path, tmp_path: Path
) -> None:
    # vLLM: a missing index in an existing repo is silent; a missing repo raises
    code = f"""
import json
from weightlib.download import download_safetensors_index_file_from_hf as get
from weightlib.errors import NotFoundError
get("org/compat", "no-such.index.json", {str(tmp_path / "c")!r})
try:
    get("org/does-not-exist", "model.safetensors.index.json", {str(tmp_path / "c")!r})
except NotFoundError as exc:
    print(json.dumps({{"raised": str(exc)}}))
else:
    print(json.dumps({{"raised": None}}))
"""
    doc = run_py(code, hf_hub.env(tmp_path / "home"))
    assert isinstance(doc, dict) and doc["raised"] and "org/does-not-exist" in doc["raised"]


def test_offline_constant_set_at_run_time_is_honoured(
    hf_hub: HubServer, compat: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    code = f"""
import json
import huggingface_hub.constants
from huggingface_hub.errors import LocalEntryNotFoundError
from weightlib.download import download_weights_from_hf
path = download_weights_from_hf("org/plain", {str(cache)!r}, ["*.safetensors"])
huggingface_hub.constants.HF_HUB_OFFLINE = True  # as a server does after its own checks
again = download_weights_from_hf("org/plain", {str(cache)!r}, ["*.safetensors"])
try:
    download_weights_from_hf("org/compat", {str(cache)!r}, ["*.safetensors"])
except LocalEntryNotFoundError as exc:  # what vLLM's callers catch
    missing = type(exc).__name__
print(json.dumps({{"same": path == again, "missing": missing}}))
"""
    mark = hf_hub.mark()
    doc = run_py(code, hf_hub.env(tmp_path / "home"))
    assert doc == {"same": True, "missing": "NotCachedError"}
    listings = [r for r in hf_hub.requests(mark) if r["path"].startswith("/api/")]
    assert len(listings) == 1  # the first call only: offline afterwards, no request


def test_safetensors_index_wins_wherever_its_pattern_stands(
    hf_hub: HubServer, compat: Path, tmp_path: Path
) -> None:
    # vLLM 0.34: "*.safetensors" anywhere in allow_patterns + an index → the index's shards,
    # even after a pattern that matches first ("*.bin" here)
    cache = tmp_path / "cache"
    code = f"""
import json, os
from weightlib.download import download_weights_from_hf
path = download_weights_from_hf("org/compat", {str(cache)!r}, ["*.bin", "*.safetensors"])
print(json.dumps(sorted(os.listdir(path))))
"""
    files = run_py(code, hf_hub.env(tmp_path / "home"))
    assert files == [
        "model-00001-of-00003.safetensors",
        "model-00002-of-00003.safetensors",
        "model-00003-of-00003.safetensors",
        "model.safetensors.index.json",
    ]


@pytest.mark.parametrize(
    ("value", "final"), [(None, "1"), ("0", "0"), ("1", "1"), ("false", "false")]
)
def test_a_users_xet_setting_wins(value: str | None, final: str, tmp_path: Path) -> None:
    code = """
import json, os
import huggingface_hub.constants as c
from weightlib.download import enable_xet_high_performance
enable_xet_high_performance()
print(json.dumps([os.environ.get("HF_XET_HIGH_PERFORMANCE"), bool(c.HF_XET_HIGH_PERFORMANCE)]))
"""
    env = {k: v for k, v in os.environ.items() if k != "HF_XET_HIGH_PERFORMANCE"}
    if value is not None:
        env["HF_XET_HIGH_PERFORMANCE"] = value
    doc = run_py(code, env)
    assert doc == [final, final == "1"]


@pytest.mark.parametrize(
    ("value", "modelscope"),
    [("1", True), ("true", True), (" TRUE ", True), ("yes", False), ("on", False), ("0", False)],
)
def test_vllm_use_modelscope_is_read_as_vllm_reads_it(value: str, modelscope: bool) -> None:
    from weightlib.hub.source import env_source

    assert (env_source({"VLLM_USE_MODELSCOPE": value}) == "modelscope") is modelscope
