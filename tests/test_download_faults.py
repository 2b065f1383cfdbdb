"""`weightlib download` under auth, integrity and network faults from the test hub (real client)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRunner
from tests.helpers import assert_error, output_path, sha256_of
from tests.hubs.fixtures import VALID_TOKEN, HubServer, make_sharded_repo
from tests.layouts import write_shard
from weightlib.memory import parse_size

pytest_plugins = ["tests.hubs.hf_plugin"]


@pytest.fixture(scope="module")
def repos(hf_hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_sharded_repo(tmp_path_factory.mktemp("faulty"), shard_floats=64 * 1024)
    hf_hub.add_repo("org/tiny", folder)
    hf_hub.add_repo("org/gated", folder, gated=True)
    hf_hub.add_repo("org/private", folder, private=True)
    return folder


# ---- auth ---------------------------------------------------------------------------------


@pytest.mark.parametrize("repo", ["org/gated", "org/private"])
def test_gated_and_private_need_a_token(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], repos: Path, repo: str
) -> None:
    result = run_cli("download", repo, env=hub_env)
    assert_error(result, 4, repo, "--token", "HF_TOKEN")
    bad = run_cli("-v", "download", repo, "--token", "hf_wrong_secret_value", env=hub_env)
    assert bad.returncode == 4 and f"error: {repo}" in bad.stderr  # -v adds a traceback
    assert "hf_wrong_secret_value" not in bad.stdout + bad.stderr
    mark = hf_hub.mark()
    good = run_cli("-v", "download", repo, "--token", VALID_TOKEN, env=hub_env)
    path = output_path(good)
    assert sha256_of(path / "model-00001-of-00003.safetensors") == sha256_of(
        repos / "model-00001-of-00003.safetensors"
    )
    assert VALID_TOKEN not in good.stdout + good.stderr
    assert all(r["auth"] for r in hf_hub.requests(mark))


def test_token_from_env_and_stored_login(
    run_cli: CliRunner, hub_env: dict[str, str], repos: Path, tmp_path: Path
) -> None:
    result = run_cli("download", "org/gated", "--json", env={**hub_env, "HF_TOKEN": VALID_TOKEN})
    assert result.returncode == 0, result.stderr
    assert VALID_TOKEN not in result.stdout + result.stderr
    home = Path(hub_env["HF_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "token").write_text(VALID_TOKEN)
    stored = run_cli("download", "org/gated", "--cache-dir", tmp_path / "c2", env=hub_env)
    output_path(stored)
    assert VALID_TOKEN not in stored.stdout + stored.stderr


def test_token_absent_from_failure_output(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], repos: Path
) -> None:
    hf_hub.set_faults(error_rate=1.0)
    env = {**hub_env, "WEIGHTLIB_RETRIES": "1"}
    result = run_cli("-v", "download", "org/gated", "--token", VALID_TOKEN, env=env)
    assert result.returncode == 5 and "error: org/gated" in result.stderr
    assert VALID_TOKEN not in result.stdout + result.stderr


# ---- integrity ----------------------------------------------------------------------------


def test_wrong_content_once_is_refetched(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], repos: Path
) -> None:
    hf_hub.set_faults(wrong_content={"model-00002-of-00003.safetensors": 1, "config.json": 1})
    mark = hf_hub.mark()
    result = run_cli("download", "org/tiny", env={**hub_env, "WEIGHTLIB_PROGRESS_INTERVAL": "0"})
    path = output_path(result)
    for name in ("model-00002-of-00003.safetensors", "config.json"):
        assert sha256_of(path / name) == sha256_of(repos / name)
        assert len([r for r in hf_hub.file_gets(mark) if r["file"] == name]) == 2
    # progress counts a refetched file once: it never reports more than the total
    for done, total in re.findall(r"downloaded ([\d.]+ \w+) of ([\d.]+ \w+)", result.stderr):
        assert parse_size(done) <= parse_size(total), (done, total)


def test_wrong_content_always_exits_6(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], repos: Path
) -> None:
    hf_hub.set_faults(wrong_content={"model-00003-of-00003.safetensors": -1})
    result = run_cli("download", "org/tiny", env=hub_env)
    assert_error(result, 6, "model-00003-of-00003.safetensors", "sha256")
    assert result.stdout == ""
    blobs = list(Path(hub_env["HF_HOME"]).rglob("blobs/*"))
    assert sha256_of(repos / "model-00003-of-00003.safetensors") not in {b.name for b in blobs}


def test_no_verify_skips_the_check(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], repos: Path
) -> None:
    hf_hub.set_faults(wrong_content={"model-00003-of-00003.safetensors": -1})
    path = output_path(run_cli("download", "org/tiny", "--no-verify", env=hub_env))
    name = "model-00003-of-00003.safetensors"
    assert (path / name).stat().st_size == (repos / name).stat().st_size
    assert sha256_of(path / name) != sha256_of(repos / name)


# ---- network faults -----------------------------------------------------------------------


def test_thirty_percent_faults_complete(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], repos: Path
) -> None:
    hf_hub.set_faults(
        error_rate=0.1, reset_rate=0.1, truncate_rate=0.1, first_byte_delay=0.01, seed=3
    )
    env = {**hub_env, "WEIGHTLIB_RETRIES": "12"}
    mark = hf_hub.mark()
    result = run_cli("download", "org/tiny", "--json", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    for entry in doc["files"]:
        assert sha256_of(Path(doc["path"]) / entry["path"]) == sha256_of(repos / entry["path"])
    assert any(r.get("fault") for r in hf_hub.requests(mark))  # faults did happen


@pytest.mark.parametrize(
    ("faults", "reason"),
    [
        ({"error_rate": 1.0}, "HTTP 500"),
        ({"reset_rate": 1.0, "paths": ["*.safetensors"]}, "safetensors"),
        ({"truncate_rate": 1.0, "paths": ["model-00001*"]}, "model-00001-of-00003.safetensors"),
        ({"api_error_rate": 1.0}, "HTTP 500"),
    ],
)
def test_persistent_failure_exits_5(
    run_cli: CliRunner,
    hf_hub: HubServer,
    hub_env: dict[str, str],
    repos: Path,
    faults: dict[str, Any],
    reason: str,
) -> None:
    hf_hub.set_faults(**faults)
    result = run_cli("download", "org/tiny", env=hub_env, timeout=60)
    assert_error(result, 5, "org/tiny", reason, "attempts")
    assert result.stdout == ""


def test_unreachable_hub_exits_5(run_cli: CliRunner, hub_env: dict[str, str], repos: Path) -> None:
    env = {**hub_env, "HF_ENDPOINT": "http://127.0.0.1:9", "WEIGHTLIB_RETRIES": "1"}
    result = run_cli("download", "org/tiny", env=env, timeout=60)
    assert_error(result, 5, "org/tiny")


# ---- lock and disk ------------------------------------------------------------------------


def test_lock_timeout_exits_7(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], repos: Path, tmp_path: Path
) -> None:
    import fcntl

    cache = tmp_path / "cache"
    lock_path = cache / ".locks" / "models--org--tiny" / "weightlib.lock"
    lock_path.parent.mkdir(parents=True)
    with lock_path.open("w") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX)
        mark = hf_hub.mark()
        result = run_cli(
            "download", "org/tiny", "--cache-dir", cache, "--lock-timeout", "0.5", env=hub_env
        )
        assert_error(result, 7, "org/tiny", "0.5")
        assert hf_hub.file_gets(mark) == []
    result = run_cli(
        "download", "org/tiny", "--cache-dir", cache, "--lock-timeout", "5", env=hub_env
    )
    output_path(result)


def test_disk_preflight_exits_8_before_writing(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], small_fs: Path, tmp_path: Path
) -> None:
    big = tmp_path / "big"
    write_shard(big / "model.safetensors", {"w": (600 * 1024,)})  # 2.4 MB
    (big / "config.json").write_text("{}")
    hf_hub.add_repo("org/big", big)
    mark = hf_hub.mark()
    result = run_cli("download", "org/big", "--cache-dir", small_fs / "cache", env=hub_env)
    assert_error(result, 8, "org/big", "disk space")
    written = [p for p in small_fs.rglob("*") if p.is_file() and p.stat().st_size > 0]
    assert written == []
    assert hf_hub.file_gets(mark) == []


def test_high_performance_sets_the_xet_env_var(hub_env: dict[str, str], tmp_path: Path) -> None:
    import sys

    code = (
        "import os\n"
        "from weightlib.download import enable_xet_high_performance, enable_hf_transfer\n"
        "assert 'HF_XET_HIGH_PERFORMANCE' not in os.environ\n"
        "enable_xet_high_performance()\n"
        "import huggingface_hub.constants as c\n"
        "print(os.environ['HF_XET_HIGH_PERFORMANCE'], c.HF_XET_HIGH_PERFORMANCE,\n"
        "      enable_hf_transfer())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=hub_env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "True", "True"]


def test_high_performance_flag(run_cli: CliRunner, hub_env: dict[str, str], repos: Path) -> None:
    result = run_cli("-v", "download", "org/tiny", "--high-performance", env=hub_env)
    output_path(result)
    assert "HF_XET_HIGH_PERFORMANCE=1" in result.stderr


def test_large_file_uses_parallel_ranges(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    pytest.importorskip("hf_transfer")
    folder = tmp_path / "large"
    write_shard(folder / "model.safetensors", {"w": (1024 * 1024,)})  # 4 MiB
    (folder / "config.json").write_text("{}")
    hf_hub.add_repo("org/large", folder)
    env = {
        **hub_env,
        "WEIGHTLIB_HF_TRANSFER_MIN_BYTES": str(1024 * 1024),
        "WEIGHTLIB_HF_TRANSFER_CHUNK": str(1024 * 1024),
    }
    mark = hf_hub.mark()
    path = output_path(run_cli("download", "org/large", env=env))
    assert sha256_of(path / "model.safetensors") == sha256_of(folder / "model.safetensors")
    gets = [r for r in hf_hub.file_gets(mark) if r["file"] == "model.safetensors"]
    assert len(gets) >= 4 and all(r["range"] for r in gets)
    assert sum(r["bytes"] for r in gets) <= os.path.getsize(folder / "model.safetensors") + 1


def test_verify_cached_offline_and_online(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], repos: Path
) -> None:
    path = output_path(run_cli("download", "org/tiny", env=hub_env))
    name = "model-00002-of-00003.safetensors"
    blob = (path / name).resolve()
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))  # same size: only a hash notices
    assert output_path(run_cli("download", "org/tiny", "--offline", env=hub_env)) == path
    offline = run_cli("download", "org/tiny", "--offline", "--verify-cached", env=hub_env)
    assert_error(offline, 6, name, "corrupt")
    mark = hf_hub.mark()
    fixed = run_cli("download", "org/tiny", "--verify-cached", "--json", env=hub_env)
    assert fixed.returncode == 0, fixed.stderr
    assert sha256_of(path / name) == sha256_of(repos / name)
    assert [r["file"] for r in hf_hub.file_gets(mark)] == [name]
    doc = json.loads(fixed.stdout)
    assert [f["path"] for f in doc["files"] if not f["cached"]] == [name]


def test_parallel_download_failure_names_the_reason(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], repos: Path
) -> None:
    hf_hub.set_faults(error_rate=1.0, paths=["*.safetensors"])
    env = {**hub_env, "WEIGHTLIB_HF_TRANSFER_MIN_BYTES": "1"}  # every shard via hf_transfer
    result = run_cli("download", "org/tiny", env=env, timeout=120)
    assert_error(result, 5, "org/tiny", "parallel download failed (", "500", "attempts")
    assert hf_hub.url not in result.stderr
