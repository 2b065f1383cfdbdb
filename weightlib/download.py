"""Download the inference set of a hub repository: selected, preflighted, locked, verified.

One hub-agnostic flow on top of a `weightlib.hub.base.HubTransport`:
listing (one request) → selection (config/tokenizer/code + exactly the weight files `filter`
chooses) → disk-space preflight → a POSIX lock per repository (coherent on NFS/GPFS, unlike
flock) → fetch with retries and backoff, continuing partial files → hash check (a mismatch is
fetched once more) → commit into the hub's cache layout. Also the vLLM-compatible helpers
`download_weights_from_hf`, `download_safetensors_index_file_from_hf`,
`enable_xet_high_performance` and `enable_hf_transfer`.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .diskspace import check_disk_space
from .errors import (
    ChecksumMismatchError,
    InvalidInputError,
    MissingShardsError,
    NotFoundError,
    NoWeightFilesError,
    RemoteError,
    ResourceError,
)
from .hub.base import HubTransport, RemoteFile, RepoListing, SnapshotLayout, TransientRemoteError
from .locks import PosixLock
from .safepath import remove_symlink
from .shards import (
    SAFETENSORS_INDEX,
    WEIGHT_FORMATS,
    is_serving_support_file,
    natural_sort_key,
    select_weight_files,
)

DOWNLOAD_FORMATS = (*WEIGHT_FORMATS, "all")
"""`--format` values: a weight format, `auto`, or `all` (every file of the repository)."""

# ---- settings --------------------------------------------------------------------------------


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise InvalidInputError(f"{name}={os.environ[name]!r} is not a number") from None


def retry_attempts() -> int:
    """Attempts per file for transient failures (`WEIGHTLIB_RETRIES`, default 5 retries)."""
    return 1 + int(_env_float("WEIGHTLIB_RETRIES", 5))


def retry_delay(attempt: int) -> float:
    """Exponential backoff before retry `attempt` (1-based), capped at 15 s."""
    base = _env_float("WEIGHTLIB_RETRY_BASE_DELAY", 1.0)
    return float(min(base * 2 ** (attempt - 1), 15.0))


# ---- results ---------------------------------------------------------------------------------


@dataclass
class FileResult:
    """One file of the download: its size, content hash and whether it was already on disk."""

    path: str
    bytes: int
    sha256: str | None
    cached: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "cached": self.cached,
        }


@dataclass
class DownloadResult:
    """What `download` did; `path` is the folder to point a server at."""

    repo: str
    revision: str
    commit: str
    path: str
    files: list[FileResult]
    downloaded_bytes: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    source: str = "hf"

    @property
    def bytes_to_fetch(self) -> int:
        return sum(f.bytes for f in self.files if not f.cached)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "repo": self.repo,
            "revision": self.revision,
            "commit": self.commit,
            "path": self.path,
            "files": [f.to_json() for f in self.files],
            "downloaded_bytes": self.downloaded_bytes,
            "seconds": round(self.seconds, 3),
        }
        if self.dry_run:
            document["dry_run"] = True
            document["bytes_to_fetch"] = self.bytes_to_fetch
        return document


class DownloadProgress(Protocol):
    """Progress reporting hooks (the CLI draws Rich bars or prints plain lines)."""

    def start(self, files: Sequence[RemoteFile], total_bytes: int) -> None: ...

    def advance(self, path: str, nbytes: int) -> None: ...

    def file_done(self, path: str) -> None: ...

    def message(self, text: str) -> None: ...

    def close(self) -> None: ...


# ---- selection -------------------------------------------------------------------------------


def _matches(path: str, patterns: Iterable[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], p)
        for p in patterns
    )


def select_inference_files(
    listing: RepoListing,
    fmt: str = "auto",
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    read_index: Callable[[str], bytes] | None = None,
) -> list[RemoteFile]:
    """The files a server needs from `listing`: support files plus the weights `filter` picks.

    `--format all` takes every file; `include` globs add files, `exclude` globs remove them.
    Datasets default to every file. Raises NoWeightFilesError (3) when a model repo has no
    weights of the format, MissingShardsError (6) when its index names files the repo lacks.
    """
    from .index import parse_index

    if fmt not in DOWNLOAD_FORMATS:
        raise InvalidInputError(f"unknown format {fmt!r}; use one of {', '.join(DOWNLOAD_FORMATS)}")
    paths = [f.path for f in listing.files]
    chosen: set[str]
    if fmt == "all" or listing.repo_type == "dataset":
        chosen = set(paths)
    else:

        def weight_map(name: str) -> dict[str, str]:
            if read_index is None:
                raise NotFoundError(f"{listing.repo}/{name}: index not available")
            return parse_index(read_index(name), f"{listing.repo}/{name}").weight_map

        selection = select_weight_files(paths, fmt, read_index=weight_map)
        if selection.missing:
            raise MissingShardsError(f"{listing.repo}/{selection.index_file}", selection.missing)
        if not selection.files and not include:
            wanted = "weight files" if selection.format is None else f"{selection.format} files"
            raise NoWeightFilesError(f"{listing.repo}: no {wanted} found in the repository")
        chosen = set(selection.files) | {p for p in paths if is_serving_support_file(p)}
        if selection.index_file:
            chosen.add(selection.index_file)
    chosen |= {p for p in paths if include and _matches(p, include)}
    chosen = {p for p in chosen if not (exclude and _matches(p, exclude))}
    return [listing.file(p) for p in sorted(chosen, key=natural_sort_key)]


# ---- the flow --------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, file: RemoteFile, transport: HubTransport) -> str | None:
    """The mismatch reason, or None when the content matches what the hub published.

    Uses the hash a transport computed while streaming (`streamed_sha256`) when it has one.
    """
    from .hub.hf import verify_file

    streamed = getattr(transport, "streamed_sha256", None)
    known = streamed(path) if callable(streamed) else None
    return verify_file(path, file, known if isinstance(known, str) else None)


def _lock_path(layout: SnapshotLayout) -> Path:
    path = getattr(layout, "lock_path", None)
    if isinstance(path, Path):
        return path
    return layout.root.parent / f".{layout.root.name}.weightlib.lock"


def _adopt(layout: SnapshotLayout, file: RemoteFile) -> bool:
    adopt = getattr(layout, "adopt", None)
    return bool(adopt(file)) if callable(adopt) else False


def _partial_size(layout: SnapshotLayout, file: RemoteFile) -> int:
    try:
        return layout.partial_path(file).stat().st_size
    except OSError:
        return 0


class _Stopped(Exception):
    """Raised inside a worker's progress callback once the download is being stopped."""


