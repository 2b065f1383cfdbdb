"""Benchmark `weightlib dummy-init` on a Llama-like bf16 layout (not a test).

For threads=1 and threads=default, each dummy-init run (a child process calling
`write_dummy_checkpoint`) comes right after a plain write of the same files in the same
pattern (temp file, fallocate, 1 MiB pwrites each followed by sync_file_range, fsync, rename),
so both see the disk in the same state; the ratio is dummy-init's GB/s over that write's.
Also printed per run: the child's peak RSS (ru_maxrss) against the budget largest tensor ×
threads + 300 MB, its CPU time, and what torch's uniform_ alone reaches on as many threads in
the same child just after (the CPU ceiling of any writer built on it). The source checkpoint
is sparse (headers + holes): dummy-init reads only headers. `--before FILE` also runs another
copy of `weightlib/dummy.py` (e.g. the one before a change) the same way.

Usage: .venv/bin/python bench/dummy.py [--gib 1] [--rounds 1] [--before FILE] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.layouts import Shape, write_checkpoint  # noqa: E402
from weightlib import linux  # noqa: E402
from weightlib.dummy import DEFAULT_CHUNK_BYTES, default_threads  # noqa: E402

CHUNK = DEFAULT_CHUNK_BYTES
RSS_ALLOWANCE = 300e6
"""Bytes of peak RSS allowed beyond largest tensor × threads (interpreter, torch, buffers)."""

CHILD = r"""
import importlib.util, inspect, json, resource, sys, threading, time
sys.path.insert(0, sys.argv[1])
args = json.loads(sys.argv[2])
import torch, weightlib
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
if args["module"]:
    spec = importlib.util.spec_from_file_location("weightlib._bench_dummy", args["module"])
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
else:
    import weightlib.dummy as module
name = "threads"
if name not in inspect.signature(module.write_dummy_checkpoint).parameters:
    name = "workers"
plan = module.plan_dummy_checkpoint(args["source"])
result = module.write_dummy_checkpoint(plan, args["output"], **{name: args["threads"]})
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
buffers = [torch.zeros(32 << 20, dtype=torch.bfloat16) for _ in range(args["threads"])]
fill = lambda b: b.uniform_(-1e-3, 1e-3, generator=torch.Generator().manual_seed(1234))
workers = [threading.Thread(target=fill, args=(b,)) for b in buffers]
start = time.perf_counter()
[w.start() for w in workers]
[w.join() for w in workers]
ceiling = sum(b.nbytes for b in buffers) / (time.perf_counter() - start) / 1e9
print(json.dumps({**result.to_json(), "maxrss": usage.ru_maxrss * 1024, "cpu": cpu,
                  "ceiling": ceiling, "import_rss": rss}))
