"""Benchmark: what a server waits for, cold storage to every tensor in its memory (issue 18).

Writes safetensors shards of random values with an index (8 × 256 MiB by default), and per
round, in a shuffled order, makes them cold (fsync + POSIX_FADV_DONTNEED on every file, on a
network mount through the mount too, then a pause) and times each strategy end to end: the
prefetch (if any) plus a load in a fresh process, or, when the two run concurrently, until the
load has finished. Two loaders: `copy` (safe_open + get_tensor, every tensor copied into one
preallocated buffer, as a server copies into its parameters; get_tensor alone reads nothing) and
`mmap` (every shard mapped, one byte per 4 KiB page touched). The loader process imports torch
and allocates its buffer before the clock starts, and waits for a go.

Strategies: (a) the load alone; (b) vLLM's prefetch, 8 threads of read(16 MiB) in a background
thread of the loader; (c) `weightlib prefetch DIR` then the load, also with `--method copy` and
`--method sendfile`; (d) `weightlib prefetch DIR --background` and the load at once, also with
`--method copy`; (e) `cat` then the load; (w) the load alone with every page already cached and
touched (a `cat` first, untimed), from which, with the run's fastest cold read of every byte,
it prints the floor (c) and (d) can reach. In the same run it measures the prefetch's and
`cat`'s CPU seconds, the residency after the prefetch, and the storage's own limit: a direct-I/O
read (O_DIRECT, 16 threads, 16 MiB) on the local disk, one `dd bs=16M` per file in parallel on the
network mount. The mount is sshfs `-o kernel_cache` over loopback to a private sshd, through
`bench/delay_relay.py` (2 ms each way). Prints medians and minimums, ratios to (a), and the
issue's targets. Not a test.

    .venv/bin/python bench/load.py --quick
    .venv/bin/python bench/load.py --storage local --rounds 3
    .venv/bin/python bench/load.py --storage netfs --rounds 2
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import mmap
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import IO, Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import stop_process  # noqa: E402
from tests.layouts import INDEX, Shape, write_checkpoint  # noqa: E402
from tests.netfs import sshfs_mount, unavailable_reason  # noqa: E402

WEIGHTLIB = str(Path(sys.executable).with_name("weightlib"))
RELAY = Path(__file__).resolve().with_name("delay_relay.py")
BLOCK = 16 * 1024 * 1024
"""Bytes per read of vLLM's strategy, the direct-I/O limit and dd."""
DIRECT_THREADS = 16
WIDTH = 4096
"""Columns of every tensor; the large ones are 1024 × 4096 F32 (16 MiB)."""
LOADERS = {
    "copy": "copy loader: safe_open + get_tensor, each copied into one preallocated buffer",
    "mmap": "mmap loader: every shard mapped, one byte per 4 KiB page touched",
}
LIVE: list[subprocess.Popen[Any]] = []
"""Child processes to stop on the way out (errors, Ctrl-C)."""
BACKGROUND: set[int] = set()
"""Pids of detached `weightlib prefetch --background` warmers this run started."""


# ---- the loader's process ---------------------------------------------------------------------

Load = Callable[[list[str]], int]
"""Loads the files, returns the bytes it brought into memory."""


def _copy_loader(buffer_bytes: int) -> Load:
    import torch  # heavy and optional: only the copy loader's process imports it
    from safetensors import safe_open

    buffer = torch.empty(buffer_bytes, dtype=torch.uint8)
    buffer.fill_(1)  # a server's parameters are allocated (and touched) before the load

    def load(files: list[str]) -> int:
        done = 0
        for path in files:
            with safe_open(path, framework="pt") as handle:
                for name in handle.keys():  # noqa: SIM118 (safe_open is not iterable)
                    tensor = handle.get_tensor(name)
                    size = tensor.numel() * tensor.element_size()
                    buffer[:size].copy_(tensor.reshape(-1).view(torch.uint8))
                    done += size
        return done

    return load


