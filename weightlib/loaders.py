"""Weight loaders: copy a checkpoint tensor into a model parameter (vLLM-compatible names).

Needs the `torch` extra (imported inside the functions). Tensor-parallel loaders take the rank
from `tp_rank` when given, else from `torch.distributed` when it is initialized, else 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import fsync_directory
from .errors import IntegrityError, InvalidInputError
from .iterators import torch_load_weights
from .torch_support import import_torch

if TYPE_CHECKING:
    import torch

LoaderFunction = Callable[["torch.Tensor", "torch.Tensor"], None]

logger = logging.getLogger(__name__)


class WeightShapeError(InvalidInputError):
    """A checkpoint tensor does not fit the parameter it is loaded into (exit 2)."""


def _shape(tensor: Any) -> str:
    return "(" + ", ".join(str(d) for d in tensor.shape) + ")"


def get_tensor_model_parallel_rank() -> int:
    """The tensor-parallel rank: `torch.distributed`'s rank when initialized, else 0."""
    torch = import_torch("tensor-parallel weight loaders")
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return int(torch.distributed.get_rank())
    return 0


def default_weight_loader(param: torch.Tensor, loaded_weight: torch.Tensor) -> None:
    """Copy `loaded_weight` into `param`; one-element tensors broadcast; other shapes must match."""
    if param.numel() == 1 and loaded_weight.numel() == 1:
        # A scalar may be stored as shape () or (1,): fill rather than copy.
        param.data.fill_(loaded_weight.item())
        return
    if tuple(param.shape) != tuple(loaded_weight.shape):
        raise WeightShapeError(
            f"cannot load a weight of shape {_shape(loaded_weight)} into a parameter of shape "
            f"{_shape(param)}"
        )
    param.data.copy_(loaded_weight)


def _narrow(
    loaded_weight: torch.Tensor, axis: int, rank: int, size: int, param: torch.Tensor
) -> torch.Tensor:
    if not -loaded_weight.dim() <= axis < loaded_weight.dim():
        raise WeightShapeError(
            f"cannot shard a weight of shape {_shape(loaded_weight)} on axis {axis}"
        )
    start = rank * size
    if start + size > loaded_weight.shape[axis]:
        raise WeightShapeError(
            f"rank {rank}: a weight of shape {_shape(loaded_weight)} has no shard "
            f"[{start}:{start + size}] on axis {axis} for a parameter of shape {_shape(param)}"
        )
    return loaded_weight.narrow(axis, start, size)


def row_parallel_weight_loader(
    param: torch.Tensor, loaded_weight: torch.Tensor, tp_rank: int | None = None
) -> None:
    """Load this rank's slice along dim 0 (1-D parameters such as biases are copied whole)."""
    rank = get_tensor_model_parallel_rank() if tp_rank is None else tp_rank
    if param.dim() != 1:
        loaded_weight = _narrow(loaded_weight, 0, rank, param.shape[0], param)
    default_weight_loader(param, loaded_weight)


def sharded_weight_loader(shard_axis: int, tp_rank: int | None = None) -> LoaderFunction:
    """A loader taking this rank's slice of the weight along `shard_axis` (the parameter's size)."""

    def loader(param: torch.Tensor, loaded_weight: torch.Tensor) -> None:
        rank = get_tensor_model_parallel_rank() if tp_rank is None else tp_rank
        if not -param.dim() <= shard_axis < param.dim():
            raise WeightShapeError(
                f"cannot shard on axis {shard_axis}: the parameter has shape {_shape(param)}"
            )
        size = param.shape[shard_axis]
        default_weight_loader(param, _narrow(loaded_weight, shard_axis, rank, size, param))

    return loader


def composed_weight_loader(
    loader: LoaderFunction, fn: Callable[[torch.Tensor], torch.Tensor]
) -> LoaderFunction:
    """A loader that runs `loader`, then replaces the parameter's data with `fn(param)`."""

    def composed_loader(param: torch.Tensor, loaded_weight: torch.Tensor) -> None:
        loader(param, loaded_weight)
        param.data.copy_(fn(param))

    return composed_loader


def convert_pyslice_to_tensor(x: Any) -> torch.Tensor:
    """A tensor from a tensor or from a lazy safetensors slice (`safe_open(...).get_slice`)."""
    torch_mod = import_torch("convert_pyslice_to_tensor")
    result: torch.Tensor = x if isinstance(x, torch_mod.Tensor) else x[:]
    return result


_SCALE_SUFFIXES = (
    ".k_scale",
    ".v_scale",
    ".q_scale",
    ".k_zero_point",
    ".v_zero_point",
    ".q_zero_point",
    ".q.scale",
    ".k_cache.scale",
    ".v_cache.scale",
)
"""Names ending so are candidates for `maybe_remap_kv_scale_name`'s patterns (vLLM's list)."""