"""


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


def remove_and_settle(folder: Path, pause: float = 1.0) -> None:
    """Delete a run's output, sync, and pause: freed blocks are discarded (mount option) or
    written back meanwhile, not during the next measured run."""
    shutil.rmtree(folder, ignore_errors=True)
    os.sync()
    time.sleep(pause)


def plain_write(sizes: dict[str, int], folder: Path) -> float:
    """Seconds to write files of these sizes as dummy-init does, from one random buffer:
    temp file, fallocate, chunk pwrites each followed by sync_file_range(WRITE), fsync, rename."""
    buffer = memoryview(os.urandom(CHUNK))
    folder.mkdir()
    start = time.perf_counter()
    for name, size in sizes.items():
        temp = folder / f".{name}.tmp"
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.ftruncate(fd, size)
            with contextlib.suppress(OSError):  # best effort, as in dummy-init
                linux.fallocate(fd, 0, size)
            for offset in range(0, size, CHUNK):
                piece = buffer[: min(CHUNK, size - offset)]
                os.pwrite(fd, piece, offset)  # whole: a regular file on Linux
                with contextlib.suppress(OSError):
                    linux.start_writeback(fd, offset, len(piece))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, folder / name)
        dir_fd = os.open(folder, os.O_RDONLY)
        os.fsync(dir_fd)
        os.close(dir_fd)
    seconds = time.perf_counter() - start
    remove_and_settle(folder)
    return seconds


def run_dummy(source: Path, output: Path, threads: int, module: Path | None) -> dict[str, Any]:
    """One dummy-init child run: its JSON result plus maxrss (bytes) and cpu (seconds)."""
    args = {"source": str(source), "output": str(output), "threads": threads}
    args["module"] = str(module) if module is not None else None
    child = [sys.executable, "-c", CHILD, str(ROOT), json.dumps(args)]
    done = subprocess.run(child, capture_output=True, text=True)
    remove_and_settle(output)
    if done.returncode != 0:
        raise SystemExit(f"dummy-init child failed:\n{done.stderr}")
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


@dataclass
class Sample:
    """One plain write and the dummy-init run right after it."""

    code: str
    threads: int
    dummy_gbps: float
    plain_gbps: float
    ceiling_gbps: float
    rss: int
    import_rss: int
    cpu: float

    @property
    def ratio(self) -> float:
        return self.dummy_gbps / self.plain_gbps


def measure(
    source: Path, work: Path, configs: list[tuple[str, Path | None, int]], rounds: int
) -> list[Sample]:
    """Every config in every round, each a plain write then dummy-init, interleaved."""
    sizes = {p.name: p.stat().st_size for p in sorted(source.glob("*.safetensors"))}
    samples = []
    for _ in range(rounds):
        for code, module, threads in configs:
            plain = plain_write(sizes, work / "plain")
            doc = run_dummy(source, work / "out", threads, module)
            samples.append(
                Sample(
                    code,
                    threads,
                    doc["bytes"] / doc["seconds"] / 1e9,
                    sum(sizes.values()) / plain / 1e9,
                    doc["ceiling"],
                    doc["maxrss"],
                    doc["import_rss"],
                    doc["cpu"],
                )
            )
    return samples


def print_table(samples: list[Sample], largest: int, total: int) -> None:
    """One row per run, then per config the medians and whether the targets are met."""
    print(
        f"{'code':7} {'threads':>7} {'dummy GB/s':>10} {'plain GB/s':>10} {'ratio':>6} "
        f"{'uniform_ GB/s':>13} {'peak RSS MiB':>12} {'budget MiB':>10} {'CPU s/GiB':>9}"
    )
    groups: dict[tuple[str, int], list[Sample]] = {}
    for s in samples:
        groups.setdefault((s.code, s.threads), []).append(s)
        budget = (largest * s.threads + RSS_ALLOWANCE) / 2**20
        print(
            f"{s.code:7} {s.threads:>7} {s.dummy_gbps:>10.2f} {s.plain_gbps:>10.2f} "
            f"{s.ratio:>6.2f} {s.ceiling_gbps:>13.2f} {s.rss / 2**20:>12.0f} {budget:>10.0f} "
            f"{s.cpu / (total / 2**30):>9.2f}"
        )
    print(f"(peak RSS of the child after importing torch: {samples[0].import_rss / 2**20:.0f} MiB)")
    limit = statistics.median(s.plain_gbps for s in samples)
    print(f"medians (plain write over the whole run: {limit:.2f} GB/s):")
    for (code, threads), group in groups.items():
        gbps = statistics.median(s.dummy_gbps for s in group)
        ratio = statistics.median(s.ratio for s in group)
        ceiling = statistics.median(s.dummy_gbps / s.ceiling_gbps for s in group)
        rss = max(s.rss for s in group)
        speed = "met" if gbps >= 0.5 or ratio >= 0.8 else "MISSED"
        memory = "met" if rss <= largest * threads + RSS_ALLOWANCE else "MISSED"
        print(
            f"  {code} threads={threads}: {gbps:.2f} GB/s = {ratio:.2f}x the adjacent plain write "
            f"({gbps / limit:.2f}x the run's), {ceiling:.2f}x uniform_ alone; peak RSS "
            f"{rss / 2**20:.0f} MiB. >= 0.5 GB/s or >= 0.8x: {speed}; "
            f"RSS <= largest x threads + 300 MB: {memory}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="Layout size (default 1).")
    parser.add_argument("--shard-mib", type=int, default=512, help="Shard size (default 512).")
    parser.add_argument("--rounds", type=int, default=1, help="Repetitions (default 1).")
    parser.add_argument("--before", type=Path, default=None, help="Also run this dummy.py.")
    parser.add_argument("--keep", type=Path, default=None, help="Work in this folder.")
    args = parser.parse_args()
    threads = default_threads()
    work = Path(tempfile.mkdtemp(prefix="weightlib-bench-dummy-", dir=args.keep))
    try:
        source = work / "source"
        source.mkdir()
        target = int(args.gib * (1 << 30))
        total, largest = write_sparse_checkpoint(source, target, args.shard_mib << 20)
        shards = len(list(source.glob("*.safetensors")))
        print(
            f"layout: {shards} shards, {len(llama_like_specs(target))} bf16 tensors, "
            f"{total / 2**30:.2f} GiB; largest tensor {largest / 2**20:.0f} MiB; "
            f"{os.cpu_count()} CPUs; default threads {threads}"
        )
        configs: list[tuple[str, Path | None, int]] = []
        if args.before is not None:
            before = args.before.resolve()
            configs += [("before", before, 1), ("before", before, threads)]
        configs += [("after", None, 1), ("after", None, threads)]
        print_table(measure(source, work, configs, args.rounds), largest, total)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
