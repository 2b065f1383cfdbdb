"""Download the inference set of a hub repository: selected, preflighted, locked, verified.

One hub-agnostic flow on top of a `weightlib.hub.base.HubTransport`, in named steps:
offline (the local cache only) → already complete (nothing to fetch, no lock taken) → fetch
under a POSIX lock per repository (coherent on NFS/GPFS, unlike flock): disk-space preflight,
fetch with retries continuing partial files, hash check, commit into the hub's cache layout.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..diskspace import check_disk_space
from ..errors import ChecksumMismatchError, InvalidInputError, NotFoundError, ResourceError
from ..hashing import can_verify, mismatch_reason, sha256_file
from ..hub import get_transport
from ..hub.base import Destination, RemoteFile, RepoListing, SnapshotLayout
from ..hub.refs import ModelRef
from ..hub.retries import with_retries
from ..hub.source import offline_requested, resolve_model_ref
from ..hub.transport import HubTransport
from ..locks import PosixLock
from ..shards import SAFETENSORS_INDEX
from . import local_dir_record
from .fetcher import FileFetcher, partial_size
from .results import DownloadProgress, DownloadResult, FileResult
from .selection import check_download_format, select_inference_files

FileSelector = Callable[[RepoListing, Callable[[str], bytes]], list[RemoteFile]]
"""`files(listing, read_file)`: the files to fetch, instead of the default selection."""


@dataclass(frozen=True)
class DownloadOptions:
    """Everything `download` can be told, checked once before any request."""

    revision: str | None = None
    source: str | None = None
    fmt: str = "auto"
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    cache_dir: str | os.PathLike[str] | None = None
    local_dir: str | os.PathLike[str] | None = None
    max_workers: int = 8
    token: str | None = None
    offline: bool | None = None
    dry_run: bool = False
    verify: bool = True
    verify_cached: bool = False
    lock_timeout: float | None = None
    files: FileSelector | None = None

    def check(self) -> None:
        """Refuse (exit 2) contradictory or out-of-range options."""
        if self.cache_dir is not None and self.local_dir is not None:
            raise InvalidInputError("give either --cache-dir or --local-dir, not both")
        if self.max_workers < 1:
            raise InvalidInputError(f"--max-workers must be at least 1, got {self.max_workers}")
        timeout = self.lock_timeout
        if timeout is not None and not (math.isfinite(timeout) and timeout >= 0):
            raise InvalidInputError(f"--lock-timeout must be a number >= 0, got {timeout:g}")
        local = Path(self.local_dir) if self.local_dir is not None else None
        if local is not None and local.exists() and not local.is_dir():
            raise InvalidInputError(f"{self.local_dir}: is a file; --local-dir needs a folder")
        check_download_format(self.fmt)


@dataclass
class _Run:
    """One download in progress: what was asked, the hub's answer, where the files go."""

    options: DownloadOptions
    ref: ModelRef
    transport: HubTransport
    listing: RepoListing
    layout: SnapshotLayout
    began: float
    in_memory: dict[str, bytes] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(self.ref)

    def select(self, read_file: Callable[[str], bytes]) -> list[RemoteFile]:
        """The files to have on disk: the caller's selector, else the inference set."""
        o = self.options
        if o.files is not None:
            return o.files(self.listing, read_file)
        return select_inference_files(self.listing, o.fmt, o.include, o.exclude, read_file)

    def prune(self, selected: Sequence[RemoteFile]) -> list[str]:
        """In a `--local-dir`: the previous download's files this one does not have, removed
        (listed only, on a dry run), and this download recorded. Elsewhere nothing."""
        if self.options.local_dir is None:
            return []
        root = self.layout.root
        stale = local_dir_record.stale_files(root, (f.path for f in selected))
        if not self.options.dry_run:
            local_dir_record.remove_files(root, stale)
            local_dir_record.record(root, self.listing.commit, (f.path for f in selected))
        return stale

    def result(
        self,
        selected: Sequence[RemoteFile],
        cached: set[str],
        downloaded: int = 0,
        removed: Sequence[str] = (),
    ) -> DownloadResult:
        """The one place a DownloadResult is built (sha256 of small files hashed unless dry)."""
        checked = self.options.verify
        files = [
            FileResult(f.path, f.size, self._sha256(f), f.path in cached, checked and can_verify(f))
            for f in selected
        ]
        listing = self.listing
        return DownloadResult(
            listing.repo,
            listing.revision,
            listing.commit,
            str(self.layout.root),
            files,
            downloaded,
            time.monotonic() - self.began,
            self.options.dry_run,
            self.ref.source,
            list(removed),
        )

    def _sha256(self, file: RemoteFile) -> str | None:
        final = self.layout.root / file.path
        if file.sha256 is None and not self.options.dry_run and final.is_file():
            return sha256_file(final)
        return file.sha256

    def keep_intact(
        self, selected: Sequence[RemoteFile], cached: set[str], *, fatal: bool
    ) -> set[str]:
        """`cached` minus files whose content no longer matches the hub (`--verify-cached`).

        With `fatal` (offline: nothing can be fetched again) a mismatch is a
        ChecksumMismatchError (6); otherwise the corrupt content (a cache blob: its real path)
        is removed so it is fetched again (kept on a dry run).
        """
        if not self.options.verify_cached:
            return cached
        good = set()
        for file in (f for f in selected if f.path in cached):
            local = self.layout.root / file.path
            reason = mismatch_reason(local, file)
            if reason is None:
                good.add(file.path)
            elif fatal:
                raise ChecksumMismatchError(
                    f"{self.label}: cached {file.path} is corrupt ({reason})"
                )
            elif not self.options.dry_run:
                with contextlib.suppress(OSError):
                    local.resolve().unlink()
        return good

    def read_small_file(self, name: str) -> bytes:
        """A small file (an index) from disk when complete there, else by one request, kept."""
        file = self.listing.file(name)
        if self.layout.is_cached(file) or (not self.options.dry_run and self.layout.adopt(file)):
            return (self.layout.root / name).read_bytes()
        if name not in self.in_memory:
            self.in_memory[name] = with_retries(
                lambda: self.transport.read_range(self.listing, name, 0, file.size)
            )
        return self.in_memory[name]