class _Downloader:
    """Fetches a set of files into a layout with retries, verification and progress."""

    def __init__(
        self,
        transport: HubTransport,
        listing: RepoListing,
        layout: SnapshotLayout,
        *,
        verify: bool,
        max_workers: int,
        progress: DownloadProgress | None,
        in_memory: dict[str, bytes],
    ) -> None:
        self.transport = transport
        self.listing = listing
        self.layout = layout
        self.verify = verify
        self.max_workers = max(1, max_workers)
        self.progress = progress
        self.in_memory = in_memory
        self.downloaded = 0
        self._count_lock = threading.Lock()
        self.stop = threading.Event()

    def _advance(self, path: str) -> Callable[[int], None]:
        def callback(nbytes: int) -> None:
            if self.stop.is_set():  # another worker failed or the user interrupted: stop here
                raise _Stopped(path)
            with self._count_lock:
                self.downloaded += nbytes
            if self.progress is not None:
                self.progress.advance(path, nbytes)

        return callback

    def _fetch_once(self, file: RemoteFile, partial: Path) -> None:
        """Bytes of `file` into `partial`, retrying transient failures with backoff."""
        data = self.in_memory.get(file.path)
        if data is not None and len(data) == file.size:
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(data)
            return
        attempts = retry_attempts()
        what = f"{self.listing.repo}/{file.path}"
        for attempt in range(1, attempts + 1):
            try:
                self.transport.fetch(self.listing, file, partial, self._advance(file.path))
                return
            except TransientRemoteError as exc:
                if attempt == attempts or self.stop.is_set():
                    raise RemoteError(f"{exc} (gave up after {attempt} attempts)") from None
                if self.progress is not None:
                    self.progress.message(f"retrying {file.path}: {exc}")
                time.sleep(retry_delay(attempt))
        raise RemoteError(f"{what}: download failed")  # pragma: no cover - loop always returns

    def fetch(self, file: RemoteFile) -> None:
        if self.stop.is_set():
            return
        if _adopt(self.layout, file):
            return
        partial = self.layout.partial_path(file)
        remove_symlink(partial)  # never write through a link planted in the destination
        resumed_from = _partial_size(self.layout, file)
        self._fetch_once(file, partial)
        if self.verify:
            reason = _verify(partial, file, self.transport)
            if reason is not None:
                if self.progress is not None:
                    self.progress.message(f"{file.path}: checksum mismatch; fetching it again")
                    # the second download counts its bytes anew
                    self.progress.advance(file.path, resumed_from - file.size)
                self.in_memory.pop(file.path, None)
                partial.unlink()
                self._fetch_once(file, partial)
                reason = _verify(partial, file, self.transport)
                if reason is not None:
                    partial.unlink()
                    raise ChecksumMismatchError(
                        f"{self.listing.repo}/{file.path}: content does not match the hub after "
                        f"two downloads ({reason})"
                    )
        self.layout.commit_file(file, partial)
        if self.progress is not None:
            self.progress.file_done(file.path)

    def run(self, files: Sequence[RemoteFile]) -> None:
        # Files a transport fetches with its own connection pool while holding the GIL
        # (hf_transfer) go one after another, after the rest: threads would only serialise.
        serial = getattr(self.transport, "fetches_serially", None)
        alone = [f for f in files if callable(serial) and serial(f)]
        rest = [f for f in files if f not in alone]
        self._run_pool(rest)
        for file in sorted(alone, key=lambda f: -f.size):
            self.fetch(file)

    def _run_pool(self, files: Sequence[RemoteFile]) -> None:
        ordered = sorted(files, key=lambda f: -f.size)
        if self.max_workers == 1 or len(ordered) <= 1:
            for file in ordered:
                self.fetch(file)
            return
        pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="weightlib-dl")
        futures = [pool.submit(self.fetch, f) for f in ordered]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # Ctrl-C / SIGTERM: workers stop at their next chunk; no join
            self.stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        errors = [f.exception() for f in done if f.exception() is not None]
        if errors:
            self.stop.set()
        pool.shutdown(wait=True, cancel_futures=bool(errors))
        if errors:
            first = next((e for e in errors if not isinstance(e, _Stopped)), errors[0])
            assert first is not None
            raise first


