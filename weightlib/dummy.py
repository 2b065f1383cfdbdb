"""Dummy checkpoints: the exact tensor layout of a model, filled with seeded random values.

`plan_dummy_checkpoint` reads only the safetensors headers (and the index) of a checkpoint, local
or remote, through `weightlib.checkpoint`; `write_dummy_checkpoint` then streams every shard to a
temporary file beside its final name, fsyncs it and renames it; the index is written last.
A pool of threads generates several tensors at once: one tensor's values come from one
sequential generator, and torch's CPU `uniform_` is a serial kernel that releases the GIL, so n
threads use n cores without intra-op threads (the process-wide `torch.set_num_threads` is left
alone). Each tensor is generated in small chunks written in place at its offset in a file whose
blocks were reserved up front, writeback started per chunk: memory stays at threads × chunk
whatever the model size, the disk works while values are generated, and the next shard is
generated while the previous one is fsynced. The bytes do not depend on the number of threads
or the chunk size.

Values follow vLLM's `initialize_dummy_weights`: every floating tensor is filled with
uniform(low, high) from a generator re-seeded with `seed` for that tensor, so values depend only on
seed, shape and dtype; dtypes under 16 bits (fp8) are filled in fp16 and cast; integer and bool
tensors (and float formats torch cannot unpack: F4, F6) are zeros.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import math
import os
import secrets
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import linux
from .atomic import atomic_writer, fsync_directory
from .checkpoint import Checkpoint, LocalCheckpoint, open_checkpoint, select_checkpoint_weights
from .checkpoint.local import select_checkpoint_files
from .diskspace import check_disk_space
from .errors import InvalidInputError, NotFoundError, NoWeightFilesError
from .safepath import safe_join
from .safetensors_header import (
    DTYPE_BITS,
    SafetensorsHeader,
    parse_header_json,
    parse_header_length,
)
from .shards import (
    BIN_INDEX,
    FORMAT_PATTERNS,
    SAFETENSORS_INDEX,
    require_weights,
)
from .torch_support import SAFETENSORS_TO_TORCH, import_torch

if TYPE_CHECKING:
    import torch

DTYPE_CHOICES: dict[str, str | None] = {"keep": None, "bf16": "BF16", "fp16": "F16", "fp32": "F32"}
"""`--dtype` values → the safetensors dtype floating tensors are written in (None: unchanged)."""

CONVERTIBLE_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})
"""Dtypes `--dtype` converts; quantized sub-16-bit floats (fp8, fp4, fp6) keep their layout."""

CAST_FROM_FP16_DTYPES = frozenset({"F8_E4M3", "F8_E5M2", "F8_E8M0"})
"""Floating dtypes under 16 bits: filled in fp16, then cast (vLLM's rule)."""

DIRECT_FILL_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})

DEFAULT_CHUNK_BYTES = 1024 * 1024
"""Tensor data is generated and written in chunks of this size (bounds memory per worker), small
enough that pwrite copies the values out of the core's cache: with 32 MiB chunks the copy into
the page cache cost several times more CPU (from memory) than now."""

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class PlannedTensor:
    """One tensor of an output shard: output dtype, shape and absolute byte range in the file."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    file_start: int
    nbytes: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class PlannedShard:
    """An output safetensors file: its header prefix (length + JSON), tensors in offset order."""

    path: str
    header: bytes
    tensors: tuple[PlannedTensor, ...]

    @property
    def size(self) -> int:
        return len(self.header) + sum(t.nbytes for t in self.tensors)


@dataclass
class DummyPlan:
    """What `write_dummy_checkpoint` will write for one source checkpoint."""

    source: str
    checkpoint: Checkpoint
    shards: list[PlannedShard]
    support_files: list[str]
    index_file: str | None = None
    index_bytes: bytes | None = None
    dtype: str = "keep"

    @property
    def tensor_count(self) -> int:
        return sum(len(s.tensors) for s in self.shards)

    @property
    def data_bytes(self) -> int:
        """Tensor bytes to generate (what progress counts)."""
        return sum(t.nbytes for s in self.shards for t in s.tensors)


@dataclass
class DummyResult:
    """What was written: relative paths in write order, tensor count, total bytes, wall time."""

    source: str
    output: str
    files: list[str] = field(default_factory=list)
    tensors: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def add(self, path: str, size: int) -> None:
        """Record one written file."""
        self.files.append(path)
        self.bytes += size

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "output": self.output,
            "files": self.files,
            "tensors": self.tensors,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
        }


def check_dummy_options(low: float, high: float, dtype: str) -> None:
    """Validate `--low/--high/--dtype` before anything is read."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InvalidInputError(f"--low {low} and --high {high} must be finite numbers")
    if low > high:
        raise InvalidInputError(f"--low {low} is greater than --high {high}")
    if dtype not in DTYPE_CHOICES:
        raise InvalidInputError(f"unknown --dtype {dtype!r}; use one of {', '.join(DTYPE_CHOICES)}")


