"""Benchmark: weightlib's read-only commands on 10 … 1,000-shard MoE checkpoints up to 1 TB.

Generates VALID safetensors shards whose data areas are sparse (the header is written, then the
file is truncated to its full size: no data block is allocated or read), in a MoE layout
(layers × experts × gate/up/down projections plus dense attention, norms, router, embeddings)
with a `model.safetensors.index.json`. Then, at several shard counts of the same logical size,
measures wall time, peak RSS (wait4 rusage of each child) and HTTP requests (the test hub's
request log) of:

  local:  filter, index --json, size, status, status --verbose (page maps), and prefetch /
          prefetch --tensors up to the memory guard (planning reads every header; with
          --max-memory 1M it is refused with exit 8 before any data is read)
  remote: filter, size, index --json, download --dry-run  (against the test hub serving the folder)

and, as the reference of the same run, `weightlib --version` (start-up alone). Prints a table,
the time per shard, and checks the targets of issue 8: peak RSS < 150 MB at 1,000 shards; time
roughly linear in shards; ONE listing request (and no per-file request) for remote size/filter.

The test hub hashes every file it serves (sha256 of all bytes), which would read the full
logical size; the benchmark therefore runs it with a launcher that hashes only the allocated
extents of sparse files (a fake but stable content id; nothing is downloaded in a dry run).

    .venv/bin/python bench/scale.py --quick                 # 10/100 shards, 10 GB, ~30 s
    .venv/bin/python bench/scale.py                         # 10/100/300/1000 shards, 1 TB
    .venv/bin/python bench/scale.py --prefetch-gib 2        # + prefetch --tensors, real data

Not a test. The layout generator (`write_moe_checkpoint`) is also used by tests/test_scale.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.hubs.fixtures import HubServer  # noqa: E402
from tests.layouts import write_checkpoint  # noqa: E402

WEIGHTLIB = str(Path(sys.executable).with_name("weightlib"))
DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "U8": 1, "F8_E4M3": 1}
PROJECTIONS = ("gate_proj", "up_proj", "down_proj")
RSS_TARGET_MB = 150.0

# ---- the layout ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MoeLayout:
    """A DeepSeek-like MoE checkpoint: dense attention per layer, `experts` experts per layer."""

    layers: int = 60
    experts: int = 256
    hidden: int = 7168
    moe_inter: int = 2048
    vocab: int = 129280
    dtype: str = "BF16"

    def tensors(self) -> Iterator[tuple[str, tuple[int, ...]]]:
        """(name, shape) in file order (layer by layer, experts in numeric order)."""
        h, i = self.hidden, self.moe_inter
        yield "model.embed_tokens.weight", (self.vocab, h)
        for layer in range(self.layers):
            p = f"model.layers.{layer}"
            yield f"{p}.input_layernorm.weight", (h,)
            for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
                yield f"{p}.self_attn.{proj}.weight", (h, h)
            yield f"{p}.post_attention_layernorm.weight", (h,)
            yield f"{p}.mlp.gate.weight", (self.experts, h)
            for expert in range(self.experts):
                for proj in PROJECTIONS:
                    shape = (h, i) if proj == "down_proj" else (i, h)
                    yield f"{p}.mlp.experts.{expert}.{proj}.weight", shape
        yield "model.norm.weight", (h,)
        yield "lm_head.weight", (self.vocab, h)

    def nbytes(self, shape: tuple[int, ...]) -> int:
        return math.prod(shape) * DTYPE_BYTES[self.dtype]

    @property
    def tensor_count(self) -> int:
        return 3 + self.layers * (7 + 3 * self.experts)

    @property
    def total_bytes(self) -> int:
        return sum(self.nbytes(shape) for _, shape in self.tensors())


def layout_for_size(
    total_bytes: int, layers: int = 60, experts: int = 256, dtype: str = "BF16"
) -> MoeLayout:
    """A layout of about `total_bytes`: hidden size solved for, expert width hidden/4 (≥ 8)."""
    per = DTYPE_BYTES[dtype]
    # bytes ≈ per * (2 V h + L (4 h² + 2 h + E h + 3 E h i)) with V = 4 h, i = h / 4
    coefficient = per * (8 + layers * (4 + 0.75 * experts))
    hidden = max(64, int(math.sqrt(total_bytes / coefficient)) // 64 * 64)
    return MoeLayout(layers, experts, hidden, max(8, hidden // 4), 4 * hidden, dtype)


def expert_regex(rank: int, world_size: int, experts: int) -> str:
    """The `--tensors` regex of the experts that rank `rank` of `world_size` owns (a block)."""
    per = experts // world_size
    owned = "|".join(str(e) for e in range(rank * per, (rank + 1) * per))
    return rf"\.mlp\.experts\.({owned})\."


@dataclass
class Checkpoint:
    """What `write_moe_checkpoint` wrote: the folder, shard names and per-tensor placement."""

    folder: Path
    layout: MoeLayout
    shards: list[str]
    data_bytes: int
    placement: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    """tensor name → (shard, absolute start, absolute end) — only when asked for."""


def write_moe_checkpoint(
    folder: Path,
    layout: MoeLayout,
    shards: int,
    *,
    sparse: bool = True,
    placement: bool = False,
) -> Checkpoint:
    """Write `layout` as `shards` valid safetensors files plus index, config and tokenizer.

    Tensors are split evenly by count, in file order. `sparse`: the data area is a hole
    (`truncate`), else it is filled with pseudo-random values. `placement` records where every
    tensor lies (for residency checks).
    """
    tensors = list(layout.tensors())
    if shards > len(tensors):
        raise ValueError(f"{shards} shards but only {len(tensors)} tensors")
    groups = [
        dict(tensors[k * len(tensors) // shards : (k + 1) * len(tensors) // shards])
        for k in range(shards)
    ]
    written = write_checkpoint(folder, groups, dtype=layout.dtype, sparse=sparse)
    config = {
        "model_type": "deepseek_v3",
        "num_hidden_layers": layout.layers,
        "n_routed_experts": layout.experts,
        "hidden_size": layout.hidden,
        "moe_intermediate_size": layout.moe_inter,
        "vocab_size": layout.vocab,
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": {"vocab": {}}}')
    (folder / "tokenizer_config.json").write_text('{"model_max_length": 4096}')
    (folder / "generation_config.json").write_text('{"do_sample": false}')
    where = written.placement if placement else {}
    return Checkpoint(folder, layout, written.files, written.total_size, where)


# ---- the hub (sparse-aware hashing) ----------------------------------------------------------

_HUB_LAUNCHER = r"""
import hashlib, os, sys
sys.path.insert(0, sys.argv.pop(1))
from tests.hubs import hf_server