def get_transport(source: str, token: str | None = None) -> HubTransport:
    """The transport for a hub: `hf` (huggingface_hub) or `modelscope` (the modelscope extra)."""
    if source == "hf":
        from .hub.hf import HfTransport

        return HfTransport(token=token)
    if source == "modelscope":
        try:
            from .hub import modelscope
        except ImportError:
            from .errors import MissingExtraError

            raise MissingExtraError("downloading from ModelScope", "modelscope") from None
        transport: HubTransport = modelscope.ModelScopeTransport(token=token)
        return transport
    raise InvalidInputError(f"unknown source {source!r}; use hf or modelscope")


def _offline_requested(offline: bool | None) -> bool:
    if offline is not None:
        return offline
    from .hub.source import env_offline

    return env_offline()


def _with_retries(call: Callable[[], Any], what: str) -> Any:
    attempts = retry_attempts()
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except TransientRemoteError as exc:
            if attempt == attempts:
                raise RemoteError(f"{exc} (gave up after {attempt} attempts)") from None
            time.sleep(retry_delay(attempt))
    raise RemoteError(f"{what}: failed")  # pragma: no cover


def _hash_check(
    files: Sequence[RemoteFile],
    layout: SnapshotLayout,
    cached: set[str],
    label: str,
    *,
    fatal: bool,
) -> set[str]:
    """`cached` minus files whose content no longer matches the hub's hash (`--verify-cached`).

    With `fatal` (offline: nothing can be fetched again) a mismatch is a ChecksumMismatchError.
    """
    from .hub.hf import verify_file

    good = set()
    for file in files:
        if file.path not in cached:
            continue
        local = layout.root / file.path
        reason = verify_file(local, file)
        if reason is None:
            good.add(file.path)
        elif fatal:
            raise ChecksumMismatchError(f"{label}: cached {file.path} is corrupt ({reason})")
        else:  # drop the corrupt content (a cache blob: its real path) so it is fetched again
            with contextlib.suppress(OSError):
                local.resolve().unlink()
    return good


