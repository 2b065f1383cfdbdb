"""Every weightlib command line in the deploy recipes is valid; the shell is clean; the container
entrypoint works from the wheel installed into a fresh venv."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import WEIGHTLIB
from tests.hubs.fixtures import HubServer, make_sharded_repo
from tests.installed import InstalledWheel
from tests.recipes import (
    DEPLOY,
    WORKLOADS,
    manifest,
    manifest_invocations,
    parses,
    shell_invocations,
    shell_scripts,
)

pytest_plugins = ["tests.hubs.hf_plugin"]

SHELLCHECK = str(Path(sys.executable).with_name("shellcheck"))
TEXT_RECIPES = ["entrypoint.sh", "cron/weightlib-warm", "systemd/weightlib-warm.service"]


@pytest.mark.parametrize("recipe", TEXT_RECIPES)
def test_command_lines_are_valid(recipe: str) -> None:
    found = shell_invocations((DEPLOY / recipe).read_text())
    assert found, f"no weightlib command in {recipe}"
    for args in found:
        parses(args)


@pytest.mark.parametrize("name", WORKLOADS)
def test_manifest_command_lines_are_valid(name: str) -> None:
    found = manifest_invocations(manifest(name))
    assert found, f"no weightlib command in {name}"
    for args in found:
        parses(args)


def test_invalid_command_lines_are_caught() -> None:
    # guards the tests above against passing vacuously
    with pytest.raises(Exception, match="no-such-option"):
        parses(["prefetch", "/m", "--no-such-option"])


def shellcheck(path: Path, shell: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real shellcheck (from the test extra) on one script."""
    dialect = ["--shell", shell] if shell else []
    return subprocess.run(
        [SHELLCHECK, "--severity=style", *dialect, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def shell_scripts_in_checkout() -> list[Path]:
    """Every file of the project whose first line runs sh or bash."""
    root = DEPLOY.parent
    found = []
    for folder in (".ci", "deploy", "scripts", "bench", "tests"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                with path.open("rb") as handle:
                    first = handle.readline()
                if re.match(rb"#!\s*\S*(/|env )(ba)?sh\b", first):
                    found.append(path)
    return found


SCRIPTS = shell_scripts_in_checkout()


def test_the_shell_scripts_are_found() -> None:
    names = {path.relative_to(DEPLOY.parent).as_posix() for path in SCRIPTS}
    assert {".ci/run", "deploy/entrypoint.sh", "scripts/demo.sh"} <= names


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.relative_to(DEPLOY.parent).as_posix())
def test_shell_script_passes_shellcheck(path: Path) -> None:
    result = shellcheck(path)
    assert result.returncode == 0, result.stdout


def test_daemonset_loop_passes_shellcheck(tmp_path: Path) -> None:
    (script,) = shell_scripts(manifest("daemonset.yaml"))
    path = tmp_path / "warm.sh"
    path.write_text(script)
    result = shellcheck(path, shell="sh")
    assert result.returncode == 0, result.stdout


def test_shellcheck_finds_faults(tmp_path: Path) -> None:
    # guards the shellcheck tests against a checker that passes everything
    path = tmp_path / "bad.sh"
    path.write_text("#!/bin/sh\nrm -rf $1/*\n")
    assert shellcheck(path).returncode == 1


def run_entrypoint(
    entrypoint: list[str], path: str, env: dict[str, str], *server: str
) -> subprocess.CompletedProcess[str]:
    """Run the entrypoint with `server` as the command it execs."""
    return subprocess.run(
        [*entrypoint, *server],
        env={**env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )


def served_files(result: subprocess.CompletedProcess[str], home: str) -> tuple[Path, list[str]]:
    """The folder the server was started on and what it listed there."""
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("SERVER pid=")
    model_dir = Path(lines[0].split("dir=", 1)[1])
    assert model_dir.is_dir() and model_dir.is_relative_to(Path(home))
    return model_dir, lines[1:]


SERVER = ("sh", "-c", 'echo "SERVER pid=$$ dir=$MODEL_DIR"; ls "$MODEL_DIR"')


def test_entrypoint_downloads_prefetches_and_execs_the_server(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    repo = make_sharded_repo(tmp_path / "repo")
    hf_hub.add_repo("org/served", repo)
    env = {**hub_env, "MODEL": "org/served"}
    path = f"{Path(WEIGHTLIB).parent}:{os.environ['PATH']}"
    result = run_entrypoint(["bash", str(DEPLOY / "entrypoint.sh")], path, env, *SERVER)
    model_dir, listed = served_files(result, hub_env["HF_HOME"])
    assert {"config.json", "model.safetensors.index.json"} <= set(listed)
    assert "consolidated.safetensors" not in listed  # only the inference set was fetched
    assert "in the background, pid" in result.stderr
    for shard in (repo / "model.safetensors.index.json").read_text().split('"')[1::2]:
        if shard.endswith(".safetensors"):
            assert (model_dir / shard).read_bytes() == (repo / shard).read_bytes()


def test_installed_entrypoint_works_from_the_wheel_alone(
    installed_wheel: InstalledWheel, hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    # What the image runs: the wheel's `weightlib-entrypoint` and `weightlib`, nothing else on PATH.
    repo = make_sharded_repo(tmp_path / "repo")
    hf_hub.add_repo("org/served", repo)
    env = {**hub_env, "MODEL": "org/served"}
    path = f"{installed_wheel.bin}:/usr/bin:/bin"
    result = run_entrypoint(["weightlib-entrypoint"], path, env, *SERVER)
    model_dir, listed = served_files(result, hub_env["HF_HOME"])
    assert "model.safetensors.index.json" in listed
    assert "in the background, pid" in result.stderr
    # and a folder already on disk is served without the hub (its endpoint now a closed port)
    offline = {**env, "MODEL": str(model_dir), "HF_ENDPOINT": "http://127.0.0.1:9"}
    again = run_entrypoint(["weightlib-entrypoint"], path, offline, *SERVER)
    assert served_files(again, hub_env["HF_HOME"])[0] == model_dir


def test_entrypoint_fails_with_the_download_exit_code(
    installed_wheel: InstalledWheel, hf_hub: HubServer, hub_env: dict[str, str]
) -> None:
    env = {**hub_env, "MODEL": "org/does-not-exist"}
    result = run_entrypoint(["weightlib-entrypoint"], f"{installed_wheel.bin}:/usr/bin:/bin", env)
    assert result.returncode == 3, result.stderr
    assert "org/does-not-exist" in result.stderr