Original = hf_server.FileEntry

class SparseAwareEntry(Original):
    # Files whose data is mostly a hole get a content id from their allocated extents and size,
    # so serving a 1 TB sparse checkpoint reads kilobytes, not a terabyte.
    def __init__(self, rel, path=None, data=None):
        st = path.stat() if path is not None else None
        if st is None or st.st_blocks * 512 >= st.st_size // 2:
            return Original.__init__(self, rel, path, data)
        self.rel, self.path, self.data, self.size = rel, path, None, st.st_size
        self.lfs = True
        digest = hashlib.sha256(b"sparse %d\0" % st.st_size)
        with path.open("rb") as handle:
            fd, pos = handle.fileno(), 0
            while True:
                try:
                    pos = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError:
                    break
                end = os.lseek(fd, pos, os.SEEK_HOLE)
                handle.seek(pos)
                digest.update(handle.read(end - pos))
                pos = end
        self.sha256 = digest.hexdigest()
        pointer = hf_server.lfs_pointer(self.sha256, self.size)
        self.pointer_size = len(pointer)
        self.blob_id = hf_server.git_blob_sha1(pointer)

hf_server.FileEntry = SparseAwareEntry
hf_server.main(sys.argv[1:])
"""


class SparseHub(HubServer):
    """The test hub (tests/hubs/hf_server.py) in its own process, with sparse-aware hashing."""

    def __init__(self, workdir: Path, repos: dict[str, Path]) -> None:
        super().__init__(workdir)
        for name, folder in repos.items():
            self.add_repo(name, folder)

    def command(self) -> list[str]:
        return [sys.executable, "-c", _HUB_LAUNCHER, str(ROOT)]

    def env(self, home: Path, **overrides: str) -> dict[str, str]:
        return super().env(home, WEIGHTLIB_RETRIES="0", **overrides)


# ---- measuring -------------------------------------------------------------------------------


@dataclass
class Run:
    """One command at one shard count."""

    command: str
    shards: int
    seconds: float
    rss_mb: float
    exit_code: int
    requests: int | None = None
    api_requests: int | None = None
    file_requests: int | None = None
    stdout: str = ""
    stderr: str = ""


_MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as report:
    report.write(f"{usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""
"""Runs the command as the child of a small fresh process: a child forked straight from a large
one (a test worker that loaded torch) counts the parent's pages in its peak RSS until it execs."""


