"""Hub repositories as checkpoints: list and range-read a remote revision without fetching weights.

`open_remote_checkpoint("org/name")` answers `file_sizes()` from ONE listing request and reads
index files and safetensors headers by HTTP Range, so `filter`, `size` and `index` work on a repo
id with only metadata and header bytes travelling. Offline it reads the local cache instead.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, MissingExtraError, NotFoundError

if TYPE_CHECKING:
    from ..checkpoint import Checkpoint
    from .base import HubTransport, RepoListing


class RemoteCheckpoint:
    """A `Checkpoint` over one revision of a hub repository (listing fetched on first use)."""

    def __init__(
        self,
        name: str,
        transport: HubTransport,
        repo: str,
        revision: str | None,
        repo_type: str = "model",
    ) -> None:
        self._name = name
        self.transport = transport
        self.repo = repo
        self.revision = revision
        self.repo_type = repo_type
        self._listing: RepoListing | None = None
        self._files: dict[str, bytes] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def listing(self) -> RepoListing:
        """The revision's listing (one request, then cached)."""
        if self._listing is None:
            from ..download import _with_retries

            self._listing = _with_retries(
                lambda: self.transport.list_repo(self.repo, self.revision, self.repo_type),
                self._name,
            )
        return self._listing

    @property
    def commit(self) -> str:
        return self.listing.commit

    def file_sizes(self) -> Mapping[str, int]:
        return self.listing.sizes()

    def _check(self, path: str) -> None:
        if not self.listing.has(path):
            raise NotFoundError(f"{self._name}: no file {path} in the repository")

    def read_range(self, path: str, start: int, length: int) -> bytes:
        from ..download import _with_retries

        self._check(path)
        data: bytes = _with_retries(
            lambda: self.transport.read_range(self.listing, path, start, length), self._name
        )
        return data

    def read_file(self, path: str) -> bytes:
        """The whole file by one request; kept in memory (index and config files are read twice)."""
        if path not in self._files:
            self._check(path)
            self._files[path] = self.read_range(path, 0, self.listing.file(path).size)
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


def _modelscope_checkpoint(model: str, **kwargs: Any) -> Checkpoint:
    if importlib.util.find_spec("weightlib.hub.modelscope") is None:
        raise MissingExtraError("reading ModelScope repositories", "modelscope")
    from . import modelscope

    opener = getattr(modelscope, "open_modelscope_checkpoint", None)
    if opener is None:
        raise InvalidInputError(f"{model}: ModelScope repositories are not supported in this build")
    checkpoint: Checkpoint = opener(model, **kwargs)
    return checkpoint


def open_remote_checkpoint(
    model: str,
    *,
    revision: str | None = None,
    source: str | None = None,
    token: str | None = None,
    offline: bool | None = None,
) -> Checkpoint:
    """A hub repository (`org/name`, `org/name@rev`, `hf://…`, `ms://…`) as a `Checkpoint`.

    Offline (`offline=True` or HF_HUB_OFFLINE=1) it reads the revision from the local cache.
    """
    from .source import MODELSCOPE, env_offline, resolve_model_ref

    ref = resolve_model_ref(model, revision=revision, source=source)
    if ref.source == MODELSCOPE:
        return _modelscope_checkpoint(model, revision=revision, token=token, offline=offline)
    from .hf import HfTransport

    transport = HfTransport(token=token)
    if offline if offline is not None else env_offline():
        listing = transport.local_listing(ref.repo, ref.revision, ref.repo_type, None, None)
        layout = transport.layout(listing, None, None)
        return CachedCheckpoint(model, listing, layout.root)
    return RemoteCheckpoint(model, transport, ref.repo, ref.revision, ref.repo_type)


def cached_snapshot(model: str, *, revision: str | None = None, source: str | None = None) -> Path:
    """The folder of a repository revision in the local hub cache, without any network access.

    For `prefetch`/`status`/`evict org/name`: NotFoundError (3) when the cache lacks it.
    """
    from .source import MODELSCOPE, resolve_model_ref

    ref = resolve_model_ref(model, revision=revision, source=source)
    if ref.source == MODELSCOPE:
        from .modelscope import cached_snapshot as modelscope_snapshot

        return modelscope_snapshot(model, revision)
    from .hf import HfTransport

    transport = HfTransport()
    listing = transport.local_listing(ref.repo, ref.revision, ref.repo_type, None, None)
    root = transport.layout(listing, None, None).root
    if not root.is_dir():
        raise NotFoundError(f"{model}: this revision is not in the local cache; download it first")
    return root


__all__ = ["CachedCheckpoint", "RemoteCheckpoint", "cached_snapshot", "open_remote_checkpoint"]
