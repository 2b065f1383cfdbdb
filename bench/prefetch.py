"""Benchmark: page-cache warming by `cat`, `vmtouch -t`, vLLM's method and `weightlib prefetch`.

Creates shard files, and per round (methods in a shuffled order) makes them cold (fsync +
POSIX_FADV_DONTNEED, a pause), times each method cold, then warm, then times an mmap of the
freshly warmed files touching every page (what a server's first load pays). Prints medians of
GB/s, CPU seconds and the ratios against `cat` and vLLM's method measured in the same run.
Not a test.

    .venv/bin/python bench/prefetch.py --size 2 --files 8 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from weightlib.residency import residency

VLLM_METHOD = r"""
import sys
from concurrent.futures import ThreadPoolExecutor

def read(path):
    with open(path, "rb") as f:
        while f.read(16 * 1024 * 1024):
            pass

with ThreadPoolExecutor(8) as pool:
    list(pool.map(read, sys.argv[1:]))
"""
"""vLLM's prefetch: 8 threads, each reading whole files with f.read(16 MiB)."""

MMAP_TOUCH = r"""
import mmap, sys

for path in sys.argv[1:]:
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
        sum(m[i] for i in range(0, len(m), mmap.PAGESIZE))
"""
"""What a server's first load does after a prefetch: mmap the shards and touch every page."""


def create_files(folder: Path, total_bytes: int, count: int) -> list[Path]:
    """`count` files of random-looking data adding up to `total_bytes`."""
    block = os.urandom(16 * 1024 * 1024)
    each = total_bytes // count
    files = []
    for i in range(count):
        path = folder / f"model-{i + 1:05d}-of-{count:05d}.safetensors"
        files.append(path)
        if path.exists() and path.stat().st_size == each:
            continue
        with path.open("wb") as handle:
            written = 0
            while written < each:
                chunk = block[: each - written]
                handle.write(i.to_bytes(8, "little") + written.to_bytes(8, "little") + chunk[16:])
                written += len(chunk)
    return files


def make_cold(files: list[Path], pause: float) -> None:
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    time.sleep(pause)


LAST_STDOUT = [""]


