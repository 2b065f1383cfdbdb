"""`weightlib dummy-init` and the dummy-weight library: layout, values, atomicity, bad inputs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip("torch")

from safetensors import safe_open

from tests.conftest import CliRunner
from tests.helpers import WEIGHTLIB, assert_error, kill_when
from tests.layouts import tensor_layout, write_checkpoint, write_sharded
from weightlib.dummy import (
    dummy_init,
    initialize_dummy_weights,
    initialize_single_dummy_weight,
    plan_dummy_checkpoint,
    write_dummy_checkpoint,
)
from weightlib.errors import InvalidInputError, NotFoundError

pytestmark = pytest.mark.torch

LOW, HIGH = -1e-3, 1e-3


def tensors_of(folder: Path) -> dict[str, torch.Tensor]:
    out = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(path, framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118
                out[name] = handle.get_tensor(name)
    return out


def in_bounds(tensor: torch.Tensor, low: float = LOW, high: float = HIGH) -> bool:
    """All values within [low, high] as rounded to the tensor's dtype, and not all zero."""
    bounds = torch.tensor(
        [low, high], dtype=torch.float16 if tensor.element_size() < 2 else tensor.dtype
    )
    lo, hi = bounds.to(tensor.dtype).float().tolist()
    values = tensor.float()
    return bool(values.min() >= lo and values.max() <= hi and values.abs().max() > 0)


def sha256_tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def mixed_state_dict() -> dict[str, torch.Tensor]:
    """Floats of several widths, fp8, ints and bools; two tensors share shape and dtype."""
    g = torch.Generator().manual_seed(0)
    state = {
        "embed.weight": torch.randn(96, 64, generator=g).to(torch.bfloat16),
        "layers.0.w": torch.randn(64, 64, generator=g),
        "layers.0.scale": torch.randn(64, 64, generator=g).to(torch.float8_e4m3fn),
        "layers.1.norm": torch.ones(64, dtype=torch.float16),
        "layers.3.w": torch.randn(64, 64, generator=g),
        "position_ids": torch.arange(32, dtype=torch.int64),
        "mask": torch.ones(8, dtype=torch.bool),
        "lm_head.weight": torch.randn(96, 64, generator=g).to(torch.bfloat16),
    }
    return state


@pytest.fixture(scope="module")
def sharded_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`mixed_state_dict` sharded by huggingface_hub's serializer, a tokenizer and a README."""
    folder = tmp_path_factory.mktemp("sharded") / "model"
    write_sharded(folder, max_shard_size=20_000, state=mixed_state_dict())
    (folder / "config.json").write_text('{"model_type": "tiny"}\n')
    (folder / "tokenizer.json").write_text('{"version": "1.0"}\n')
    (folder / "README.md").write_text("not copied\n")
    return folder


def test_minilm_cli_same_layout_bounded_values_and_byte_identical_runs(
    minilm_dir: Path, tmp_path: Path, run_cli: CliRunner
) -> None:
    first = run_cli("dummy-init", minilm_dir, "--output", tmp_path / "a", "--json")
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert set(doc) == {"source", "output", "files", "tensors", "bytes", "seconds", "errors"}
    assert doc["errors"] == []
    assert doc["files"][0] == "model.safetensors"
    assert doc["bytes"] == sum((tmp_path / "a" / f).stat().st_size for f in doc["files"])

    out = tmp_path / "a"
    assert tensor_layout(out) == tensor_layout(minilm_dir)
    assert doc["tensors"] == len(tensor_layout(minilm_dir))
    # the data area has the same size as the original
    assert (out / "model.safetensors").stat().st_size == (
        minilm_dir / "model.safetensors"
    ).stat().st_size
    for name, tensor in tensors_of(out).items():
        if tensor.is_floating_point():
            assert in_bounds(tensor), name
        else:
            assert not tensor.any(), name
    for support in (
        "config.json",
        "tokenizer.json",
        "vocab.txt",
        "modules.json",
        "1_Pooling/config.json",
    ):
        assert (out / support).read_bytes() == (minilm_dir / support).read_bytes(), support
    assert not (out / "README.md").exists()

    second = run_cli("dummy-init", minilm_dir, "--output", tmp_path / "b")
    assert second.returncode == 0, second.stderr
    assert "tensors" in second.stdout
    assert sha256_tree(out) == sha256_tree(tmp_path / "b")