def _scale_patterns(attn: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """vLLM 0.34.0's patterns in order of precedence; `attn` is the module ModelOpt names map to."""
    rules = (
        # ModelOpt: .self_attn.{k,v}_proj.{k,v}_scale → .self_attn.<attn>.{k,v}_scale
        (r"\.self_attn\.([kv])_proj\.([kv])_scale$", rf".self_attn.{attn}.\2_scale"),
        # fused QKV: .self_attn.qkv_proj.{k,v}_scale → .self_attn.attn.{k,v}_scale
        (r"\.self_attn\.qkv_proj\.([kv])_scale$", r".self_attn.attn.\1_scale"),
        # Qwen3 MoE: .self_attn.qkqkv_proj.{k,v}_scale → .self_attn.attn.{k,v}_scale
        (r"\.self_attn\.qkqkv_proj\.([kv])_scale$", r".self_attn.attn.\1_scale"),
        # NemotronH: .mixer.{k,v}_proj.{k,v}_scale → .mixer.attn.{k,v}_scale (the last letter wins)
        (r"\.mixer\.[kv]_proj\.([kv])_scale$", r".mixer.attn.\1_scale"),
        # HYV3: .self_attn.q.scale → .self_attn.attn.q_scale
        (r"\.self_attn\.q\.scale$", r".self_attn.attn.q_scale"),
        # HYV3: .self_attn.{k,v}_cache.scale → .self_attn.attn.{k,v}_scale
        (r"\.self_attn\.([kv])_cache\.scale$", r".self_attn.attn.\1_scale"),
        # default: .{q,k,v}_scale → .attn.{q,k,v}_scale, and the same for zero points
        (r"\.([qkv])_scale$", r".attn.\1_scale"),
        (r"\.([qkv])_zero_point$", r".attn.\1_zero_point"),
    )
    return tuple((re.compile(pattern), replacement) for pattern, replacement in rules)


_PLAIN_PATTERNS = _scale_patterns("attn")
_MLA_PATTERNS = _scale_patterns("mla_attn.mla_attn")


def maybe_remap_kv_scale_name(name: str, params_dict: Mapping[str, Any]) -> str | None:
    """The model's parameter name for a quantization scale or zero point of the checkpoint.

    vLLM 0.34.0's rules, in its order: a name that already is a parameter is returned unchanged;
    the deprecated `.kv_scale` maps to `.attn.k_scale`; then q/k/v scales and zero points are
    mapped by the first matching pattern (ModelOpt, fused QKV, Qwen3 `qkqkv_proj`, NemotronH
    `mixer`, HYV3 `q.scale`/`k_cache.scale`, default). ModelOpt names map to
    `.self_attn.mla_attn.mla_attn.*` when a parameter name contains `mla_attn`. Returns None
    (with a logged warning) when the remapped name is not a parameter, so the caller skips the
    tensor; any other name comes back unchanged.
    """
    if name in params_dict:
        return name
    if name.endswith(".kv_scale"):
        remapped = name.replace(".kv_scale", ".attn.k_scale")
        logger.warning("%s: deprecated kv_scale; loading it as %s", name, remapped)
        if remapped not in params_dict:
            logger.warning("%s: no parameter %s in the model; kv_scale not loaded", name, remapped)
            return None
        return remapped
    if not name.endswith(_SCALE_SUFFIXES):
        return name
    mla = any("mla_attn" in key for key in params_dict)
    for pattern, replacement in _MLA_PATTERNS if mla else _PLAIN_PATTERNS:
        if pattern.search(name):
            remapped = pattern.sub(replacement, name)
            if remapped not in params_dict:
                logger.warning("%s: no parameter %s in the model; not loaded", name, remapped)
                return None
            return remapped
    return name


def _dedupe_shared(
    state: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Drop tensors that are the same memory as an earlier one; clone partial overlaps.

    Returns (tensors to save, dropped name → kept name).
    """
    kept: dict[str, torch.Tensor] = {}
    dropped: dict[str, str] = {}
    seen: dict[tuple[Any, ...], str] = {}
    storages: set[int] = set()
    for name, tensor in state.items():
        if tensor.device.type == "meta" or tensor.numel() == 0:
            kept[name] = tensor.contiguous()
            continue
        key = (
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tuple(tensor.shape),
            tuple(tensor.stride()),
            tensor.dtype,
        )
        if key in seen:
            dropped[name] = seen[key]
            continue
        seen[key] = name
        storage = tensor.untyped_storage().data_ptr()
        shares = storage in storages
        storages.add(storage)
        kept[name] = tensor.clone() if shares else tensor.contiguous()
    return kept, dropped


def convert_bin_to_safetensor_file(
    pt_filename: str | os.PathLike[str], sf_filename: str | os.PathLike[str]
) -> None:
    """Convert a PyTorch `.bin` checkpoint to safetensors, written atomically and then verified.

    Loaded with `weights_only=True`; tensors that share memory are saved once (the first name
    kept); the written file is reloaded and compared tensor by tensor (dropped names against the
    tensor they shared), and must not be more than 1 % larger than the source.
    """
    torch = import_torch("convert_bin_to_safetensor_file")
    from safetensors.torch import load_file, save_file  # imports torch: the torch extra

    source = os.fspath(pt_filename)
    loaded = torch_load_weights(source)
    state, dropped = _dedupe_shared(loaded)
    target = Path(sf_filename)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, temp_name, metadata={"format": "pt"})
        sf_size, pt_size = os.stat(temp_name).st_size, os.stat(source).st_size
        if pt_size and (sf_size - pt_size) / pt_size > 0.01:
            raise IntegrityError(
                f"{source}: converted file is {sf_size} bytes, more than 1% above the source's "
                f"{pt_size}"
            )
        reloaded = load_file(temp_name)
        for name, tensor in loaded.items():
            saved = reloaded.get(dropped.get(name, name))
            if saved is None or not torch.equal(tensor.cpu(), saved):
                raise IntegrityError(f"{source}: tensor {name!r} differs after conversion")
        with open(temp_name, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, target)
        fsync_directory(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
