"""The committed man page and shell completions match the current app, and they work."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import WEIGHTLIB

ROOT = Path(__file__).resolve().parent.parent
COMPLETIONS = {"bash": "weightlib.bash", "zsh": "_weightlib", "fish": "weightlib.fish"}


def test_man_page_is_current() -> None:
    generated = subprocess.run(
        [sys.executable, "-m", "weightlib.cli.manpage"], capture_output=True, text=True, check=True
    ).stdout
    assert (ROOT / "man" / "weightlib.1").read_text() == generated, "run `make man`"


def test_man_page_renders_without_warnings() -> None:
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed (.ci/run installs it)")
    result = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", str(ROOT / "man" / "weightlib.1")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stderr == ""
    text = re.sub(".\x08", "", result.stdout)  # drop overstrike bold
    for section in ("EXIT STATUS", "ENVIRONMENT", "EXAMPLES", "HF_ENDPOINT"):
        assert section in text
    for command in ("filter", "index", "size", "download", "prefetch", "status", "evict"):
        assert f"weightlib {command}" in text


@pytest.mark.parametrize("shell", sorted(COMPLETIONS))
def test_completion_scripts_are_current(shell: str) -> None:
    env = {**os.environ, "_WEIGHTLIB_COMPLETE": f"source_{shell}"}
    generated = subprocess.run([WEIGHTLIB], env=env, capture_output=True, text=True).stdout
    assert generated.strip(), shell
    assert (ROOT / "completions" / COMPLETIONS[shell]).read_text() == generated, (
        "run `make completions`"
    )


def test_bash_completion_completes_commands_and_options() -> None:
    def complete(words: str, cword: int) -> list[str]:
        env = {
            **os.environ,
            "_WEIGHTLIB_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(cword),
        }
        return subprocess.run([WEIGHTLIB], env=env, capture_output=True, text=True).stdout.split()

    assert complete("weightlib fi", 1) == ["filter"]
    assert "--format" in complete("weightlib filter --fo", 2)


def test_readme_exit_codes_are_the_table() -> None:
    # the README's table is pasted from the one table in weightlib/errors.py
    result = subprocess.run(
        [sys.executable, "-m", "weightlib.cli.reference", "--check", str(ROOT / "README.md")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
