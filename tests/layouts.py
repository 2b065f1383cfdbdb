"""Builders for real checkpoint layouts on disk (real safetensors files, real index files)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import torch
from safetensors.torch import save_file


def tiny_state_dict(layers: int = 4, width: int = 64) -> dict[str, torch.Tensor]:
    """A small deterministic state dict with a few dtypes."""
    generator = torch.Generator().manual_seed(0)
    state = {"embed.weight": torch.randn(128, width, generator=generator)}
    for i in range(layers):
        state[f"layers.{i}.proj.weight"] = torch.randn(width, width, generator=generator)
        state[f"layers.{i}.norm.weight"] = torch.ones(width, dtype=torch.bfloat16)
    state["position_ids"] = torch.arange(16, dtype=torch.int64)
    return state


def write_sharded(folder: Path, max_shard_size: int = 40_000, **kwargs: int) -> list[str]:
    """A real sharded checkpoint written by huggingface_hub's serializer; returns shard names."""
    from huggingface_hub.serialization import save_torch_state_dict

    folder.mkdir(parents=True, exist_ok=True)
    save_torch_state_dict(tiny_state_dict(**kwargs), folder, max_shard_size=max_shard_size)
    (folder / "config.json").write_text('{"model_type": "tiny"}')
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    return sorted(set(index["weight_map"].values()))


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """One real safetensors file."""
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
    path = folder / "model.safetensors.index.json"
    path.write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    return path