def test_values_match_initialize_single_dummy_weight(sharded_model: Path, tmp_path: Path) -> None:
    dummy_init(sharded_model, tmp_path / "out", seed=7)
    assert_vllm_values(tensors_of(tmp_path / "out"), seed=7)


def assert_vllm_values(tensors: dict[str, torch.Tensor], seed: int) -> None:
    """Every tensor holds, byte for byte, what vLLM's initialize_single_dummy_weight gives."""
    for name, tensor in tensors.items():
        expected = torch.empty_like(tensor)
        if tensor.is_floating_point():
            initialize_single_dummy_weight(expected, LOW, HIGH, seed=seed)
        else:
            expected.zero_()
        assert torch.equal(tensor.view(torch.uint8), expected.view(torch.uint8)), name


def test_sharded_checkpoint_keeps_shards_index_and_dtypes(
    sharded_model: Path, tmp_path: Path
) -> None:
    result = dummy_init(sharded_model, tmp_path / "out")
    out = tmp_path / "out"
    index = "model.safetensors.index.json"
    assert (out / index).read_bytes() == (sharded_model / index).read_bytes()
    assert result.files[-1] == index
    shards = sorted(p.name for p in sharded_model.glob("*.safetensors"))
    assert len(shards) > 2
    assert sorted(p.name for p in out.glob("*.safetensors")) == shards
    assert tensor_layout(out) == tensor_layout(sharded_model)
    weight_map = json.loads((out / index).read_text())["weight_map"]
    assert {n: f for n, (f, _, _) in tensor_layout(out).items()} == weight_map
    assert (out / "config.json").read_text() == '{"model_type": "tiny"}\n'
    assert (out / "tokenizer.json").exists() and not (out / "README.md").exists()
    values = tensors_of(out)
    assert values["layers.0.scale"].dtype == torch.float8_e4m3fn
    assert in_bounds(values["layers.0.scale"])
    assert not values["position_ids"].any() and not values["mask"].any()
    # same shape and dtype → the same values, even in different shards
    assert torch.equal(values["layers.0.w"], values["layers.3.w"])
    assert torch.equal(values["embed.weight"], values["lm_head.weight"])
    assert weight_map["layers.0.w"] != weight_map["lm_head.weight"]


def test_same_tensor_same_values_whatever_its_shard(sharded_model: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    single = tmp_path / "single"
    single.mkdir()
    save_file(mixed_state_dict(), str(single / "model.safetensors"))
    dummy_init(single, tmp_path / "from-single")
    dummy_init(sharded_model, tmp_path / "from-sharded")
    a, b = tensors_of(tmp_path / "from-single"), tensors_of(tmp_path / "from-sharded")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name].view(torch.uint8), b[name].view(torch.uint8)), name


def test_chunked_generation_equals_one_fill(sharded_model: Path, tmp_path: Path) -> None:
    plan = plan_dummy_checkpoint(sharded_model)
    write_dummy_checkpoint(plan, tmp_path / "whole")
    write_dummy_checkpoint(plan, tmp_path / "chunked", chunk_bytes=4096, workers=3)
    assert sha256_tree(tmp_path / "whole") == sha256_tree(tmp_path / "chunked")