def _read_header(checkpoint: Checkpoint, path: str, size: int) -> SafetensorsHeader:
    source = f"{checkpoint.name}/{path}"
    length = parse_header_length(checkpoint.read_range(path, 0, 8), size, source)
    header = checkpoint.read_range(path, 8, length)
    return parse_header_json(header, size, source, header_size=length)


def _nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    return math.prod(shape) * DTYPE_BITS[dtype] // 8


def build_safetensors_header(
    tensors: Iterable[tuple[str, str, tuple[int, ...]]], metadata: Mapping[str, str] | None = None
) -> tuple[bytes, list[PlannedTensor]]:
    """Length prefix + JSON header (space-padded to a multiple of 8) for tensors in this order."""
    entries: dict[str, Any] = {}
    if metadata is not None:
        entries["__metadata__"] = dict(metadata)
    layout: list[tuple[str, str, tuple[int, ...], int, int]] = []
    offset = 0
    for name, dtype, shape in tensors:
        nbytes = _nbytes(dtype, shape)
        entries[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + nbytes],
        }
        layout.append((name, dtype, shape, offset, nbytes))
        offset += nbytes
    text = json.dumps(entries, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    prefix = len(text).to_bytes(8, "little") + text
    planned = [PlannedTensor(n, d, s, len(prefix) + b, nb) for n, d, s, b, nb in layout]
    return prefix, planned


def _plan_shard(path: str, header: SafetensorsHeader, target: str | None) -> PlannedShard:
    specs = []
    for info in header.tensors:  # data order of the source
        dtype = target if target is not None and info.dtype in CONVERTIBLE_DTYPES else info.dtype
        specs.append((info.name, dtype, info.shape))
    if target is not None:
        # Changed element sizes could misalign tensors; largest elements first keeps every
        # tensor aligned to its element size (no holes are allowed in safetensors data).
        specs.sort(key=lambda spec: -DTYPE_BITS[spec[1]])
    prefix, planned = build_safetensors_header(specs, header.metadata)
    return PlannedShard(path, prefix, tuple(planned))


def _support_files(checkpoint: Checkpoint) -> list[str]:
    """The support files `download` takes (`weightlib.serving_files`: config, tokenizer,
    sentence-transformers modules with their small weights, …), copied as they are; the index
    is left out (it is written last, retyped)."""
    support = select_checkpoint_files(checkpoint, "safetensors").support
    return [s.file for s in support if s.file not in (SAFETENSORS_INDEX, BIN_INDEX)]


def plan_dummy_checkpoint(
    model: str | os.PathLike[str] | Checkpoint, dtype: str = "keep"
) -> DummyPlan:
    """Read the index and safetensors headers of `model` (no tensor data) and lay out the output."""
    if dtype not in DTYPE_CHOICES:
        raise InvalidInputError(f"unknown --dtype {dtype!r}; use one of {', '.join(DTYPE_CHOICES)}")
    if isinstance(model, (str, os.PathLike)):
        name = os.fspath(model)
        try:
            checkpoint = open_checkpoint(name)
        except ImportError:
            raise NotFoundError(
                f"{name}: no such folder (remote repositories are not available in this build)"
            ) from None
    else:
        checkpoint = model
    sizes = checkpoint.file_sizes()
    selection = select_checkpoint_weights(checkpoint, "safetensors")
    if not selection.files and not selection.missing:
        raise NoWeightFilesError(
            f"{checkpoint.name}: no safetensors files found (dummy-init copies their headers)"
        )
    require_weights(selection, checkpoint.name)
    target = DTYPE_CHOICES[dtype]
    shards = [
        _plan_shard(p, _read_header(checkpoint, p, sizes[p]), target) for p in selection.files
    ]
    plan = DummyPlan(checkpoint.name, checkpoint, shards, _support_files(checkpoint), dtype=dtype)
    if selection.index_file is not None:
        plan.index_file = selection.index_file
        original = checkpoint.read_file(selection.index_file)
        plan.index_bytes = original if target is None else _retyped_index(original, plan)
    return plan


def _retyped_index(original: bytes, plan: DummyPlan) -> bytes:
    """The index with the same weight_map and `total_size` updated for the converted dtypes."""
    document = json.loads(original)
    metadata = document.get("metadata")
    if isinstance(metadata, dict) and "total_size" in metadata:
        metadata["total_size"] = plan.data_bytes
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def check_output_dir(
    output: str | os.PathLike[str], force: bool, model_folder: Path | None = None
) -> Path:
    """`output` after the checks: not a file, not inside the model, empty unless `force`."""
    if not os.fspath(output).strip():
        raise InvalidInputError("--output is empty: give the folder to write")
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"{output}: exists and is not a directory")
    if model_folder is not None:
        model_real, out_real = model_folder.resolve(), out.resolve()
        if out_real == model_real or model_real in out_real.parents:
            raise InvalidInputError(
                f"{output}: is inside the model folder {model_folder}; choose another --output"
            )
    if out.is_dir() and not force and any(out.iterdir()):
        raise InvalidInputError(f"{output}: exists and is not empty (use --force to write into it)")
    return out


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _create_temp(target: Path) -> tuple[int, Path]:
    """An O_EXCL temp file beside `target` with the umask's permissions, as (fd, path)."""
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o666 & ~_current_umask())
    except BaseException:
        os.close(fd)
        os.unlink(temp)
        raise
    return fd, temp


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    """pwrite until all of `data` is written (a write may be short)."""
    while data:
        written = os.pwrite(fd, data, offset)
        data = data[written:]
        offset += written