def _file_results(
    files: Sequence[RemoteFile], layout: SnapshotLayout, cached: set[str], *, hash_small: bool
) -> list[FileResult]:
    results = []
    for file in files:
        sha = file.sha256
        final = layout.root / file.path
        if sha is None and hash_small and final.is_file():
            sha = _sha256_file(final)
        results.append(FileResult(file.path, file.size, sha, file.path in cached))
    return results


def download(
    model: str,
    *,
    revision: str | None = None,
    source: str | None = None,
    fmt: str = "auto",
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    cache_dir: str | os.PathLike[str] | None = None,
    local_dir: str | os.PathLike[str] | None = None,
    max_workers: int = 8,
    token: str | None = None,
    offline: bool | None = None,
    dry_run: bool = False,
    verify: bool = True,
    verify_cached: bool = False,
    lock_timeout: float | None = None,
    progress: DownloadProgress | None = None,
    files: Callable[[RepoListing, Callable[[str], bytes]], list[RemoteFile]] | None = None,
) -> DownloadResult:
    """Download what a server needs from a hub repository and return where it is.

    `files(listing, read_file)` overrides the default selection (the vLLM-compatible helpers);
    `read_file(path)` returns a small file's bytes from the cache or by one request.
    `verify_cached` also hashes files already on disk (offline: a mismatch is exit 6; online:
    the file is fetched again).
    Errors are weightlib's typed ones: not found 3, auth 4, network 5, integrity 6,
    lock timeout 7, disk space 8.
    """
    from .hub.source import resolve_model_ref

    began = time.monotonic()
    if cache_dir is not None and local_dir is not None:
        raise InvalidInputError("give either --cache-dir or --local-dir, not both")
    if max_workers < 1:
        raise InvalidInputError(f"--max-workers must be at least 1, got {max_workers}")
    if lock_timeout is not None and not (math.isfinite(lock_timeout) and lock_timeout >= 0):
        raise InvalidInputError(f"--lock-timeout must be a number >= 0, got {lock_timeout:g}")
    if local_dir is not None and Path(local_dir).exists() and not Path(local_dir).is_dir():
        raise InvalidInputError(f"{local_dir}: is a file; --local-dir needs a folder")
    if fmt not in DOWNLOAD_FORMATS:
        raise InvalidInputError(f"unknown format {fmt!r}; use one of {', '.join(DOWNLOAD_FORMATS)}")
    ref = resolve_model_ref(model, revision=revision, source=source)
    transport = get_transport(ref.source, token)
    label = str(ref)

    def select(listing: RepoListing, read_index: Callable[[str], bytes]) -> list[RemoteFile]:
        if files is not None:
            return files(listing, read_index)
        return select_inference_files(listing, fmt, include, exclude, read_index)

    if _offline_requested(offline):
        listing = transport.local_listing(
            ref.repo, ref.revision, ref.repo_type, cache_dir, local_dir
        )
        layout = transport.layout(listing, cache_dir, local_dir)

        def read_local(name: str) -> bytes:
            path = layout.root / name
            if not path.is_file():
                raise NotFoundError(
                    f"{label}: offline and {name} is not in the local cache (run without --offline)"
                )
            return path.read_bytes()

        selected = select(listing, read_local)
        missing = [f.path for f in selected if not layout.is_cached(f)]
        if missing:
            shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            raise NotFoundError(
                f"{label}: offline and the local cache lacks {len(missing)} file(s): {shown}"
            )
        if verify_cached:
            _hash_check(selected, layout, {f.path for f in selected}, label, fatal=True)
        return DownloadResult(
            listing.repo,
            listing.revision,
            listing.commit,
            str(layout.root),
            _file_results(selected, layout, {f.path for f in selected}, hash_small=not dry_run),
            0,
            time.monotonic() - began,
            dry_run,
            ref.source,
        )

    listing = _with_retries(
        lambda: transport.list_repo(ref.repo, ref.revision, ref.repo_type), label
    )
    layout = transport.layout(listing, cache_dir, local_dir)
    in_memory: dict[str, bytes] = {}

    def read_index(name: str) -> bytes:
        file = listing.file(name)
        if layout.is_cached(file) or (not dry_run and _adopt(layout, file)):
            return (layout.root / name).read_bytes()
        if name not in in_memory:
            in_memory[name] = _with_retries(
                lambda: transport.read_range(listing, name, 0, file.size), label
            )
        return in_memory[name]

    def index_is_local() -> bool:
        return not listing.has(SAFETENSORS_INDEX) or layout.is_cached(
            listing.file(SAFETENSORS_INDEX)
        )

    if dry_run or index_is_local():
        selected = select(listing, read_index)
        cached = {f.path for f in selected if layout.is_cached(f)}
        if verify_cached:
            cached = _hash_check(selected, layout, cached, label, fatal=False)
        if dry_run or len(cached) == len(selected):
            if not dry_run:
                layout.finish(listing)
            return DownloadResult(
                listing.repo,
                listing.revision,
                listing.commit,
                str(layout.root),
                _file_results(selected, layout, cached, hash_small=not dry_run),
                0,
                time.monotonic() - began,
                dry_run,
                ref.source,
            )

    lock = PosixLock(_lock_path(layout), lock_timeout, label)
    on_wait = None
    if progress is not None:
        progress_ref = progress

        def on_wait() -> None:
            progress_ref.message(f"waiting for another download of {label} to finish")

    with lock.held(on_wait):
        selected = select(listing, read_index)
        cached = {f.path for f in selected if layout.is_cached(f) or _adopt(layout, f)}
        if verify_cached:
            cached = _hash_check(selected, layout, cached, label, fatal=False)
        to_fetch = [f for f in selected if f.path not in cached]
        needed = sum(max(f.size - _partial_size(layout, f), 0) for f in to_fetch)
        check_disk_space(layout.root, needed, label)
        if progress is not None:
            progress.start(to_fetch, sum(f.size for f in to_fetch))
        downloader = _Downloader(
            transport,
            listing,
            layout,
            verify=verify,
            max_workers=max_workers,
            progress=progress,
            in_memory=in_memory,
        )
        try:
            downloader.run(to_fetch)
            layout.finish(listing)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise ResourceError(
                    f"{label}: disk full while downloading into {layout.root} "
                    f"({os.strerror(exc.errno)}); free space and run again to resume"
                ) from None
            raise
        finally:
            if progress is not None:
                progress.close()
    return DownloadResult(
        listing.repo,
        listing.revision,
        listing.commit,
        str(layout.root),
        _file_results(selected, layout, cached, hash_small=True),
        downloaded_bytes=downloader.downloaded + sum(len(v) for v in in_memory.values()),
        seconds=time.monotonic() - began,
        source=ref.source,
    )