def test_dtype_conversion_keeps_quantized_and_integer_tensors(
    sharded_model: Path, tmp_path: Path
) -> None:
    result = dummy_init(sharded_model, tmp_path / "out", dtype="fp32")
    layout = tensor_layout(tmp_path / "out")
    original = tensor_layout(sharded_model)
    assert layout.keys() == original.keys()
    for name, (file, dtype, shape) in layout.items():
        assert file == original[name][0] and shape == original[name][2], name
        expected = "F32" if original[name][1] in ("BF16", "F16", "F32") else original[name][1]
        assert dtype == expected, name
    index = json.loads((tmp_path / "out" / "model.safetensors.index.json").read_text())
    assert (
        index["weight_map"]
        == json.loads((sharded_model / "model.safetensors.index.json").read_text())["weight_map"]
    )
    data = sum(t.numel() * t.element_size() for t in tensors_of(tmp_path / "out").values())
    assert index["metadata"]["total_size"] == data
    assert result.tensors == len(layout)


def test_force_replaces_and_drops_stale_weight_files(
    sharded_model: Path, minilm_dir: Path, tmp_path: Path, run_cli: CliRunner
) -> None:
    out = tmp_path / "out"
    dummy_init(sharded_model, out)
    (out / "notes.txt").write_text("kept\n")
    (out / ".model.safetensors.1a2b3c4d.tmp").write_text("left by a killed run")
    result = run_cli("dummy-init", minilm_dir, "--output", out)
    assert_error(result, 2, str(out), "--force")
    plan = plan_dummy_checkpoint(minilm_dir)
    write_dummy_checkpoint(plan, out, force=True)
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["model.safetensors"]
    assert not (out / "model.safetensors.index.json").exists()
    assert (out / "notes.txt").read_text() == "kept\n"
    assert not list(out.glob(".*.tmp"))
    assert tensor_layout(out) == tensor_layout(minilm_dir)


