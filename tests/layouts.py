"""Builders for real checkpoint layouts on disk (real safetensors files, real index files).

`write_checkpoint` is the one builder of test checkpoints from tensor shapes: shards named like
the Hub's (`model-00001-of-00003.safetensors`), an index, deterministic values or holes (sparse
files: headers only on disk). `write_shard` writes one such file. The benchmarks use them too.

`write_sharded` instead runs huggingface_hub's own serializer on a torch state dict, for tests
that want the files exactly as that library writes them. torch is imported only there.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from tests.helpers import write_file

if TYPE_CHECKING:
    import numpy as np
    import torch

Shape = tuple[int, ...]
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "U8": 1}
INDEX = "model.safetensors.index.json"
_BLOCK = 1 << 22  # elements generated at a time


@dataclass
class Checkpoint:
    """What `write_checkpoint` wrote."""

    folder: Path
    files: list[str] = field(default_factory=list)
    """Shard file names, in order."""
    weight_map: dict[str, str] = field(default_factory=dict)
    """Tensor name → shard file name."""
    placement: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    """Tensor name → (shard file name, absolute start, absolute stop) of its data."""
    total_size: int = 0
    """Data bytes of all shards (the index's `metadata.total_size`)."""

    @property
    def paths(self) -> list[Path]:
        return [self.folder / name for name in self.files]


def write_checkpoint(
    folder: Path,
    shards: Sequence[Mapping[str, Shape]],
    *,
    dtype: str = "F32",
    seed: int = 0,
    sparse: bool = False,
    index: bool = True,
    metadata: Mapping[str, str] | None = None,
) -> Checkpoint:
    """A checkpoint of one safetensors file per mapping (tensor name → shape) of `shards`.

    File k (from 1) of n is `model-0000k-of-0000n.safetensors`, its values drawn from
    `seed + k` (see `write_shard`); with `index`, `model.safetensors.index.json` maps every
    tensor to its file and gives the total data size.
    """
    folder.mkdir(parents=True, exist_ok=True)
    result = Checkpoint(folder)
    for k, tensors in enumerate(shards, start=1):
        name = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
        spans = write_shard(
            folder / name, tensors, dtype=dtype, seed=seed + k, sparse=sparse, metadata=metadata
        )
        result.files.append(name)
        for tensor, (start, stop) in spans.items():
            result.weight_map[tensor] = name
            result.placement[tensor] = (name, start, stop)
            result.total_size += stop - start
    if index:
        document = {"metadata": {"total_size": result.total_size}, "weight_map": result.weight_map}
        write_file(folder / INDEX, json.dumps(document, indent=2))
    return result


def write_shard(
    path: Path,
    tensors: Mapping[str, Shape],
    *,
    dtype: str = "F32",
    seed: int = 0,
    sparse: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, tuple[int, int]]:
    """One valid safetensors file of `dtype` tensors, in the given order; returns tensor name →
    absolute (start, stop) of its data.

    Values are standard normal (`U8`: uniform bytes) from numpy's generator seeded with `seed`;
    `sparse` leaves the data area a hole instead (nothing allocated; it reads as zeros).
    `metadata` is the header's `__metadata__` (default `{"format": "pt"}`).
    """
    header: dict[str, Any] = {"__metadata__": dict(metadata or {"format": "pt"})}
    spans: dict[str, tuple[int, int]] = {}
    offset = 0
    for name, shape in tensors.items():
        spans[name] = (offset, offset + math.prod(shape) * DTYPE_BYTES[dtype])
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": list(spans[name])}
        offset = spans[name][1]
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    start = 8 + len(raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        if sparse:
            handle.truncate(start + offset)
        else:
            _write_values(handle, tensors.values(), dtype, seed)
    return {name: (start + a, start + b) for name, (a, b) in spans.items()}


def _write_values(handle: BinaryIO, shapes: Iterable[Shape], dtype: str, seed: int) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    for shape in shapes:
        left = math.prod(shape)
        while left:
            count = min(left, _BLOCK)
            handle.write(_values(rng, dtype, count))
            left -= count


def _values(rng: np.random.Generator, dtype: str, count: int) -> bytes:
    import numpy as np

    if dtype == "U8":
        return rng.bytes(count)
    if dtype == "F64":
        return rng.standard_normal(count).tobytes()
    floats = rng.standard_normal(count, dtype=np.float32)
    if dtype == "F16":
        return floats.astype(np.float16).tobytes()
    if dtype == "BF16":  # the upper half of each float32
        return (floats.view(np.uint32) >> 16).astype(np.uint16).tobytes()
    return floats.tobytes()


def tensor_layout(folder: Path) -> dict[str, tuple[str, str, tuple[int, ...]]]:
    """Tensor name → (file, dtype, shape) over every root safetensors file (headers only)."""
    from safetensors import safe_open

    found = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(path, framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118
                piece = handle.get_slice(name)
                found[name] = (path.name, piece.get_dtype(), tuple(piece.get_shape()))
    return found


def support_files(folder: Path, *, modelscope: bool = False) -> None:
    """The small root files a server reads: config, tokenizer, generation config, custom code,
    a README, and the chat template (Hugging Face) or `configuration.json` (ModelScope)."""
    write_file(folder / "config.json", json.dumps({"model_type": "tiny", "hidden_size": 8}))
    write_file(folder / "tokenizer.json", json.dumps({"version": "1.0", "model": {"vocab": {}}}))
    write_file(folder / "tokenizer_config.json", json.dumps({"model_max_length": 32}))
    write_file(folder / "generation_config.json", json.dumps({"do_sample": False}))
    write_file(folder / "modeling_tiny.py", "# custom model code\n")
    write_file(folder / "README.md", "# tiny\n")
    if modelscope:
        write_file(folder / "configuration.json", json.dumps({"framework": "pytorch"}))
    else:
        write_file(folder / "chat_template.jinja", "{{ messages }}")


# ---- torch ------------------------------------------------------------------------------------


def tiny_state_dict(layers: int = 4, width: int = 64) -> dict[str, torch.Tensor]:
    """A small deterministic state dict with a few dtypes."""
    import torch

    generator = torch.Generator().manual_seed(0)
    state = {"embed.weight": torch.randn(128, width, generator=generator)}
    for i in range(layers):
        state[f"layers.{i}.proj.weight"] = torch.randn(width, width, generator=generator)
        state[f"layers.{i}.norm.weight"] = torch.ones(width, dtype=torch.bfloat16)
    state["position_ids"] = torch.arange(16, dtype=torch.int64)
    return state


def write_sharded(
    folder: Path,
    max_shard_size: int = 40_000,
    state: Mapping[str, torch.Tensor] | None = None,
) -> list[str]:
    """`state` (default `tiny_state_dict()`) written by huggingface_hub's serializer, plus a
    `config.json`; returns the shard names."""
    from huggingface_hub import save_torch_state_dict

    folder.mkdir(parents=True, exist_ok=True)
    tensors = dict(state) if state is not None else tiny_state_dict()
    save_torch_state_dict(tensors, folder, max_shard_size=max_shard_size)
    (folder / "config.json").write_text('{"model_type": "tiny"}')
    index = json.loads((folder / INDEX).read_text())
    return sorted(set(index["weight_map"].values()))


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """One real safetensors file of the given torch tensors (default one 4×4 zero tensor)."""
    import torch
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors if tensors is not None else {"w": torch.zeros(4, 4)}, str(path))
    return path


def write_raw_safetensors(
    path: Path, header: object, data: bytes = b"", length: int | None = None
) -> Path:
    """A safetensors-shaped file with any (possibly invalid) header, for corruption tests."""
    blob = json.dumps(header).encode() if not isinstance(header, bytes) else header
    prefix = struct.pack("<Q", len(blob) if length is None else length)
    path.write_bytes(prefix + blob + data)
    return path


def write_index(folder: Path, weight_map: dict[str, str]) -> Path:
    """A `model.safetensors.index.json` with the given tensor → file map."""
    path = folder / INDEX
    path.write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    return path
