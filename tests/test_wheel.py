"""The built wheel installs the command, the entrypoint, the man page and the completions."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.installed import CHECKOUT, InstalledWheel
from weightlib import __version__

DATA_FILES = {
    "share/man/man1/weightlib.1": "man/weightlib.1",
    "share/bash-completion/completions/weightlib": "completions/weightlib.bash",
    "share/zsh/site-functions/_weightlib": "completions/_weightlib",
    "share/fish/vendor_completions.d/weightlib.fish": "completions/weightlib.fish",
}


def test_wheel_holds_one_package_its_data_files_and_the_entrypoint(
    installed_wheel: InstalledWheel,
) -> None:
    names = zipfile.ZipFile(installed_wheel.wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    data = f"weightlib-{__version__}.data"
    assert top == {"weightlib", f"weightlib-{__version__}.dist-info", data}
    assert {f"{data}/data/{path}" for path in DATA_FILES} <= set(names)
    assert f"{data}/scripts/weightlib-entrypoint" in names


@pytest.mark.parametrize("installed, source", DATA_FILES.items())
def test_data_files_are_installed_under_the_prefix(
    installed_wheel: InstalledWheel, installed: str, source: str
) -> None:
    path = installed_wheel.prefix / installed
    assert path.read_bytes() == (CHECKOUT / source).read_bytes()


def test_installed_command_runs_from_the_fresh_venv(installed_wheel: InstalledWheel) -> None:
    env = {"PATH": f"{installed_wheel.bin}:/usr/bin:/bin", "HOME": str(installed_wheel.prefix)}
    result = subprocess.run(
        ["weightlib", "--version"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout
    where = subprocess.run(
        [str(installed_wheel.python), "-c", "import weightlib; print(weightlib.__file__)"],
        env=env,
        cwd=installed_wheel.prefix,  # not the checkout, whose weightlib/ would shadow the wheel's
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Path(where.strip()).is_relative_to(installed_wheel.prefix)


def test_installed_entrypoint_is_an_executable_script(installed_wheel: InstalledWheel) -> None:
    script = installed_wheel.bin / "weightlib-entrypoint"
    assert os.access(script, os.X_OK)
    assert script.read_text() == (CHECKOUT / "deploy" / "entrypoint.sh").read_text()


def test_installed_bash_completion_completes_commands(installed_wheel: InstalledWheel) -> None:
    completion = installed_wheel.prefix / "share/bash-completion/completions/weightlib"
    script = (
        f"source {completion}; complete -p weightlib; "
        "COMP_WORDS=(weightlib pre); COMP_CWORD=1; _weightlib_completion weightlib; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    env = {"PATH": f"{installed_wheel.bin}:/usr/bin:/bin", "HOME": str(installed_wheel.prefix)}
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(" weightlib") and "-F _weightlib_completion" in lines[0]
    assert "prefetch" in lines[1:]


@pytest.mark.skipif(shutil.which("man") is None, reason="man (man-db) is not installed")
def test_installed_man_page_is_found_under_the_prefix(installed_wheel: InstalledWheel) -> None:
    result = subprocess.run(
        ["man", "-M", str(installed_wheel.prefix / "share/man"), "-w", "weightlib"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == installed_wheel.prefix / "share/man/man1/weightlib.1"