# ---- the steps -------------------------------------------------------------------------------


def _from_local_cache(run: _Run) -> DownloadResult:
    """Offline: the selection must be complete in the local cache; nothing is fetched."""

    def read_local(name: str) -> bytes:
        path = run.layout.root / name
        if not path.is_file():
            raise NotFoundError(
                f"{run.label}: offline and {name} is not in the local cache (run without --offline)"
            )
        return path.read_bytes()

    selected = run.select(read_local)
    missing = [f.path for f in selected if not run.layout.is_cached(f)]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise NotFoundError(
            f"{run.label}: offline and the local cache lacks {len(missing)} file(s): {shown}"
        )
    everything = {f.path for f in selected}
    return run.result(selected, run.keep_intact(selected, everything, fatal=True))


def _already_complete(run: _Run) -> DownloadResult | None:
    """The result without taking the lock when nothing must be fetched (or on a dry run);
    None when files are missing. Skipped while the index itself still has to be fetched."""
    listing, layout = run.listing, run.layout
    index_missing = listing.has(SAFETENSORS_INDEX) and not layout.is_cached(
        listing.file(SAFETENSORS_INDEX)
    )
    if index_missing and not run.options.dry_run:
        return None
    selected = run.select(run.read_small_file)
    present = {f.path for f in selected if layout.is_cached(f)}
    cached = run.keep_intact(selected, present, fatal=False)
    if run.options.dry_run:
        return run.result(selected, cached, removed=run.prune(selected))
    if len(cached) < len(selected):
        return None
    layout.finish(listing)
    return run.result(selected, cached, removed=run.prune(selected))