def test_injected_failure_leaves_no_file_under_a_final_name(
    sharded_model: Path, tmp_path: Path
) -> None:
    plan = plan_dummy_checkpoint(sharded_model)
    written = []

    def fail_midway(n: int) -> None:
        written.append(n)
        if sum(written) > plan.data_bytes // 2:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_dummy_checkpoint(plan, tmp_path / "out", progress=fail_midway, chunk_bytes=4096)
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert not [n for n in left if n.startswith(".")], left  # temp files removed
    assert "model.safetensors.index.json" not in left
    for name in left:  # shards finished before the failure are complete
        assert name in {s.path for s in plan.shards}
        with safe_open(tmp_path / "out" / name, framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118
                tensor = handle.get_tensor(key)
                if tensor.is_floating_point() and tensor.numel():
                    assert tensor.float().abs().max() > 0, key


def write_big_sparse_layout(folder: Path, shards: int = 4, tensor_mib: int = 32) -> None:
    """A valid safetensors checkpoint of `shards` × 4 tensors, data as holes (no disk used)."""
    shape = (tensor_mib * 1024 * 1024 // 4 // 1024, 1024)
    layers = [{f"layers.{s}.w{i}": shape for i in range(4)} for s in range(shards)]
    write_checkpoint(folder, layers, sparse=True)


def test_sigkill_mid_write_leaves_no_incomplete_final_file(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    model = tmp_path / "big"
    write_big_sparse_layout(model)
    out = tmp_path / "out"
    killed = kill_when(
        [WEIGHTLIB, "dummy-init", model, "--output", out],
        lambda: out.is_dir() and any(p.name.endswith(".tmp") for p in out.iterdir()),
        env=cli_env,
    )
    assert killed.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    finals = [p for p in out.iterdir() if not p.name.startswith(".")]
    assert "model.safetensors.index.json" not in {p.name for p in finals}
    for path in finals:
        size = path.stat().st_size
        with safe_open(path, framework="pt") as handle:
            keys = list(handle.keys())
        with path.open("rb") as raw:
            raw.seek(size - 4096)
            tail = raw.read()
        assert len(keys) == 4 and any(tail), path.name  # the last tensor was written


@pytest.mark.parametrize(
    ("args", "code", "needles"),
    [
        (["{missing}", "--output", "{out}"], 3, ["{missing}"]),
        (["{model}", "--output", "{model}/sub"], 2, ["inside the model folder"]),
        (["{model}", "--output", "{model}"], 2, ["inside the model folder"]),
        (["{model}", "--output", "{out}", "--low", "1", "--high", "0"], 2, ["--low 1.0"]),
        (["{model}", "--output", "{out}", "--dtype", "int8"], 2, ["'int8'", "keep"]),
        (["{model}", "--output", "{file}"], 2, ["not a directory"]),
        (["{nomodel}", "--output", "{out}"], 3, ["no safetensors files"]),
    ],
)
def test_bad_inputs(
    sharded_model: Path,
    tmp_path: Path,
    run_cli: CliRunner,
    args: list[str],
    code: int,
    needles: list[str],
) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "nomodel").mkdir()
    (tmp_path / "nomodel" / "config.json").write_text("{}")
    values = {
        "missing": str(tmp_path / "missing"),
        "model": str(sharded_model),
        "out": str(tmp_path / "out"),
        "file": str(tmp_path / "file"),
        "nomodel": str(tmp_path / "nomodel"),
    }
    result = run_cli("dummy-init", *[a.format(**values) for a in args])
    assert_error(result, code, *[n.format(**values) for n in needles])
    assert not (tmp_path / "out").exists()
    assert not (sharded_model / "sub").exists()


def test_library_rejects_bad_bounds_and_missing_model(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="greater than"):
        dummy_init(tmp_path, tmp_path / "out", low=1.0, high=0.0)
    with pytest.raises(NotFoundError):
        dummy_init(tmp_path / "missing", tmp_path / "out")


def test_initialize_dummy_weights_is_seeded_per_tensor_and_skips_meta() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.Linear(16, 16))
    model[1].to(torch.bfloat16)
    initialize_dummy_weights(model, None, seed=5)
    first = cast(torch.nn.Linear, model[0]).weight.detach().clone()
    assert in_bounds(first)
    lone = torch.empty(16, 16)
    initialize_single_dummy_weight(lone, seed=5)
    assert torch.equal(first, lone)  # depends only on seed, shape and dtype
    fp8 = torch.zeros(16, 16, dtype=torch.float8_e5m2)
    initialize_single_dummy_weight(fp8, seed=5)
    assert fp8.float().abs().max() > 0
    ints = torch.ones(4, dtype=torch.int32)
    initialize_single_dummy_weight(ints)
    assert torch.equal(ints, torch.ones(4, dtype=torch.int32))
    meta = torch.empty(4, 4, device="meta")
    initialize_single_dummy_weight(meta)  # no error, nothing to fill


class CountingCheckpoint:
    """A local checkpoint that counts the bytes read through it (a remote one bills these)."""

    def __init__(self, folder: Path) -> None:
        from weightlib.checkpoint import LocalCheckpoint

        self.inner = LocalCheckpoint(folder)
        self.read: dict[str, int] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    def file_sizes(self) -> Mapping[str, int]:
        return self.inner.file_sizes()

    def read_range(self, path: str, start: int, length: int) -> bytes:
        data = self.inner.read_range(path, start, length)
        self.read[path] = self.read.get(path, 0) + len(data)
        return data

    def read_file(self, path: str) -> bytes:
        data = self.inner.read_file(path)
        self.read[path] = self.read.get(path, 0) + len(data)
        return data


def test_only_headers_of_weight_files_are_read(sharded_model: Path, tmp_path: Path) -> None:
    from weightlib.safetensors_header import read_safetensors_header

    checkpoint = CountingCheckpoint(sharded_model)
    plan = plan_dummy_checkpoint(checkpoint)
    write_dummy_checkpoint(plan, tmp_path / "out")
    for shard in sharded_model.glob("*.safetensors"):
        assert checkpoint.read[shard.name] == read_safetensors_header(shard).data_start
    assert set(checkpoint.read) - {p.name for p in sharded_model.glob("*.safetensors")} == {
        "model.safetensors.index.json",
        "config.json",
        "tokenizer.json",
    }


def test_rich_progress_on_a_terminal(
    sharded_model: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [WEIGHTLIB, "dummy-init", sharded_model, "--output", tmp_path / "out"],
        env={**cli_env, "COLUMNS": "100", "TERM": "xterm"},
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    terminal = b""
    try:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO once the child has exited
                break
            if not data:
                break
            terminal += data
    finally:
        os.close(leader)
    stdout, _ = process.communicate(timeout=120)
    assert process.returncode == 0, terminal
    assert b"dummy-init" in terminal  # the progress bar was drawn on the terminal
    assert stdout.count("\n") == 1 and "tensors" in stdout
    assert tensor_layout(tmp_path / "out") == tensor_layout(sharded_model)


def test_help_does_not_import_torch() -> None:
    import sys

    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "weightlib.cli", "dummy-init", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "--seed" in result.stdout
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert imported and not imported & {"torch", "numpy"}


def test_not_enough_disk_space_is_a_resource_error(sharded_model: Path, small_fs: Path) -> None:
    from weightlib.errors import ResourceError

    with pytest.raises(ResourceError, match="not enough disk space") as info:
        dummy_init(sharded_model, small_fs / "out")
    assert info.value.exit_code == 8
    assert not [p for p in small_fs.rglob("*") if p.is_file()]


def wide_state_dict() -> dict[str, torch.Tensor]:
    """Every generated dtype (and two zero-filled ones) in tensors of several 4 KiB chunks."""
    state = {
        f"t.{dtype}": torch.zeros(96, 64, dtype=getattr(torch, dtype))
        for dtype in (
            "float64",
            "float32",
            "bfloat16",
            "float16",
            "float8_e4m3fn",
            "float8_e5m2",
            "int32",
            "bool",
        )
    }
    state["t.small"] = torch.zeros(3, dtype=torch.bfloat16)
    state["t.empty"] = torch.zeros(0, 4, dtype=torch.float32)
    return state


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`wide_state_dict` in several shards (so shards overlap in the pipeline)."""
    folder = tmp_path_factory.mktemp("wide") / "model"
    write_sharded(folder, max_shard_size=60_000, state=wide_state_dict())
    return folder


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_threads_write_the_same_bytes_as_one_thread(
    wide_model: Path, sharded_model: Path, tmp_path: Path, threads: int
) -> None:
    for name, model in (("wide", wide_model), ("sharded", sharded_model)):
        plan = plan_dummy_checkpoint(model)
        one = write_dummy_checkpoint(plan, tmp_path / name / "one", threads=1, chunk_bytes=4096)
        many = write_dummy_checkpoint(
            plan, tmp_path / name / "many", threads=threads, chunk_bytes=4096
        )
        assert len(plan.shards) > 1
        assert many.files == one.files  # same files, in the same order
        assert many.to_json().keys() == one.to_json().keys()
        assert (many.tensors, many.bytes) == (one.tensors, one.bytes)
        one_sums, many_sums = (
            sha256_tree(tmp_path / name / "one"),
            sha256_tree(tmp_path / name / "many"),
        )
        assert len(one_sums) == len(one.files) and many_sums == one_sums
        default = dummy_init(model, tmp_path / name / "default")
        assert sha256_tree(tmp_path / name / "default") == one_sums
        assert default.files == one.files


def test_chunked_parallel_values_are_vllms_whole_tensor_fill(
    wide_model: Path, tmp_path: Path
) -> None:
    plan = plan_dummy_checkpoint(wide_model)
    write_dummy_checkpoint(plan, tmp_path / "out", seed=11, threads=3, chunk_bytes=4096)
    tensors = tensors_of(tmp_path / "out")
    assert tensors.keys() == wide_state_dict().keys()
    for name, tensor in tensors.items():
        assert tensor.numel() == 0 or name == "t.small" or tensor.nbytes > 4096, name
    assert_vllm_values(tensors, seed=11)  # one fill of each whole tensor, as vLLM does it


def test_threads_must_be_positive_and_default_to_min_4_cpus(
    sharded_model: Path, tmp_path: Path
) -> None:
    from weightlib.dummy import default_threads

    assert default_threads() == min(4, os.cpu_count() or 1)
    for bad in (0, -1):
        with pytest.raises(InvalidInputError, match="threads"):
            dummy_init(sharded_model, tmp_path / "out", threads=bad)
    assert not (tmp_path / "out").exists()
    plan = plan_dummy_checkpoint(sharded_model)
    write_dummy_checkpoint(plan, tmp_path / "old-name", workers=2)  # the former keyword
    write_dummy_checkpoint(plan, tmp_path / "new-name", threads=2)
    assert sha256_tree(tmp_path / "old-name") == sha256_tree(tmp_path / "new-name")


MEMORY_CHILD = """
import json, sys
from weightlib.dummy import plan_dummy_checkpoint, write_dummy_checkpoint
import torch  # noqa: F401  (counted in the baseline)

def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field))