def _allocate(fd: int, size: int) -> None:
    """Reserve the file's blocks up front (best effort, no zeros written where unsupported):
    tensors are written in parallel, out of order, and would otherwise scatter its extents."""
    with contextlib.suppress(OSError):
        linux.fallocate(fd, 0, size)


def _write_at(fd: int, data: memoryview, offset: int) -> None:
    """Write all of `data` at `offset`, then start its writeback (best effort): the disk then
    works while later tensors are generated, instead of all at once in the final fsync."""
    _pwrite_all(fd, data, offset)
    with contextlib.suppress(OSError):
        linux.start_writeback(fd, offset, data.nbytes)


class _Stopped(Exception):
    """Raised in a worker when the run is failing or interrupted: it stops at the next chunk."""


class _Filler:
    """Generates a tensor's values chunk by chunk (same values as one whole fill), writes them."""

    def __init__(
        self, seed: int, low: float, high: float, chunk_bytes: int, progress: ProgressCallback
    ) -> None:
        self.torch = import_torch("dummy checkpoints")
        self.seed, self.low, self.high = seed, low, high
        self.chunk_bytes = max(chunk_bytes, 4096)
        self.progress = progress
        self.zeros = memoryview(bytes(min(self.chunk_bytes, 1 << 22)))
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.local = threading.local()

    def run(self, fd: int, tensor: PlannedTensor) -> None:
        """`write_tensor` for the pool: a failure also stops every other worker (the first
        failure is kept for the caller, which then sees `_Stopped` from the others)."""
        try:
            self.write_tensor(fd, tensor)
        except _Stopped:
            raise
        except BaseException as error:
            if self.failure is None:
                self.failure = error
            self.stop.set()
            raise

    def _buffer(self, dtype: torch.dtype, count: int) -> torch.Tensor:
        """This thread's reusable buffer of `dtype`, `count` long (memory: threads × chunk)."""
        buffers: dict[torch.dtype, torch.Tensor] = self.local.__dict__.setdefault("buffers", {})
        buffer = buffers.get(dtype)
        if buffer is None or buffer.numel() < count:
            buffer = buffers[dtype] = self.torch.empty(count, dtype=dtype)
        return buffer[:count]

    def write_tensor(self, fd: int, tensor: PlannedTensor) -> None:
        """Fill `tensor` from a generator seeded for it alone and write it at its offset."""
        torch = self.torch
        if tensor.dtype not in DIRECT_FILL_DTYPES and tensor.dtype not in CAST_FROM_FP16_DTYPES:
            self._write_zeros(fd, tensor)
            return
        out_dtype = getattr(torch, SAFETENSORS_TO_TORCH[tensor.dtype])
        cast_from_fp16 = tensor.dtype in CAST_FROM_FP16_DTYPES
        fill_dtype = torch.float16 if cast_from_fp16 else out_dtype
        itemsize = DTYPE_BITS[tensor.dtype] // 8
        step = max(1, self.chunk_bytes // itemsize)
        generator = torch.Generator().manual_seed(self.seed)
        for start in range(0, tensor.numel, step):
            if self.stop.is_set():
                raise _Stopped
            count = min(step, tensor.numel - start)
            chunk = self._buffer(fill_dtype, count)
            chunk.uniform_(self.low, self.high, generator=generator)
            if cast_from_fp16:
                chunk = self._buffer(out_dtype, count).copy_(chunk)
            raw = chunk.view(torch.uint8).numpy().data
            _write_at(fd, raw, tensor.file_start + start * itemsize)
            self.progress(raw.nbytes)

    def _write_zeros(self, fd: int, tensor: PlannedTensor) -> None:
        """Integers, bool, complex, and floats without a torch dtype (F4, F6): written zeros."""
        done = 0
        while done < tensor.nbytes:
            if self.stop.is_set():
                raise _Stopped
            count = min(len(self.zeros), tensor.nbytes - done)
            _write_at(fd, self.zeros[:count], tensor.file_start + done)
            done += count
            self.progress(count)


def _remove_stale_weights(out: Path, keep: set[str]) -> None:
    """With --force: drop root weight/index files this run does not write, and stale temp files."""
    patterns = (*FORMAT_PATTERNS.values(), SAFETENSORS_INDEX, BIN_INDEX)
    leftovers = tuple(f".{name}.*.tmp" for name in keep if "/" not in name)
    for entry in out.iterdir():
        if entry.name in keep or not entry.is_file():
            continue
        if any(fnmatch.fnmatchcase(entry.name, p) for p in (*patterns, *leftovers)):
            entry.unlink()  # a stale weight file, or a temp file of an interrupted run


OPEN_SHARDS = 2
"""Shards in progress at once: the next one is generated while the previous one is fsynced."""


def _prepare_output(plan: DummyPlan, output: str | os.PathLike[str], force: bool) -> Path:
    """The checked output folder, with room for the plan and every name proven safe."""
    model_folder = plan.checkpoint.folder if isinstance(plan.checkpoint, LocalCheckpoint) else None
    out = check_output_dir(output, force, model_folder)
    out.mkdir(parents=True, exist_ok=True)
    replaced = sum((out / s.path).stat().st_size for s in plan.shards if (out / s.path).is_file())
    largest = max((s.size for s in plan.shards), default=0)
    # Files being replaced still exist while the temp files of up to OPEN_SHARDS shards grow.
    needed = (
        sum(s.size for s in plan.shards) - replaced + (OPEN_SHARDS * largest if replaced else 0)
    )
    check_disk_space(out, needed, f"dummy checkpoint in {out}")
    # Names come from the source's index and listing: refuse a hostile one before any write.
    names = [s.path for s in plan.shards] + list(plan.support_files)
    names += [plan.index_file] if plan.index_file is not None else []
    for name in names:
        safe_join(out, name, plan.source)
    return out


@dataclass
class _OpenShard:
    """A shard being written: its temp file and the pool jobs filling it."""

    shard: PlannedShard
    target: Path
    fd: int
    temp: Path
    jobs: list[Future[None]] = field(default_factory=list)

    def finish(self) -> None:
        """Wait for its tensors, fsync the temp file and rename it to the final name."""
        for job in self.jobs:
            job.result()
        os.fsync(self.fd)
        fd, self.fd = self.fd, -1
        os.close(fd)
        os.replace(self.temp, self.target)
        fsync_directory(self.target.parent)

    def abandon(self) -> None:
        """Cancel its jobs, wait for the running ones (they stop within a chunk), remove the
        temp file: no job may still write once it is gone."""
        for job in self.jobs:
            job.cancel()
        for job in self.jobs:
            with contextlib.suppress(BaseException):
                job.result()
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp)


