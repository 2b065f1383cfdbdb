"""The hubs weightlib downloads from, behind one interface (`base.HubTransport`).

`get_transport("hf" | "modelscope")` is the registry: a new hub is a module here with a
transport (listing, URLs, error map over the shared `http` path) and a layout, added below.
`cached_snapshot` finds a revision in a hub's local cache without any network access.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InvalidInputError, NotFoundError
from . import hf_cache, modelscope
from .base import RepoListing
from .hf import HfTransport
from .refs import ModelRef
from .source import HF, MODELSCOPE, resolve_model_ref
from .transport import HubTransport


def get_transport(source: str, token: str | None = None) -> HubTransport:
    """The transport for a hub: `hf` (huggingface_hub) or `modelscope` (the modelscope extra)."""
    if source == HF:
        return HfTransport(token=token)
    if source == MODELSCOPE:
        return modelscope.ModelScopeTransport(token=token)
    raise InvalidInputError(f"unknown source {source!r}; use hf or modelscope")


def cached_revision(
    ref: ModelRef, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[RepoListing, Path]:
    """What a hub's local cache recorded of `ref`, and the folder of its files; no network.

    Works without the hub's client installed. NotFoundError (3) when the cache knows nothing.
    """
    if ref.source == MODELSCOPE:
        listing = modelscope.local_listing(ref.repo, ref.revision, cache_dir)
        return listing, modelscope.ModelScopeLayout(
            ref.repo, listing.revision, cache_dir, None
        ).root
    listing = hf_cache.local_listing(ref.repo, ref.revision, ref.repo_type, cache_dir, None)
    return listing, hf_cache.HfCacheLayout(hf_cache.cache_root(cache_dir), listing).root


def cached_snapshot(model: str, *, revision: str | None = None, source: str | None = None) -> Path:
    """The folder of a repository revision in the local hub cache, without any network access.

    For `prefetch`/`status`/`evict org/name`: NotFoundError (3) when the cache lacks it.
    """
    ref = resolve_model_ref(model, revision=revision, source=source)
    if ref.source == MODELSCOPE:
        ref = modelscope.modelscope_ref(model, revision)
    root = cached_revision(ref)[1]
    if not root.is_dir():
        raise NotFoundError(f"{model}: this revision is not in the local cache; download it first")
    return root


__all__ = ["cached_revision", "cached_snapshot", "get_transport"]
