"""Start the test Hugging Face hub in a separate process and build small repositories for it.

Use from a test module with `pytest_plugins = ["tests.hubs.hf_plugin"]` (fixtures `hf_hub`,
`hub_env`) or import `HubServer` / `make_sharded_repo` directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import RequestLog, hermetic_env, stop_process, write_file

REPO_ROOT = Path(__file__).resolve().parents[2]
VALID_TOKEN = "hf_TESTtoken_0123456789secret"


class HubServer(RequestLog):
    """One test hub process: its config (rewritten atomically, re-read by the server), its log."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "hub-config.json"
        self.log_path = workdir / "requests.jsonl"
        self.config: dict[str, Any] = {"tokens": [VALID_TOKEN], "repos": {}, "faults": {}}
        self._write()
        self.log_path.touch()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.hubs.hf_server",
                "--config",
                str(self.config_path),
                "--log",
                str(self.log_path),
                "--port",
                "0",
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"test hub did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    # -- configuration ------------------------------------------------------------------------
    def _write(self) -> None:
        temp = self.config_path.with_suffix(".tmp")
        temp.write_text(json.dumps(self.config))
        os.replace(temp, self.config_path)
        time.sleep(0.002)  # distinct mtime_ns even on coarse clocks

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
        self._write()

    def set_faults(self, **faults: Any) -> None:
        """Replace the fault settings (see tests/hubs/hf_server.py); no arguments clears them."""
        self.config["faults"] = faults
        self._write()

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
        other._write()
        redirect: dict[str, Any] = {"to": other.url, "status": status}
        if paths is not None:
            redirect["paths"] = list(paths)
        self.config["faults"] = {**self.config["faults"], "redirect": redirect}
        self._write()

    # -- request log (mark, requests: RequestLog) ----------------------------------------------

    def file_gets(self, since: int = 0, repo: str | None = None) -> list[dict[str, Any]]:
        """Logged GETs of file bodies (`/resolve/`), optionally for one repo."""
        return [
            r
            for r in self.requests(since)
            if r["method"] == "GET"
            and r.get("file") is not None
            and (repo is None or r.get("repo") == repo)
        ]

    def env(self, home: Path, **overrides: str) -> dict[str, str]:
        """A hermetic environment pointing the clients at this hub, with fast retries."""
        settings = {
            "HF_ENDPOINT": self.url,
            "WEIGHTLIB_RETRY_BASE_DELAY": "0.05",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        settings.update(overrides)
        return hermetic_env(home, **settings)

    def stop(self) -> None:
        stop_process(self.process)


def support_files(folder: Path) -> None:
    """The small root files a server reads: config, tokenizer, generation config, template, code."""
    write_file(folder / "config.json", json.dumps({"model_type": "tiny", "hidden_size": 8}))
    write_file(folder / "tokenizer.json", json.dumps({"version": "1.0", "model": {"vocab": {}}}))
    write_file(folder / "tokenizer_config.json", json.dumps({"model_max_length": 32}))
    write_file(folder / "generation_config.json", json.dumps({"do_sample": False}))
    write_file(folder / "chat_template.jinja", "{{ messages }}")
    write_file(folder / "modeling_tiny.py", "# custom model code\n")
    write_file(folder / "README.md", "# tiny\n")


def make_safetensors(path: Path, tensors: dict[str, tuple[int, ...]], seed: int = 0) -> Path:
    """A real safetensors file of F32 tensors with deterministic content (no torch needed)."""
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    arrays = {k: rng.standard_normal(shape).astype("float32") for k, shape in tensors.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(arrays, str(path))
    return path


def make_sharded_repo(
    folder: Path,
    *,
    shards: int = 3,
    shard_floats: int = 4096,
    extras: bool = True,
    seed: int = 0,
) -> Path:
    """A sharded safetensors checkpoint with an index, support files and decoys.

    Decoys (never in the inference set): `pytorch_model.bin` (other format),
    `consolidated.safetensors` (not in the index), `original/model.safetensors` (subfolder),
    `training_args.bin` (training artifact).
    """
    folder.mkdir(parents=True, exist_ok=True)
    weight_map: dict[str, str] = {}
    total = 0
    for i in range(1, shards + 1):
        name = f"model-{i:05d}-of-{shards:05d}.safetensors"
        tensors = {f"layers.{i}.weight": (shard_floats,), f"layers.{i}.bias": (16,)}
        make_safetensors(folder / name, tensors, seed=seed + i)
        weight_map.update({t: name for t in tensors})
        total += (shard_floats + 16) * 4
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    write_file(folder / "model.safetensors.index.json", json.dumps(index, indent=2))
    support_files(folder)
    if extras:
        write_file(folder / "pytorch_model.bin", os.urandom(2048))
        write_file(folder / "training_args.bin", os.urandom(512))
        make_safetensors(folder / "consolidated.safetensors", {"all": (256,)}, seed=seed + 99)
        make_safetensors(
            folder / "original" / "model.safetensors", {"orig": (128,)}, seed=seed + 98
        )
    return folder


@contextlib.contextmanager
def running_hub(workdir: Path) -> Iterator[HubServer]:
    """A test hub process in `workdir`, stopped when the block ends."""
    server = HubServer(workdir)
    try:
        yield server
    finally:
        server.stop()


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