def _start_shard(shard: PlannedShard, out: Path, source: str) -> _OpenShard:
    """Create the shard's temp file beside its final name (and the folders it needs)."""
    target = safe_join(out, shard.path, source)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = _create_temp(target)
    return _OpenShard(shard, target, fd, temp)


def _fill_shard(item: _OpenShard, filler: _Filler, pool: ThreadPoolExecutor) -> None:
    """Size the file, write the header and queue its tensors, largest first: the last shard's
    tail is then short tensors that spread over the threads, not one long one."""
    os.ftruncate(item.fd, item.shard.size)
    _allocate(item.fd, item.shard.size)
    _write_at(item.fd, memoryview(item.shard.header), 0)
    for tensor in sorted(item.shard.tensors, key=lambda t: -t.nbytes):
        item.jobs.append(pool.submit(filler.run, item.fd, tensor))


def _finish_oldest(pending: deque[_OpenShard], result: DummyResult) -> None:
    """Finish the first open shard and record it; it leaves `pending` only once renamed."""
    pending[0].finish()
    result.add(pending[0].shard.path, pending[0].shard.size)
    pending.popleft()


def _write_shards(
    plan: DummyPlan, out: Path, filler: _Filler, threads: int, result: DummyResult
) -> None:
    """Every shard through one pool of `threads`, in order; each is complete (fsynced) before
    it takes its final name, and the next shard's tensors are generated meanwhile."""
    pending: deque[_OpenShard] = deque()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dummy-init") as pool:
        try:
            for shard in plan.shards:
                pending.append(_start_shard(shard, out, plan.source))
                _fill_shard(pending[-1], filler, pool)
                if len(pending) == OPEN_SHARDS:
                    _finish_oldest(pending, result)
            while pending:
                _finish_oldest(pending, result)
        except BaseException as error:  # a failure or Ctrl-C: stop the workers, remove temp files
            filler.stop.set()
            for item in pending:
                item.abandon()
            if isinstance(error, _Stopped) and filler.failure is not None:
                raise filler.failure from None  # what stopped the worker we waited for
            raise


