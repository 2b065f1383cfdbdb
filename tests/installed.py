"""A wheel built from this checkout, installed into a fresh venv (what `pip install` of it gives).

The build runs offline (`--no-build-isolation`, hatchling from the test extra). The fresh venv
holds only the wheel; its dependencies come from the development venv through a `.pth` line, so
no index is contacted, while `weightlib` itself, its scripts and its data files are the wheel's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from dataclasses import dataclass
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class InstalledWheel:
    """The wheel file and the venv it was installed into."""

    wheel: Path
    prefix: Path

    @property
    def bin(self) -> Path:
        """The venv's scripts folder (what `pipx` or an image puts on PATH)."""
        return self.prefix / "bin"

    @property
    def python(self) -> Path:
        """The venv's interpreter."""
        return self.bin / "python"


def build_wheel(out: Path) -> Path:
    """`pip wheel` of the checkout into `out`, offline; the one .whl it wrote."""
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"),
            *("--no-index", "--wheel-dir", os.fspath(out), os.fspath(CHECKOUT)),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("weightlib-*.whl")
    return wheel


def install_into_fresh_venv(wheel: Path, prefix: Path) -> InstalledWheel:
    """A new venv with `wheel` installed (no dependencies resolved; they come from this venv)."""
    venv.EnvBuilder(with_pip=True).create(prefix)
    python = prefix / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # A plain path line: the development venv's own .pth files (its editable weightlib) stay inert.
    (Path(site) / "weightlib-test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return InstalledWheel(wheel, prefix)
