"""Start the test ModelScope hub in a separate process and build small repositories for it.

Use from a test module with `pytest_plugins = ["tests.hubs.ms_plugin"]` (fixtures `ms_hub`,
`ms_env`) or import `MsHubServer` and the repo builders directly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import write_file
from tests.hubs.process import HubProcess
from tests.layouts import support_files, write_shard, write_sharded

MS_TOKEN = "ms-TESTtoken-0123456789-secret"


class MsHubServer(HubProcess):
    """One test ModelScope hub process (tests/hubs/ms_server.py): repos are folders under
    `root`, the configuration (private repos, faults) lives in its config file."""

    module = "tests.hubs.ms_server"

    def __init__(self, workdir: Path, config: dict[str, Any] | None = None) -> None:
        self.root = workdir / "repos"
        self.root.mkdir(parents=True, exist_ok=True)
        super().__init__(workdir, dict(config or {}), "--root", str(self.root))

    def client_env(self) -> dict[str, str]:
        return {
            "MODELSCOPE_ENDPOINT": self.url,
            "MODELSCOPE_DOWNLOAD_INTRA_CLOUD": "false",
            "MODELSCOPE_REPO_TREE_PAGE_MAX_ATTEMPTS": "2",
            "MODELSCOPE_DOWNLOAD_MAX_RETRIES": "2",
            "MODELSCOPE_DOWNLOAD_RETRY_MAX_DELAY_SECONDS": "1",
            "TQDM_DISABLE": "1",
        }

    # -- repositories -------------------------------------------------------------------------
    def repo_dir(self, repo: str, revision: str = "master") -> Path:
        """The folder served as `repo@revision` (created)."""
        folder = self.root / repo / revision
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # -- configuration ------------------------------------------------------------------------
    def configure(self, **changes: Any) -> None:
        """Merge `changes` into the server's configuration (fault counters restart)."""
        self.config.update(changes)
        self.write_config()

    def reset_faults(self) -> None:
        """Back to a fault-free server (private repos and the seed kept)."""
        self.config = {k: v for k, v in self.config.items() if k in ("private", "seed")}
        self.write_config()


def make_single_repo(folder: Path, *, seed: int = 0, with_bin: bool = True) -> Path:
    """One `model.safetensors` + support files; decoy `.bin` and subfolder."""
    write_shard(folder / "model.safetensors", {"w": (64, 32), "b": (8,)}, seed=seed)
    support_files(folder, modelscope=True)
    if with_bin:
        write_file(folder / "pytorch_model.bin", os.urandom(3000))
        write_file(folder / "original" / "consolidated.pt", os.urandom(700))
    return folder


def make_sharded_repo(folder: Path, *, max_shard_size: int = 40_000) -> list[str]:
    """A real sharded checkpoint written by `save_torch_state_dict` plus decoys; returns the shards.

    Decoys: `consolidated.safetensors` (not in the index), `training_args.bin`.
    """
    shards = write_sharded(folder, max_shard_size=max_shard_size)
    support_files(folder, modelscope=True)
    write_file(folder / "training_args.bin", os.urandom(600))
    write_shard(folder / "consolidated.safetensors", {"all": (64,)})
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
    with MsHubServer(tmp_path_factory.mktemp("ms-hub"), {"private": {}}) as server:
        yield server


@pytest.fixture
def ms_env(ms_hub: MsHubServer, tmp_path: Path) -> dict[str, str]:
    """Environment for runs against `ms_hub`, caches in the test's temp dir; faults cleared."""
    ms_hub.reset_faults()
    return ms_hub.env(tmp_path / "home")
