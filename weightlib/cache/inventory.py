"""`weightlib cache ls`: every cached repository of both hubs (or the ones asked for), with bytes
on disk, page-cache residency and state, from metadata and `stat` alone."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, NotFoundError, WeightlibError
from ..hub import hf_cache, modelscope
from ..hub.refs import ModelRef
from ..hub.source import HF, MODELSCOPE, resolve_model_ref
from ..residency import FileError, residency
from .hf_scan import hf_repo_folder, scan_hf_cache, scan_hf_repo
from .local_scan import scan_local_folder
from .model import CachedRepo
from .ms_scan import ms_repo_folder, scan_ms_cache, scan_ms_repo

SOURCES = ("hf", "modelscope", "all")
SORT_ORDERS = ("size", "accessed", "modified", "name")
_SORT_KEYS: dict[str, Callable[[CachedRepo], Any]] = {
    "size": lambda r: -r.size,
    "accessed": lambda r: -r.accessed,
    "modified": lambda r: -r.modified,
    "name": lambda r: (r.label.lower(), r.source),
}


@dataclass(frozen=True)
class CacheRoots:
    """The cache folder of each hub: `--cache-dir` for both, else each client's default."""

    hf: Path
    modelscope: Path

    @classmethod
    def of(cls, cache_dir: str | os.PathLike[str] | None) -> CacheRoots:
        if cache_dir is not None:
            folder = Path(cache_dir).expanduser().absolute()
            return cls(folder, folder)
        return cls(hf_cache.cache_root(None), modelscope.default_cache_dir().absolute())


@dataclass
class Inventory:
    """What `cache ls` found, and the arguments that named nothing."""

    repos: list[CachedRepo] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)


def check_choice(value: str, choices: Sequence[str], option: str) -> str:
    """`value` if it is one of `choices`, else InvalidInputError (exit 2) naming them."""
    if value not in choices:
        raise InvalidInputError(f"invalid {option} {value!r}; use one of {', '.join(choices)}")
    return value


def cached_repo(ref: ModelRef, roots: CacheRoots) -> CachedRepo:
    """The cache entry of one repository reference; NotFoundError when it is not cached."""
    if ref.source == MODELSCOPE:
        folder = ms_repo_folder(roots.modelscope, ref.repo)
        repo = scan_ms_repo(roots.modelscope, folder, ref.revision)
    else:
        folder = hf_repo_folder(roots.hf, ref.repo, ref.repo_type)
        repo = scan_hf_repo(roots.hf, folder, ref.revision)
    if repo is None:
        raise NotFoundError(f"{ref}: not in the local cache")
    if ref.revision is not None and not repo.revisions:
        raise NotFoundError(f"{ref}: this revision is not in the local cache")
    return repo


def find_entry(model: str, roots: CacheRoots, source: str | None) -> CachedRepo:
    """A folder given by path, else a repository of a hub's cache."""
    if os.path.isdir(model):
        return scan_local_folder(Path(model))
    return cached_repo(resolve_model_ref(model, source=source), roots)


def measure_residency(repo: CachedRepo) -> None:
    """Fill `repo.resident` from the page cache (cachestat/mincore: no data read)."""
    resident = unknown = 0
    for path in [*repo.contents, *repo.orphans]:
        try:
            state = residency(path)
        except (OSError, WeightlibError):
            unknown += 1
            continue
        if state.known:
            resident += state.resident_bytes
        else:
            unknown += 1
    repo.resident, repo.resident_unknown = resident, unknown


def list_cache(
    models: Sequence[str] = (),
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    source: str = "all",
    sort: str = "size",
    measure: bool = True,
) -> Inventory:
    """The cached repositories (all of both hubs, or those `models` name: repository ids or
    folders), each with its revisions, bytes, residency (`measure`) and state, sorted."""
    check_choice(source, SOURCES, "--source")
    check_choice(sort, SORT_ORDERS, "--sort")
    roots = CacheRoots.of(cache_dir)
    found = Inventory()
    if models:
        hub = None if source == "all" else source
        for model in models:
            try:
                found.repos.append(find_entry(model, roots, hub))
            except WeightlibError as error:
                found.errors.append(FileError.from_error(model, error))
    else:
        if source in (HF, "all"):
            found.repos += scan_hf_cache(roots.hf)
        if source in (MODELSCOPE, "all"):
            found.repos += scan_ms_cache(roots.modelscope)
    if measure:
        for repo in found.repos:
            measure_residency(repo)
    found.repos.sort(key=_SORT_KEYS[sort])
    return found