def run_measured(
    argv: list[str], env: dict[str, str] | None = None
) -> tuple[float, float, int, str, str]:
    """Wall seconds, peak RSS (MB) of the command alone (wait4), exit code, stdout, stderr."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as report,
    ):
        started = time.monotonic()
        launcher = [sys.executable, "-S", "-c", _MEASURE, report.name, *argv]
        subprocess.run(launcher, stdout=out, stderr=err, env=env, check=True)
        seconds = time.monotonic() - started
        maxrss_kib, code = (int(v) for v in report.read().split())
        out.seek(0)
        err.seek(0)
        return (
            seconds,
            maxrss_kib / 1024,  # KiB on Linux
            code,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def measure(
    label: str,
    argv: list[str],
    shards: int,
    env: dict[str, str] | None = None,
    hub: SparseHub | None = None,
    repeat: int = 1,
) -> Run:
    """Best wall time and highest peak RSS of `repeat` runs; request counts of the last one."""
    best: Run | None = None
    for _ in range(repeat):
        mark = hub.mark() if hub else 0
        seconds, rss, code, out, err = run_measured([WEIGHTLIB, *argv], env)
        run = Run(label, shards, seconds, rss, code, stdout=out, stderr=err)
        if hub is not None:
            logged = hub.requests(mark)
            run.requests = len(logged)
            run.api_requests = sum(1 for r in logged if r["path"].startswith("/api/"))
            run.file_requests = sum(1 for r in logged if r.get("file"))
        if best is None:
            best = run
        else:
            best.seconds = min(best.seconds, run.seconds)
            best.rss_mb = max(best.rss_mb, run.rss_mb)
            best.requests, best.api_requests, best.file_requests = (
                run.requests,
                run.api_requests,
                run.file_requests,
            )
            best.exit_code = best.exit_code or run.exit_code
    assert best is not None
    return best


def bench_counts(
    counts: Sequence[int], total_bytes: int, layers: int, experts: int, work: Path, repeat: int
) -> list[Run]:
    layout = layout_for_size(total_bytes, layers, experts)
    print(
        f"layout: {layout.layers} layers × {layout.experts} experts × 3 projections, hidden "
        f"{layout.hidden}, expert width {layout.moe_inter}: {layout.tensor_count:,} tensors, "
        f"{layout.total_bytes / 1e9:,.1f} GB logical",
        flush=True,
    )
    folders = {}
    for count in counts:
        began = time.monotonic()
        folders[count] = write_moe_checkpoint(work / f"moe-{count}", layout, count).folder
        allocated = sum(p.stat().st_blocks * 512 for p in folders[count].iterdir())
        print(
            f"  wrote {count} shards in {time.monotonic() - began:.1f} s "
            f"({allocated / 1e6:.1f} MB allocated on disk)",
            flush=True,
        )
    hub = SparseHub(work / "hub", {f"bench/moe-{c}": f for c, f in folders.items()})
    runs: list[Run] = []
    try:
        env = hub.env(work / "home")
        runs.append(measure("--version (reference)", ["--version"], 0, env, repeat=repeat))
        for count, folder in folders.items():
            repo = f"bench/moe-{count}"
            # the first listing makes the hub hash the snapshot: not part of any measurement
            measure("warm-up", ["size", repo], count, env, hub)
            # --max-memory 1M: the guard always refuses after planning, so no hole is ever read
            guard = ["prefetch", "--json", "--max-memory", "1M"]
            tensors = [*guard, "--tensors", expert_regex(0, 8, layout.experts)]
            plan = [
                ("filter", ["filter", str(folder)], None),
                ("index", ["index", "--json", str(folder)], None),
                ("size", ["size", str(folder)], None),
                ("status", ["status", "--json", str(folder)], None),
                ("status --verbose", ["status", "--json", "--verbose", str(folder)], None),
                ("prefetch (plan)", [*guard, str(folder)], None),
                ("prefetch --tensors (plan)", [*tensors, str(folder)], None),
                ("remote filter", ["filter", repo], hub),
                ("remote size", ["size", repo], hub),
                ("remote index", ["index", "--json", repo], hub),
                ("download --dry-run", ["download", "--dry-run", "--json", repo], hub),
            ]
            for label, argv, which in plan:
                slow = label == "status --verbose"  # mincore over every page: seconds per TB
                run = measure(label, argv, count, env, which, 1 if slow else repeat)
                runs.append(run)
                if run.exit_code != expected_exit(run):
                    print(
                        f"  ! {label} at {count} shards exited {run.exit_code}: "
                        f"{run.stderr.strip().splitlines()[-1:]}",
                        flush=True,
                    )
            print(f"  measured {count} shards", flush=True)
    finally:
        hub.stop()
    return runs


def bench_prefetch(gib: float, work: Path) -> None:
    """`prefetch --tensors` of one rank's experts (rank 0 of 8) on real data: bytes and time."""
    from weightlib.residency import evict

    layout = layout_for_size(int(gib * 2**30), layers=8, experts=64)
    checkpoint = write_moe_checkpoint(work / "moe-real", layout, 16, sparse=False, placement=True)
    regex = expert_regex(0, 8, layout.experts)
    pattern = re.compile(regex)
    share = sum(e - s for n, (_, s, e) in checkpoint.placement.items() if pattern.search(n))
    files = [checkpoint.folder / s for s in checkpoint.shards]
    for path in files:
        evict(path)
    time.sleep(1)
    seconds, rss, code, out, _ = run_measured(
        [WEIGHTLIB, "prefetch", "--json", "--force", "--tensors", regex, *map(str, files)]
    )
    doc = json.loads(out) if code == 0 else {}
    read = doc.get("read_bytes", 0)
    print(
        f"\nprefetch --tensors (rank 0 of 8) on {checkpoint.data_bytes / 2**30:.2f} GiB real data: "
        f"share {share / 2**20:.1f} MiB, read {read / 2**20:.1f} MiB "
        f"({100 * (read - share) / max(share, 1):+.2f} %), {seconds:.2f} s, peak RSS {rss:.0f} MB, "
        f"exit {code}"
    )


