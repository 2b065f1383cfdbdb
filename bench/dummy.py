"""Benchmark `weightlib dummy-init` on a ~2 GiB Llama-like layout (not a test).

Prints output GB/s and peak RSS against two references measured in the same run:
  - raw write: the same number of bytes written sequentially from one buffer, then fsynced
    (the disk/page-cache ceiling for any writer);
  - the largest tensor (the memory budget is largest tensor + 300 MB).
The source checkpoint is sparse (headers + holes): dummy-init reads only headers.

Usage: .venv/bin/python bench/dummy.py [--gib 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.layouts import Shape, write_checkpoint  # noqa: E402

WEIGHTLIB = str(Path(sys.executable).with_name("weightlib"))


def llama_like_specs(target_bytes: int) -> dict[str, Shape]:
    """bf16 decoder layers of width 4096 until `target_bytes`, plus embed/lm_head (the largest)."""
    hidden, inter, vocab = 4096, 11008, 32000
    specs: dict[str, Shape] = {"model.embed_tokens.weight": (vocab, hidden)}
    per_layer: dict[str, Shape] = {
        "self_attn.q_proj.weight": (hidden, hidden),
        "self_attn.k_proj.weight": (hidden, hidden),
        "self_attn.v_proj.weight": (hidden, hidden),
        "self_attn.o_proj.weight": (hidden, hidden),
        "mlp.gate_proj.weight": (inter, hidden),
        "mlp.up_proj.weight": (inter, hidden),
        "mlp.down_proj.weight": (hidden, inter),
        "input_layernorm.weight": (hidden,),
        "post_attention_layernorm.weight": (hidden,),
    }
    total = 2 * vocab * hidden * 2
    layer = 0
    while total < target_bytes:
        for suffix, shape in per_layer.items():
            specs[f"model.layers.{layer}.{suffix}"] = shape
            total += 2 * math.prod(shape)
        layer += 1
    specs["model.norm.weight"] = (hidden,)
    specs["lm_head.weight"] = (vocab, hidden)
    return specs


def write_sparse_checkpoint(folder: Path, target_bytes: int, shard_bytes: int) -> tuple[int, int]:
    """A sharded bf16 checkpoint whose data are holes; returns (data bytes, largest tensor)."""
    shards: list[dict[str, Shape]] = [{}]
    size = 0
    for name, shape in llama_like_specs(target_bytes).items():
        nbytes = 2 * math.prod(shape)
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = shape
        size += nbytes
    checkpoint = write_checkpoint(folder, shards, dtype="BF16", sparse=True)
    (folder / "config.json").write_text('{"model_type": "llama"}\n')
    largest = max(stop - start for _, start, stop in checkpoint.placement.values())
    return checkpoint.total_size, largest


def raw_write(folder: Path, total: int, block: int = 32 << 20) -> float:
    """Seconds to write `total` bytes sequentially from one buffer and fsync (reference)."""
    buffer = os.urandom(1 << 20) * (block >> 20)
    path = folder / "raw.bin"
    start = time.perf_counter()
    with path.open("wb") as handle:
        left = total
        while left:
            n = min(block, left)
            handle.write(memoryview(buffer)[:n])
            left -= n
        handle.flush()
        os.fsync(handle.fileno())
    seconds = time.perf_counter() - start
    path.unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the files in this folder.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="weightlib-bench-dummy-", dir=args.keep))
    try:
        source, out = work / "source", work / "out"
        source.mkdir()
        total, largest = write_sparse_checkpoint(source, int(args.gib * (1 << 30)), 1 << 30)
        reference = raw_write(work, total)
        start = time.perf_counter()
        result = subprocess.run(
            [WEIGHTLIB, "-q", "dummy-init", str(source), "--output", str(out), "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        doc = json.loads(result.stdout)
        gbps = doc["bytes"] / doc["seconds"] / 1e9
        print(
            f"layout: {len(doc['files'])} files, {doc['tensors']} tensors, {total / 2**30:.2f} GiB"
        )
        print(f"raw sequential write + fsync (reference): {total / reference / 1e9:.2f} GB/s")
        print(
            f"dummy-init: {gbps:.2f} GB/s writing ({doc['seconds']:.2f} s), "
            f"{doc['bytes'] / wall / 1e9:.2f} GB/s incl. process start ({wall:.2f} s); "
            f"ratio to raw write {reference / doc['seconds']:.2f}"
        )
        print(
            f"peak RSS {rss / 2**20:.0f} MiB; largest tensor {largest / 2**20:.0f} MiB; "
            f"RSS - largest = {(rss - largest) / 2**20:.0f} MiB (budget 300 MB)"
        )
        print(
            f"target >= 0.5 GB/s: {'met' if gbps >= 0.5 else 'MISSED'}; "
            f"RSS <= largest + 300 MB: {'met' if rss <= largest + 300e6 else 'MISSED'}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
