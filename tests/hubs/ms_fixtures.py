"""Start the test ModelScope hub in a separate process and build small repositories for it.

Use from a test module with `pytest_plugins = ["tests.hubs.ms_plugin"]` (fixtures `ms_hub`,
`ms_env`) or import `MsHubServer` and the repo builders directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import RequestLog, hermetic_env, stop_process, write_file

REPO_ROOT = Path(__file__).resolve().parents[2]
MS_TOKEN = "ms-TESTtoken-0123456789-secret"


class MsHubServer(RequestLog):
    """One test ModelScope hub process: repos are folders under `root`, config changes over HTTP."""

    def __init__(self, workdir: Path, config: dict[str, Any] | None = None) -> None:
        self.workdir = workdir
        self.root = workdir / "repos"
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "requests.jsonl"
        self.log_path.touch()
        self.base_config: dict[str, Any] = {"log": str(self.log_path), **(config or {})}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.hubs.ms_server",
                "--root",
                str(self.root),
                "--port",
                "0",
                "--config",
                json.dumps(self.base_config),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.isdigit():
            self.process.kill()
            raise RuntimeError(f"test ModelScope hub did not start: {line!r}")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"

    # -- repositories -------------------------------------------------------------------------
    def repo_dir(self, repo: str, revision: str = "master") -> Path:
        """The folder served as `repo@revision` (created)."""
        folder = self.root / repo / revision
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # -- configuration ------------------------------------------------------------------------
    def configure(self, **changes: Any) -> None:
        """Merge `changes` into the server's configuration (fault counters restart)."""
        request = urllib.request.Request(
            f"{self.url}/_test/config",
            data=json.dumps(changes).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def reset_faults(self) -> None:
        """Back to a fault-free server (private repos kept)."""
        self.configure(
            fail={},
            reset={},
            fault_rate=0,
            fail_listing=None,
            wrong_content=[],
            wrong_sha256=[],
            gone=[],
            no_range=False,
            first_byte_delay=0,
            bytes_per_second=0,
            extra_files={},
        )

    # -- request log (mark, requests: RequestLog) ----------------------------------------------

    def file_gets(self, since: int = 0, repo: str | None = None) -> list[dict[str, Any]]:
        """Logged GETs of file bodies, optionally for one repo."""
        return [
            r
            for r in self.requests(since)
            if r["method"] == "GET"
            and r.get("kind") == "file"
            and (repo is None or r.get("repo") == repo)
        ]

    def env(self, home: Path, **overrides: str) -> dict[str, str]:
        """A hermetic environment pointing the ModelScope client at this hub, with fast retries."""
        settings = {
            "MODELSCOPE_ENDPOINT": self.url,
            "MODELSCOPE_DOWNLOAD_INTRA_CLOUD": "false",
            "MODELSCOPE_REPO_TREE_PAGE_MAX_ATTEMPTS": "2",
            "MODELSCOPE_DOWNLOAD_MAX_RETRIES": "2",
            "MODELSCOPE_DOWNLOAD_RETRY_MAX_DELAY_SECONDS": "1",
            "WEIGHTLIB_RETRY_BASE_DELAY": "0.05",
            "NO_PROXY": "127.0.0.1,localhost",
            "TQDM_DISABLE": "1",
        }
        settings.update(overrides)
        return hermetic_env(home, **settings)

    def stop(self) -> None:
        stop_process(self.process)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_support_files(folder: Path) -> None:
    """Config, tokenizer, generation config, chat template, custom code and a README."""
    write_file(folder / "config.json", json.dumps({"model_type": "tiny", "hidden_size": 8}))
    write_file(folder / "tokenizer.json", json.dumps({"version": "1.0"}))
    write_file(folder / "tokenizer_config.json", json.dumps({"model_max_length": 32}))
    write_file(folder / "generation_config.json", json.dumps({"do_sample": False}))
    write_file(folder / "configuration.json", json.dumps({"framework": "pytorch"}))
    write_file(folder / "modeling_tiny.py", "# custom model code\n")
    write_file(folder / "README.md", "# tiny\n")


def make_single_repo(folder: Path, *, seed: int = 0, with_bin: bool = True) -> Path:
    """One `model.safetensors` (real, numpy-written) + support files; decoy `.bin` and subfolder."""
    import numpy as np
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    save_file(
        {"w": rng.standard_normal((64, 32)).astype("float32"), "b": np.zeros(8, "float32")},
        str(folder / "model.safetensors"),
    )
    write_support_files(folder)
    if with_bin:
        write_file(folder / "pytorch_model.bin", os.urandom(3000))
        write_file(folder / "original" / "consolidated.pt", os.urandom(700))
    return folder


def make_sharded_repo(folder: Path, *, max_shard_size: int = 40_000) -> list[str]:
    """A real sharded checkpoint written by `save_torch_state_dict` plus decoys; returns the shards.

    Decoys: `consolidated.safetensors` (not in the index), `training_args.bin`.
    """
    from tests.layouts import write_sharded

    shards = write_sharded(folder, max_shard_size=max_shard_size)
    write_support_files(folder)
    write_file(folder / "training_args.bin", os.urandom(600))
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"all": np.ones(64, "float32")}, str(folder / "consolidated.safetensors"))
    return shards


def add_standard_repos(server: MsHubServer, *, v1_seed: int, secret_seed: int) -> None:
    """`org/tiny` (with a `v1` branch), `org/sharded` and the private `org/secret`."""
    make_single_repo(server.repo_dir("org/tiny"))
    make_single_repo(server.repo_dir("org/tiny", "v1"), seed=v1_seed, with_bin=False)
    write_file(server.repo_dir("org/tiny", "v1") / "only-in-v1.txt", "v1\n")
    make_sharded_repo(server.repo_dir("org/sharded"))
    make_single_repo(server.repo_dir("org/secret"), seed=secret_seed)
    server.configure(private={"org/secret": MS_TOKEN})


@pytest.fixture(scope="module")
def ms_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MsHubServer]:
    """A running test ModelScope hub for the module (tests add repos under `ms_hub.root`)."""
    server = MsHubServer(tmp_path_factory.mktemp("ms-hub"), {"private": {}})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ms_env(ms_hub: MsHubServer, tmp_path: Path) -> dict[str, str]:
    """Environment for runs against `ms_hub`, caches in the test's temp dir; faults cleared."""
    ms_hub.reset_faults()
    return ms_hub.env(tmp_path / "home")