def _mmap_loader() -> Load:
    import numpy as np  # heavy and optional: only the mmap loader's process imports it

    def load(files: list[str]) -> int:
        done = 0
        for path in files:
            with open(path, "rb") as handle:
                mapping = mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ)
            pages = np.frombuffer(mapping, dtype=np.uint8)[:: mmap.PAGESIZE]
            int(pages.sum())  # one byte of every page
            done += len(mapping)
            del pages  # the mapping cannot close while numpy holds its buffer
            mapping.close()
        return done

    return load


def _vllm_prefetch(files: list[str]) -> None:
    """vLLM's strategy: 8 threads reading whole files with read(16 MiB)."""

    def read(path: str) -> None:
        with open(path, "rb") as handle:
            while handle.read(BLOCK):
                pass

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(read, files))


def child(argv: list[str]) -> None:
    """The loader: get ready, wait for a line on stdin, load, print `done SECONDS BYTES`."""
    parser = argparse.ArgumentParser(prog="load.py --child")
    parser.add_argument("loader", choices=sorted(LOADERS))
    parser.add_argument("--buffer", type=int, required=True)
    parser.add_argument("--vllm", action="store_true")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    load = _copy_loader(args.buffer) if args.loader == "copy" else _mmap_loader()
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    if args.vllm:  # exiting joins the pool's threads: the parent waits for this process
        threading.Thread(target=_vllm_prefetch, args=(args.files,), daemon=True).start()
    loaded = load(args.files)
    print(f"done {time.monotonic() - started:.6f} {loaded}", flush=True)


class Loader:
    """A loader in a fresh process, started and ready (torch imported, buffer allocated)."""

    def __init__(self, kind: str, vllm: bool, storage: Storage) -> None:
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", kind]
        argv += ["--buffer", str(storage.buffer), *(["--vllm"] if vllm else [])]
        argv += [str(p) for p in storage.files]
        self.expected = storage.data_bytes if kind == "copy" else storage.file_bytes
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        LIVE.append(self.process)
        if self._line() != "ready":
            raise SystemExit(f"the {kind} loader did not start")

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def go(self) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        return time.monotonic()

    def finish(self) -> float:
        """When the load had finished (parent's clock); checks it loaded every byte."""
        line = self._line()
        ended = time.monotonic()
        parts = line.split()
        if len(parts) != 3 or parts[0] != "done" or int(parts[2]) != self.expected:
            raise SystemExit(f"the loader failed: {line!r} (expected {self.expected} bytes)")
        self.process.wait()
        return ended

    def stop(self) -> None:
        stop_process(self.process)
        if self.process.stdin:
            self.process.stdin.close()
        LIVE.remove(self.process)


# ---- storages ---------------------------------------------------------------------------------


class Unavailable(Exception):
    """This storage cannot be set up here; the message says why."""


@dataclasses.dataclass
class Storage:
    name: str
    description: str
    folder: Path
    """What the loader and weightlib read (the client side of a mount)."""
    files: list[Path]
    evict: list[Path]
    """Every file to make cold: the server side first, then the client side."""
    limit_label: str
    limit: Callable[[], float]
    """Seconds the storage's own limit takes to read the shards."""
    data_bytes: int
    file_bytes: int
    buffer: int
    """Bytes of the largest tensor (the copy loader's buffer)."""


def shard_shapes(k: int, size_mib: int) -> dict[str, Shape]:
    """F32 tensors of up to 16 MiB adding up to `size_mib` MiB, and a norm vector."""
    shapes: dict[str, Shape] = {f"model.layers.{k}.input_layernorm.weight": (WIDTH,)}
    rows_left = size_mib * 1024 * 1024 // 4 // WIDTH
    j = 0
    while rows_left:
        rows = min(rows_left, 1024)
        shapes[f"model.layers.{k}.mlp.w{j}.weight"] = (rows, WIDTH)
        rows_left -= rows
        j += 1
    return shapes


