"""Benchmark the weight iterators on a warm page cache against `safetensors.torch.load_file`.

Builds a ~512 MiB bf16 checkpoint (4 shards, random values written by weightlib's dummy
writer) and its `.bin` twin, reads everything once to warm the cache, then times each iterator
(best of `--repeat` runs) and prints GB/s and the ratio to `load_file` measured in the same run.

Usage: .venv/bin/python bench/iterators.py [--mib 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from tests.layouts import write_checkpoint  # noqa: E402
from weightlib import iterators as it  # noqa: E402
from weightlib.dummy import dummy_init  # noqa: E402


def make_checkpoint(folder: Path, mib: int, shards: int = 4) -> list[Path]:
    """A sparse layout, then a real dummy checkpoint written from it; returns the shard paths."""
    source = folder / "layout"
    per_tensor = 16 << 20  # 16 MiB bf16 tensors
    tensors_per_shard = max(1, (mib << 20) // per_tensor // shards)
    shape = (per_tensor // 2 // 4096, 4096)
    layers = [
        {f"model.layers.{s}.w{i}": shape for i in range(tensors_per_shard)} for s in range(shards)
    ]
    write_checkpoint(source, layers, dtype="BF16", sparse=True, index=False)
    dummy_init(source, folder / "model")
    return sorted((folder / "model").glob("*.safetensors"))


_SINK = torch.empty(0, dtype=torch.uint8)


def consume(pairs: Iterable[tuple[str, torch.Tensor]]) -> int:
    """Copy every tensor into one reused buffer, as loading into parameters does."""
    global _SINK
    total = 0
    for _, tensor in pairs:
        raw = tensor.reshape(-1).view(torch.uint8)
        if _SINK.numel() < raw.numel():
            _SINK = torch.empty(raw.numel(), dtype=torch.uint8)
        _SINK[: raw.numel()].copy_(raw)
        total += raw.numel()
    return total


def best_of(repeat: int, run: Callable[[], int]) -> tuple[float, int]:
    best, size = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        size = run()
        best = min(best, time.perf_counter() - start)
    return best, size


def bin_twins(files: list[Path]) -> list[Path]:
    """A `.bin` (torch.save) copy of every shard."""
    bins = []
    for path in files:
        target = path.with_suffix(".bin")
        torch.save(load_file(str(path)), target)
        bins.append(target)
    return bins


def candidates(
    files: list[Path], bins: list[Path], work: Path, np_folder: Path
) -> dict[str, Callable[[], int]]:
    """Each iterator (and the reference) as a run that consumes every tensor once."""
    return {
        "load_file (reference)": lambda: sum(consume(load_file(str(f)).items()) for f in files),
        "safetensors lazy": lambda: consume(it.safetensors_weights_iterator(files, False, "lazy")),
        "safetensors eager": lambda: consume(
            it.safetensors_weights_iterator(files, False, "eager")
        ),
        "safetensors prefetch": lambda: consume(
            it.safetensors_weights_iterator(files, False, "prefetch")
        ),
        "multi-thread safetensors": lambda: consume(
            it.multi_thread_safetensors_weights_iterator(files, False)
        ),
        "pt (.bin)": lambda: consume(it.pt_weights_iterator(bins, False)),
        "multi-thread pt (.bin)": lambda: consume(it.multi_thread_pt_weights_iterator(bins, False)),
        "np cache (dumped)": lambda: consume(
            it.np_cache_weights_iterator("bench", work / "locks", np_folder, bins, False)
        ),
        "runai streamer (cpu)": lambda: consume(
            it.runai_safetensors_weights_iterator(files, False)
        ),
        "fastsafetensors (cpu)": lambda: consume(
            it.fastsafetensors_weights_iterator(files, False, device="cpu")
        ),
    }


def print_results(results: dict[str, tuple[float, int]], shards: int) -> None:
    reference = results["load_file (reference)"][0]
    size_mib = results["load_file (reference)"][1] / 2**20
    print(f"checkpoint: {shards} shards, {size_mib:.0f} MiB; consumer copies every tensor")
    for name, (seconds, size) in results.items():
        print(
            f"{name:28s} {size / seconds / 1e9:6.2f} GB/s  {seconds:6.3f} s  "
            f"x{reference / seconds:.2f} vs load_file"
        )
    print("instanttensor: CUDA only, not measured on this CPU machine")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="weightlib-bench-iter-"))
    try:
        files = make_checkpoint(work, args.mib)
        bins = bin_twins(files)
        for path in [*files, *bins]:  # warm the page cache
            path.read_bytes()
        np_folder = work / "np-cache"
        np_folder.mkdir()
        consume(it.np_cache_weights_iterator("bench", work / "locks", np_folder, bins, False))
        results = {}
        for name, run in candidates(files, bins, work, np_folder).items():
            try:
                results[name] = best_of(args.repeat, run)
            except Exception as exc:  # an optional backend may be missing
                print(f"{name:28s} failed: {exc}")
        print_results(results, len(files))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
