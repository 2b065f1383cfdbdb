"""Weight loaders: shape checks, tensor-parallel slicing, scale-name remapping, .bin conversion."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from weightlib.errors import IntegrityError  # noqa: E402
from weightlib.iterators import UnsafeCheckpointError  # noqa: E402
from weightlib.loaders import (  # noqa: E402
    WeightShapeError,
    composed_weight_loader,
    convert_bin_to_safetensor_file,
    convert_pyslice_to_tensor,
    default_weight_loader,
    get_tensor_model_parallel_rank,
    maybe_remap_kv_scale_name,
    row_parallel_weight_loader,
    sharded_weight_loader,
)

pytestmark = pytest.mark.torch


def test_default_loader_copies_and_checks_shapes() -> None:
    param = torch.nn.Parameter(torch.zeros(3, 4), requires_grad=False)
    weight = torch.arange(12.0).reshape(3, 4)
    default_weight_loader(param, weight)
    assert torch.equal(param.data, weight)
    with pytest.raises(
        WeightShapeError, match=r"shape \(4, 3\) into a parameter of shape \(3, 4\)"
    ):
        default_weight_loader(param, weight.T.contiguous())


def test_default_loader_broadcasts_scalars() -> None:
    param = torch.zeros(1)
    default_weight_loader(param, torch.tensor(2.5))
    assert param.item() == 2.5


@pytest.mark.parametrize(("axis", "world"), [(0, 4), (1, 3), (-1, 2)])
def test_sharded_loader_takes_this_ranks_slice(axis: int, world: int) -> None:
    full = torch.arange(8 * 6, dtype=torch.float32).reshape(8, 6)
    size = full.shape[axis] // world
    for rank in range(world):
        shape = list(full.shape)
        shape[axis] = size
        param = torch.empty(shape)
        sharded_weight_loader(axis, tp_rank=rank)(param, full)
        assert torch.equal(param, full.narrow(axis, rank * size, size)), rank


def test_sharded_loader_rank_beyond_the_weight_is_an_error() -> None:
    with pytest.raises(WeightShapeError, match=r"rank 4: .*\[8:10\] on axis 0"):
        sharded_weight_loader(0, tp_rank=4)(torch.empty(2, 6), torch.zeros(8, 6))
    with pytest.raises(WeightShapeError, match="axis 2"):
        sharded_weight_loader(2, tp_rank=0)(torch.empty(2, 6), torch.zeros(8, 6))


def test_default_rank_is_zero_without_distributed() -> None:
    assert get_tensor_model_parallel_rank() == 0
    full = torch.arange(8.0).reshape(4, 2)
    param = torch.empty(2, 2)
    sharded_weight_loader(0)(param, full)
    assert torch.equal(param, full[:2])


def test_row_parallel_loader_slices_rows_and_copies_1d_whole() -> None:
    full = torch.arange(24.0).reshape(6, 4)
    param = torch.empty(2, 4)
    row_parallel_weight_loader(param, full, tp_rank=2)
    assert torch.equal(param, full[4:6])
    bias = torch.empty(4)
    row_parallel_weight_loader(bias, torch.arange(4.0), tp_rank=1)
    assert torch.equal(bias, torch.arange(4.0))


def test_composed_loader_applies_fn_after_loading() -> None:
    param = torch.empty(2, 2)
    loader = composed_weight_loader(default_weight_loader, lambda p: p * 2 + 1)
    loader(param, torch.ones(2, 2))
    assert torch.equal(param, torch.full((2, 2), 3.0))


def test_convert_pyslice_to_tensor(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file({"w": torch.arange(6.0).reshape(2, 3)}, str(path))
    with safe_open(path, framework="pt") as handle:
        tensor = convert_pyslice_to_tensor(handle.get_slice("w"))
    assert torch.equal(tensor, torch.arange(6.0).reshape(2, 3))
    same = torch.ones(2)
    assert convert_pyslice_to_tensor(same) is same


def test_maybe_remap_kv_scale_name(caplog: pytest.LogCaptureFixture) -> None:
    params = {
        "model.layers.0.self_attn.attn.k_scale": 0,
        "model.layers.0.self_attn.attn.v_scale": 0,
    }
    remap = maybe_remap_kv_scale_name
    assert remap("model.layers.0.self_attn.k_proj.k_scale", params) == (
        "model.layers.0.self_attn.attn.k_scale"
    )
    assert remap("model.layers.0.self_attn.qkv_proj.v_scale", params) == (
        "model.layers.0.self_attn.attn.v_scale"
    )
    assert (
        remap("model.layers.0.self_attn.k_scale", params) == "model.layers.0.self_attn.attn.k_scale"
    )
    assert (
        remap("model.layers.0.self_attn.kv_scale", params)
        == "model.layers.0.self_attn.attn.k_scale"
    )
    assert (
        remap("model.layers.0.mlp.down_proj.weight", params)
        == "model.layers.0.mlp.down_proj.weight"
    )
    with caplog.at_level(logging.WARNING, logger="weightlib.loaders"):
        assert remap("model.layers.9.self_attn.k_scale", params) is None
    assert "model.layers.9.self_attn.attn.k_scale" in caplog.text


L0 = "model.layers.0"
VLLM_REMAP_CASES = [
    # (checkpoint name, the model's parameters, vLLM 0.34.0's answer)
    (
        f"{L0}.self_attn.attn.k_scale",
        [f"{L0}.self_attn.attn.k_scale"],
        f"{L0}.self_attn.attn.k_scale",
    ),
    (f"{L0}.self_attn.q_scale", [f"{L0}.self_attn.attn.q_scale"], f"{L0}.self_attn.attn.q_scale"),
    (f"{L0}.self_attn.q_scale", [f"{L0}.self_attn.attn.k_scale"], None),
    (
        f"{L0}.self_attn.k_zero_point",
        [f"{L0}.self_attn.attn.k_zero_point"],
        f"{L0}.self_attn.attn.k_zero_point",
    ),
    (f"{L0}.self_attn.v_zero_point", [f"{L0}.self_attn.attn.k_zero_point"], None),
    (
        f"{L0}.self_attn.qkqkv_proj.v_scale",
        [f"{L0}.self_attn.attn.v_scale"],
        f"{L0}.self_attn.attn.v_scale",
    ),
    (
        "backbone.layers.3.mixer.k_proj.k_scale",
        ["backbone.layers.3.mixer.attn.k_scale"],
        "backbone.layers.3.mixer.attn.k_scale",
    ),
    (
        "backbone.layers.3.mixer.v_proj.k_scale",
        ["backbone.layers.3.mixer.attn.k_scale"],
        "backbone.layers.3.mixer.attn.k_scale",
    ),
    (
        f"{L0}.self_attn.k_proj.k_scale",
        [f"{L0}.self_attn.mla_attn.mla_attn.k_scale"],
        f"{L0}.self_attn.mla_attn.mla_attn.k_scale",
    ),
    # with MLA only the ModelOpt rule changes: a fused-QKV scale still goes to .attn
    (
        f"{L0}.self_attn.qkv_proj.v_scale",
        [f"{L0}.self_attn.mla_attn.mla_attn.v_scale", f"{L0}.self_attn.attn.v_scale"],
        f"{L0}.self_attn.attn.v_scale",
    ),
    (f"{L0}.self_attn.q.scale", [f"{L0}.self_attn.attn.q_scale"], f"{L0}.self_attn.attn.q_scale"),
    (
        f"{L0}.self_attn.k_cache.scale",
        [f"{L0}.self_attn.attn.k_scale"],
        f"{L0}.self_attn.attn.k_scale",
    ),
    (f"{L0}.mlp.q.scale", [], f"{L0}.mlp.q.scale"),  # a candidate suffix that no pattern matches
    # vLLM replaces every ".kv_scale", not only the suffix
    ("a.kv_scale_b.kv_scale", ["a.attn.k_scale_b.attn.k_scale"], "a.attn.k_scale_b.attn.k_scale"),
]


@pytest.mark.parametrize(("name", "params", "expected"), VLLM_REMAP_CASES)
def test_maybe_remap_kv_scale_name_follows_vllm_rules(
    name: str, params: list[str], expected: str | None
) -> None:
    assert maybe_remap_kv_scale_name(name, dict.fromkeys(params, 0)) == expected


def test_convert_bin_dedupes_shared_tensors_and_verifies(tmp_path: Path) -> None:
    embed = torch.randn(10, 4)
    base = torch.arange(20.0)
    state = {
        "embed.weight": embed,
        "lm_head.weight": embed,  # tied: the same memory
        "first_half": base[:10],
        "second_half": base[10:],  # same storage, different bytes: saved separately
        "ids": torch.arange(5),
    }
    pt = tmp_path / "pytorch_model.bin"
    torch.save(state, pt)
    sf = tmp_path / "out" / "model.safetensors"
    convert_bin_to_safetensor_file(pt, sf)
    saved = load_file(str(sf))
    assert set(saved) == {"embed.weight", "first_half", "second_half", "ids"}
    assert torch.equal(saved["embed.weight"], embed)
    assert torch.equal(saved["second_half"], base[10:])
    with safe_open(sf, framework="pt") as handle:
        assert handle.metadata() == {"format": "pt"}
    assert [p.name for p in sf.parent.iterdir()] == ["model.safetensors"]  # no temp left


def test_convert_bin_refuses_pickle_payloads(tmp_path: Path) -> None:
    import os

    class Payload:
        def __reduce__(self) -> tuple[Callable[[], str], tuple[()]]:
            return (os.getcwd, ())

    pt = tmp_path / "pytorch_model.bin"
    torch.save({"w": torch.zeros(1), "x": Payload()}, pt)
    with pytest.raises(UnsafeCheckpointError):
        convert_bin_to_safetensor_file(pt, tmp_path / "model.safetensors")
    assert not (tmp_path / "model.safetensors").exists()


def test_convert_bin_clones_overlapping_views(tmp_path: Path) -> None:
    # two different views of one storage: safetensors cannot save shared memory, so one is cloned
    big = torch.arange(1000.0)
    pt = tmp_path / "pytorch_model.bin"
    torch.save({"a": big[:10], "b": big[5:15]}, pt)
    convert_bin_to_safetensor_file(pt, tmp_path / "model.safetensors")
    saved = load_file(str(tmp_path / "model.safetensors"))
    assert torch.equal(saved["a"], big[:10]) and torch.equal(saved["b"], big[5:15])


def test_convert_bin_garbage_is_an_integrity_error(tmp_path: Path) -> None:
    pt = tmp_path / "pytorch_model.bin"
    pt.write_bytes(b"\x00" * 64)
    with pytest.raises(IntegrityError, match=r"pytorch_model\.bin"):
        convert_bin_to_safetensor_file(pt, tmp_path / "model.safetensors")