# ---- vLLM-compatible helpers -------------------------------------------------------------------


def _in_subfolder(path: str, subfolder: str | None) -> str | None:
    if not subfolder:
        return path
    prefix = subfolder.strip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def download_weights_from_hf(
    model_name_or_path: str,
    cache_dir: str | None,
    allow_patterns: list[str],
    revision: str | None = None,
    subfolder: str | None = None,
    ignore_patterns: str | list[str] | None = None,
) -> str:
    """vLLM's helper: fetch the weights of the first pattern matching remotely; return the folder.

    With `*.safetensors` and an index in the repository, only the shards the index names are
    fetched (plus the index). Offline (`HF_HUB_OFFLINE=1`) it resolves the local cache only.
    Returns the snapshot folder (not the subfolder), as vLLM does.
    """
    from .index import parse_index

    ignores = [ignore_patterns] if isinstance(ignore_patterns, str) else list(ignore_patterns or [])

    def choose(listing: RepoListing, read_file: Callable[[str], bytes]) -> list[RemoteFile]:
        relative = {}
        for file in listing.files:
            rel = _in_subfolder(file.path, subfolder)
            if rel is not None:
                relative[rel] = file
        for pattern in allow_patterns:
            matched = [
                f
                for rel, f in relative.items()
                if fnmatch.fnmatch(rel, pattern)
                and not any(fnmatch.fnmatch(rel, i) for i in ignores)
            ]
            if not matched:
                continue
            if pattern == "*.safetensors" and SAFETENSORS_INDEX in relative:
                index_file = relative[SAFETENSORS_INDEX]
                data = read_file(index_file.path)
                named = set(
                    parse_index(data, f"{listing.repo}/{index_file.path}").weight_map.values()
                )
                matched = [f for f in matched if _in_subfolder(f.path, subfolder) in named]
                matched.append(index_file)
            return matched
        return []

    result = download(model_name_or_path, revision=revision, cache_dir=cache_dir, files=choose)
    return result.path


