"""Start the test Hugging Face hub in a separate process and build small repositories for it.

Use from a test module with `pytest_plugins = ["tests.hubs.hf_plugin"]` (fixtures `hf_hub`,
`hub_env`) or import `HubServer` / `make_sharded_repo` directly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import write_file
from tests.hubs.process import HubProcess
from tests.layouts import support_files, write_checkpoint, write_shard

VALID_TOKEN = "hf_TESTtoken_0123456789secret"


class HubServer(HubProcess):
    """One test hub process (tests/hubs/hf_server.py); repos and faults live in its config."""

    module = "tests.hubs.hf_server"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, {"tokens": [VALID_TOKEN], "repos": {}, "faults": {}})

    def client_env(self) -> dict[str, str]:
        return {"HF_ENDPOINT": self.url}

    # -- configuration ------------------------------------------------------------------------
    def add_repo(
        self,
        repo: str,
        revisions: dict[str, Path] | Path,
        *,
        tags: dict[str, str] | None = None,
        repo_type: str = "model",
        gated: bool = False,
        private: bool = False,
    ) -> None:
        """Serve folder(s) as `repo`: one folder (branch `main`) or branch → folder."""
        if isinstance(revisions, Path):
            revisions = {"main": revisions}
        self.config["repos"][repo] = {
            "type": repo_type,
            "revisions": {k: str(v) for k, v in revisions.items()},
            "tags": tags or {},
            "gated": gated,
            "private": private,
        }
        self.write_config()

    def set_faults(self, **faults: Any) -> None:
        """Replace the fault settings (see tests/hubs/hf_server.py); no arguments clears them."""
        self.config["faults"] = faults
        self.write_config()

    def redirect_to(
        self, other: HubServer, *, paths: list[str] | None = None, status: int = 302
    ) -> None:
        """Send resolves of `paths` (globs; default all files) to `other` with a `status` redirect.

        `other` (a second `HubServer`, the "CDN") gets this hub's repos, all public, with
        no faults; the other fault settings here are kept. Call it after adding the repos and
        after `set_faults` (which drops the redirect): `hub.redirect_to(cdn, paths=["*.bin"])`.
        """
        other.config["repos"].update(
            {
                name: {**spec, "gated": False, "private": False}
                for name, spec in self.config["repos"].items()
            }
        )
        other.config["faults"] = {}
        other.write_config()
        redirect: dict[str, Any] = {"to": other.url, "status": status}
        if paths is not None:
            redirect["paths"] = list(paths)
        self.config["faults"] = {**self.config["faults"], "redirect": redirect}
        self.write_config()


def make_sharded_repo(
    folder: Path,
    *,
    shards: int = 3,
    shard_floats: int = 4096,
    extras: bool = True,
    seed: int = 0,
) -> Path:
    """A sharded safetensors checkpoint with an index, support files and decoys.

    Shard i holds `layers.{i}.weight` (`shard_floats` F32) and `layers.{i}.bias` (16 F32).
    Decoys (never in the inference set): `pytorch_model.bin` (other format),
    `consolidated.safetensors` (not in the index), `original/model.safetensors` (subfolder),
    `training_args.bin` (training artifact).
    """
    layers = range(1, shards + 1)
    tensors = [{f"layers.{i}.weight": (shard_floats,), f"layers.{i}.bias": (16,)} for i in layers]
    write_checkpoint(folder, tensors, seed=seed)
    support_files(folder)
    if extras:
        write_file(folder / "pytorch_model.bin", os.urandom(2048))
        write_file(folder / "training_args.bin", os.urandom(512))
        write_shard(folder / "consolidated.safetensors", {"all": (256,)}, seed=seed + 99)
        write_shard(folder / "original" / "model.safetensors", {"orig": (128,)}, seed=seed + 98)
    return folder


def running_hub(workdir: Path) -> HubServer:
    """A test hub process in `workdir`; `with running_hub(path) as hub:` stops it at the end."""
    return HubServer(workdir)


@pytest.fixture(scope="module")
def hf_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A running test hub for the module (repos are added by the tests)."""
    with running_hub(tmp_path_factory.mktemp("hf-hub")) as server:
        yield server


@pytest.fixture
def hub_env(hf_hub: HubServer, tmp_path: Path) -> dict[str, str]:
    """Environment for CLI runs against `hf_hub`, caches in the test's temp dir; faults cleared."""
    hf_hub.set_faults()
    return hf_hub.env(tmp_path / "home")
