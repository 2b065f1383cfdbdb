"""`filter`, `index` and `size` through the real `weightlib` command on local checkpoints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.helpers import WEIGHTLIB, assert_error
from tests.layouts import write_index, write_raw_safetensors, write_safetensors, write_sharded

MINILM_BYTES = 90_868_376


def test_filter_minilm(run_cli: CliRunner, minilm_dir: Path) -> None:
    result = run_cli("filter", minilm_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "model.safetensors\n"
    assert result.stderr == ""


def test_filter_json_lists_exclusions(run_cli: CliRunner, tmp_path: Path) -> None:
    shards = write_sharded(tmp_path)
    write_safetensors(tmp_path / "consolidated.safetensors")
    write_safetensors(tmp_path / "original" / "model.safetensors")
    (tmp_path / "pytorch_model.bin").write_bytes(b"x")
    result = run_cli("filter", tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["files"] == shards
    assert document["format"] == "safetensors"
    assert {e["file"]: e["reason"] for e in document["excluded"]} == {
        "consolidated.safetensors": "not-in-index",
        "original/model.safetensors": "subfolder",
        "pytorch_model.bin": "other-format",
    }
    assert document["support"] == [  # what download takes beside the weights, and why
        {"file": "model.safetensors.index.json", "reason": "index of the safetensors shards"},
        {"file": "config.json", "reason": "model config"},
    ]
    assert list(document) == ["model", "format", "files", "excluded", "support", "errors"]
    assert document["errors"] == []


def test_filter_null_separated(run_cli: CliRunner, tmp_path: Path) -> None:
    shards = write_sharded(tmp_path)
    result = run_cli("filter", tmp_path, "-0")
    assert result.stdout == "".join(f"{s}\0" for s in shards)


def test_filter_format_bin(run_cli: CliRunner, tmp_path: Path) -> None:
    write_safetensors(tmp_path / "model.safetensors")
    for name in ["pytorch_model-2.bin", "pytorch_model-10.bin", "training_args.bin"]:
        (tmp_path / name).write_bytes(b"x")
    result = run_cli("filter", tmp_path, "--format", "bin")
    assert result.stdout.splitlines() == ["pytorch_model-2.bin", "pytorch_model-10.bin"]


def test_filter_auto_falls_back_to_pt(run_cli: CliRunner, tmp_path: Path) -> None:
    for name in ("model-2.pt", "model-10.pt", "optimizer.pt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "config.json").write_text("{}")
    result = run_cli("filter", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["model-2.pt", "model-10.pt"]
    document = json.loads(run_cli("filter", tmp_path, "--json").stdout)
    assert document["format"] == "pt"
    assert document["excluded"] == [{"file": "optimizer.pt", "reason": "training-artifact"}]


def test_broken_shard_symlink_exits_3_naming_it(run_cli: CliRunner, tmp_path: Path) -> None:
    write_safetensors(tmp_path / "model-00001-of-00002.safetensors")
    (tmp_path / "model-00002-of-00002.safetensors").symlink_to("../blobs/deleted")
    (tmp_path / "README.md").symlink_to("../blobs/also-deleted")  # irrelevant
    for command in ("filter", "index", "size"):
        assert_error(
            run_cli(command, tmp_path), 3, "model-00002-of-00002.safetensors", "broken symlink"
        )
    assert run_cli("filter", tmp_path, "--json").returncode == 3


def test_index_minilm(run_cli: CliRunner, minilm_dir: Path) -> None:
    result = run_cli("index", minilm_dir, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["index_file"] is None
    assert document["shards"] == [
        {
            "file": "model.safetensors",
            "tensors": 104,
            "bytes": MINILM_BYTES,
            "dtypes": ["F32", "I64"],
        }
    ]
    assert document["total_tensors"] == 104 and document["missing"] == []
    table = run_cli("index", minilm_dir)
    assert "model.safetensors" in table.stdout and "90,868,376" in table.stdout
    assert "\x1b[" not in table.stdout


def test_index_sharded_matches_the_index(run_cli: CliRunner, tmp_path: Path) -> None:
    shards = write_sharded(tmp_path)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())["weight_map"]
    document = json.loads(run_cli("index", tmp_path, "--json").stdout)
    assert document["index_file"] == "model.safetensors.index.json"
    assert [s["file"] for s in document["shards"]] == shards
    assert document["total_tensors"] == len(index)
    assert document["total_bytes"] == sum((tmp_path / s).stat().st_size for s in shards)
    for shard in document["shards"]:
        assert shard["tensors"] == sum(1 for f in index.values() if f == shard["file"])


def test_index_missing_shard_exits_6_and_still_prints_json(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    shards = write_sharded(tmp_path)
    (tmp_path / shards[1]).unlink()
    result = run_cli("index", tmp_path, "--json")
    assert_error(result, 6, shards[1], "missing")
    assert json.loads(result.stdout)["missing"] == [shards[1]]
    assert_error(run_cli("filter", tmp_path), 6, shards[1])


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("truncated", "file truncated"),
        ("garbage", "not valid JSON"),
        ("oversized", "exceeds the 100000000-byte limit"),
    ],
)
def test_index_corrupt_header_exits_6(
    run_cli: CliRunner, tmp_path: Path, content: str, reason: str
) -> None:
    write_safetensors(tmp_path / "model-1.safetensors")
    bad = tmp_path / "model-2.safetensors"
    if content == "truncated":
        write_safetensors(bad, {"w": __import__("torch").zeros(64)})
        bad.write_bytes(bad.read_bytes()[:-10])
    elif content == "garbage":
        write_raw_safetensors(bad, b"\x7bgarbage!")
    else:
        write_raw_safetensors(bad, b"{}", length=10**9)
    result = run_cli("index", tmp_path, "--json")
    assert_error(result, 6, "model-2.safetensors", reason)
    document = json.loads(result.stdout)
    assert [s["tensors"] for s in document["shards"]] == [1, None]
    assert len(document["errors"]) == 1


def test_index_tensor_missing_from_its_shard(run_cli: CliRunner, tmp_path: Path) -> None:
    write_safetensors(tmp_path / "a.safetensors")
    write_index(tmp_path, {"w": "a.safetensors", "ghost": "a.safetensors"})
    assert_error(run_cli("index", tmp_path), 6, "a.safetensors", "'ghost'")


def test_size_minilm(run_cli: CliRunner, minilm_dir: Path) -> None:
    assert run_cli("size", minilm_dir, "--bytes").stdout == f"{MINILM_BYTES}\n"
    assert json.loads(run_cli("size", minilm_dir, "--json").stdout) == {
        "model": str(minilm_dir),
        "files": 1,
        "bytes": MINILM_BYTES,
        "errors": [],
    }
    human = run_cli("size", minilm_dir).stdout
    assert "86.7 MiB" in human and "90,868,376 bytes" in human
    every = json.loads(run_cli("size", minilm_dir, "--all-files", "--json").stdout)
    expected = sum(
        p.stat().st_size
        for p in minilm_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(minilm_dir).parts)
    )
    assert every["bytes"] == expected and every["files"] > 10


def test_size_follows_cache_symlinks(run_cli: CliRunner, tmp_path: Path) -> None:
    blobs, snapshot = tmp_path / "blobs", tmp_path / "snapshots" / "abc"
    blobs.mkdir()
    snapshot.mkdir(parents=True)
    write_safetensors(blobs / "1234", {"w": __import__("torch").zeros(100)})
    (snapshot / "model.safetensors").symlink_to(Path("../../blobs/1234"))
    (snapshot / "config.json").write_text("{}")
    assert run_cli("size", snapshot, "--bytes").stdout.strip() == str(
        (blobs / "1234").stat().st_size
    )


def test_no_weight_files_exits_3(run_cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    for command in ("filter", "index", "size"):
        assert_error(run_cli(command, tmp_path), 3, str(tmp_path), "no weight files")


def test_missing_path_exits_3(run_cli: CliRunner, tmp_path: Path) -> None:
    for command in ("filter", "index", "size"):
        assert_error(run_cli(command, tmp_path / "nope"), 3, "nope")


def test_file_as_model_exits_2(run_cli: CliRunner, minilm_dir: Path) -> None:
    assert_error(run_cli("filter", minilm_dir / "model.safetensors"), 2, "is a file")


def test_usage_errors_exit_2(run_cli: CliRunner, minilm_dir: Path) -> None:
    assert_error(run_cli("filter", minilm_dir, "--format", "gguf"), 2, "gguf")
    assert_error(run_cli("size", minilm_dir, "--no-such-flag"), 2, "--no-such-flag")
    assert_error(run_cli("index"), 2, "MODEL")
    assert_error(run_cli("nonsense"), 2, "nonsense")


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """A temp folder that an unprivileged user can traverse (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="weightlib-perm-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def as_nobody(
    *args: str | os.PathLike[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run weightlib as `nobody`: root reads any file, so permission errors need another user."""
    command = [WEIGHTLIB, *(os.fspath(a) for a in args)]
    if os.geteuid() == 0:
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_unreadable_shard_exits_4(world_readable_dir: Path, cli_env: dict[str, str]) -> None:
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    probe = as_nobody("--version", env=cli_env)
    if probe.returncode != 0:
        pytest.skip(f"the unprivileged user cannot run weightlib here: {probe.stderr.strip()}")
    write_safetensors(world_readable_dir / "model-1.safetensors").chmod(0o644)
    write_safetensors(world_readable_dir / "model-2.safetensors").chmod(0o000)
    result = as_nobody("index", world_readable_dir, env=cli_env)
    assert_error(result, 4, "model-2.safetensors", "permission denied")
    # filter needs no file content: it still answers
    assert as_nobody("filter", world_readable_dir, env=cli_env).returncode == 0


def test_verbose_shows_traceback_only_when_asked(run_cli: CliRunner, tmp_path: Path) -> None:
    write_raw_safetensors(tmp_path / "m.safetensors", b"{oops")
    quiet = run_cli("index", tmp_path)
    assert "Traceback" not in quiet.stderr
    loud = run_cli("-v", "index", tmp_path)
    assert loud.returncode == 6 and "Traceback" in loud.stderr
    assert loud.stderr.splitlines()[-1].startswith("error: ")