def download_safetensors_index_file_from_hf(
    model_name_or_path: str,
    index_file: str,
    cache_dir: str | None,
    subfolder: str | None = None,
    revision: str | None = None,
) -> None:
    """vLLM's helper: fetch the safetensors index into the cache; a missing one is not an error."""
    name = f"{subfolder.strip('/')}/{index_file}" if subfolder else index_file

    def choose(listing: RepoListing, read_file: Callable[[str], bytes]) -> list[RemoteFile]:
        return [listing.file(name)] if listing.has(name) else []

    with contextlib.suppress(NotFoundError):
        download(model_name_or_path, revision=revision, cache_dir=cache_dir, files=choose)


def enable_xet_high_performance() -> None:
    """Turn on hf_xet high-performance mode (hf_xet reads the env var, not the Python constant)."""
    os.environ["HF_XET_HIGH_PERFORMANCE"] = "1"
    import sys

    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        setattr(constants, "HF_XET_HIGH_PERFORMANCE", True)  # noqa: B010 - untyped module attr


def enable_hf_transfer() -> bool:
    """Use hf_transfer's multi-connection downloads for large files when it is installed."""
    from .hub.hf import hf_transfer_available, set_hf_transfer

    set_hf_transfer(True)
    if hf_transfer_available():
        return True
    set_hf_transfer(False)
    return False


__all__ = [
    "DOWNLOAD_FORMATS",
    "DownloadProgress",
    "DownloadResult",
    "FileResult",
    "download",
    "download_safetensors_index_file_from_hf",
    "download_weights_from_hf",
    "enable_hf_transfer",
    "enable_xet_high_performance",
    "get_transport",
    "select_inference_files",
]