def _write_small_file(out: Path, source: str, name: str, data: bytes) -> Path:
    """A support or index file, written atomically."""
    target = safe_join(out, name, source)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(target, "wb") as handle:
        handle.write(data)
    return target


def default_threads() -> int:
    """min(4, CPU count): each thread fills one tensor on one core (torch's uniform_ is serial);
    beyond a few, the disk is the limit."""
    return min(4, os.cpu_count() or 1)


def _thread_count(threads: int | None) -> int:
    """`threads`, checked, or the default for None."""
    if threads is None:
        return default_threads()
    if threads < 1:
        raise InvalidInputError(f"threads must be at least 1, got {threads}")
    return threads


def write_dummy_checkpoint(
    plan: DummyPlan,
    output: str | os.PathLike[str],
    *,
    seed: int = 1234,
    low: float = -1e-3,
    high: float = 1e-3,
    force: bool = False,
    progress: ProgressCallback | None = None,
    threads: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    workers: int | None = None,
) -> DummyResult:
    """Write the planned checkpoint into `output`: shards, support files, then the index.

    Each file is written to a temp file beside its final name, fsynced and renamed, so an
    interrupted run never leaves an incomplete file under a final name. Tensors are generated
    by `threads` threads (default `default_threads()`; `workers` is its former name), different
    tensors in parallel, in chunks of `chunk_bytes` written in place as they come, so memory
    stays at about threads × chunk_bytes whatever the tensor sizes. The bytes do not depend on
    `threads` or `chunk_bytes`.
    """
    check_dummy_options(low, high, plan.dtype)
    count = _thread_count(threads if threads is not None else (workers or None))
    started = time.monotonic()
    lock = threading.Lock()

    def advance(n: int) -> None:
        if progress is not None:
            with lock:
                progress(n)

    filler = _Filler(seed, low, high, chunk_bytes, advance)  # needs torch: before any mkdir
    result = DummyResult(plan.source, os.fspath(output), tensors=plan.tensor_count)
    with _removed_if_left_empty(output):
        out = _prepare_output(plan, output, force)
        _write_shards(plan, out, filler, count, result)
        for path in plan.support_files:
            data = plan.checkpoint.read_file(path)
            _copy_mode(plan.checkpoint, path, _write_small_file(out, plan.source, path, data))
            result.add(path, len(data))
    if force:
        _remove_stale_weights(out, {*result.files, *([plan.index_file] if plan.index_file else [])})
    if plan.index_file is not None and plan.index_bytes is not None:
        _write_small_file(out, plan.source, plan.index_file, plan.index_bytes)
        result.add(plan.index_file, len(plan.index_bytes))
    result.seconds = time.monotonic() - started
    return result


