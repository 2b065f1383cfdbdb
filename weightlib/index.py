"""Index files of sharded checkpoints (`model.safetensors.index.json`, `….bin.index.json`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import IntegrityError
from .natural_order import natural_sorted
from .safepath import unsafe_reason


@dataclass(frozen=True)
class IndexFile:
    """A parsed index: tensor name → shard file, plus the optional `metadata` block."""

    source: str
    weight_map: dict[str, str]
    metadata: dict[str, Any]

    @property
    def shards(self) -> list[str]:
        """The distinct shard files the index names, in natural order."""
        return natural_sorted(set(self.weight_map.values()))

    def tensors_by_shard(self) -> dict[str, list[str]]:
        """Shard file → names of the tensors the index places in it."""
        grouped: dict[str, list[str]] = {}
        for tensor, shard in self.weight_map.items():
            grouped.setdefault(shard, []).append(tensor)
        return grouped


def parse_index(text: str | bytes, source: str) -> IndexFile:
    """Parse and validate the JSON of an index file; malformed content is an `IntegrityError`."""
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{source}: index is not valid JSON ({exc})") from None
    weight_map = document.get("weight_map") if isinstance(document, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in weight_map.items()
    ):
        raise IntegrityError(f"{source}: index has no valid 'weight_map' (tensor name → file)")
    for shard in set(weight_map.values()):
        reason = unsafe_reason(shard)
        if reason is not None:
            raise IntegrityError(f"{source}: index names an unsafe file {shard!r} ({reason})")
    metadata = document.get("metadata")
    return IndexFile(source, dict(weight_map), metadata if isinstance(metadata, dict) else {})


def read_index_file(path: str | os.PathLike[str]) -> IndexFile:
    """Read and parse a local index file."""
    return parse_index(Path(path).read_bytes(), os.fspath(path))
