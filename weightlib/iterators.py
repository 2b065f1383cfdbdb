"""Weight iterators yielding `(name, tensor)` from checkpoint files (vLLM-compatible names).

All need the `torch` extra; the fastsafetensors, runai-model-streamer and instanttensor backends
need the `loaders` extra. torch and the backends are imported inside the functions. Files are read
in natural order. Progress (`use_tqdm_on_load=True`) is a Rich bar on stderr when stderr is a
terminal, and nothing otherwise.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import pickle
import re
import sys
import threading
from collections import deque
from collections.abc import Callable, Collection, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .atomic import atomic_writer
from .errors import IntegrityError, InvalidInputError
from .fs import get_fs_type, is_network_fs
from .locks import get_lock, hold_lock
from .memory import available_memory_bytes
from .natural_order import natural_sort_key
from .safetensors_header import read_safetensors_header
from .torch_support import import_optional, import_torch, torch_dtype

if TYPE_CHECKING:
    import torch

WeightIterator = Generator[tuple[str, "torch.Tensor"], None, None]

SAFETENSORS_LOAD_STRATEGIES = (None, "lazy", "eager", "prefetch")

_EXPERT_ID = re.compile(r"\.experts\.(\d+)\.")

PREFETCH_BLOCK = 16 * 1024 * 1024


class UnsafeCheckpointError(IntegrityError):
    """A pickle checkpoint holds something other than tensors (refused: exit 6)."""


def _sorted_files(files: Iterable[str | os.PathLike[str]]) -> list[str]:
    return sorted((os.fspath(f) for f in files), key=natural_sort_key)


def extract_expert_id(name: str) -> int | None:
    """The expert index in a MoE tensor name (`….experts.12.…` → 12), or None."""
    match = _EXPERT_ID.search(name)
    return int(match.group(1)) if match else None


_EXPERT_WEIGHT_SUFFIXES = (".weight", ".weight_packed")
"""vLLM's `should_skip_weight` skips only these tensors of other experts; their scales and
other tensors are always yielded."""


def _wanted(name: str, local_expert_ids: Collection[int] | None) -> bool:
    """False for a weight of an expert that is not local (vLLM's `should_skip_weight`)."""
    if local_expert_ids is None:
        return True
    expert = extract_expert_id(name)
    if expert is None or not name.endswith(_EXPERT_WEIGHT_SUFFIXES):
        return True
    return expert in local_expert_ids


@contextlib.contextmanager
def _progress(total: int, description: str, enabled: bool) -> Iterator[Callable[[], None]]:
    """A step callback drawing a Rich bar on stderr (terminal only); a no-op otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.console import Console  # start-up: drawn only on a terminal
    from rich.progress import Progress

    with Progress(console=Console(file=sys.stderr), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)


def _read_tensor(fd: int, info: Any, path: str) -> torch.Tensor:
    """One tensor read with pread into its own (aligned) buffer, not through mmap."""
    torch_mod = import_torch("safetensors_weights_iterator")
    dtype = torch_dtype(info.dtype, f"{path}: tensor {info.name!r}")
    if info.nbytes == 0:
        empty: torch.Tensor = torch_mod.empty(info.shape, dtype=dtype)
        return empty
    buffer = torch_mod.empty(info.nbytes, dtype=torch_mod.uint8)
    view = memoryview(buffer.numpy())
    done = 0
    while done < info.nbytes:
        count = os.preadv(fd, [view[done:]], info.file_start + done)
        if count == 0:
            raise IntegrityError(f"{path}: file ends inside tensor {info.name!r}")
        done += count
    result: torch.Tensor = buffer.view(dtype).reshape(info.shape)
    return result


def _warm_ranges(path: str, ranges: list[tuple[int, int]], stop: threading.Event) -> None:
    """Read `ranges` of `path` once so later reads hit the page cache (errors are ignored)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            buffer = mmap.mmap(-1, PREFETCH_BLOCK)
            view = memoryview(buffer)
            for start, end in ranges:
                offset = start
                while offset < end and not stop.is_set():
                    count = os.preadv(fd, [view[: min(PREFETCH_BLOCK, end - offset)]], offset)
                    if count <= 0:
                        break
                    offset += count
            view.release()
            buffer.close()
        finally:
            os.close(fd)


def _wanted_ranges(path: str, local_expert_ids: Collection[int] | None) -> list[tuple[int, int]]:
    header = read_safetensors_header(path)
    if local_expert_ids is None:
        return [(0, header.file_size)]
    ranges: list[tuple[int, int]] = [(0, header.data_start)]
    for info in header.tensors:
        if not _wanted(info.name, local_expert_ids):
            continue
        if ranges[-1][1] == info.file_start:
            ranges[-1] = (ranges[-1][0], info.file_end)
        else:
            ranges.append((info.file_start, info.file_end))
    return ranges


def _choose_strategy(files: list[str]) -> str:
    """vLLM's auto choice: prefetch on network filesystems when the set fits in 90 % of the
    available memory, else lazy. Available memory is `weightlib.memory.available_memory_bytes`
    (MemAvailable, lowered by cgroup limits), the figure of the CLI's memory guard: page cache
    that can be reclaimed counts as available, as in vLLM's `get_available_memory`."""
    if not files or not is_network_fs(get_fs_type(files[0])):
        return "lazy"
    try:
        available = available_memory_bytes()
    except (OSError, ValueError):
        return "lazy"
    total = sum(os.path.getsize(f) for f in files)
    return "prefetch" if total <= 0.9 * available else "lazy"


def safetensors_weights_iterator(
    hf_weights_files: Iterable[str | os.PathLike[str]],
    use_tqdm_on_load: bool = False,
    safetensors_load_strategy: str | None = None,
    local_expert_ids: Collection[int] | None = None,
) -> WeightIterator:
    """Yield every tensor of the safetensors files, in natural file order.

    Strategies: "lazy" (mmap through `safe_open`, pages faulted on access), "eager" (plain
    `pread` of each tensor into its own buffer), "prefetch" (a background thread reads the next
    files ahead so they are in the page cache, then lazy), None (prefetch on a network filesystem
    when the files fit in memory, else lazy). With `local_expert_ids`, the weights of other
    experts (`….experts.N.….weight` or `.weight_packed`, as vLLM's `should_skip_weight`; their
    scales are kept) are skipped before any of their bytes are read.
    """
    if safetensors_load_strategy not in SAFETENSORS_LOAD_STRATEGIES:
        raise InvalidInputError(
            f"unknown safetensors_load_strategy {safetensors_load_strategy!r}; "
            "use None, 'lazy', 'eager' or 'prefetch'"
        )
    files = _sorted_files(hf_weights_files)
    strategy = safetensors_load_strategy or _choose_strategy(files)
    stop = threading.Event()
    warmer: threading.Thread | None = None
    if strategy == "prefetch" and files:
        plan = [(f, _wanted_ranges(f, local_expert_ids)) for f in files]

        def warm_all() -> None:
            for path, ranges in plan:
                if stop.is_set():
                    return
                _warm_ranges(path, ranges, stop)

        warmer = threading.Thread(target=warm_all, name="weightlib-prefetch", daemon=True)
        warmer.start()
    try:
        with _progress(len(files), "Loading safetensors shards", use_tqdm_on_load) as step:
            for path in files:
                if strategy == "eager":
                    yield from _eager_file(path, local_expert_ids)
                else:
                    yield from _lazy_file(path, local_expert_ids)
                step()
    finally:
        stop.set()
        if warmer is not None:
            warmer.join()


def _lazy_file(path: str, local_expert_ids: Collection[int] | None) -> WeightIterator:
    import_torch("safetensors_weights_iterator")
    from safetensors import safe_open  # start-up: the Rust extension loads on first read

    with safe_open(path, framework="pt") as handle:
        for name in handle.keys():  # noqa: SIM118 (safe_open is not a mapping)
            if _wanted(name, local_expert_ids):
                yield name, handle.get_tensor(name)


def _eager_file(path: str, local_expert_ids: Collection[int] | None) -> WeightIterator:
    header = read_safetensors_header(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        for info in header.tensors:  # data order: sequential reads
            if _wanted(info.name, local_expert_ids):
                yield info.name, _read_tensor(fd, info, path)
    finally:
        os.close(fd)


def torch_load_weights(path: str, map_location: Any = "cpu") -> dict[str, torch.Tensor]:
    """`torch.load(weights_only=True)`; anything that is not a dict of tensors is refused."""
    torch = import_torch("pt_weights_iterator")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "unsupported pickle content"
        raise UnsafeCheckpointError(
            f"{path}: refused: not a plain tensor checkpoint ({reason})"
        ) from None
    except (RuntimeError, EOFError) as exc:
        raise IntegrityError(
            f"{path}: cannot read checkpoint ({' '.join(str(exc).split())})"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UnsafeCheckpointError(
            f"{path}: refused: holds a {type(state).__name__}, not a dict of tensors"
        )
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise UnsafeCheckpointError(
                f"{path}: refused: entry {key!r} is a {type(value).__name__}, not a tensor"
            )
    return state


def pt_weights_iterator(
    hf_weights_files: Iterable[str | os.PathLike[str]],
    use_tqdm_on_load: bool = False,
    pt_load_map_location: Any = "cpu",
) -> WeightIterator:
    """Yield the tensors of PyTorch `.bin`/`.pt` files, loaded with `weights_only=True` always."""
    files = _sorted_files(hf_weights_files)
    with _progress(len(files), "Loading pt checkpoint shards", use_tqdm_on_load) as step:
        for path in files:
            state = torch_load_weights(path, pt_load_map_location)
            yield from state.items()
            del state
            step()


def _windowed(
    files: list[str], load: Callable[[str], dict[str, Any]], max_workers: int
) -> Iterator[dict[str, Any]]:
    """Load files in a thread pool with at most `max_workers` in flight; results in file order."""
    if max_workers < 1:
        raise InvalidInputError(f"max_workers must be at least 1, got {max_workers}")
    pending: deque[Future[dict[str, Any]]] = deque()
    remaining = iter(files)
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="weightlib-load") as pool:
        try:
            for path in remaining:
                pending.append(pool.submit(load, path))
                if len(pending) >= max_workers:
                    break
            while pending:
                state = pending.popleft().result()
                for path in remaining:
                    pending.append(pool.submit(load, path))
                    break
                yield state
        finally:
            for future in pending:
                future.cancel()


def multi_thread_safetensors_weights_iterator(
    hf_weights_files: Iterable[str | os.PathLike[str]],
    use_tqdm_on_load: bool = False,
    max_workers: int = 4,
) -> WeightIterator:
    """Yield tensors of safetensors files, each loaded whole by `load_file` in a thread pool."""
    import_torch("multi_thread_safetensors_weights_iterator")
    from safetensors.torch import load_file  # imports torch: the torch extra

    files = _sorted_files(hf_weights_files)
    with _progress(len(files), "Loading safetensors shards", use_tqdm_on_load) as step:
        for state in _windowed(files, load_file, max_workers):
            yield from state.items()
            step()


def multi_thread_pt_weights_iterator(
    hf_weights_files: Iterable[str | os.PathLike[str]],
    use_tqdm_on_load: bool = False,
    pt_load_map_location: Any = "cpu",
    max_workers: int = 4,
) -> WeightIterator:
    """Yield tensors of `.bin`/`.pt` files loaded (`weights_only=True`) in a thread pool."""
    files = _sorted_files(hf_weights_files)

    def load(path: str) -> dict[str, Any]:
        return torch_load_weights(path, pt_load_map_location)

    with _progress(len(files), "Loading pt checkpoint shards", use_tqdm_on_load) as step:
        for state in _windowed(files, load, max_workers):
            yield from state.items()
            step()


_INT_OF_WIDTH = {1: "uint8", 2: "int16", 4: "int32", 8: "int64"}

NP_CACHE_NAMES_FILE = "weight_names.json"
"""vLLM's completion marker of `hf_folder/np`: a JSON list of tensor names, written last."""


class NumpyCacheError(IntegrityError):
    """A numpy cache folder (`np/`) not in vLLM's layout, or a tensor name that cannot be one of
    its files (exit 6)."""


def _check_cache_name(name: object, where: str) -> str:
    """`name` if it can be one file in `np/` (vLLM stores each tensor as `np/<name>`)."""
    try:
        size = len(name.encode("utf-8", "surrogateescape")) if isinstance(name, str) else 0
    except UnicodeError:
        size = 0
    if (
        not isinstance(name, str)
        or name in (".", "..", NP_CACHE_NAMES_FILE)
        or "/" in name
        or "\0" in name
        or not 0 < size <= 255
    ):
        raise NumpyCacheError(
            f"{where}: tensor name {name!r} cannot be a file of the numpy cache (vLLM's layout "
            "stores each tensor as np/<name>): use pt_weights_iterator for this checkpoint"
        )
    return name


def _to_numpy(tensor: torch.Tensor) -> Any:
    """The array vLLM saves (`tensor.cpu().detach().numpy()`); for dtypes numpy lacks (bf16,
    fp8 …) the same bytes as a one-field record named after the torch dtype."""
    import numpy as np  # the torch extra: loaded only for this iterator

    torch_mod = import_torch("np_cache_weights_iterator")
    data = tensor.detach().cpu().contiguous()
    try:
        return data.numpy()
    except TypeError:
        pass
    dtype_name = str(data.dtype).removeprefix("torch.")
    if data.element_size() not in _INT_OF_WIDTH:
        raise NumpyCacheError(f"np_cache_weights_iterator: cannot store {dtype_name} tensors")
    raw = data.view(getattr(torch_mod, _INT_OF_WIDTH[data.element_size()])).numpy()
    return raw.view(np.dtype([(dtype_name, raw.dtype)]))


def _from_numpy(array: Any, where: str) -> torch.Tensor:
    """The tensor of a cached array: plain arrays as vLLM reads them, records as `_to_numpy`
    wrote them."""
    torch_mod = import_torch("np_cache_weights_iterator")
    fields = array.dtype.names
    if fields is None:
        try:
            plain: torch.Tensor = torch_mod.from_numpy(array)
        except TypeError:
            raise NumpyCacheError(f"{where}: holds a numpy {array.dtype} array") from None
        return plain
    dtype = getattr(torch_mod, fields[0], None) if len(fields) == 1 else None
    if not isinstance(dtype, torch_mod.dtype) or dtype.itemsize != array.dtype.itemsize:
        raise NumpyCacheError(f"{where}: holds a numpy record array {array.dtype}")
    result: torch.Tensor = torch_mod.from_numpy(array.view(array.dtype[0])).view(dtype)
    return result


def _dump_np_cache(files: list[str], np_folder: str, use_tqdm_on_load: bool) -> None:
    """vLLM's dump: each tensor as `np/<name>` (`np.save`), then the list of names."""
    import numpy as np  # the torch extra: loaded only for this iterator

    names: list[str] = []
    with _progress(len(files), "Dumping pt checkpoint to numpy", use_tqdm_on_load) as step:
        for path in files:
            state = torch_load_weights(path)
            for name in state:
                _check_cache_name(name, path)
            for name, tensor in state.items():
                with atomic_writer(os.path.join(np_folder, name), "wb") as handle:
                    np.save(handle, _to_numpy(tensor), allow_pickle=False)
                names.append(name)
            del state
            step()
    with atomic_writer(os.path.join(np_folder, NP_CACHE_NAMES_FILE), "w") as handle:
        json.dump(names, handle)


def _read_np_cache_names(np_folder: str) -> list[str]:
    """The names of vLLM's `weight_names.json`; `NumpyCacheError` for any other layout."""
    names_file = os.path.join(np_folder, NP_CACHE_NAMES_FILE)
    rebuild = f"delete {np_folder} to rebuild the cache"
    try:
        with open(names_file, encoding="utf-8") as handle:
            names = json.load(handle)
    except (OSError, ValueError) as exc:
        raise NumpyCacheError(f"{names_file}: unreadable ({exc}); {rebuild}") from None
    if not isinstance(names, list):
        raise NumpyCacheError(f"{names_file}: not a list of tensor names; {rebuild}")
    if any(isinstance(n, dict) for n in names):
        raise NumpyCacheError(
            f"{names_file}: written by an older weightlib (objects, not vLLM's list of names), "
            f"which vLLM cannot read; {rebuild}"
        )
    return [_check_cache_name(n, names_file) for n in names]


def _load_cached(np_folder: str, name: str) -> torch.Tensor:
    import numpy as np  # the torch extra: loaded only for this iterator

    path = os.path.join(np_folder, name)
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise NumpyCacheError(
            f"{np_folder}: {name!r} is in {NP_CACHE_NAMES_FILE} but its file is missing; "
            f"delete {np_folder} to rebuild the cache"
        ) from None
    except (OSError, ValueError, EOFError) as exc:
        raise NumpyCacheError(f"{path}: not a numpy array file ({exc})") from None
    if not isinstance(array, np.ndarray):
        raise NumpyCacheError(f"{path}: not a numpy array file (an .npz archive)")
    return _from_numpy(array, path)


def np_cache_weights_iterator(
    model_name_or_path: str,
    cache_dir: str | os.PathLike[str] | None,
    hf_folder: str | os.PathLike[str],
    hf_weights_files: Iterable[str | os.PathLike[str]],
    use_tqdm_on_load: bool = False,
    lock_timeout: float | None = None,
) -> WeightIterator:
    """Yield tensors from a numpy cache in `hf_folder/np`, dumping the `.bin` files into it once.

    The folder is vLLM's layout, so either writes what the other reads: each tensor saved by
    `np.save` as `np/<tensor name>` (no suffix), then `np/weight_names.json`, the list of names
    in load order and the completion marker. The dump runs under
    `weightlib.locks.get_lock(model, cache_dir)`, so concurrent processes (vLLM's included) do it
    once. Deliberate differences: every file is written atomically; a tensor name that is not a
    plain file name (`/`, `..`, too long) raises `NumpyCacheError` instead of writing outside
    the folder; dtypes numpy lacks (bf16, fp8, which vLLM's dump cannot store) are saved as a
    one-field record named after the dtype, which weightlib reads back and vLLM refuses with a
    TypeError rather than misreading. Another layout in `np/` raises `NumpyCacheError`.
    """
    files = _sorted_files(hf_weights_files)
    np_folder = os.path.join(os.fspath(hf_folder), "np")
    os.makedirs(np_folder, exist_ok=True)
    lock = get_lock(model_name_or_path, cache_dir, lock_timeout)
    with hold_lock(lock, model_name_or_path):
        if not os.path.exists(os.path.join(np_folder, NP_CACHE_NAMES_FILE)):
            _dump_np_cache(files, np_folder, use_tqdm_on_load)
    for name in _read_np_cache_names(np_folder):
        yield name, _load_cached(np_folder, name)


def _default_device() -> str:
    torch = import_torch("weight iterators")
    if torch.cuda.is_available():
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        return f"cuda:{rank % torch.cuda.device_count()}"
    return "cpu"


def fastsafetensors_weights_iterator(
    hf_weights_files: Iterable[str | os.PathLike[str]],
    use_tqdm_on_load: bool = False,
    device: str | None = None,
) -> WeightIterator:
    """Yield tensors loaded by fastsafetensors (GPU direct storage when available, else host reads).

    Files are loaded in groups of the world size (one per rank). The tensors are views into the
    backend's buffer of the current group: copy them before the iterator moves on to keep them.
    """
    torch = import_torch("fastsafetensors_weights_iterator")
    fst = import_optional("fastsafetensors", "fastsafetensors_weights_iterator", "loaders")
    files = _sorted_files(hf_weights_files)
    target = device or _default_device()
    if torch.distributed.is_initialized():
        group: Any = torch.distributed.group.WORLD
        world = torch.distributed.get_world_size()
    else:
        group, world = fst.SingleGroup(), 1
    nogds = not target.startswith("cuda")
    if not nogds:
        with contextlib.suppress(Exception):
            nogds = not fst.cpp.is_cufile_found()
    groups = [files[i : i + world] for i in range(0, len(files), world)]
    with _progress(len(groups), "Loading safetensors (fastsafetensors)", use_tqdm_on_load) as step:
        for group_files in groups:
            loader = fst.SafeTensorsFileLoader(group, target, nogds=nogds, framework="pytorch")
            try:
                loader.add_filenames(dict(enumerate([path] for path in group_files)))
                buffer = loader.copy_files_to_device()
                try:
                    for name in list(buffer.key_to_rank_lidx.keys()):
                        yield name, buffer.get_tensor(name)
                finally:
                    buffer.close()
            finally:
                loader.close()
            step()


def runai_safetensors_weights_iterator(
    hf_weights_files: Iterable[str | os.PathLike[str]],
    use_tqdm_on_load: bool = False,
    is_distributed: bool = False,
    local_expert_ids: Collection[int] | None = None,
) -> WeightIterator:
    """Yield tensors streamed by the Run:ai Model Streamer (local paths or object storage URIs)."""
    import_torch("runai_safetensors_weights_iterator")
    runai = import_optional("runai_model_streamer", "runai_safetensors_weights_iterator", "loaders")
    files = [os.fspath(f) for f in hf_weights_files]
    if all("://" not in f for f in files):
        files = _sorted_files(files)
    names: list[str] | None = None
    if local_expert_ids is not None:
        names = [
            info.name
            for f in files
            for info in read_safetensors_header(f).tensors
            if _wanted(info.name, local_expert_ids)
        ]
    with runai.SafetensorsStreamer() as streamer:
        options: dict[str, Any] = {"is_distributed": is_distributed}
        if names is not None:
            options["tensor_names"] = names
        streamer.stream_files(files, **options)
        total = sum(len(meta) for meta in streamer.files_to_tensors_metadata.values())
        with _progress(total, "Loading safetensors (Run:ai streamer)", use_tqdm_on_load) as step:
            for name, tensor in streamer.get_tensors():
                yield name, tensor
                step()


def instanttensor_weights_iterator(
    hf_weights_files: Iterable[str | os.PathLike[str]],
    use_tqdm_on_load: bool = False,
    device: str | None = None,
) -> WeightIterator:
    """Yield tensors loaded by InstantTensor (CUDA only: a clear error on a machine without GPU)."""
    torch = import_torch("instanttensor_weights_iterator")
    instanttensor = import_optional("instanttensor", "instanttensor_weights_iterator", "loaders")
    target = device or _default_device()
    if not target.startswith("cuda") or not torch.cuda.is_available():
        raise InvalidInputError(
            f"instanttensor_weights_iterator: InstantTensor loads to CUDA devices only; "
            f"device {target!r} is not available (use safetensors_weights_iterator)"
        )
    files = _sorted_files(hf_weights_files)
    kwargs: dict[str, Any] = {}
    if torch.distributed.is_initialized():
        kwargs["process_group"] = torch.distributed.group.WORLD
    with (
        _progress(len(files), "Loading safetensors (InstantTensor)", use_tqdm_on_load) as step,
        instanttensor.safe_open(files, framework="pt", device=target, **kwargs) as handle,
    ):
        yield from handle.tensors()
        step()


__all__ = [
    "NP_CACHE_NAMES_FILE",
    "SAFETENSORS_LOAD_STRATEGIES",
    "NumpyCacheError",
    "UnsafeCheckpointError",
    "extract_expert_id",
    "fastsafetensors_weights_iterator",
    "instanttensor_weights_iterator",
    "multi_thread_pt_weights_iterator",
    "multi_thread_safetensors_weights_iterator",
    "np_cache_weights_iterator",
    "pt_weights_iterator",
    "runai_safetensors_weights_iterator",
    "safetensors_weights_iterator",
]