@contextlib.contextmanager
def _removed_if_left_empty(output: str | os.PathLike[str]) -> Iterator[None]:
    """On a failure inside the block, remove the folders this run created for `output` (it, the
    parents it lacked, the subfolders of shards) that are still empty; re-raise.

    Only folders missing when the block began are candidates, and only `rmdir` removes them, so
    a folder that existed, or one holding a file, is never removed.
    """
    created: list[Path] = []
    folder = Path(output)
    while not folder.exists() and folder != folder.parent:
        created.append(folder)
        folder = folder.parent
    try:
        yield
    except BaseException:
        if created:
            inner = [
                Path(top, name)
                for top, names, _ in os.walk(created[0], topdown=False)
                for name in names
            ]
            for empty in (*inner, *created):  # deepest first
                with contextlib.suppress(OSError):
                    empty.rmdir()
        raise


def _copy_mode(checkpoint: Checkpoint, path: str, target: Path) -> None:
    """Keep the executable bit of local support files (custom model code scripts)."""
    if isinstance(checkpoint, LocalCheckpoint):
        with contextlib.suppress(OSError):
            mode = stat.S_IMODE(os.stat(checkpoint.local_path(path)).st_mode)
            if mode & 0o111:
                os.chmod(target, mode)


def dummy_init(
    model: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    seed: int = 1234,
    low: float = -1e-3,
    high: float = 1e-3,
    dtype: str = "keep",
    force: bool = False,
    progress: ProgressCallback | None = None,
    threads: int | None = None,
) -> DummyResult:
    """Plan and write a dummy checkpoint of `model` into `output` (library form of `dummy-init`);
    `threads` generate tensors in parallel (default `default_threads()`, same bytes for any)."""
    check_dummy_options(low, high, dtype)
    plan = plan_dummy_checkpoint(model, dtype)
    return write_dummy_checkpoint(
        plan,
        output,
        seed=seed,
        low=low,
        high=high,
        force=force,
        progress=progress,
        threads=threads,
    )


