"""Fetch a set of files into a snapshot layout: a thread pool, retries, verification, progress.

Each file is fetched into its partial path (resumed when a prefix is there), checked against
the hash the hub published (a mismatch is fetched once more), then committed to its final name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

from ..errors import ChecksumMismatchError
from ..hashing import mismatch_reason
from ..hub.base import RemoteFile, RepoListing, SnapshotLayout, TransientRemoteError
from ..hub.retries import with_retries
from ..hub.transport import HubTransport
from ..safepath import remove_symlink
from .results import DownloadProgress


class Stopped(Exception):
    """Raised inside a worker's progress callback once the download is being stopped."""


def partial_size(layout: SnapshotLayout, file: RemoteFile) -> int:
    """Bytes of `file` already in its partial path (0 when there are none)."""
    try:
        return layout.partial_path(file).stat().st_size
    except OSError:
        return 0


class FileFetcher:
    """Fetches files of one listing into a layout with retries, verification and progress."""

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
        """Small files already read whole (an index): written from memory, not fetched again."""
        self.downloaded = 0
        self._count_lock = threading.Lock()
        self.stop = threading.Event()

    def _advance(self, path: str) -> Callable[[int], None]:
        def callback(nbytes: int) -> None:
            if self.stop.is_set():  # another worker failed or the user interrupted: stop here
                raise Stopped(path)
            with self._count_lock:
                self.downloaded += nbytes
            if self.progress is not None:
                self.progress.advance(path, nbytes)

        return callback

    def _say(self, text: str) -> None:
        if self.progress is not None:
            self.progress.message(text)

    def _fetch_once(self, file: RemoteFile, partial: Path) -> str | None:
        """Bytes of `file` into `partial`, retrying transient failures with backoff; the sha256
        computed on the way when the transport streamed the whole file."""
        data = self.in_memory.get(file.path)
        if data is not None and len(data) == file.size:
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(data)
            return None

        def on_retry(exc: TransientRemoteError) -> None:
            self._say(f"retrying {file.path}: {exc}")

        return with_retries(
            lambda: self.transport.fetch(self.listing, file, partial, self._advance(file.path)),
            should_stop=self.stop.is_set,
            on_retry=on_retry,
        )

    def _fetch_verified(self, file: RemoteFile, partial: Path, resumed_from: int) -> None:
        """Fetch, and when the content does not match the hub, fetch once more from scratch."""
        reason = mismatch_reason(partial, file, self._fetch_once(file, partial))
        if reason is None:
            return
        self._say(f"{file.path}: checksum mismatch; fetching it again")
        if self.progress is not None:  # the second download counts its bytes anew
            self.progress.advance(file.path, resumed_from - file.size)
        self.in_memory.pop(file.path, None)
        partial.unlink()
        reason = mismatch_reason(partial, file, self._fetch_once(file, partial))
        if reason is not None:
            partial.unlink()
            raise ChecksumMismatchError(
                f"{self.listing.repo}/{file.path}: content does not match the hub after "
                f"two downloads ({reason})"
            )

    def fetch(self, file: RemoteFile) -> None:
        """One file from the hub (or from content already on disk) to its final place."""
        if self.stop.is_set() or self.layout.adopt(file):
            return
        partial = self.layout.partial_path(file)
        remove_symlink(partial)  # never write through a link planted in the destination
        if self.verify:
            self._fetch_verified(file, partial, partial_size(self.layout, file))
        else:
            self._fetch_once(file, partial)
        self.layout.commit_file(file, partial)
        if self.progress is not None:
            self.progress.file_done(file.path)

    def run(self, files: Sequence[RemoteFile]) -> None:
        """Fetch every file: in a pool, then those a transport fetches alone, largest first."""
        # Files a transport fetches with its own connection pool while holding the GIL
        # (hf_transfer) go one after another, after the rest: threads would only serialise.
        alone = [f for f in files if self.transport.fetches_serially(f)]
        self._run_pool([f for f in files if f not in alone])
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
        errors = [e for e in (f.exception() for f in done) if e is not None]
        if errors:
            self.stop.set()
        pool.shutdown(wait=True, cancel_futures=bool(errors))
        if errors:
            raise next((e for e in errors if not isinstance(e, Stopped)), errors[0])
