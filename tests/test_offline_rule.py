"""One offline decision for every command and for doctor: WEIGHTLIB_OFFLINE, else the client's."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.helpers import assert_error, hermetic_env
from weightlib.hub.source import env_offline


@pytest.mark.parametrize(
    ("env", "offline"),
    [
        ({}, False),
        ({"WEIGHTLIB_OFFLINE": "1"}, True),
        ({"HF_HUB_OFFLINE": "yes"}, True),
        (
            {"TRANSFORMERS_OFFLINE": "1"},
            True,
        ),  # huggingface_hub reads it when HF_HUB_OFFLINE is unset
        ({"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"}, False),  # ... and only then
        ({"HF_HUB_OFFLINE": "0", "WEIGHTLIB_OFFLINE": "true"}, True),
        ({"WEIGHTLIB_OFFLINE": "0"}, False),
    ],
)
def test_the_rule_is_the_clients_plus_ours(env: dict[str, str], offline: bool) -> None:
    assert env_offline(env) is offline


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (a request there would fail, exit 5)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", ["download", "size", "index", "filter"])
def test_transformers_offline_keeps_every_command_off_the_network(
    run_cli: CliRunner, tmp_path: Path, command: str
) -> None:
    env = hermetic_env(
        tmp_path,
        HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}",
        TRANSFORMERS_OFFLINE="1",
        WEIGHTLIB_RETRIES="0",
    )
    result = run_cli(command, "org/not-cached", env=env)
    assert_error(result, 3, "org/not-cached", "offline")


def test_doctor_reports_what_the_commands_do(run_cli: CliRunner, tmp_path: Path) -> None:
    env = hermetic_env(tmp_path, HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="1")
    flags = json.loads(run_cli("doctor", "--json", env=env).stdout)["offline"]
    assert flags == {
        "HF_HUB_OFFLINE": False,
        "TRANSFORMERS_OFFLINE": False,
        "WEIGHTLIB_OFFLINE": False,
    }
    env = hermetic_env(tmp_path, TRANSFORMERS_OFFLINE="1")
    assert json.loads(run_cli("doctor", "--json", env=env).stdout)["offline"][
        "TRANSFORMERS_OFFLINE"
    ]
