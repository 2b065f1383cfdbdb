"""`weightlib cache verify`: every file re-hashed against the recorded listing (offline) or the
hub's; bad and missing files named, exit 6; `--repair` fetches just those again."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cache_helpers import CLIENT_DOWNLOAD, document, hf_cache, weightlib
from tests.helpers import sha256_of
from tests.hubs.fixtures import HubServer, make_sharded_repo

pytest_plugins = ["tests.hubs.hf_plugin"]

SHARD = "model-00002-of-00003.safetensors"


@pytest.fixture
def snapshot(hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path) -> Path:
    """`org/verified`, downloaded by weightlib."""
    make_sharded_repo(tmp_path / "repo")
    hf_hub.add_repo("org/verified", tmp_path / "repo")
    result = weightlib(hub_env, "download", "org/verified")
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def corrupt(path: Path) -> None:
    """Flip one byte of the blob behind `path`, same size."""
    blob = path.resolve()
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))


@pytest.mark.parametrize("offline", [False, True])
def test_an_intact_download_verifies(
    snapshot: Path, hub_env: dict[str, str], offline: bool
) -> None:
    args = ["cache", "verify", "org/verified", *(["--offline"] if offline else [])]
    report = document(hub_env, *args)
    assert report["against"] == ("recorded" if offline else "hub")
    assert report["ok"] == len(list(snapshot.iterdir())) and report["bad"] == 0
    assert report["unverified"] == 0 and report["missing"] == 0


def test_a_corrupt_shard_is_named_and_exits_6(snapshot: Path, hub_env: dict[str, str]) -> None:
    corrupt(snapshot / SHARD)
    report = document(hub_env, "cache", "verify", "org/verified", "--offline", code=6)
    (bad,) = [f for f in report["files"] if f["status"] == "bad"]
    assert bad["path"] == SHARD and "sha256" in bad["reason"]
    text = weightlib(hub_env, "cache", "verify", "org/verified", "--offline")
    assert text.returncode == 6 and SHARD in text.stdout
    assert text.stderr.count("\n") == 1 and SHARD in text.stderr


def test_a_missing_shard_is_named(snapshot: Path, hub_env: dict[str, str]) -> None:
    (snapshot / SHARD).resolve().unlink()  # the blob gone: the link dangles
    report = document(hub_env, "cache", "verify", "org/verified", "--offline", code=6)
    assert [f["path"] for f in report["files"] if f["status"] == "missing"] == [SHARD]


def test_repair_fetches_only_the_damaged_files(
    snapshot: Path, hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    corrupt(snapshot / SHARD)
    (snapshot / "config.json").resolve().unlink()
    mark = hf_hub.mark()
    report = document(hub_env, "cache", "verify", "org/verified", "--repair")
    assert report["repaired"] == ["config.json", SHARD] and report["bad"] == report["missing"] == 0
    assert {r["file"] for r in hf_hub.file_gets(mark, "org/verified")} == {"config.json", SHARD}
    assert sha256_of(snapshot / SHARD) == sha256_of(tmp_path / "repo" / SHARD)
    assert document(hub_env, "cache", "verify", "org/verified", "--offline")["ok"] > 0


def test_repair_with_offline_is_a_usage_error(snapshot: Path, hub_env: dict[str, str]) -> None:
    result = weightlib(hub_env, "cache", "verify", "org/verified", "--offline", "--repair")
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_an_uncached_repository_exits_3(hub_env: dict[str, str]) -> None:
    result = weightlib(hub_env, "cache", "verify", "org/never", "--offline")
    assert result.returncode == 3 and "org/never" in result.stderr


def test_a_cache_made_by_the_hub_client_verifies_offline_from_its_blob_names(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    make_sharded_repo(tmp_path / "client")
    hf_hub.add_repo("org/client-made", tmp_path / "client")
    made = subprocess.run(
        [sys.executable, "-c", CLIENT_DOWNLOAD, "org/client-made"],
        env=hub_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    report = document(hub_env, "cache", "verify", "org/client-made", "--offline")
    assert report["bad"] == 0 and report["unverified"] == 0 and report["ok"] > 5
    blob = next(p for p in (hf_cache(hub_env) / "models--org--client-made" / "blobs").iterdir()
                if len(p.name) == 64)  # fmt: skip
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    corrupt(blob)
    assert document(hub_env, "cache", "verify", "org/client-made", "--offline", code=6)["bad"] == 1
