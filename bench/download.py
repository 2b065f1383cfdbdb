"""Benchmark: `weightlib download` vs `hf download` of the same repositories from the test hub.

Three scenarios, both tools measured in the same run against the same server process:
(a) unthrottled throughput, (b) every connection limited to ~20 MB/s (a CDN or mirror that
caps per-connection bandwidth), (c) bytes fetched from a repository holding both `.bin` and
`.safetensors` weights. Prints MB/s, bytes and the ratios weightlib/hf. Not a test.

    .venv/bin/python bench/download.py --shard-mib 64 --shards 4 --rounds 2

Targets (issue 4): (a) ≥ 0.95× hf's throughput, (b) ≥ 3×, (c) ≤ 0.55× hf's bytes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import random_file, write_file  # noqa: E402
from tests.hubs.fixtures import HubServer  # noqa: E402
from tests.layouts import support_files, write_checkpoint  # noqa: E402

BIN = Path(sys.executable).parent


def make_repo(folder: Path, shards: int, shard_bytes: int, *, with_bin: bool) -> Path:
    """Shards of incompressible bytes (one U8 tensor each), an index and the support files;
    `with_bin`: also a `.bin` twin of every shard and their index."""
    tensors = [{f"layer.{i}": (shard_bytes,)} for i in range(shards)]
    checkpoint = write_checkpoint(folder, tensors, dtype="U8")
    support_files(folder)
    if with_bin:
        weight_map = {}
        for tensor, name in checkpoint.weight_map.items():
            twin = name.replace("model-", "pytorch_model-").replace(".safetensors", ".bin")
            random_file(folder / twin, shard_bytes)
            weight_map[tensor] = twin
        index = {"metadata": {}, "weight_map": weight_map}
        write_file(folder / "pytorch_model.bin.index.json", json.dumps(index))
    return folder


def run_tool(tool: str, repo: str, env: dict[str, str], cache: Path) -> float:
    """Seconds for one cold download into a fresh cache."""
    shutil.rmtree(cache, ignore_errors=True)
    if tool == "hf":
        command = [str(BIN / "hf"), "download", repo, "--cache-dir", str(cache)]
    else:
        command = [str(BIN / "weightlib"), "-q", "download", repo, "--cache-dir", str(cache)]
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return seconds


def measure(
    hub: HubServer, repo: str, env: dict[str, str], work: Path, rounds: int
) -> dict[str, dict[str, float]]:
    """Median seconds and bytes fetched per tool, alternating the tools each round."""
    results: dict[str, dict[str, list[float]]] = {
        t: {"seconds": [], "bytes": []} for t in ("hf", "weightlib")
    }
    for round_no in range(rounds):
        order = ("hf", "weightlib") if round_no % 2 == 0 else ("weightlib", "hf")
        for tool in order:
            mark = hub.mark()
            seconds = run_tool(tool, repo, env, work / f"cache-{tool}")
            fetched = sum(r["bytes"] for r in hub.file_gets(mark))
            results[tool]["seconds"].append(seconds)
            results[tool]["bytes"].append(fetched)
    return {
        tool: {k: statistics.median(v) for k, v in values.items()}
        for tool, values in results.items()
    }


Row = tuple[str, dict[str, dict[str, float]], str, float]
"""(title, per-tool medians, "throughput" or "bytes", target ratio)"""


def report(rows: list[Row]) -> None:
    """One line per scenario: both tools' figures, the ratio and whether the target is met."""
    for title, result, kind, target in rows:
        hf, wl = result["hf"], result["weightlib"]
        if kind == "throughput":
            hf_rate = hf["bytes"] / hf["seconds"] / 1e6
            wl_rate = wl["bytes"] / wl["seconds"] / 1e6
            ratio = wl_rate / hf_rate
            ok = ratio >= target
            print(
                f"{title}: hf {hf_rate:.0f} MB/s, weightlib {wl_rate:.0f} MB/s, "
                f"ratio {ratio:.2f}× (target ≥ {target:g}×) {'ok' if ok else 'MISSED'}"
            )
        else:
            ratio = wl["bytes"] / hf["bytes"]
            ok = ratio <= target
            print(
                f"{title}: hf fetched {hf['bytes'] / 1e6:.0f} MB, weightlib "
                f"{wl['bytes'] / 1e6:.0f} MB, ratio {ratio:.2f}× (target ≤ {target:g}×) "
                f"{'ok' if ok else 'MISSED'}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shard-mib", type=int, default=64, help="Size of each shard (MiB).")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--limit-mbps", type=float, default=20.0, help="Per-connection MB/s in (b)."
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="Extra environment."
    )
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="weightlib-bench-dl-"))
    shard_bytes = args.shard_mib * 1024 * 1024
    hub = HubServer(work / "hub")
    try:
        plain = make_repo(work / "repo-plain", args.shards, shard_bytes, with_bin=False)
        both = make_repo(work / "repo-both", args.shards, shard_bytes, with_bin=True)
        hub.add_repo("bench/plain", plain)
        hub.add_repo("bench/both", both)
        extra = dict(item.split("=", 1) for item in args.env)
        env = hub.env(work / "home", WEIGHTLIB_RETRY_BASE_DELAY="1", **extra)
        total = sum(p.stat().st_size for p in plain.iterdir() if p.is_file())
        rows: list[Row] = []
        hub.set_faults()
        a = measure(hub, "bench/plain", env, work, args.rounds)
        rows.append(("(a) unthrottled", a, "throughput", 0.95))
        hub.set_faults(bandwidth=args.limit_mbps * 1_000_000)
        b = measure(hub, "bench/plain", env, work, max(1, args.rounds - 1))
        rows.append((f"(b) {args.limit_mbps:g} MB/s per connection", b, "throughput", 3.0))
        hub.set_faults()
        c = measure(hub, "bench/both", env, work, 1)
        rows.append(("(c) .bin + .safetensors repo", c, "bytes", 0.55))
        print(
            f"repo: {args.shards} × {args.shard_mib} MiB shards ({total / 1e6:.0f} MB), "
            f"rounds: {args.rounds}"
        )
        report(rows)
    finally:
        hub.stop()
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
