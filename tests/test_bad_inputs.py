"""Bad inputs across commands: each gets one error line and its documented exit code, promptly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.helpers import assert_error, hermetic_env, output_path
from tests.hubs.fixtures import HubServer, make_sharded_repo
from tests.layouts import write_sharded

pytest_plugins = ["tests.hubs.hf_plugin"]


@pytest.mark.parametrize("command", ["filter", "size", "index", "prefetch", "status", "evict"])
def test_empty_model_is_a_usage_error_not_the_current_directory(
    run_cli: CliRunner, tmp_path: Path, command: str
) -> None:
    write_sharded(tmp_path)  # a valid checkpoint in the working directory must not be used
    assert_error(run_cli(command, "", cwd=tmp_path), 2, "empty")


def test_empty_output_is_a_usage_error(run_cli: CliRunner, tmp_path: Path) -> None:
    model = tmp_path / "model"
    write_sharded(model)
    assert_error(run_cli("dummy-init", model, "--output", "", cwd=tmp_path), 2, "--output")


def test_symlink_loops_do_not_trap_the_walk(run_cli: CliRunner, tmp_path: Path) -> None:
    shards = write_sharded(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "up").symlink_to("..")
    (tmp_path / "sub" / "up2").symlink_to("..")
    result = run_cli("filter", tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == shards
    assert run_cli("size", tmp_path, "--all-files", "--bytes", timeout=60).returncode == 0


@pytest.mark.parametrize("command", ["status", "prefetch", "evict"])
def test_fifo_is_refused_without_waiting_for_a_writer(
    run_cli: CliRunner, tmp_path: Path, command: str
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert_error(run_cli(command, fifo, timeout=30), 2, "fifo", "not a regular file")


def test_local_errors_are_not_network_errors(run_cli: CliRunner, tmp_path: Path) -> None:
    assert_error(run_cli("status", tmp_path / ("a" * 300)), 2, "File name too long")


def test_bin_index_naming_a_missing_shard_is_integrity(run_cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "pytorch_model-00001-of-00002.bin").write_bytes(b"x" * 64)
    weight_map = {
        "a": "pytorch_model-00001-of-00002.bin",
        "b": "pytorch_model-00002-of-00002.bin",
    }
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    result = run_cli("index", tmp_path, "--json")
    assert_error(result, 6, "pytorch_model-00002-of-00002.bin")
    document = json.loads(result.stdout)
    assert document["missing"] == ["pytorch_model-00002-of-00002.bin"]
    assert document["index_file"] == "pytorch_model.bin.index.json"
    assert_error(run_cli("filter", tmp_path), 6, "pytorch_model-00002-of-00002.bin")


def test_usage_errors_are_one_line(run_cli: CliRunner, minilm_dir: Path) -> None:
    result = run_cli("filter", minilm_dir, "--bogus")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--help" in result.stderr


@pytest.mark.parametrize(
    "args",
    [("filter", "/nonexistent/model"), ("size", "/nonexistent/model"), ("index", "/nonexistent")],
)
def test_json_mode_prints_an_error_document(run_cli: CliRunner, args: tuple[str, str]) -> None:
    result = run_cli(*args, "--json")
    assert_error(result, 3, "nonexistent")
    assert json.loads(result.stdout) == {
        "error": {"message": f"{args[1]}: no such file or directory", "exit_code": 3}
    }


def test_empty_revision_and_nan_lock_timeout(run_cli: CliRunner, tmp_path: Path) -> None:
    env = hermetic_env(tmp_path, HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_OFFLINE="1")
    assert_error(run_cli("filter", "org/model", "--revision", "", env=env), 2, "--revision")
    result = run_cli("download", "org/model", "--lock-timeout", "nan", env=env)
    assert_error(result, 2, "--lock-timeout")


def test_local_dir_that_is_a_file(run_cli: CliRunner, tmp_path: Path) -> None:
    env = hermetic_env(tmp_path, HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_OFFLINE="1")
    target = tmp_path / "a-file"
    target.write_text("x")
    result = run_cli("download", "org/model", "--local-dir", target, env=env)
    assert_error(result, 2, "a-file", "needs a folder")


def test_background_with_bad_inputs_starts_nothing(run_cli: CliRunner, tmp_path: Path) -> None:
    result = run_cli("prefetch", tmp_path / "missing", "--background")
    assert_error(result, 3, "missing")
    assert "pid" not in result.stdout


def test_doctor_redacts_endpoint_credentials(run_cli: CliRunner, tmp_path: Path) -> None:
    env = hermetic_env(tmp_path, HF_ENDPOINT="http://user:s3cr3t@127.0.0.1:9")
    result = run_cli("doctor", "--json", env=env)
    assert "s3cr3t" not in result.stdout
    assert json.loads(result.stdout)["endpoints"]["huggingface"] == "http://***@127.0.0.1:9"


def test_offline_index_with_a_file_missing_from_the_cache_is_not_found(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    hf_hub.add_repo("org/partial", make_sharded_repo(tmp_path / "repo"))
    download = run_cli("download", "org/partial", env=hub_env)
    snapshot = output_path(download)
    shard = sorted(snapshot.glob("model-*.safetensors"))[0]
    shard.unlink()
    result = run_cli("index", "org/partial", env={**hub_env, "HF_HUB_OFFLINE": "1"})
    assert_error(result, 3, shard.name)


def test_a_closed_pipe_ends_quietly_like_cat(tmp_path: Path, cli_env: dict[str, str]) -> None:
    import subprocess

    from tests.helpers import WEIGHTLIB

    for i in range(3000):
        (tmp_path / f"f{i}").write_text("x")
    script = f'"{WEIGHTLIB}" status "{tmp_path}"/f* 2>"{tmp_path}/err" | head -n 1 >/dev/null; '
    script += 'echo "${PIPESTATUS[0]}"'
    result = subprocess.run(
        ["bash", "-c", script], env=cli_env, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "141"  # 128 + SIGPIPE, as cat reports
    assert (tmp_path / "err").read_text() == ""
