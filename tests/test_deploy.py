"""The deploy recipes parse, and every weightlib command line in them is valid for this version."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import typer
import yaml

from tests.helpers import WEIGHTLIB
from tests.hubs.fixtures import HubServer, make_sharded_repo
from weightlib.cli.app import app

pytest_plugins = ["tests.hubs.hf_plugin"]

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
INVOCATION = re.compile(r"(?<![\w-])weightlib\s+[^;&|>\n`)]*")
PLACEHOLDERS = {"${MODEL_DIR}": "/models/current", '"$MODEL_DIR"': "/models/current"}


def invocations(text: str) -> list[list[str]]:
    """Every `weightlib …` command line in a recipe, split into arguments."""
    found = []
    code = "\n".join(
        line
        for line in text.replace("\\%", "%").splitlines()
        if not line.lstrip().startswith("#") and not line.startswith("Description=")
    )
    for match in INVOCATION.finditer(code):
        line = match.group(0)
        for placeholder, value in PLACEHOLDERS.items():
            line = line.replace(placeholder, value)
        line = re.sub(r"\$\{[A-Z_]+:-\}", "", line)  # optional extra arguments
        words = shlex.split(line)[1:]
        if words and not words[0].startswith("#"):
            found.append(words)
    return found


def parses(args: list[str]) -> None:
    """Parse `args` with the real app's parser (nothing runs); a usage error fails the test."""
    words = list(args)
    while words and words[0] in ("-q", "--quiet", "-v", "--verbose"):
        words.pop(0)
    commands = getattr(typer.main.get_command(app), "commands", {})
    assert words and words[0] in commands, f"unknown command in {args}"
    commands[words[0]].make_context(words[0], words[1:])


RECIPES = [
    "entrypoint.sh",
    "cron/weightlib-warm.cron",
    "systemd/weightlib-warm.service",
    "k8s/daemonset.yaml",
    "k8s/cronjob.yaml",
]


@pytest.mark.parametrize("recipe", RECIPES)
def test_command_lines_are_valid(recipe: str) -> None:
    found = invocations((DEPLOY / recipe).read_text())
    assert found, f"no weightlib command in {recipe}"
    for args in found:
        parses(args)


def test_invalid_command_lines_are_caught() -> None:
    # guards the test above against passing vacuously
    with pytest.raises(Exception, match="no-such-option"):
        parses(["prefetch", "/m", "--no-such-option"])


def test_kubernetes_manifests_parse() -> None:
    daemonset = yaml.safe_load((DEPLOY / "k8s" / "daemonset.yaml").read_text())
    assert daemonset["kind"] == "DaemonSet"
    container = daemonset["spec"]["template"]["spec"]["containers"][0]
    assert container["volumeMounts"][0]["mountPath"] == "/models"
    cronjob = yaml.safe_load((DEPLOY / "k8s" / "cronjob.yaml").read_text())
    assert cronjob["kind"] == "CronJob"
    job = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert job["restartPolicy"] in ("OnFailure", "Never")


def test_systemd_units_have_their_sections() -> None:
    service = (DEPLOY / "systemd" / "weightlib-warm.service").read_text()
    timer = (DEPLOY / "systemd" / "weightlib-warm.timer").read_text()
    assert "[Service]" in service and "Type=oneshot" in service
    assert "[Timer]" in timer and "WantedBy=timers.target" in timer


def test_cron_line_has_five_time_fields_and_a_user() -> None:
    lines = [
        line
        for line in (DEPLOY / "cron" / "weightlib-warm.cron").read_text().splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(lines) == 1
    fields = lines[0].split()
    assert fields[5] == "root" and fields[6] == "weightlib"


def test_entrypoint_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(DEPLOY / "entrypoint.sh")], check=True)


def test_entrypoint_downloads_prefetches_and_execs_the_server(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    repo = make_sharded_repo(tmp_path / "repo")
    hf_hub.add_repo("org/served", repo)
    env = {
        **hub_env,
        "MODEL": "org/served",
        "PATH": f"{Path(WEIGHTLIB).parent}:{os.environ['PATH']}",
    }
    server = 'echo "SERVER pid=$$ dir=$MODEL_DIR"; ls "$MODEL_DIR"'
    result = subprocess.run(
        ["bash", str(DEPLOY / "entrypoint.sh"), "sh", "-c", server],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("SERVER pid=")
    model_dir = Path(lines[0].split("dir=", 1)[1])
    assert model_dir.is_dir() and model_dir.is_relative_to(Path(hub_env["HF_HOME"]))
    assert {"config.json", "model.safetensors.index.json"} <= set(lines[1:])
    assert "consolidated.safetensors" not in lines  # only the inference set was fetched
    assert "in the background, pid" in result.stderr
    for shard in (repo / "model.safetensors.index.json").read_text().split('"')[1::2]:
        if shard.endswith(".safetensors"):
            assert (model_dir / shard).read_bytes() == (repo / shard).read_bytes()


def test_entrypoint_fails_with_the_download_exit_code(
    hf_hub: HubServer, hub_env: dict[str, str]
) -> None:
    env = {
        **hub_env,
        "MODEL": "org/does-not-exist",
        "PATH": f"{Path(WEIGHTLIB).parent}:/usr/bin:/bin",
    }
    result = subprocess.run(
        ["bash", str(DEPLOY / "entrypoint.sh"), "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stderr
    assert "org/does-not-exist" in result.stderr
