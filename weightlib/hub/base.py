"""The small transport interface every hub (Hugging Face, ModelScope) implements for downloads.

`weightlib.download` runs one hub-agnostic flow — listing, selection, disk-space preflight, lock,
fetch with retries, sha256 verification — on top of a `HubTransport`. A transport knows how to
list one revision of a repository, how to fetch the bytes of one file (whole or from an offset)
and where the hub's own client keeps its cache (`SnapshotLayout`), so tools of that hub find the
files weightlib downloaded. Transports raise weightlib's typed errors (`weightlib.errors`), never
the client's; a transient failure is a `TransientRemoteError` so the flow retries it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..errors import IntegrityError, RemoteError
from ..safepath import check_path_segment, check_relative_path

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class TransientRemoteError(RemoteError):
    """A failure worth retrying: HTTP 5xx/429, reset, truncated body, timeout (exit 5 at last)."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a repository revision, as the hub lists it."""

    path: str
    """Relative POSIX path inside the repository."""
    size: int
    sha256: str | None = None
    """Lowercase hex sha256 of the content when the hub publishes it (LFS files), else None."""
    blob_id: str | None = None
    """The hub's name for the content (HF: git blob sha1 of small files); used for cache blobs."""

    @property
    def is_lfs(self) -> bool:
        """True when the hub stores a content hash for the file (large files)."""
        return self.sha256 is not None


@dataclass(frozen=True)
class RepoListing:
    """Every file of one revision of a repository, from one listing request."""

    repo: str
    """`org/name`."""
    revision: str
    """The revision as asked for (branch, tag or commit)."""
    commit: str
    """The immutable id the revision resolved to (HF: 40-hex commit sha)."""
    files: tuple[RemoteFile, ...]
    repo_type: str = "model"
    """`model` or `dataset`."""
    source: str = "hf"
    """Which hub: `hf` or `modelscope`."""
    _by_path: dict[str, RemoteFile] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        where = f"listing of {self.repo}@{self.revision}"
        for f in self.files:
            check_listed_file(f, where)
            if f.path in self._by_path:
                raise IntegrityError(f"{where}: the file {f.path!r} is listed twice")
            self._by_path[f.path] = f

    def file(self, path: str) -> RemoteFile:
        """The entry for `path`; KeyError when the revision has no such file."""
        return self._by_path[path]

    def has(self, path: str) -> bool:
        return path in self._by_path

    def sizes(self) -> dict[str, int]:
        """Relative path → size in bytes, for `select_weight_files` and `Checkpoint.file_sizes`."""
        return {f.path: f.size for f in self.files}


def check_listed_file(file: RemoteFile, where: str) -> None:
    """Refuse (IntegrityError, exit 6) an entry whose path, size or hashes cannot be trusted."""
    check_relative_path(file.path, where)
    if not isinstance(file.size, int) or file.size < 0:
        raise IntegrityError(f"{where}: {file.path!r} has an invalid size {file.size!r}")
    if file.sha256 is not None and not _SHA256.fullmatch(file.sha256):
        raise IntegrityError(f"{where}: {file.path!r} has an invalid sha256 {file.sha256!r}")
    if file.blob_id is not None:
        check_path_segment(file.blob_id, f"{where}: blob id of {file.path!r}")


def take_range(chunks: Iterable[bytes], skip: int, length: int) -> bytes:
    """`length` bytes after the first `skip` of a streamed body, reading no further than that
    (a server that ignores Range sends the whole file: skipped bytes are never kept)."""
    data = bytearray()
    for chunk in chunks:
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        data += chunk[skip : skip + length - len(data)]
        skip = 0
        if len(data) >= length:
            break
    return bytes(data)


ProgressCallback = Callable[[int], None]
"""Called with the number of new bytes each time a chunk lands on disk."""


class SnapshotLayout(Protocol):
    """Where the files of one listing live on disk (a hub cache snapshot or a plain folder).

    Optional members the download flow uses when present (looked up with getattr):
    `lock_path: Path` — the lock file serialising downloads of the repository (default: a file
    beside `root`); `adopt(file) -> bool` — make the file appear from content already on disk
    (e.g. a cache blob shared with another revision), True when nothing must be fetched.
    """

    @property
    def root(self) -> Path:
        """The folder a server is pointed at: `root / file.path` is each file."""
        ...

    def is_cached(self, file: RemoteFile) -> bool:
        """True when the file is complete at its final place (checked by size, no network)."""
        ...

    def partial_path(self, file: RemoteFile) -> Path:
        """A stable place for the file's incomplete bytes, so a rerun can resume them."""
        ...

    def commit_file(self, file: RemoteFile, partial: Path) -> Path:
        """Move a complete, verified `partial` to its final place; return the final path."""
        ...

    def finish(self, listing: RepoListing) -> None:
        """Record revision → commit and the listing, so offline runs can resolve and check it."""
        ...


class HubTransport(Protocol):
    """One hub's client operations the download flow needs; errors errors are weightlib's."""

    source: str
    """`hf` or `modelscope`."""

    def list_repo(self, repo: str, revision: str | None, repo_type: str = "model") -> RepoListing:
        """Resolve `revision` (None: the hub's default branch) and list every file — ONE request
        where possible. Missing repo/revision: NotFoundError; gated/private: AuthError."""
        ...

    def read_range(self, listing: RepoListing, path: str, start: int, length: int) -> bytes:
        """`length` bytes of `path` from `start` by an HTTP Range request (fewer at end of file)."""
        ...

    def fetch(
        self,
        listing: RepoListing,
        file: RemoteFile,
        destination: Path,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Write the file's bytes to `destination`, continuing after its current size when it
        already holds a prefix (HTTP Range). Raises TransientRemoteError for retryable failures."""
        ...

    def layout(
        self,
        listing: RepoListing,
        cache_dir: str | os.PathLike[str] | None,
        local_dir: str | os.PathLike[str] | None,
    ) -> SnapshotLayout:
        """Where `listing` goes on disk: the hub cache (default or `cache_dir`) or `local_dir`."""
        ...

    def local_listing(
        self,
        repo: str,
        revision: str | None,
        repo_type: str,
        cache_dir: str | os.PathLike[str] | None,
        local_dir: str | os.PathLike[str] | None,
    ) -> RepoListing:
        """The listing recorded by an earlier download, without any network access (offline).

        NotFoundError when the cache knows nothing of this repo/revision.
        """
        ...


def listing_from_sizes(
    repo: str, revision: str, commit: str, sizes: Mapping[str, int], source: str = "hf"
) -> RepoListing:
    """A listing without hashes (for caches that recorded only names and sizes)."""
    return RepoListing(
        repo, revision, commit, tuple(RemoteFile(p, s) for p, s in sizes.items()), source=source
    )


def total_bytes(files: Iterable[RemoteFile]) -> int:
    """Sum of the files' sizes."""
    return sum(f.size for f in files)
