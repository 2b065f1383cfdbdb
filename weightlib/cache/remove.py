"""`weightlib cache rm`: remove repositories or revisions as the hub client lays them out, never a
blob another revision still uses, never while a download holds the repository's lock, and with
the files' pages evicted first."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, LockTimeoutError
from ..hub.modelscope import LISTING_DIR, ModelScopeLayout
from ..hub.refs import ModelRef
from ..hub.source import resolve_model_ref
from ..locks import PosixLock
from ..residency import evict
from .busy import any_lock_held
from .hf_scan import blobs_by_inode, lock_files, read_refs
from .inventory import CacheRoots, cached_repo
from .model import CachedRepo, CachedRevision
from .walk import Contents, Inode, walk_folder

WEIGHTLIB_LOCK = "weightlib.lock"


@dataclass
class Removal:
    """What removing something from one repository deletes and frees, and the locks it needs."""

    repo: CachedRepo
    revisions: list[str] = field(default_factory=list)
    whole: bool = False
    delete: list[Path] = field(default_factory=list)
    """Files and folders to delete, in order (refs before snapshots before blobs)."""
    evict: list[Path] = field(default_factory=list)
    """Content files whose pages are dropped first."""
    freed: int = 0
    shared_kept: int = 0
    """Bytes of blobs a removed revision shares with one that stays."""
    locks: list[Path] = field(default_factory=list)
    """weightlib's download locks: held while deleting, so no download starts meanwhile."""
    probes: list[Path] = field(default_factory=list)
    """The clients' locks: a live holder refuses the removal."""

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo.label,
            "source": self.repo.source,
            "revisions": self.revisions,
            "whole_repo": self.whole,
            "paths": [str(p) for p in self.delete],
            "freed_bytes": self.freed,
            "shared_bytes_kept": self.shared_kept,
        }


def _inodes(folders: Sequence[Path]) -> dict[Inode, int]:
    """The content (inode → size) of some snapshot folders."""
    contents = Contents()
    for folder in folders:
        walk_folder(folder, contents)
    return contents.sizes


def _lock_paths(repo: CachedRepo, roots: CacheRoots) -> tuple[list[Path], list[Path]]:
    """(weightlib's locks to hold, the clients' locks to probe) of one repository."""
    if repo.source == "hf":
        theirs = [p for p in lock_files(roots.hf, repo.folder) if p.name != WEIGHTLIB_LOCK]
        return [roots.hf / ".locks" / repo.folder.name / WEIGHTLIB_LOCK], theirs
    ours = [
        ModelScopeLayout(repo.repo, r.name, roots.modelscope, None).lock_path
        for r in repo.revisions
    ]
    existing = sorted((repo.folder / LISTING_DIR).glob("*.lock"))
    return sorted(set(ours) | set(existing)), []


def _whole(repo: CachedRepo, removal: Removal) -> Removal:
    removal.whole = True
    removal.revisions = [r.name for r in repo.revisions]
    removal.delete = [repo.folder]
    removal.evict = [*repo.contents, *repo.orphans]
    removal.freed = repo.size + repo.partial_bytes
    return removal


def plan_revisions(
    repo: CachedRepo, doomed: Sequence[CachedRevision], roots: CacheRoots
) -> Removal:
    """Removing some revisions of `repo` (all of them: the whole repository folder)."""
    removal = Removal(repo)
    removal.locks, removal.probes = _lock_paths(repo, roots)
    if not doomed:
        return removal
    names = {r.name for r in doomed}
    staying = [r for r in repo.revisions if r.name not in names]
    if not staying:
        return _whole(repo, removal)
    removal.revisions = sorted(names)
    removed = _inodes([r.folder for r in doomed])
    kept = _inodes([r.folder for r in staying])
    removal.shared_kept = sum(size for inode, size in removed.items() if inode in kept)
    removal.freed = sum(size for inode, size in removed.items() if inode not in kept)
    if repo.source == "hf":
        refs = read_refs(repo.folder)
        removal.delete += [repo.folder / "refs" / n for r in doomed for n in refs.get(r.name, [])]
    removal.delete += [r.folder for r in doomed]
    if repo.source == "hf":
        blobs = blobs_by_inode(repo.folder)
        gone = [
            path for inode, (path, _size) in blobs.items() if inode in removed and inode not in kept
        ]
        removal.delete += gone
        removal.evict += gone
        removal.delete += [repo.folder / "trees" / f"{r.name}.json" for r in doomed]
    else:
        removal.delete += [
            ModelScopeLayout(repo.repo, r.name, roots.modelscope, None).record_path for r in doomed
        ]
        removal.evict += [
            r.folder / p for r in doomed for p in walk_folder(r.folder, Contents()).files
        ]
    return removal


def plan_removal(
    target: str, *, cache_dir: str | os.PathLike[str] | None = None, source: str | None = None
) -> Removal:
    """What `cache rm TARGET` removes: the repository (`org/name`) or one revision
    (`org/name@rev`, a branch, tag or commit); NotFoundError when it is not cached."""
    if os.path.isdir(target):
        raise InvalidInputError(
            f"{target}: a folder; `cache rm` removes repositories of a hub cache"
        )
    roots = CacheRoots.of(cache_dir)
    ref = resolve_model_ref(target, source=source)
    repo = cached_repo(ref, roots)
    if ref.revision is None:
        removal = Removal(repo)
        removal.locks, removal.probes = _lock_paths(repo, roots)
        return _whole(repo, removal)
    whole = cached_repo(ModelRef(ref.source, ref.repo, None, ref.repo_type), roots)
    return plan_revisions(whole, repo.revisions, roots)


@contextlib.contextmanager
def locked(removal: Removal) -> Iterator[None]:
    """Hold weightlib's download locks of the repository and check nobody else holds one:
    else LockTimeoutError (exit 7) and nothing is removed."""
    label = removal.repo.label
    with contextlib.ExitStack() as stack:
        for path in removal.locks:
            lock = PosixLock(path, 0, label)
            try:
                lock.acquire()
            except LockTimeoutError:
                raise LockTimeoutError(
                    f"{label}: a download is running (it holds {path}); nothing removed"
                ) from None
            stack.callback(lock.release)
        busy = any_lock_held(removal.probes)
        if busy is not None:
            raise LockTimeoutError(
                f"{label}: a download is running (it holds {busy}); nothing removed"
            )
        yield


def _delete(path: Path, inside: Path) -> None:
    """Delete one file or folder of the repository; a link is removed, never followed."""
    if not path.absolute().is_relative_to(inside.absolute()):
        raise InvalidInputError(f"{path}: outside {inside}; not removed")
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def carry_out(removal: Removal) -> None:
    """Delete what `removal` names, under its locks, after evicting the files' pages."""
    with locked(removal):
        for path in removal.evict:
            with contextlib.suppress(OSError, ValueError):
                evict(path)
        for path in removal.delete:
            _delete(path, removal.repo.folder)
