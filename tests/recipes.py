"""Read the deploy recipes: their files, the containers of a manifest, and the shell they run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import typer
import yaml

from weightlib.cli.app import app

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
WORKLOADS = ["daemonset.yaml", "cronjob.yaml"]
"""The manifests that run pods."""
INVOCATION = re.compile(r"(?<![\w-])weightlib\s+[^;&|>\n`)]*")
PLACEHOLDERS = {
    "${MODEL_DIR}": "/models/current",
    '"$MODEL_DIR"': "/models/current",
    "$(MODEL)": "org/model",
    "$(MODEL_DIR)": "/models/current",
}


def manifest(name: str) -> dict[str, Any]:
    """One manifest of deploy/k8s, parsed."""
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "k8s" / name).read_text())
    return document


def pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    """The pod template's spec of a DaemonSet, Deployment, Job or CronJob."""
    spec = document["spec"]
    if document["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


def shell_scripts(document: dict[str, Any]) -> list[str]:
    """The scripts a manifest's containers run with `sh -c`."""
    scripts = []
    for container in pod_spec(document)["containers"]:
        if container.get("command", [])[-1:] == ["-c"]:
            scripts.append(container["args"][0])
    return scripts


def _substitute(line: str) -> str:
    for placeholder, value in PLACEHOLDERS.items():
        line = line.replace(placeholder, value)
    return re.sub(r"\$\{[A-Z_]+:-\}", "", line)  # optional extra arguments


def shell_invocations(text: str) -> list[list[str]]:
    """Every `weightlib …` command line in shell, cron or unit text, split into arguments."""
    found = []
    code = "\n".join(
        line
        for line in text.replace("\\%", "%").splitlines()
        if not line.lstrip().startswith("#") and not line.startswith("Description=")
    )
    for match in INVOCATION.finditer(code):
        words = shlex.split(_substitute(match.group(0)))[1:]
        if words and not words[0].startswith("#"):
            found.append(words)
    return found


def manifest_invocations(document: dict[str, Any]) -> list[list[str]]:
    """Every weightlib command a manifest's containers run, directly or from a script."""
    found = []
    for container in pod_spec(document)["containers"]:
        if container.get("command") == ["weightlib"]:
            found.append([_substitute(arg) for arg in container["args"]])
    for script in shell_scripts(document):
        found += shell_invocations(script)
    return found


def parses(args: list[str]) -> None:
    """Parse `args` with the real app's parser (nothing runs); a usage error fails the test."""
    words = list(args)
    while words and words[0] in ("-q", "--quiet", "-v", "--verbose"):
        words.pop(0)
    commands = getattr(typer.main.get_command(app), "commands", {})
    assert words and words[0] in commands, f"unknown command in {args}"
    commands[words[0]].make_context(words[0], words[1:])
