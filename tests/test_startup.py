"""Start-up stays light: no torch, numpy, modelscope or huggingface_hub for local commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "numpy", "modelscope", "huggingface_hub")


def imported_modules(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "weightlib.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    modules = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert modules, result.stderr
    return modules


@pytest.mark.parametrize("command", ["--help", "filter", "index", "size"])
def test_no_heavy_imports(command: str, minilm_dir: Path) -> None:
    args = [command] if command == "--help" else [command, str(minilm_dir)]
    assert not set(HEAVY) & imported_modules(*args)


def test_the_check_can_see_imports() -> None:
    # guards the test above against passing vacuously
    assert "typer" in imported_modules("--help")
