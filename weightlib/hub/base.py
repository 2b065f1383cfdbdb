"""What every hub speaks in: a revision's listing, the files in it, and where they go on disk.

A `RepoListing` checks every entry a server sends (path, size, hashes, duplicates) when it is
built, so nothing downstream ever sees a hostile name. A `SnapshotLayout` is where a hub's client
keeps a revision's files (its cache, or a plain `--local-dir`), so tools of that hub find what
weightlib downloaded. A failure worth retrying is a `TransientRemoteError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
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


@dataclass(frozen=True)
class Destination:
    """Where downloads go: the hub client's cache (its default or `cache_dir`), or a plain
    folder `local_dir` with the client's metadata beside the files."""

    cache_dir: str | os.PathLike[str] | None = None
    local_dir: str | os.PathLike[str] | None = None


ProgressCallback = Callable[[int], None]
"""Called with the number of new bytes each time a chunk lands on disk."""


class SnapshotLayout(Protocol):
    """Where the files of one listing live on disk (a hub cache snapshot or a plain folder)."""

    @property
    def root(self) -> Path:
        """The folder a server is pointed at: `root / file.path` is each file."""
        ...

    @property
    def lock_path(self) -> Path:
        """The lock file that serialises downloads of this repository (or revision)."""
        ...

    def adopt(self, file: RemoteFile) -> bool:
        """Make the file appear from content already on disk (e.g. a cache blob shared with
        another revision); True when nothing must be fetched."""
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