DUMMY_RANGE = 1e-3
"""Half-width of the uniform range dummy floats are drawn from (vLLM's default)."""
DUMMY_FP8_RANGE = 1.0
"""The same for floats under 16 bits: ±1e-3 would round to zero there."""
DUMMY_E8M0_SCALE_BYTE = 120
"""The byte an E8M0 scale is filled with (2**-7), as vLLM does: every value finite and small."""


def _fill_bytes(torch: Any, param: torch.Tensor, seed: int, name: str) -> bool:
    """vLLM's 8-bit cases: E8M0 scales get a fixed byte, int8/uint8 (and packed FP4) random
    bytes from a generator seeded with `seed`. True when `param` was one of them."""
    e8m0 = getattr(torch, "float8_e8m0fnu", None)
    if param.dtype == e8m0 or (param.dtype == torch.uint8 and "scale" in name):
        param.view(torch.uint8).fill_(DUMMY_E8M0_SCALE_BYTE)
        return True
    packed = tuple(d for d in (getattr(torch, "float4_e2m1fn_x2", None),) if d is not None)
    if param.dtype not in (torch.uint8, torch.int8, *packed):
        return False
    generator = torch.Generator(device=param.device)
    generator.manual_seed(seed)
    if param.dtype == torch.int8:
        param.random_(-128, 128, generator=generator)
    else:
        param.view(torch.uint8).random_(0, 256, generator=generator)
    return True


def initialize_single_dummy_weight(
    param: torch.Tensor,
    low: float | None = None,
    high: float | None = None,
    seed: int = 1234,
    name: str = "",
) -> None:
    """Fill `param` in place with deterministic dummy values for its dtype, as vLLM 0.34 does.

    Floats: uniform(low, high) from a generator seeded with `seed` (default ±1e-3, ±1 under
    16 bits, drawn in fp16 and cast); int8/uint8 and packed FP4: seeded random bytes; E8M0
    scales (or uint8 tensors whose `name` says scale): a fixed small exponent. A tensor with a
    `dummy_weight_value` attribute is filled with it; meta and other integer tensors are left.
    """
    torch = import_torch("initialize_single_dummy_weight")
    if param.device.type == "meta":
        return
    if (value := getattr(param, "dummy_weight_value", None)) is not None:
        param.fill_(value)
        return
    if _fill_bytes(torch, param, seed, name) or not torch.is_floating_point(param):
        return
    width = DUMMY_FP8_RANGE if torch.finfo(param.dtype).bits < 16 else DUMMY_RANGE
    low = -width if low is None else low
    high = width if high is None else high
    generator = torch.Generator(device=param.data.device)
    generator.manual_seed(seed)
    if torch.finfo(param.data.dtype).bits < 16:
        temp = torch.empty(param.data.shape, dtype=torch.float16, device=param.data.device)
        temp.uniform_(low, high, generator=generator)
        param.data.copy_(temp)
    else:
        param.data.uniform_(low, high, generator=generator)


def initialize_dummy_weights(
    model: torch.nn.Module,
    model_config: object | None = None,
    low: float = -1e-3,
    high: float = 1e-3,
    seed: int = 1234,
) -> None:
    """Fill every floating parameter and buffer of `model` with seeded uniform values (as vLLM).

    Each tensor gets a generator re-seeded with `seed`, so values depend only on seed, shape and
    dtype, never on the order or partitioning of parameters. `model_config` is accepted for
    vLLM compatibility and unused.
    """
    import_torch("initialize_dummy_weights")
    check_dummy_options(low, high, "keep")
    for name, tensor in model.state_dict().items():
        initialize_single_dummy_weight(tensor, low, high, seed, name)
