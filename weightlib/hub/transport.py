"""`HubTransport`: what every hub implements, and the byte-moving half they all share.

A hub supplies its listing (`list_repo`), how to GET one of its files (`open_body`), where its
client keeps files on disk (`layout`, `local_listing`) and, optionally, another way to fetch some
files (`fetch_otherwise` before any request, `hand_over` once the first answer is seen). Range
reads and resumable fetches then run through `weightlib.hub.http` for every hub alike.
Transports raise weightlib's typed errors, never the client's; a failure worth retrying is a
`TransientRemoteError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from .base import Destination, ProgressCallback, RemoteFile, RepoListing, SnapshotLayout
from .http import HandOver, OpenBody, fetch_to_file, read_range


@dataclass(frozen=True)
class FetchJob:
    """One file to fetch: from which listing, to which partial file, reporting to whom."""

    listing: RepoListing
    file: RemoteFile
    destination: Path
    progress: ProgressCallback | None = None

    @property
    def bytes_there(self) -> int:
        """The size of what `destination` already holds (0 when nothing)."""
        return self.destination.stat().st_size if self.destination.exists() else 0


class HubTransport(ABC):
    """One hub's client operations that the download flow and remote checkpoints use."""

    source: str
    """`hf` or `modelscope`."""

    @abstractmethod
    def list_repo(self, repo: str, revision: str | None, repo_type: str = "model") -> RepoListing:
        """Resolve `revision` (None: the hub's default branch) and list every file — ONE request
        where possible. Missing repo/revision: NotFoundError; gated/private: AuthError."""

    @abstractmethod
    def open_body(self, listing: RepoListing, path: str) -> OpenBody:
        """How to GET `path` of `listing` on this hub (URL, session, auth, error map)."""

    @abstractmethod
    def layout(self, listing: RepoListing, where: Destination) -> SnapshotLayout:
        """Where `listing` goes on disk: the hub cache (default or `cache_dir`) or `local_dir`."""

    @abstractmethod
    def local_listing(
        self, repo: str, revision: str | None, repo_type: str, where: Destination
    ) -> RepoListing:
        """The listing an earlier download recorded, without any network access (offline).

        NotFoundError when the cache knows nothing of this repo/revision.
        """

    def describe(self, listing: RepoListing, path: str) -> str:
        """How messages name a file of the repository."""
        return f"{listing.repo}/{path}"

    def fetches_serially(self, file: RemoteFile) -> bool:
        """True for files fetched over the transport's own connections (hf_transfer): the flow
        fetches those one at a time, after the others. Default: none."""
        return False

    def fetch_otherwise(self, job: FetchJob) -> bool:
        """Fetch the file some other way before any request; True when done. Default: never."""
        return False

    def hand_over(self, job: FetchJob) -> HandOver:
        """What may fetch the file another way once its first answer is seen. Default: nothing."""
        return lambda body: False

    def read_range(self, listing: RepoListing, path: str, start: int, length: int) -> bytes:
        """`length` bytes of `path` from `start` by one ranged GET (fewer at end of file)."""
        return read_range(
            self.open_body(listing, path), self.describe(listing, path), start, length
        )

    def fetch(
        self,
        listing: RepoListing,
        file: RemoteFile,
        destination: Path,
        progress: ProgressCallback | None = None,
    ) -> str | None:
        """Write the file's bytes to `destination`, continuing after the prefix it holds (HTTP
        Range). Returns the sha256 computed while the whole file streamed, when there is one;
        raises TransientRemoteError for failures worth retrying, keeping the bytes received."""
        job = FetchJob(listing, file, destination, progress)
        if self.fetch_otherwise(job):
            return None
        body = self.open_body(listing, file.path)
        what = self.describe(listing, file.path)
        return fetch_to_file(body, what, file, destination, progress, self.hand_over(job))
