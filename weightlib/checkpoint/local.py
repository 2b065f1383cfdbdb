"""The `Checkpoint` interface (files that can be listed and range-read) and a folder on disk.

`filter`, `size` and `index` work on this interface so the same selection and header checks run
on a folder on disk and on a remote repository (where only metadata and header bytes travel).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from ..index import parse_index
from ..shards import (
    ServingSelection,
    WeightSelection,
    check_model_folder,
    list_local_files,
    select_serving_files,
    select_weight_files,
)


class Checkpoint(Protocol):
    """Files of one model revision: their sizes, and reads of byte ranges."""

    @property
    def name(self) -> str:
        """How the user named it (folder path or repo id), for messages."""
        ...

    def file_sizes(self) -> Mapping[str, int]:
        """Every file as relative POSIX path → size in bytes (one listing, cached)."""
        ...

    def read_range(self, path: str, start: int, length: int) -> bytes:
        """`length` bytes of `path` from `start` (fewer only at end of file)."""
        ...

    def read_file(self, path: str) -> bytes:
        """The whole of a small file (an index, a config)."""
        ...


class LocalCheckpoint:
    """A model folder on disk (symlinks followed, as in Hugging Face cache snapshots)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = check_model_folder(folder)
        self._name = os.fspath(folder)
        self._sizes: dict[str, int] | None = None

    @property
    def name(self) -> str:
        return self._name

    def local_path(self, path: str) -> Path:
        """The file on disk for a relative path of the listing."""
        return self.folder / path

    def file_sizes(self) -> Mapping[str, int]:
        if self._sizes is None:
            self._sizes = {
                p: (self.folder / p).stat().st_size for p in list_local_files(self.folder)
            }
        return self._sizes

    def read_range(self, path: str, start: int, length: int) -> bytes:
        with (self.folder / path).open("rb") as handle:
            handle.seek(start)
            return handle.read(length)

    def read_file(self, path: str) -> bytes:
        return (self.folder / path).read_bytes()


def select_checkpoint_weights(checkpoint: Checkpoint, fmt: str = "auto") -> WeightSelection:
    """`select_weight_files` over any checkpoint, reading its index through the checkpoint."""
    return select_weight_files(
        checkpoint.file_sizes(),
        fmt,
        read_index=lambda name: (
            parse_index(checkpoint.read_file(name), f"{checkpoint.name}/{name}").weight_map
        ),
    )


def select_checkpoint_files(checkpoint: Checkpoint, fmt: str = "auto") -> ServingSelection:
    """The weights and the support files a server reads from any checkpoint, with reasons.

    Small files that decide it (the index, `modules.json`) are read through the checkpoint: from
    disk, or by HTTP range from a hub.
    """
    return select_serving_files(checkpoint.file_sizes(), fmt, checkpoint.read_file, checkpoint.name)