def run_timed(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one child process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        code = os.waitstatus_to_exitcode(status)
        process.returncode = code
        out.seek(0)
        err.seek(0)
        LAST_STDOUT[0] = out.read().decode(errors="replace")
        if code != 0:
            raise SystemExit(f"{argv[0]} failed ({code}): {err.read().decode().strip()}")
    return wall, usage.ru_utime + usage.ru_stime


def library_seconds() -> float:
    """The `seconds` weightlib itself measured (without interpreter and CLI start-up)."""
    return float(json.loads(LAST_STDOUT[0])["seconds"])


def resident_percent(files: list[Path]) -> float:
    results = [residency(f) for f in files]
    pages = sum(r.pages for r in results)
    return 100.0 * sum(r.resident_pages for r in results) / max(pages, 1)


Results = dict[str, dict[str, list[float]]]
"""method → measure → one value per round"""


def methods_to_compare(weightlib: str) -> dict[str, list[str]]:
    """Name → command line (the files are appended)."""
    methods: dict[str, list[str]] = {"cat": ["cat"]}
    if shutil.which("vmtouch"):
        methods["vmtouch -t"] = ["vmtouch", "-q", "-t"]
    methods["vLLM 8x read(16M)"] = [sys.executable, "-c", VLLM_METHOD]
    methods["weightlib prefetch"] = [weightlib, "-q", "prefetch", "--force", "--json"]
    methods["weightlib readahead"] = [*methods["weightlib prefetch"], "--method", "readahead"]
    return methods


def run_rounds(
    methods: dict[str, list[str]], files: list[Path], rounds: int, pause: float
) -> tuple[Results, dict[str, list[float]]]:
    """Every method once per round in a shuffled order, from a cold cache; returns the
    measurements and the seconds weightlib reported itself (`warm`: its warm rerun)."""
    names = [str(f) for f in files]
    results: Results = {
        m: {"cold_s": [], "cpu_s": [], "warm_s": [], "load_after_s": [], "resident": []}
        for m in methods
    }
    library: dict[str, list[float]] = {"warm": []}
    rng = random.Random(1)
    for round_number in range(rounds):
        order = list(methods)
        rng.shuffle(order)
        for name in order:
            make_cold(files, pause)
            wall, cpu = run_timed([*methods[name], *names])
            results[name]["resident"].append(resident_percent(files))
            if name.startswith("weightlib"):
                library.setdefault(name, []).append(library_seconds())
            warm, _ = run_timed([*methods[name], *names])
            if name == "weightlib prefetch":
                library["warm"].append(library_seconds())
            load, _ = run_timed([sys.executable, "-c", MMAP_TOUCH, *names])
            measured = {"cold_s": wall, "cpu_s": cpu, "warm_s": warm, "load_after_s": load}
            for key, value in measured.items():
                results[name][key].append(value)
            print(
                f"round {round_number + 1} {name:<20} cold {wall:6.2f} s cpu {cpu:5.2f} s "
                f"warm {warm:5.3f} s then mmap-touch {load:5.2f} s",
                file=sys.stderr,
            )
    return results, library


def print_table(med: dict[str, dict[str, float]], total: int, files: int, rounds: int) -> None:
    print(f"\n{total / 1024**3:.2f} GiB in {files} files, {rounds} rounds, medians:")
    print(
        f"{'method':<20} {'GB/s cold':>9} {'CPU s':>7} {'warm s':>7} {'touch after':>11} "
        f"{'resident':>8}"
    )
    for name, m in med.items():
        print(
            f"{name:<20} {total / m['cold_s'] / 1e9:9.2f} {m['cpu_s']:7.2f} {m['warm_s']:7.3f} "
            f"{m['load_after_s']:11.2f} {m['resident']:7.1f}%"
        )


def print_targets(med: dict[str, dict[str, float]]) -> None:
    ours, cat = med["weightlib prefetch"], med["cat"]
    vllm = med["vLLM 8x read(16M)"]
    print("\nweightlib prefetch vs the others (targets in brackets):")
    print(f"  throughput / cat        {cat['cold_s'] / ours['cold_s']:5.2f}x  [>= 3x]")
    print(f"  throughput / vLLM       {vllm['cold_s'] / ours['cold_s']:5.2f}x  [>= 2x]")
    print(f"  CPU / cat               {ours['cpu_s'] / cat['cpu_s']:5.2f}x  [<= 0.25x]")
    print(f"  warm rerun / cat warm   {ours['warm_s'] / cat['warm_s']:5.3f}x  [<= 0.05x]")

    def then_load(m: dict[str, float]) -> float:
        return m["cold_s"] + m["load_after_s"]

    print(
        f"  prefetch + mmap touch   {then_load(ours):5.2f} s; vLLM's {then_load(vllm):5.2f} s; "
        f"cat's {then_load(cat):5.2f} s"
    )


def print_library(
    library: dict[str, list[float]], total: int, cat_warm: float, weightlib: str
) -> None:
    startup = statistics.median(run_timed([weightlib, "--version"])[0] for _ in range(5))
    lib_warm = statistics.median(library["warm"])
    print(
        f"\ninside the weightlib process (without the {startup:.2f} s interpreter + CLI start-up):"
    )
    for name in sorted(n for n in library if n != "warm"):  # prefetch, then readahead
        cold_s = statistics.median(library[name])
        print(f"  {name:<20} cold {cold_s:.2f} s = {total / cold_s / 1e9:.2f} GB/s")
    print(f"  warm rerun {lib_warm:.4f} s = {lib_warm / cat_warm:.3f}x cat's warm time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=4.0, help="GiB in total (default 4)")
    parser.add_argument("--files", type=int, default=8, help="number of files (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds after eviction")
    parser.add_argument("--dir", help="where to create the files (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the files afterwards")
    args = parser.parse_args()

    weightlib = str(Path(sys.executable).with_name("weightlib"))
    methods = methods_to_compare(weightlib)
    folder = Path(args.dir or tempfile.mkdtemp(prefix="weightlib-bench-", dir="/var/tmp"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"creating {args.files} files, {args.size:g} GiB in {folder} …", file=sys.stderr)
    files = create_files(folder, int(args.size * 1024**3), args.files)
    total = sum(f.stat().st_size for f in files)
    try:
        results, library = run_rounds(methods, files, args.rounds, args.pause)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    med = {m: {k: statistics.median(v) for k, v in r.items()} for m, r in results.items()}
    print_table(med, total, len(files), args.rounds)
    print_targets(med)
    print_library(library, total, med["cat"]["warm_s"], weightlib)


if __name__ == "__main__":
    main()
