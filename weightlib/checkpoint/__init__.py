"""A checkpoint: the files of one model revision, on disk or on a hub, listed and range-read.

`open_checkpoint(model)` is the front door: a folder on disk (`local`), else a hub repository
(`remote`, only metadata and header bytes travel); `report` describes what `index` shows.
"""

from __future__ import annotations

import os

from ..errors import InvalidInputError
from .local import Checkpoint, LocalCheckpoint, select_checkpoint_weights
from .remote import CachedCheckpoint, RemoteCheckpoint, open_remote_checkpoint
from .report import CheckpointReport, ShardSummary, describe_checkpoint


def looks_like_repo_id(model: str) -> bool:
    """`org/name`, `org/name@rev` or a `scheme://` reference, rather than a local path."""
    if "://" in model:
        return True
    if model.startswith(("/", "./", "../", "~")):
        return False
    return model.count("/") == 1 and all(model.split("@", 1)[0].split("/"))


def open_checkpoint(
    model: str,
    *,
    revision: str | None = None,
    source: str | None = None,
    token: str | None = None,
    offline: bool | None = None,
) -> Checkpoint:
    """A local folder when `model` exists on disk, else a hub repository (`org/name`, `hf://…`)."""
    if not model.strip():
        raise InvalidInputError("MODEL is empty: give a model folder or a repository id")
    if os.path.exists(model) or (
        revision is None and source is None and not looks_like_repo_id(model)
    ):
        return LocalCheckpoint(model)
    return open_remote_checkpoint(
        model, revision=revision, source=source, token=token, offline=offline
    )


__all__ = [
    "CachedCheckpoint",
    "Checkpoint",
    "CheckpointReport",
    "LocalCheckpoint",
    "RemoteCheckpoint",
    "ShardSummary",
    "describe_checkpoint",
    "looks_like_repo_id",
    "open_checkpoint",
    "open_remote_checkpoint",
    "select_checkpoint_weights",
]