# ---- report ----------------------------------------------------------------------------------


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def expected_exit(run: Run) -> int:
    """0, except prefetch planning, which --max-memory 1M refuses with exit 8 (nothing read)."""
    return 8 if run.command.startswith("prefetch") else 0


def print_table(runs: list[Run]) -> None:
    print(
        f"\n{'command':<26}{'shards':>7}{'seconds':>9}{'ms/shard':>10}{'RSS MB':>8}"
        f"{'HTTP':>6}{'api':>5}{'files':>6}{'exit':>5}"
    )
    for r in runs:
        per = f"{1000 * r.seconds / r.shards:.2f}" if r.shards else "-"
        print(
            f"{r.command:<26}{r.shards:>7}{r.seconds:>9.3f}{per:>10}{r.rss_mb:>8.1f}"
            f"{_count(r.requests):>6}{_count(r.api_requests):>5}{_count(r.file_requests):>6}"
            f"{r.exit_code:>5}"
        )


def check_targets(runs: list[Run]) -> bool:
    """Print PASS/FAIL per target; True when all pass."""
    ok = True
    top = max((r.shards for r in runs), default=0)
    reference = next((r for r in runs if r.shards == 0), None)
    print()
    for r in runs:
        if r.shards and r.exit_code != expected_exit(r):
            ok = False
            print(f"FAIL {r.command} at {r.shards} shards exited {r.exit_code}")
    at_top = [r for r in runs if r.shards == top]
    worst = max(at_top, key=lambda r: r.rss_mb, default=None)
    if worst is not None:
        good = worst.rss_mb < RSS_TARGET_MB
        ok &= good
        base = f" (start-up alone: {reference.rss_mb:.0f} MB)" if reference else ""
        print(
            f"{'PASS' if good else 'FAIL'} peak RSS at {top} shards: {worst.rss_mb:.1f} MB "
            f"({worst.command}) < {RSS_TARGET_MB:.0f} MB{base}"
        )
    for r in (r for r in runs if r.command in ("remote filter", "remote size")):
        # one listing; filter/size read only the index file besides it
        good = r.api_requests == 1 and (r.file_requests or 0) <= 1
        ok &= good
        if r.shards == top or not good:
            print(
                f"{'PASS' if good else 'FAIL'} {r.command} at {r.shards} shards: "
                f"{r.api_requests} listing request(s), {r.file_requests} file request(s)"
            )
    counts = sorted({r.shards for r in runs if r.shards})
    if len(counts) >= 2:
        low, high = counts[0], counts[-1]
        start = reference.seconds if reference else 0.0
        for command in dict.fromkeys(r.command for r in runs if r.shards):
            a = next(r for r in runs if r.command == command and r.shards == low)
            b = next(r for r in runs if r.command == command and r.shards == high)
            # linear: the per-shard cost beyond start-up does not grow with the shard count
            per_low = max(a.seconds - start, 0.0) / low
            per_high = max(b.seconds - start, 0.0) / high
            growth = b.seconds / a.seconds if a.seconds else math.inf
            good = per_high <= max(per_low * 1.5, 0.002)  # ≤ 2 ms/shard counts as flat
            ok &= good
            print(
                f"{'PASS' if good else 'FAIL'} {command}: {low}→{high} shards ×{high / low:.0f}, "
                f"time ×{growth:.2f}; beyond start-up {1000 * per_low:.2f} → "
                f"{1000 * per_high:.2f} ms/shard"
            )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 and 100 shards, 10 GB logical")
    parser.add_argument(
        "--shards", type=int, nargs="+", default=None, help="shard counts (default 10 100 300 1000)"
    )
    parser.add_argument("--tb", type=float, default=None, help="logical size in TB (default 1)")
    parser.add_argument("--layers", type=int, default=60)
    parser.add_argument("--experts", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=2, help="runs per command (best time)")
    parser.add_argument(
        "--prefetch-gib",
        type=float,
        default=0.0,
        help="also prefetch --tensors on this much real data",
    )
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args()
    counts = args.shards or ([10, 100] if args.quick else [10, 100, 300, 1000])
    tb = args.tb if args.tb is not None else (0.01 if args.quick else 1.0)
    work = Path(tempfile.mkdtemp(prefix="weightlib-scale-", dir=args.dir))
    ok = True
    try:
        runs = bench_counts(counts, int(tb * 1e12), args.layers, args.experts, work, args.repeat)
        print_table(runs)
        ok = check_targets(runs)
        if args.prefetch_gib:
            bench_prefetch(args.prefetch_gib, work)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
