"""Weight iterators: the same tensors as `load_file`, the expert filter, pickle refusal."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip("torch")

from safetensors.torch import load_file, save_file

from tests.layouts import write_sharded
from weightlib import iterators
from weightlib.dummy import build_safetensors_header
from weightlib.errors import IntegrityError, InvalidInputError, MissingExtraError
from weightlib.iterators import (
    NumpyCacheError,
    UnsafeCheckpointError,
    extract_expert_id,
    fastsafetensors_weights_iterator,
    instanttensor_weights_iterator,
    multi_thread_pt_weights_iterator,
    multi_thread_safetensors_weights_iterator,
    np_cache_weights_iterator,
    pt_weights_iterator,
    runai_safetensors_weights_iterator,
    safetensors_weights_iterator,
)

pytestmark = pytest.mark.torch


def state_dict() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {
        "embed.weight": torch.randn(50, 32, generator=g).to(torch.bfloat16),
        "layers.0.w": torch.randn(32, 32, generator=g),
        "layers.1.w": torch.randn(32, 32, generator=g).to(torch.float16),
        "layers.2.w": torch.randn(32, 32, generator=g).to(torch.float64),
        "ids": torch.arange(7, dtype=torch.int64),
        "flag": torch.tensor([True, False]),
        "scalar": torch.tensor(3.5),
        "fp8": torch.randn(4, 4, generator=g).to(torch.float8_e4m3fn),
    }


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("model")
    files = [
        folder / name for name in write_sharded(folder, max_shard_size=6000, state=state_dict())
    ]
    assert len(files) >= 3
    return files


def reference(files: list[Path]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for f in files:
        out.update(load_file(str(f)))
    return out


def assert_same(got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert got.keys() == expected.keys()
    for name, tensor in expected.items():
        assert got[name].dtype == tensor.dtype, name
        assert got[name].shape == tensor.shape, name
        assert torch.equal(got[name].cpu(), tensor), name


def collect(iterator: Iterable[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    out = {}
    for name, tensor in iterator:
        assert name not in out, f"{name} yielded twice"
        out[name] = tensor.clone()
    return out


@pytest.mark.parametrize("strategy", [None, "lazy", "eager", "prefetch"])
def test_safetensors_iterator_matches_load_file(shards: list[Path], strategy: str | None) -> None:
    got = collect(safetensors_weights_iterator(shards, True, safetensors_load_strategy=strategy))
    assert_same(got, reference(shards))


def test_safetensors_iterator_on_real_minilm(minilm_dir: Path) -> None:
    files = [minilm_dir / "model.safetensors"]
    for strategy in ("lazy", "eager"):
        got = collect(safetensors_weights_iterator(files, False, strategy))
        assert_same(got, reference(files))


def test_files_are_read_in_natural_order(tmp_path: Path) -> None:
    for n in (10, 2, 1):
        save_file({f"t{n}": torch.zeros(1)}, str(tmp_path / f"model-{n}-of-10.safetensors"))
    names = [n for n, _ in safetensors_weights_iterator(sorted(tmp_path.iterdir()), False)]
    assert names == ["t1", "t2", "t10"]


def test_unknown_strategy_is_refused(shards: list[Path]) -> None:
    with pytest.raises(InvalidInputError, match="'mmap'"):
        list(safetensors_weights_iterator(shards, False, safetensors_load_strategy="mmap"))


def fake_machine(root: Path, meminfo: str, cgroup_files: dict[str, str]) -> Path:
    """A /proc + /sys tree for `weightlib.memory.available_memory_bytes(root)`."""
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/meminfo").write_text(meminfo)
    (root / "proc/self/mounts").write_text("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")
    (root / "proc/self/cgroup").write_text("0::/job\n")
    for rel, text in cgroup_files.items():
        (root / "sys/fs/cgroup/job" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "sys/fs/cgroup/job" / rel).write_text(text)
    return root


# 8 MiB free, 1 GiB available: the rest of the memory is page cache the kernel can reclaim
PAGE_CACHE_MACHINE = "MemTotal: 2097152 kB\nMemFree: 8192 kB\nMemAvailable: 1048576 kB\n"


@pytest.mark.parametrize(
    ("cgroup_files", "expected"),
    [
        ({}, "prefetch"),  # the checkpoint fits in MemAvailable
        ({"memory.max": "max\n", "memory.current": "0\n"}, "prefetch"),
        # a cgroup with 10 kB left: the checkpoint does not fit, whatever MemAvailable says
        ({"memory.max": "1000000\n", "memory.current": "990000\n", "memory.stat": ""}, "lazy"),
    ],
)
def test_auto_prefetch_counts_page_cache_as_available(
    shards: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cgroup_files: dict[str, str],
    expected: str,
) -> None:
    import functools

    from weightlib import memory

    root = fake_machine(tmp_path / "machine", PAGE_CACHE_MACHINE, cgroup_files)
    total = sum(p.stat().st_size for p in shards)
    assert 10_000 < total < 0.9 * 1024**3  # more than the cgroup has left, less than 90 % of 1 GiB
    real_sysconf = os.sysconf
    free_pages = {"SC_AVPHYS_PAGES": 1}  # one free page: free memory alone would not hold it

    def sysconf(name: str | int) -> int:
        return free_pages[name] if name in free_pages else real_sysconf(name)

    monkeypatch.setattr(os, "sysconf", sysconf)
    monkeypatch.setattr(iterators, "get_fs_type", lambda path: "nfs")
    monkeypatch.setattr(
        iterators, "available_memory_bytes", functools.partial(memory.available_memory_bytes, root)
    )
    assert iterators._choose_strategy([str(p) for p in shards]) == expected
    warmed: list[str] = []
    monkeypatch.setattr(iterators, "_warm_ranges", lambda path, ranges, stop: warmed.append(path))
    assert_same(collect(safetensors_weights_iterator(shards, False)), reference(shards))
    assert warmed == ([str(p) for p in shards] if expected == "prefetch" else [])


def write_moe(path: Path) -> None:
    """Experts 0-3; expert 2 is stored as F6_E2M3, which no reader can decode: reading it fails."""
    specs = [("model.embed.weight", "F32", (4, 4))]
    for layer in range(2):
        for expert in range(4):
            dtype = "F6_E2M3" if expert == 2 else "F32"
            specs.append((f"model.layers.{layer}.mlp.experts.{expert}.w1.weight", dtype, (4, 4)))
        specs.append((f"model.layers.{layer}.mlp.gate.weight", "F32", (4, 4)))
    header, planned = build_safetensors_header(specs)
    path.write_bytes(header + bytes(sum(t.nbytes for t in planned)))


@pytest.mark.parametrize("strategy", ["lazy", "eager", "prefetch"])
def test_expert_filter_skips_other_experts_before_reading(tmp_path: Path, strategy: str) -> None:
    path = tmp_path / "moe.safetensors"
    write_moe(path)
    names = [
        n for n, _ in safetensors_weights_iterator([path], False, strategy, local_expert_ids={0, 3})
    ]
    assert sorted(names) == sorted(
        ["model.embed.weight"]
        + [f"model.layers.{i}.mlp.experts.{e}.w1.weight" for i in range(2) for e in (0, 3)]
        + [f"model.layers.{i}.mlp.gate.weight" for i in range(2)]
    )
    with pytest.raises(Exception, match="F6_E2M3"):  # unfiltered, the unreadable expert is read
        list(safetensors_weights_iterator([path], False, strategy))


@pytest.mark.parametrize("strategy", ["lazy", "eager", "prefetch"])
def test_expert_filter_keeps_scales_as_vllm_does(tmp_path: Path, strategy: str) -> None:
    # vLLM's should_skip_weight: only `.weight` / `.weight_packed` of other experts are skipped
    names = [
        "model.layers.0.mlp.experts.w13_weight",  # fused: no expert id, never skipped
        "model.layers.0.mlp.experts.1.up.weight",
        "model.layers.0.mlp.experts.1.up.weight_scale",
        "model.layers.0.mlp.experts.1.up.input_scale",
        "model.layers.0.mlp.experts.1.down.weight_packed",
        "model.layers.0.mlp.experts.2.up.weight",
    ]
    path = tmp_path / "moe.safetensors"
    save_file({n: torch.zeros(2) for n in names}, str(path))
    got = [n for n, _ in safetensors_weights_iterator([path], False, strategy, {2})]
    assert sorted(got) == sorted(
        [
            "model.layers.0.mlp.experts.w13_weight",
            "model.layers.0.mlp.experts.1.up.weight_scale",
            "model.layers.0.mlp.experts.1.up.input_scale",
            "model.layers.0.mlp.experts.2.up.weight",
        ]
    )


def test_prefetch_ranges_leave_out_skipped_experts(tmp_path: Path) -> None:
    from weightlib.safetensors_header import read_safetensors_header

    path = tmp_path / "moe.safetensors"
    write_moe(path)
    ranges = iterators._wanted_ranges(str(path), {1})
    for info in read_safetensors_header(path).tensors:
        inside = any(start <= info.file_start and info.file_end <= end for start, end in ranges)
        assert inside == (extract_expert_id(info.name) in (None, 1)), info.name


def test_extract_expert_id() -> None:
    assert extract_expert_id("model.layers.3.mlp.experts.12.down_proj.weight") == 12
    assert extract_expert_id("model.layers.3.mlp.shared_experts.down_proj.weight") is None
    assert extract_expert_id("model.layers.3.mlp.gate.weight") is None


def test_multi_thread_safetensors_matches_load_file(shards: list[Path]) -> None:
    got = collect(multi_thread_safetensors_weights_iterator(shards, False, max_workers=2))
    assert_same(got, reference(shards))


@pytest.fixture
def bin_files(tmp_path: Path) -> list[Path]:
    state = state_dict()
    names = list(state)
    files = []
    for i, chunk in enumerate((names[:3], names[3:])):
        path = tmp_path / f"pytorch_model-0000{i + 1}-of-00002.bin"
        torch.save({n: state[n] for n in chunk}, path)
        files.append(path)
    return files


def test_pt_iterators_match_the_saved_tensors(bin_files: list[Path]) -> None:
    assert_same(collect(pt_weights_iterator(bin_files, False)), state_dict())
    assert_same(
        collect(multi_thread_pt_weights_iterator(bin_files, False, max_workers=2)), state_dict()
    )


class Payload:
    """Any object a pickle can rebuild: weights_only loading must refuse it."""

    def __reduce__(self) -> tuple[Callable[[], str], tuple[()]]:
        return (os.getcwd, ())


def test_pickle_payload_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pytorch_model.bin"
    torch.save({"w": torch.zeros(2), "payload": Payload()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"pytorch_model\.bin: refused"):
        list(pt_weights_iterator([path], False))
    with pytest.raises(UnsafeCheckpointError):
        list(multi_thread_pt_weights_iterator([path], False))


def test_non_tensor_content_is_refused(tmp_path: Path) -> None:
    listing = tmp_path / "list.bin"
    torch.save([torch.zeros(1)], listing)
    with pytest.raises(UnsafeCheckpointError, match="list"):
        list(pt_weights_iterator([listing], False))
    mixed = tmp_path / "mixed.bin"
    torch.save({"w": torch.zeros(1), "step": 5}, mixed)
    with pytest.raises(UnsafeCheckpointError, match="'step'"):
        list(pt_weights_iterator([mixed], False))
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(IntegrityError, match=r"garbage\.bin"):
        list(pt_weights_iterator([garbage], False))


def test_np_cache_dumps_once_under_the_lock(bin_files: list[Path], tmp_path: Path) -> None:
    folder = bin_files[0].parent
    cache = tmp_path / "locks"
    first = collect(np_cache_weights_iterator("org/model", cache, folder, bin_files, False))
    assert_same(first, state_dict())
    assert (folder / "np" / "weight_names.json").exists()
    assert list(cache.glob("*.lock"))
    for path in bin_files:  # a second run reads the cache only
        path.unlink()
    second = collect(np_cache_weights_iterator("org/model", cache, folder, bin_files, False))
    assert_same(second, state_dict())


def test_np_cache_names_that_are_not_file_names_are_refused(tmp_path: Path) -> None:
    for bad in ("../../escape", "a/b", "weight_names.json", "x" * 256):
        path = tmp_path / "pytorch_model.bin"
        torch.save({"fine": torch.zeros(1), bad: torch.ones(2)}, path)
        with pytest.raises(NumpyCacheError, match="cannot be a file of the numpy cache"):
            list(np_cache_weights_iterator("m", tmp_path / "locks", tmp_path, [path], False))
        assert not (tmp_path.parent / "escape").exists()
        assert sorted(p.name for p in (tmp_path / "np").iterdir()) == []  # nothing written


def vllm_style_dump(np_folder: Path, state: dict[str, torch.Tensor]) -> None:
    """vLLM 0.34.0's layout: np.save of `t.cpu().detach().numpy()` into np/<name>, then the
    JSON list of names in np/weight_names.json."""
    import json

    import numpy as np

    np_folder.mkdir(parents=True, exist_ok=True)
    for name, tensor in state.items():
        with open(np_folder / name, "wb") as handle:
            np.save(handle, tensor.cpu().detach().numpy())
    (np_folder / "weight_names.json").write_text(json.dumps(list(state)))


def vllm_style_read(np_folder: Path) -> dict[str, torch.Tensor]:
    """How vLLM 0.34.0 reads the folder back."""
    import json

    import numpy as np

    out = {}
    for name in json.loads((np_folder / "weight_names.json").read_text()):
        with open(np_folder / name, "rb") as handle:
            out[name] = torch.from_numpy(np.load(handle))
    return out


NUMPY_NATIVE = ("layers.0.w", "layers.1.w", "layers.2.w", "ids", "flag", "scalar")


def test_np_cache_reads_the_folder_vllm_writes(tmp_path: Path) -> None:
    state = {n: t for n, t in state_dict().items() if n in NUMPY_NATIVE}
    vllm_style_dump(tmp_path / "np", state)
    absent = [tmp_path / "pytorch_model.bin"]  # the cache is complete: the .bin is not read
    got = collect(np_cache_weights_iterator("org/m", tmp_path / "locks", tmp_path, absent, False))
    assert_same(got, state)
    names = [n for n, _ in np_cache_weights_iterator("org/m", tmp_path / "locks", tmp_path, [])]
    assert names == list(state)  # the order of weight_names.json


def test_np_cache_writes_the_folder_vllm_reads(bin_files: list[Path], tmp_path: Path) -> None:
    import json

    import numpy as np

    folder = bin_files[0].parent
    list(np_cache_weights_iterator("org/m", tmp_path / "locks", folder, bin_files, False))
    np_folder = folder / "np"
    names = json.loads((np_folder / "weight_names.json").read_text())
    assert names == list(state_dict())  # a plain list of names, in load order
    assert sorted(p.name for p in np_folder.iterdir()) == sorted([*names, "weight_names.json"])
    native = {n: state_dict()[n] for n in NUMPY_NATIVE}
    only_native = np_folder.parent / "native" / "np"  # the numpy dtypes, as vLLM would dump them
    only_native.mkdir(parents=True)
    for name in NUMPY_NATIVE:
        (only_native / name).write_bytes((np_folder / name).read_bytes())
    (only_native / "weight_names.json").write_text(json.dumps(list(NUMPY_NATIVE)))
    assert_same(vllm_style_read(only_native), native)
    # bf16 / fp8, which vLLM's own dump cannot store: vLLM refuses them loudly, never misreads
    record = np.load(np_folder / "embed.weight", allow_pickle=False)
    assert record.dtype.names == ("bfloat16",)
    with pytest.raises(TypeError):
        vllm_style_read(np_folder)


def test_np_cache_other_layouts_are_a_clear_error(tmp_path: Path) -> None:
    import json

    np_folder = tmp_path / "np"
    np_folder.mkdir()
    names_file = np_folder / "weight_names.json"

    def read() -> None:
        list(np_cache_weights_iterator("m", tmp_path / "locks", tmp_path, []))

    names_file.write_text(json.dumps([{"name": "w", "file": "w.npy", "dtype": "float32"}]))
    with pytest.raises(NumpyCacheError, match=r"older weightlib.*delete .*np to rebuild"):
        read()
    for content, reason in [
        ("{not json", "unreadable"),
        ('{"w": 1}', "not a list"),
        ('["../../etc/passwd"]', "cannot be a file"),
        ('["w"]', "its file is missing"),
    ]:
        names_file.write_text(content)
        with pytest.raises(NumpyCacheError, match=reason):
            read()
    (np_folder / "w").write_bytes(b"not numpy")
    with pytest.raises(NumpyCacheError, match="not a numpy array file"):
        read()


def test_runai_streamer_on_cpu_matches_load_file(shards: list[Path]) -> None:
    pytest.importorskip("runai_model_streamer")
    got = collect(runai_safetensors_weights_iterator(shards, False))
    assert_same(got, reference(shards))


def test_runai_streamer_expert_filter(tmp_path: Path) -> None:
    pytest.importorskip("runai_model_streamer")
    path = tmp_path / "moe.safetensors"
    specs = {f"m.experts.{e}.weight": torch.full((2, 2), float(e)) for e in range(3)}
    save_file(
        {**specs, "m.gate": torch.ones(2), "m.experts.0.input_scale": torch.ones(1)}, str(path)
    )
    got = collect(runai_safetensors_weights_iterator([path], False, local_expert_ids={1}))
    assert set(got) == {"m.experts.1.weight", "m.gate", "m.experts.0.input_scale"}


def test_fastsafetensors_on_cpu_matches_load_file(shards: list[Path]) -> None:
    pytest.importorskip("fastsafetensors")
    got = collect(fastsafetensors_weights_iterator(shards, False, device="cpu"))
    assert_same(got, reference(shards))


def test_instanttensor_without_cuda_fails_clearly(shards: list[Path]) -> None:
    pytest.importorskip("instanttensor")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(InvalidInputError, match="CUDA"):
        list(instanttensor_weights_iterator(shards, False))


@pytest.mark.parametrize(
    ("module", "function"),
    [
        ("runai_model_streamer", runai_safetensors_weights_iterator),
        ("fastsafetensors", fastsafetensors_weights_iterator),
        ("instanttensor", instanttensor_weights_iterator),
    ],
)
def test_missing_backend_names_the_loaders_extra(
    shards: list[Path],
    monkeypatch: pytest.MonkeyPatch,
    module: str,
    function: Callable[[list[Path], bool], Iterable[tuple[str, torch.Tensor]]],
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(MissingExtraError, match=r"weightlib\[loaders\]") as info:
        list(function(shards, False))
    assert module in str(info.value)


def test_progress_is_silent_when_stderr_is_not_a_terminal(
    shards: list[Path], capfd: pytest.CaptureFixture[str]
) -> None:
    list(safetensors_weights_iterator(shards, True, "lazy"))
    list(pt_weights_iterator([], True))
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