def make_checkpoint(folder: Path, files: int, size_mib: int) -> tuple[list[Path], int, int]:
    """The shards and index; returns the shard paths, data bytes and the largest tensor."""
    print(f"writing {files} × {size_mib} MiB in {folder} …", file=sys.stderr)
    written = write_checkpoint(folder, [shard_shapes(k, size_mib) for k in range(files)])
    largest = max(stop - start for _, start, stop in written.placement.values())
    return written.paths, written.total_size, largest


def direct_read(files: list[Path]) -> float:
    """Seconds to read `files` with O_DIRECT: 8 threads, each with an aligned 16 MiB buffer."""
    fds = [os.open(path, os.O_RDONLY | os.O_DIRECT) for path in files]
    jobs = iter(
        [
            (fd, at)
            for fd, p in zip(fds, files, strict=True)
            for at in range(0, p.stat().st_size, BLOCK)
        ]
    )
    lock = threading.Lock()

    def worker() -> None:
        buffer = mmap.mmap(-1, BLOCK)  # page-aligned, as O_DIRECT needs
        while True:
            with lock:
                job = next(jobs, None)
            if job is None:
                return
            os.preadv(job[0], [buffer], job[1])

    threads = [threading.Thread(target=worker) for _ in range(DIRECT_THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    for fd in fds:
        os.close(fd)
    return elapsed


def parallel_dd(files: list[Path]) -> float:
    """Seconds for one `dd bs=16M` per file, all at once."""
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            ["dd", f"if={path}", "of=/dev/null", "bs=16M"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for path in files
    ]
    for process in processes:
        LIVE.append(process)
    codes = [process.wait() for process in processes]
    elapsed = time.monotonic() - started
    for process in processes:
        LIVE.remove(process)
    if any(codes):
        raise SystemExit(f"dd failed: exit codes {codes}")
    return elapsed


def _sizes(paths: list[Path]) -> int:
    return sum(path.stat().st_size for path in paths)


@contextlib.contextmanager
def local_storage(base: Path, files: int, size_mib: int) -> Iterator[Storage]:
    folder = Path(tempfile.mkdtemp(prefix="weightlib-load-", dir=base))
    try:
        paths, data, largest = make_checkpoint(folder, files, size_mib)
        yield Storage(
            "local",
            f"local disk ({folder}, {fs_type(folder)})",
            folder,
            paths,
            [*paths, folder / INDEX],
            f"O_DIRECT read, {DIRECT_THREADS} threads × 16 MiB",
            lambda: direct_read(paths),
            data,
            _sizes(paths),
            largest,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def delay_relay(target_port: int, delay_ms: float) -> Iterator[int]:
    """bench/delay_relay.py in front of `target_port`: yields the port it listens on."""
    argv = [sys.executable, str(RELAY), "--target-port", str(target_port)]
    relay = subprocess.Popen(
        [*argv, "--delay-ms", str(delay_ms)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert relay.stdout is not None
        line = relay.stdout.readline().strip()
        if not line.isdigit():
            raise Unavailable(f"the delay relay did not start ({line!r})")
        yield int(line)
    finally:
        stop_process(relay)


@contextlib.contextmanager
def sshfs_via_relay(workdir: Path, delay_ms: float) -> Iterator[tuple[Path, Path]]:
    """tests/netfs.py's sshfs mount (kernel_cache), with the delay relay before its sshd."""
    try:
        with sshfs_mount(workdir, via=lambda port: delay_relay(port, delay_ms)) as mounted:
            yield mounted.export, mounted.mount
    except (pytest.skip.Exception, pytest.fail.Exception) as gave_up:
        raise Unavailable(str(gave_up)) from None


@contextlib.contextmanager
def netfs_storage(base: Path, files: int, size_mib: int, delay_ms: float) -> Iterator[Storage]:
    reason = unavailable_reason()
    if reason:
        raise Unavailable(reason)
    workdir = Path(tempfile.mkdtemp(prefix="weightlib-load-netfs-", dir=base))
    try:
        with sshfs_via_relay(workdir, delay_ms) as (export, mount):
            served, data, largest = make_checkpoint(export / "model", files, size_mib)
            folder = mount / "model"
            paths = [folder / path.name for path in served]
            yield Storage(
                "netfs",
                f"sshfs -o kernel_cache over loopback, through delay_relay.py ({delay_ms:g} ms "
                "each way)",
                folder,
                paths,
                [*served, export / "model" / INDEX, *paths, folder / INDEX],
                f"{len(paths)} × dd bs=16M in parallel",
                lambda: parallel_dd(paths),
                data,
                _sizes(paths),
                largest,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def fs_type(path: Path) -> str:
    done = subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def work_base(requested: str | None) -> Path:
    """A folder on a real disk for the files (not a tmpfs /tmp)."""
    candidates = [requested] if requested else ["/var/tmp", str(ROOT.parent), "/tmp"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir() and fs_type(Path(candidate)) != "tmpfs":
            return Path(candidate)
    raise SystemExit(f"no folder on a disk among {candidates} (all missing or tmpfs)")


# ---- measuring --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Strategy:
    key: str
    label: str
    kind: str
    """alone, vllm, prefetch, background, cat, or warm (cat untimed, then the load)."""
    method: str | None = None


STRATEGIES = [
    Strategy("a", "load alone, cold", "alone"),
    Strategy("b", "vLLM: 8 threads read(16M) beside the load", "vllm"),
    Strategy("c", "weightlib prefetch, then load", "prefetch"),
    Strategy("c-copy", "weightlib prefetch --method copy, then load", "prefetch", "copy"),
    Strategy(
        "c-sendfile", "weightlib prefetch --method sendfile, then load", "prefetch", "sendfile"
    ),
    Strategy("d", "weightlib prefetch --background, load at once", "background"),
    Strategy("d-copy", "… --background --method copy, load at once", "background", "copy"),
    Strategy("e", "cat > /dev/null, then load", "cat"),
    Strategy("w", "the load alone, warm: every page cached and touched (by cat)", "warm"),
]


@dataclasses.dataclass
class Tally:
    """Everything measured on one storage; lists hold one value per round."""

    walls: dict[tuple[str, str], list[float]] = dataclasses.field(default_factory=dict)
    """(loader, strategy key) → end-to-end seconds."""
    alone: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    """(c) rows and cat → seconds of the prefetch process alone."""
    inside: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    """(c) rows → the seconds weightlib reported itself."""
    cpu: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    resident: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    methods: dict[str, list[tuple[str, str]]] = dataclasses.field(default_factory=dict)
    """(c) rows → the JSON summary's (method, method_reason), one per run."""
    limit: list[float] = dataclasses.field(default_factory=list)

    def add(self, table: dict[str, list[float]], key: str, value: float) -> None:
        table.setdefault(key, []).append(value)


@dataclasses.dataclass
class Done:
    wall: float
    cpu: float
    code: int
    out: str
    err: str


def run_timed(argv: list[str], stdout: int | None = None) -> Done:
    """Run a child to its end: wall and CPU seconds (user + system, from wait4), output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sink: int | IO[bytes] = out if stdout is None else stdout
        started = time.monotonic()
        process = subprocess.Popen(argv, stdout=sink, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, error = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    return Done(wall, usage.ru_utime + usage.ru_stime, process.returncode, text, error)


def method_missing(done: Done) -> bool:
    """weightlib refused the method: exit 2, "unknown --method"."""
    return done.code == 2 and "unknown --method" in done.out + done.err


def probe_missing(base: Path) -> set[str]:
    """The prefetch methods this weightlib does not have (asked once, on a tiny file)."""
    missing = set()
    with tempfile.NamedTemporaryFile(dir=base) as tiny:
        for method in sorted({s.method for s in STRATEGIES if s.method}):
            done = run_timed([WEIGHTLIB, "-q", "prefetch", tiny.name, "--json", "--method", method])
            if method_missing(done):
                missing.add(method)
    return missing


def make_cold(paths: list[Path], pause: float) -> None:
    """fsync (dirty pages are not dropped) and POSIX_FADV_DONTNEED every file, then pause."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            with contextlib.suppress(OSError):
                os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    time.sleep(pause)


def resident_percent(folder: Path) -> float:
    done = run_timed([WEIGHTLIB, "status", str(folder), "--json"])
    return float(json.loads(done.out)["total"]["percent"])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_gone(pid: int, timeout: float = 300.0) -> None:
    """Wait for a detached warmer to end (it is not our child); stop it after `timeout`."""
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    BACKGROUND.discard(pid)


def _record_prefetch(strategy: Strategy, done: Done, storage: Storage, tally: Tally) -> None:
    summary = json.loads(done.out)
    tally.add(tally.alone, strategy.key, done.wall)
    tally.add(tally.cpu, strategy.key, done.cpu)
    tally.add(tally.inside, strategy.key, float(summary.get("seconds", 0.0)))
    tally.add(tally.resident, strategy.key, resident_percent(storage.folder))
    if "method" in summary or "method_reason" in summary:
        chosen = (str(summary.get("method")), str(summary.get("method_reason")))
        tally.methods.setdefault(strategy.key, []).append(chosen)


def warm_first(storage: Storage, strategy: Strategy, tally: Tally) -> tuple[float, int | None]:
    """What runs before the load: (seconds of a prefetch that runs first, a warmer's pid)."""
    if strategy.kind == "cat":
        done = run_timed(["cat", *map(str, storage.files)], stdout=subprocess.DEVNULL)
        tally.add(tally.alone, "e", done.wall)
        tally.add(tally.cpu, "e", done.cpu)
        tally.add(tally.resident, "e", resident_percent(storage.folder))
        return done.wall, None
    if strategy.kind == "warm":
        subprocess.run(["cat", *map(str, storage.files)], stdout=subprocess.DEVNULL, check=True)
        return 0.0, None
    if strategy.kind not in ("prefetch", "background"):
        return 0.0, None
    argv = [WEIGHTLIB, "-q", "prefetch", str(storage.folder), "--json"]
    argv += ["--method", strategy.method] if strategy.method else []
    background = strategy.kind == "background"
    done = run_timed([*argv, "--background"] if background else argv)
    if method_missing(done):
        raise MethodMissing(strategy.method or "")
    if done.code != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.code}): {done.err.strip()[-500:]}")
    if background:
        pid = int(json.loads(done.out)["pid"])
        BACKGROUND.add(pid)
        return 0.0, pid
    _record_prefetch(strategy, done, storage, tally)
    return done.wall, None


class MethodMissing(Exception):
    """weightlib prefetch does not know this --method yet."""


def measure(
    storage: Storage, loader_kind: str, strategy: Strategy, tally: Tally, pause: float
) -> float:
    """One end-to-end time from cold: a sequential prefetch plus the load (the residency check
    between them is not counted), or from the start until a concurrent load has finished."""
    loader = Loader(loader_kind, strategy.kind == "vllm", storage)
    pid: int | None = None
    try:
        make_cold(storage.evict, pause)
        started = time.monotonic()
        first, pid = warm_first(storage, strategy, tally)
        went = loader.go()
        ended = loader.finish()
    finally:
        loader.stop()
        if pid is not None:
            wait_gone(pid)
    if strategy.kind in ("prefetch", "cat", "warm"):
        return first + (ended - went)
    return ended - started


def run_rounds(
    storage: Storage, loaders: list[str], rounds: int, pause: float, missing: set[str]
) -> tuple[Tally, set[str]]:
    """Every (loader, strategy) and the storage's limit once per round, in a shuffled order."""
    tally = Tally()
    jobs: list[tuple[str, Strategy | None]] = [(lo, s) for lo in loaders for s in STRATEGIES]
    jobs.append(("", None))
    rng = random.Random(18)
    for number in range(1, rounds + 1):
        rng.shuffle(jobs)
        for loader, strategy in jobs:
            if strategy is None:
                make_cold(storage.evict, pause)
                tally.limit.append(storage.limit())
                print(
                    f"{storage.name} round {number} limit {tally.limit[-1]:.2f} s", file=sys.stderr
                )
                continue
            if strategy.method in missing:
                continue
            try:
                wall = measure(storage, loader, strategy, tally, pause)
            except MethodMissing as gone:
                missing.add(str(gone))
                continue
            tally.walls.setdefault((loader, strategy.key), []).append(wall)
            print(
                f"{storage.name} round {number} {loader} ({strategy.key}) {wall:.2f} s",
                file=sys.stderr,
            )
    return tally, missing


# ---- reporting --------------------------------------------------------------------------------


def _median(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None


def _ratio_text(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "n/a"
    return f"{value / base:.2f}x"


def print_loader_table(tally: Tally, loader: str, missing: set[str]) -> None:
    print(f"\n  {LOADERS[loader]}")
    print(f"  {'strategy':<60} {'median s':>8} {'min s':>7} {'vs (a)':>7}")
    base = _median(tally.walls.get((loader, "a")))
    for strategy in STRATEGIES:
        walls = tally.walls.get((loader, strategy.key))
        name = f"({strategy.key}) {strategy.label}"
        if not walls:
            why = "method missing" if strategy.method in missing else "not measured"
            print(f"  {name:<60} n/a ({why})")
            continue
        med = statistics.median(walls)
        print(f"  {name:<60} {med:8.2f} {min(walls):7.2f} {_ratio_text(med, base):>7}")


def print_prefetch_table(storage: Storage, tally: Tally, missing: set[str]) -> None:
    limit = _median(tally.limit)
    limit_gbps = storage.file_bytes / limit / 1e9 if limit else None
    shown = f"{limit_gbps:.3f} GB/s ({limit:.2f} s)" if limit and limit_gbps else "n/a"
    print(f"\n  storage limit ({storage.limit_label}): {shown}")
    cat_cpu = _median(tally.cpu.get("e"))
    print(
        f"  {'warming alone':<14} {'wall s':>7} {'GB/s':>6} {'vs limit':>8} {'in-proc GB/s':>12} "
        f"{'CPU s':>6} {'CPU/cat':>7} {'resident':>8}  JSON method (runs)"
    )
    for key in ("c", "c-copy", "c-sendfile", "e"):
        wall = _median(tally.alone.get(key))
        if wall is None:
            why = "method missing" if key == "c-copy" and "copy" in missing else "not measured"
            print(f"  ({key}){'':<{12 - len(key)}} n/a ({why})")
            continue
        gbps = storage.file_bytes / wall / 1e9
        inside = _median(tally.inside.get(key))
        inside_text = f"{storage.file_bytes / inside / 1e9:12.3f}" if inside else f"{'-':>12}"
        cpu = _median(tally.cpu.get(key)) or 0.0
        resident = _median(tally.resident.get(key)) or 0.0
        chosen = [method for method, _ in tally.methods.get(key, [])]
        methods = ", ".join(f"{m} ×{chosen.count(m)}" for m in sorted(set(chosen))) or "-"
        label = "(e) cat" if key == "e" else f"({key})"
        print(
            f"  {label:<14} {wall:7.2f} {gbps:6.3f} {_ratio_text(gbps, limit_gbps):>8} "
            f"{inside_text} {cpu:6.2f} {_ratio_text(cpu, cat_cpu):>7} {resident:7.1f}%  {methods}"
        )
    print_reasons(tally)


def print_reasons(tally: Tally) -> None:
    """Every distinct method_reason of the (c) rows (numbers in it vary from run to run)."""
    for key in ("c", "c-copy", "c-sendfile"):
        for method, reason in dict.fromkeys(tally.methods.get(key, [])):
            print(f"    ({key}) method={method}: method_reason={reason}")


def _check(label: str, value: float | None, op: str, bound: float, unit: str = "x") -> None:
    if value is None:
        print(f"  {label:<48} n/a")
        return
    met = value <= bound if op == "<=" else value >= bound
    print(
        f"  {label:<48} {value:6.2f}{unit}  [{op} {bound:g}{unit}]  {'met' if met else 'NOT met'}"
    )


def _row_ratio(tally: Tally, loader: str, key: str) -> float | None:
    value, base = _median(tally.walls.get((loader, key))), _median(tally.walls.get((loader, "a")))
    return value / base if value is not None and base else None


def print_targets(storage: Storage, tally: Tally, loaders: list[str]) -> None:
    network = storage.name == "netfs"
    print(f"\n  targets from issue 18 ({'network' if network else 'local'}):")
    if network:
        limit, alone = _median(tally.limit), _median(tally.alone.get("c"))
        speed = limit / alone if limit and alone else None
        _check("prefetch alone / parallel-dd limit (GB/s)", speed, ">=", 0.9)
    bounds = {"c": 0.9, "d": 0.9} if network else {"d": 0.8, "c": 1.0}
    for loader in loaders:
        for key, bound in bounds.items():
            for variant in (key, f"{key}-copy"):
                _check(
                    f"({variant}) / (a), {loader} loader",
                    _row_ratio(tally, loader, variant),
                    "<=",
                    bound,
                )
    print_floors(tally, loaders)
    cpu, cat = _median(tally.cpu.get("c")), _median(tally.cpu.get("e"))
    _check("prefetch CPU / cat CPU", cpu / cat if cpu is not None and cat else None, "<=", 0.35)
    copy_cpu = _median(tally.cpu.get("c-copy"))
    _check(
        "prefetch --method copy CPU / cat CPU",
        copy_cpu / cat if copy_cpu is not None and cat else None,
        "<=",
        0.35,
    )
    for key in ("c", "c-copy"):
        _check(f"residency after ({key})", _median(tally.resident.get(key)), ">=", 99, "%")


def fastest_cold_read(tally: Tally, loaders: list[str]) -> tuple[float, str] | None:
    """The quickest way this run brought every byte in from cold (median seconds, and which):
    the storage's limit, a warming alone, or a cold load itself. The limit measurement is itself
    beaten here at times (the VM's disk is served from its host), so the floors use the best."""
    found = [(s, "the storage limit") for s in [_median(tally.limit)] if s is not None]
    for key in ("c", "c-copy", "c-sendfile", "e"):
        wall = _median(tally.alone.get(key))
        if wall is not None:
            found.append((wall, f"({key}) warming alone"))
    for loader in loaders:
        wall = _median(tally.walls.get((loader, "a")))
        if wall is not None:
            found.append((wall, f"the {loader} loader's cold load (a)"))
    return min(found) if found else None


def print_floors(tally: Tally, loaders: list[str]) -> None:
    """The best (c) and (d) can be here, from the run's fastest cold read and warm load (w): a
    prefetch that runs first cannot end before every byte has arrived, and the load after it
    takes at least (w); run side by side, they end no sooner than the slower of the two."""
    fastest = fastest_cold_read(tally, loaders)
    if fastest is None:
        return
    read, how = fastest
    print(f"    fastest cold read of every byte in this run: {read:.2f} s ({how})")
    for loader in loaders:
        warm, base = (
            _median(tally.walls.get((loader, "w"))),
            _median(tally.walls.get((loader, "a"))),
        )
        if warm is None or not base:
            continue
        print(
            f"    floor, {loader} loader: (c) >= read + (w) = {read + warm:.2f} s = "
            f"{(read + warm) / base:.2f}x (a); (d) >= max(read, (w)) = {max(read, warm):.2f} s "
            f"= {max(read, warm) / base:.2f}x (a)"
        )


def report(
    storage: Storage, tally: Tally, loaders: list[str], rounds: int, pause: float, missing: set[str]
) -> None:
    files = len(storage.files)
    each = storage.file_bytes / files / 1024**2
    print(
        f"\n== {storage.name}: {storage.description}\n   {files} files × {each:.0f} MiB = "
        f"{storage.file_bytes / 1024**3:.2f} GiB, {rounds} rounds (medians), shuffled, "
        f"pause {pause:g} s after eviction"
    )
    for loader in loaders:
        print_loader_table(tally, loader, missing)
    print_prefetch_table(storage, tally, missing)
    startup = [run_timed([WEIGHTLIB, "--version"]) for _ in range(3)]
    print(
        f"  (weightlib's start-up alone, `weightlib --version`: "
        f"{statistics.median(d.wall for d in startup):.2f} s wall, "
        f"{statistics.median(d.cpu for d in startup):.2f} s CPU; included above)"
    )
    print_targets(storage, tally, loaders)
    sys.stdout.flush()


# ---- main -------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--storage", choices=["local", "netfs", "both"], default="both")
    add("--loader", choices=["copy", "mmap", "both"], default="both")
    add("--files", type=int, default=8, help="shards on the local disk (default 8)")
    add("--size-mib", type=int, default=256, help="MiB per local shard (default 256)")
    add("--net-files", type=int, default=4, help="shards on the network mount (default 4)")
    add("--net-size-mib", type=int, default=128, help="MiB per network shard (default 128)")
    add("--rounds", type=int, default=3, help="rounds (default 3)")
    add("--pause", type=float, default=5.0, help="seconds after eviction (default 5)")
    add("--delay-ms", type=float, default=2.0, help="relay delay each way (default 2)")
    add("--dir", help="where to write the files (default /var/tmp unless it is a tmpfs)")
    add("--quick", action="store_true", help="smoke run: 2 × 64 MiB, 1 round, pause 1 s, copy")
    args = parser.parse_args()
    if args.quick:
        args.files = args.net_files = 2
        args.size_mib = args.net_size_mib = 64
        args.rounds, args.pause, args.loader = 1, 1.0, "copy"
    return args


def missing_libraries() -> str | None:
    absent = [n for n in ("torch", "numpy", "safetensors") if importlib.util.find_spec(n) is None]
    return f"missing {', '.join(absent)} (pip install 'weightlib[torch]')" if absent else None


def cleanup() -> None:
    for process in list(LIVE):
        stop_process(process)
    for pid in list(BACKGROUND):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def open_storage(
    name: str, args: argparse.Namespace, base: Path
) -> contextlib.AbstractContextManager[Storage]:
    if name == "local":
        return local_storage(base, args.files, args.size_mib)
    return netfs_storage(base, args.net_files, args.net_size_mib, args.delay_ms)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
        return
    args = parse_args()
    reason = missing_libraries()
    if reason:
        print(f"skipped: {reason}")
        return
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    base = work_base(args.dir)
    loaders = ["copy", "mmap"] if args.loader == "both" else [args.loader]
    names = ["local", "netfs"] if args.storage == "both" else [args.storage]
    missing = probe_missing(base)
    if missing:
        print(f"weightlib prefetch lacks --method {', '.join(sorted(missing))}: those rows are n/a")
    try:
        for name in names:
            try:
                with open_storage(name, args, base) as storage:
                    tally, missing = run_rounds(storage, loaders, args.rounds, args.pause, missing)
                    report(storage, tally, loaders, args.rounds, args.pause, missing)
            except Unavailable as why:
                print(f"\n== {name}: skipped: {why}")
    finally:
        cleanup()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # cleaned up already (main's finally, the storages' contexts)
        raise SystemExit("interrupted") from None
