"""Which files a command works on: MODEL_OR_FILE arguments resolved to files on this machine.

Shared by `prefetch`, `status` and `evict`; `prefetch` then narrows the weights to one rank's
slice (`rank_slice`) or to those on a network filesystem (`network_files`, for `--auto`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..checkpoint import looks_like_repo_id
from ..errors import InvalidInputError, NotFoundError, WeightlibError
from ..fs import get_fs_type, is_network_fs
from ..hub import cached_snapshot
from ..residency import FileError, error_for_oserror
from ..shards import local_serving_files


@dataclass
class ResolvedFiles:
    """Inputs resolved to files: weights (in load order), support files, and inputs that failed."""

    weights: list[Path] = field(default_factory=list)
    support: list[Path] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    folders: dict[Path, Path] = field(default_factory=dict)
    """The model folder each file was found in (a repo id's snapshot, as an absolute path);
    files given one by one have none."""

    @property
    def files(self) -> list[Path]:
        """Weights first, then support files."""
        return [*self.weights, *self.support]


def resolve_files(inputs: Iterable[str | os.PathLike[str]], fmt: str = "auto") -> ResolvedFiles:
    """Files behind each input: a model folder gives its weights plus config/tokenizer files,
    a file is taken as is, a repo id (`org/name[@rev]`, `hf://…`, `ms://…`) is its snapshot in
    the local hub cache (never the network). Failures are collected per input, so the others
    still proceed; a file reached twice (by any path) is listed once.
    """
    resolved = ResolvedFiles()
    seen: set[str] = set()

    def add(target: list[Path], paths: Iterable[Path], folder: Path | None) -> None:
        for path in paths:
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                target.append(path)
                if folder is not None:
                    resolved.folders[path] = folder

    for item in inputs:
        name = os.fspath(item)
        try:
            folder, weights, support = _files_of(name, fmt)
        except WeightlibError as exc:
            resolved.errors.append(FileError.from_error(name, exc))
        except OSError as exc:
            resolved.errors.append(FileError.from_error(name, error_for_oserror(name, exc)))
        else:
            add(resolved.weights, weights, folder)
            add(resolved.support, support, folder)
    return resolved


def _files_of(name: str, fmt: str) -> tuple[Path | None, list[Path], list[Path]]:
    """(the folder, weights, support files) of one input, or the typed error saying why there
    are none; the folder is None for a file."""
    if not name.strip():
        raise InvalidInputError("an empty path was given")
    path = Path(name)
    if not path.exists() and looks_like_repo_id(name):
        path = cached_snapshot(name)
    if path.is_dir():
        return Path(os.path.abspath(path)), *local_serving_files(path, fmt)
    if path.exists():
        return None, [path], []
    raise NotFoundError(f"{name}: no such file or directory")


def rank_slice(files: Sequence[Path], rank: int | None, world_size: int | None) -> list[Path]:
    """`files[rank::world_size]`, after checking the pair (both or neither; 0 ≤ rank < N)."""
    if rank is None and world_size is None:
        return list(files)
    if rank is None or world_size is None:
        raise InvalidInputError("--rank and --world-size go together; give both")
    if world_size < 1:
        raise InvalidInputError(f"--world-size must be at least 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise InvalidInputError(f"--rank must be in 0..{world_size - 1}, got {rank}")
    return list(files[rank::world_size])


def network_files(files: Iterable[Path], mounts_text: str | None = None) -> tuple[list[Path], str]:
    """The files on a network filesystem, and a one-line reason when there are none."""
    if mounts_text is None:
        try:
            mounts_text = Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
        except OSError:
            mounts_text = ""
    chosen, local_types = [], []
    for path in files:
        fstype = get_fs_type(path, mounts_text)
        if is_network_fs(fstype):
            chosen.append(path)
        else:
            local_types.append(fstype or "unknown")
    reason = ""
    if not chosen:
        kinds = ", ".join(sorted(set(local_types))) or "none"
        reason = f"no file is on a network filesystem (found: {kinds}); --auto warms only those"
    return chosen, reason