plan = plan_dummy_checkpoint(sys.argv[1])
before = status("VmRSS:")
write_dummy_checkpoint(plan, sys.argv[2], threads=4, chunk_bytes=int(sys.argv[3]))
print(json.dumps({"growth": status("VmHWM:") - before}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/self/status")
def test_memory_stays_at_threads_times_chunk_not_tensor_size(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    import sys

    model = tmp_path / "big"
    write_big_sparse_layout(model, shards=2, tensor_mib=32)  # 8 tensors of 32 MiB
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, model, tmp_path / "out", str(2 << 20)],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=300,
        check=True,
    )
    growth = json.loads(result.stdout)["growth"]
    # 4 threads × 2 MiB chunks: far under one 32 MiB tensor, let alone 4 of them in flight
    assert growth < 24 << 20, growth
    assert tensor_layout(tmp_path / "out") == tensor_layout(model)


def test_a_failure_in_a_later_shard_stops_the_workers_and_removes_every_temp_file(
    tmp_path: Path,
) -> None:
    model = tmp_path / "big"
    write_big_sparse_layout(model, shards=3, tensor_mib=4)
    plan = plan_dummy_checkpoint(model)
    first_shard = plan.shards[0].size - len(plan.shards[0].header)
    seen: list[int] = []

    def fail_in_second_shard(n: int) -> None:
        seen.append(n)
        if sum(seen) > first_shard + (1 << 20):
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_dummy_checkpoint(
            plan, tmp_path / "out", progress=fail_in_second_shard, threads=3, chunk_bytes=1 << 16
        )
    out = tmp_path / "out"
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert not [n for n in left if n.startswith(".")], left
    assert set(left) <= {plan.shards[0].path}  # the first shard, if complete before the error
    # the workers stopped at their next chunk instead of writing the rest of the checkpoint
    assert sum(seen) < plan.data_bytes * 3 // 4


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_the_workers_at_once_and_removes_the_temp_files(
    tmp_path: Path, cli_env: dict[str, str], sig: int, code: int
) -> None:
    model = tmp_path / "big"
    write_big_sparse_layout(model)
    out = tmp_path / "out"
    stopped = kill_when(
        [WEIGHTLIB, "dummy-init", model, "--output", out, "--json"],
        lambda: out.is_dir() and any(p.name.endswith(".tmp") for p in out.iterdir()),
        env=cli_env,
        sig=sig,
        settle=0.2,
        capture=True,
    )
    assert stopped.ready, "the run finished before it could be stopped"
    assert stopped.returncode == code, stopped.stderr
    assert stopped.seconds < 10, stopped.seconds  # liveness bound: workers stop within a chunk
    assert "Traceback" not in stopped.stderr
    left = list(out.iterdir()) if out.exists() else []
    assert not [p.name for p in left if p.name.startswith(".")]
    assert "model.safetensors.index.json" not in {p.name for p in left}
    for path in left:  # shards renamed before the signal are complete
        with safe_open(path, framework="pt") as handle:
            assert len(list(handle.keys())) == 4
