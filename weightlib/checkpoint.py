"""A checkpoint as a set of files that can be listed and range-read, local or on a hub.

`filter`, `size` and `index` work on this interface so the same selection and header checks run
on a folder on disk and on a remote repository (where only metadata and header bytes travel).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .errors import (
    AuthError,
    IntegrityError,
    InvalidInputError,
    MissingShardsError,
    NotFoundError,
    WeightlibError,
)
from .safetensors_header import SafetensorsHeader, read_header_with
from .shards import (
    WeightSelection,
    list_local_files,
    require_weights,
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
        from .shards import check_model_folder

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
    from .index import parse_index

    return select_weight_files(
        checkpoint.file_sizes(),
        fmt,
        read_index=lambda name: (
            parse_index(checkpoint.read_file(name), f"{checkpoint.name}/{name}").weight_map
        ),
    )


def open_checkpoint(
    model: str,
    *,
    revision: str | None = None,
    source: str | None = None,
    token: str | None = None,
    offline: bool | None = None,
) -> Checkpoint:
    """A local folder when `model` exists on disk, else a hub repository (`org/name`, `hf://…`).

    Only the local case is built in here; remote repositories are opened by `weightlib.hub`.
    """
    if not model.strip():
        raise InvalidInputError("MODEL is empty: give a model folder or a repository id")
    if os.path.exists(model) or (
        revision is None and source is None and not looks_like_repo_id(model)
    ):
        return LocalCheckpoint(model)
    try:
        from .hub import open_remote_checkpoint
    except ImportError:
        raise NotFoundError(f"{model}: no such file or directory") from None
    checkpoint: Checkpoint = open_remote_checkpoint(
        model, revision=revision, source=source, token=token, offline=offline
    )
    return checkpoint


def looks_like_repo_id(model: str) -> bool:
    """`org/name`, `org/name@rev` or a `scheme://` reference, rather than a local path."""
    if "://" in model:
        return True
    if model.startswith(("/", "./", "../", "~")):
        return False
    return model.count("/") == 1 and all(model.split("@", 1)[0].split("/"))


@dataclass
class ShardSummary:
    """One weight file as `weightlib index` reports it."""

    file: str
    tensors: int | None
    """Tensor count from the safetensors header (or the .bin index); None when unknown."""
    bytes: int
    dtypes: list[str]


@dataclass
class CheckpointReport:
    """What `weightlib index` found: shards in load order, what is missing and what is broken."""

    model: str
    format: str | None
    index_file: str | None
    shards: list[ShardSummary] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errors: list[WeightlibError] = field(default_factory=list)

    @property
    def total_tensors(self) -> int:
        return sum(s.tensors or 0 for s in self.shards)

    @property
    def total_bytes(self) -> int:
        return sum(s.bytes for s in self.shards)

    def raise_for_problems(self) -> None:
        """Raise the first problem as its typed error (missing shards before corrupt files)."""
        if self.missing:
            raise MissingShardsError(f"{self.model}/{self.index_file}", self.missing)
        if self.errors:
            raise self.errors[0]


def _header_of(checkpoint: Checkpoint, path: str, size: int) -> SafetensorsHeader:
    source = f"{checkpoint.name}/{path}"
    try:
        return read_header_with(
            lambda start, length: checkpoint.read_range(path, start, length), size, source
        )
    except NotFoundError:
        raise
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise AuthError(f"{source}: permission denied") from None
        raise IntegrityError(f"{source}: cannot read header ({exc.strerror or exc})") from None


def describe_checkpoint(checkpoint: Checkpoint, fmt: str = "auto") -> CheckpointReport:
    """Summarise every selected shard from its header (safetensors) or the index (.bin).

    Problems are collected, not raised, so one corrupt shard does not hide the others.
    Raises `NoWeightFilesError` only when there is nothing to describe.
    """
    from .index import parse_index

    selection = select_checkpoint_weights(checkpoint, fmt)
    if not selection.files and not selection.missing:
        require_weights(selection, checkpoint.name)
    sizes = checkpoint.file_sizes()
    report = CheckpointReport(checkpoint.name, selection.format, selection.index_file)
    report.missing = list(selection.missing)
    index_tensors: dict[str, list[str]] = {}
    index_name = selection.index_file
    if index_name and index_name in sizes:
        index = parse_index(checkpoint.read_file(index_name), f"{checkpoint.name}/{index_name}")
        index_tensors = index.tensors_by_shard()
        report.index_file = index_name
    for path in selection.files:
        if selection.format != "safetensors":
            named = index_tensors.get(path)
            report.shards.append(
                ShardSummary(path, len(named) if named is not None else None, sizes[path], [])
            )
            continue
        try:
            header = _header_of(checkpoint, path, sizes[path])
        except WeightlibError as exc:
            report.errors.append(exc)
            report.shards.append(ShardSummary(path, None, sizes[path], []))
            continue
        report.shards.append(ShardSummary(path, len(header.tensors), sizes[path], header.dtypes))
        absent = set(index_tensors.get(path, ())) - {t.name for t in header.tensors}
        if absent:
            report.errors.append(
                IntegrityError(
                    f"{checkpoint.name}/{path}: {len(absent)} tensor(s) the index places here are "
                    f"not in the file, e.g. {sorted(absent)[0]!r}"
                )
            )
    return report