def _fetch_under_lock(run: _Run, progress: DownloadProgress | None) -> DownloadResult:
    """Select again under the repository's lock, check the disk, fetch what is missing."""
    layout = run.layout
    on_wait = None
    if progress is not None:
        waiting = f"waiting for another download of {run.label} to finish"

        def on_wait() -> None:
            progress.message(waiting)

    with PosixLock(layout.lock_path, run.options.lock_timeout, run.label).held(on_wait):
        selected = run.select(run.read_small_file)
        present = {f.path for f in selected if layout.is_cached(f) or layout.adopt(f)}
        cached = run.keep_intact(selected, present, fatal=False)
        to_fetch = [f for f in selected if f.path not in cached]
        needed = sum(max(f.size - partial_size(layout, f), 0) for f in to_fetch)
        check_disk_space(layout.root, needed, run.label)
        fetcher = FileFetcher(
            run.transport,
            run.listing,
            layout,
            verify=run.options.verify,
            max_workers=run.options.max_workers,
            progress=progress,
            in_memory=run.in_memory,
        )
        _fetch_all(run, fetcher, to_fetch, progress)
        removed = run.prune(selected)
    downloaded = fetcher.downloaded + sum(len(v) for v in run.in_memory.values())
    return run.result(selected, cached, downloaded, removed)


def _fetch_all(
    run: _Run, fetcher: FileFetcher, files: list[RemoteFile], progress: DownloadProgress | None
) -> None:
    """Fetch `files` and record the revision; a full disk is a ResourceError (8)."""
    if progress is not None:
        progress.start(files, sum(f.size for f in files))
    try:
        fetcher.run(files)
        run.layout.finish(run.listing)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ResourceError(
                f"{run.label}: disk full while downloading into {run.layout.root} "
                f"({os.strerror(exc.errno)}); free space and run again to resume"
            ) from None
        raise
    finally:
        if progress is not None:
            progress.close()


# ---- the flow --------------------------------------------------------------------------------


def _start(model: str, options: DownloadOptions, began: float) -> _Run:
    """Check the options, resolve the reference, and list the revision (offline: from disk)."""
    options.check()
    ref = resolve_model_ref(model, revision=options.revision, source=options.source)
    transport = get_transport(ref.source, options.token)
    where = Destination(options.cache_dir, options.local_dir)
    if offline_requested(options.offline):
        listing = transport.local_listing(ref.repo, ref.revision, ref.repo_type, where)
    else:
        listing = with_retries(lambda: transport.list_repo(ref.repo, ref.revision, ref.repo_type))
    layout = transport.layout(listing, where)
    return _Run(options, ref, transport, listing, layout, began)


def run_download(
    model: str, options: DownloadOptions, progress: DownloadProgress | None = None
) -> DownloadResult:
    """Download what a server needs from a hub repository and return where it is.

    Errors are weightlib's typed ones: invalid input 2, not found 3, auth 4, network 5,
    integrity 6, lock timeout 7, disk space 8.
    """
    run = _start(model, options, time.monotonic())
    if offline_requested(options.offline):
        return _from_local_cache(run)
    return _already_complete(run) or _fetch_under_lock(run, progress)


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
    files: FileSelector | None = None,
) -> DownloadResult:
    """`run_download` with keyword options (see `DownloadOptions`).

    `files(listing, read_file)` overrides the default selection (the vLLM-compatible helpers);
    `verify_cached` also hashes files already on disk (offline: a mismatch is exit 6; online:
    the file is fetched again).
    """
    options = DownloadOptions(
        revision, source, fmt, tuple(include), tuple(exclude), cache_dir, local_dir,
        max_workers, token, offline, dry_run, verify, verify_cached, lock_timeout, files,
    )  # fmt: skip
    return run_download(model, options, progress)
