"""Caches for the `weightlib cache` tests, made by the real commands and clients against the
test hubs, and a runner that returns the command's JSON document."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers import WEIGHTLIB, write_file
from tests.hubs.fixtures import HubServer, make_sharded_repo
from tests.layouts import write_shard

CLIENT_DOWNLOAD = """
import sys
from huggingface_hub import snapshot_download
print(snapshot_download(sys.argv[1]))
"""
"""A snapshot made by the hub client itself: `python -c CLIENT_DOWNLOAD org/name`."""

SHARED_SHARDS = ("model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors")
CHANGED_SHARD = "model-00003-of-00003.safetensors"


def weightlib(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `weightlib` (stdin not a terminal unless given)."""
    return subprocess.run(
        [WEIGHTLIB, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def document(env: dict[str, str], *args: str, code: int = 0) -> dict[str, Any]:
    """`weightlib ARGS --json`: its one JSON document, after checking the exit code."""
    result = weightlib(env, *args, "--json")
    assert result.returncode == code, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def two_revision_repo(hub: HubServer, root: Path, name: str = "org/two") -> tuple[Path, Path]:
    """`name` with branches `main` and `v1` that share two shards and differ in the third."""
    main = make_sharded_repo(root / "main")
    v1 = root / "v1"
    shutil.copytree(main, v1)
    write_shard(v1 / CHANGED_SHARD, {"layers.3.weight": (4096,), "layers.3.bias": (16,)}, seed=77)
    write_file(v1 / "config.json", json.dumps({"model_type": "tiny", "revision": "v1"}))
    hub.add_repo(name, {"main": main, "v1": v1})
    return main, v1


def repo_entry(listing: dict[str, Any], repo: str) -> dict[str, Any]:
    """One repository's entry in `cache ls --json`."""
    (entry,) = [r for r in listing["repos"] if r["repo"] == repo]
    found: dict[str, Any] = entry
    return found


def hf_cache(env: dict[str, str]) -> Path:
    """The Hugging Face hub cache of a hermetic environment."""
    return Path(env["HF_HOME"]) / "hub"
