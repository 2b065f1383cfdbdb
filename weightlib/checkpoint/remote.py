"""Hub repositories as checkpoints: list and range-read a remote revision without fetching weights.

`open_remote_checkpoint("org/name")` answers `file_sizes()` from ONE listing request and reads
index files and safetensors headers by HTTP Range, so `filter`, `size` and `index` work on a repo
id with only metadata and header bytes travelling. Offline it reads the local cache instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import NotFoundError
from ..hub import cached_revision, get_transport, modelscope
from ..hub.base import RepoListing
from ..hub.refs import ModelRef
from ..hub.retries import with_retries
from ..hub.source import MODELSCOPE, offline_requested, resolve_model_ref
from ..hub.transport import HubTransport
from .local import Checkpoint


class RemoteCheckpoint:
    """A `Checkpoint` over one revision of a hub repository (listing fetched on first use)."""

    def __init__(self, name: str, transport: HubTransport, ref: ModelRef) -> None:
        self._name = name
        self.transport = transport
        self.ref = ref
        self._listing: RepoListing | None = None
        self._files: dict[str, bytes] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def listing(self) -> RepoListing:
        """The revision's listing (one request, then cached)."""
        if self._listing is None:
            ref = self.ref
            self._listing = with_retries(
                lambda: self.transport.list_repo(ref.repo, ref.revision, ref.repo_type)
            )
        return self._listing

    @property
    def commit(self) -> str:
        return self.listing.commit

    def file_sizes(self) -> Mapping[str, int]:
        return self.listing.sizes()

    def read_range(self, path: str, start: int, length: int) -> bytes:
        if not self.listing.has(path):
            raise NotFoundError(f"{self._name}: no file {path} in the repository")
        return with_retries(lambda: self.transport.read_range(self.listing, path, start, length))

    def read_file(self, path: str) -> bytes:
        """The whole file by one request; kept in memory (index and config files are read twice)."""
        if path not in self._files:
            size = self.listing.file(path).size if self.listing.has(path) else 0
            self._files[path] = self.read_range(path, 0, size)
        return self._files[path]


class CachedCheckpoint:
    """A `Checkpoint` over a revision in the local hub cache (offline: no socket is opened)."""

    def __init__(self, name: str, listing: RepoListing, root: Path) -> None:
        self._name = name
        self.listing = listing
        self.root = root

    @property
    def name(self) -> str:
        return self._name

    def file_sizes(self) -> Mapping[str, int]:
        return self.listing.sizes()

    def _local(self, path: str) -> Path:
        local = self.root / path
        if not local.is_file():
            raise NotFoundError(f"{self._name}: offline and {path} is not in the local cache")
        return local

    def read_range(self, path: str, start: int, length: int) -> bytes:
        with self._local(path).open("rb") as handle:
            handle.seek(start)
            return handle.read(length)

    def read_file(self, path: str) -> bytes:
        return self._local(path).read_bytes()


def open_remote_checkpoint(
    model: str,
    *,
    revision: str | None = None,
    source: str | None = None,
    token: str | None = None,
    offline: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Checkpoint:
    """A hub repository (`org/name`, `org/name@rev`, `hf://…`, `ms://…`) as a `Checkpoint`.

    Offline (`offline=True`, or the environment's offline settings) it reads the revision from
    the local cache without any socket. A ModelScope listing is fetched at once, so a missing
    repository or token fails here.
    """
    ref = resolve_model_ref(model, revision=revision, source=source)
    name = model
    if ref.source == MODELSCOPE:
        ref = modelscope.modelscope_ref(model, revision)
        name = str(ref) if ref.revision else modelscope.label(ref.repo)
    if offline_requested(offline):
        listing, root = cached_revision(ref, cache_dir)
        return CachedCheckpoint(name, listing, root)
    checkpoint = RemoteCheckpoint(name, get_transport(ref.source, token), ref)
    if ref.source == MODELSCOPE:
        _ = checkpoint.listing
    return checkpoint
