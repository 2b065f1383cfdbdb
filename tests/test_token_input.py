"""`--token -` and `--token-file PATH`: the token reaches the hub but never the process's argv."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.helpers import WEIGHTLIB, assert_error, write_file
from tests.hubs.fixtures import VALID_TOKEN, HubServer, make_sharded_repo

pytest_plugins = ["tests.hubs.hf_plugin"]

PRIVATE = "org/private"
WRONG_TOKEN = "hf_WRONGtoken_9876543210nope"


@pytest.fixture(scope="module")
def private(hf_hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_sharded_repo(tmp_path_factory.mktemp("private"), shards=2, extras=False)
    hf_hub.add_repo(PRIVATE, folder, private=True)
    return folder


def total_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def wait_for_cmdline(pid: int, timeout: float = 30) -> bytes:
    """`/proc/PID/cmdline` once the interpreter has replaced the fork's copy of our argv."""
    deadline = time.monotonic() + timeout
    while True:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"org/private" in cmdline or time.monotonic() > deadline:
            return cmdline
        time.sleep(0.01)


def assert_one_line_usage_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert_error(result, 2, *needles)
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stdout == ""


def assert_json_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    doc = json.loads(result.stdout)  # exactly one document: json.loads refuses trailing data
    assert set(doc) == {"error"} and set(doc["error"]) == {"message", "exit_code"}
    assert doc["error"]["exit_code"] == 2
    for needle in needles:
        assert needle in doc["error"]["message"], (needle, doc)
    assert "Traceback" not in result.stderr


def test_private_repo_needs_a_token(
    run_cli: CliRunner, hub_env: dict[str, str], private: Path
) -> None:
    assert_error(run_cli("size", PRIVATE, "--bytes", env=hub_env), 4)


def test_token_from_stdin_is_not_in_cmdline(
    hf_hub: HubServer, hub_env: dict[str, str], private: Path
) -> None:
    mark = hf_hub.mark()
    process = subprocess.Popen(
        [WEIGHTLIB, "size", PRIVATE, "--all-files", "--bytes", "--token", "-"],
        env=hub_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        cmdline = wait_for_cmdline(process.pid)
        assert process.poll() is None  # still waiting for the token on stdin
        assert b"--token\0-" in cmdline, cmdline
        assert VALID_TOKEN.encode() not in cmdline
        stdout, stderr = process.communicate(VALID_TOKEN + "\n", timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert int(stdout.strip()) == total_bytes(private)
    assert VALID_TOKEN not in stdout + stderr
    assert all(r["auth"] for r in hf_hub.requests(mark))


def test_token_from_stdin_without_newline(
    run_cli: CliRunner, hub_env: dict[str, str], private: Path
) -> None:
    result = run_cli(
        "filter", PRIVATE, "--token", "-", "--json", env=hub_env, input=f"  {VALID_TOKEN}  "
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == PRIVATE


def test_token_file(
    run_cli: CliRunner, hub_env: dict[str, str], private: Path, tmp_path: Path
) -> None:
    token_file = write_file(tmp_path / "token", f"{VALID_TOKEN}\r\nsecond line ignored\n")
    token_file.chmod(0o600)
    result = run_cli(
        "size", PRIVATE, "--all-files", "--bytes", "--token-file", token_file, env=hub_env
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) == total_bytes(private)
    assert VALID_TOKEN not in result.stdout + result.stderr


def test_token_file_with_download(
    run_cli: CliRunner, hub_env: dict[str, str], private: Path, tmp_path: Path
) -> None:
    token_file = write_file(tmp_path / "token", VALID_TOKEN + "\n")
    result = run_cli(
        "download", PRIVATE, "--dry-run", "--json", "--token-file", token_file, env=hub_env
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["files"]
    assert VALID_TOKEN not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("missing-file", ["--token-file", "absent-token", "No such file"]),
        ("directory", ["--token-file", "Is a directory"]),
        ("empty-file", ["--token-file", "empty-token", "no token"]),
        ("empty-stdin", ["--token -", "no token"]),
        ("blank-stdin", ["--token -", "no token"]),
        ("both", ["--token", "--token-file", "together"]),
    ],
)
def test_bad_token_input_is_a_usage_error(
    run_cli: CliRunner,
    hf_hub: HubServer,
    hub_env: dict[str, str],
    private: Path,
    tmp_path: Path,
    case: str,
    needles: list[str],
) -> None:
    token_file = write_file(tmp_path / "token", VALID_TOKEN + "\n")
    empty = write_file(tmp_path / "empty-token", "")
    args, stdin = {
        "missing-file": (["--token-file", str(tmp_path / "absent-token")], None),
        "directory": (["--token-file", str(tmp_path)], None),
        "empty-file": (["--token-file", str(empty)], None),
        "empty-stdin": (["--token", "-"], ""),
        "blank-stdin": (["--token", "-"], " \n"),
        "both": (["--token", "-", "--token-file", str(token_file)], VALID_TOKEN + "\n"),
    }[case]
    mark = hf_hub.mark()
    plain = run_cli("size", PRIVATE, *args, env=hub_env, input=stdin)
    assert_one_line_usage_error(plain, *needles)
    as_json = run_cli("size", PRIVATE, *args, "--json", env=hub_env, input=stdin)
    assert_json_error(as_json, *needles)
    assert len(as_json.stderr.splitlines()) == 1, as_json.stderr
    assert VALID_TOKEN not in plain.stderr + as_json.stdout + as_json.stderr
    assert hf_hub.requests(mark) == []  # refused before any request


@pytest.mark.parametrize("command", ["download", "filter", "index", "size"])
def test_every_hub_command_resolves_the_token(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path, command: str
) -> None:
    token_file = write_file(tmp_path / "token", VALID_TOKEN + "\n")
    result = run_cli(
        command, PRIVATE, "--token", VALID_TOKEN, "--token-file", token_file, "--json", env=hub_env
    )
    assert_json_error(result, "together")
    missing = run_cli(command, PRIVATE, "--token-file", tmp_path / "nope", env=hub_env)
    assert_one_line_usage_error(missing, str(tmp_path / "nope"))


def test_wrong_token_file_is_an_auth_error(
    run_cli: CliRunner, hub_env: dict[str, str], private: Path, tmp_path: Path
) -> None:
    token_file = write_file(tmp_path / "token", WRONG_TOKEN + "\n")
    result = run_cli("size", PRIVATE, "--token-file", token_file, env=hub_env)
    assert_error(result, 4)
    assert WRONG_TOKEN not in result.stdout + result.stderr
    as_json = run_cli("size", PRIVATE, "--token-file", token_file, "--json", env=hub_env)
    assert as_json.returncode == 4
    assert json.loads(as_json.stdout)["error"]["exit_code"] == 4
    assert WRONG_TOKEN not in as_json.stdout + as_json.stderr
