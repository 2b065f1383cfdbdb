"""The Hugging Face cache as `weightlib cache` sees it: one `CachedRepo` per `models--org--name`,
read as the client wrote it (`refs/`, `snapshots/<commit>/` links into `blobs/`, `trees/`)."""

from __future__ import annotations

import os
from pathlib import Path

from ..hub.hf_cache import parse_repo_folder_name, recorded_files, repo_folder_name
from .busy import any_lock_held
from .completeness import revision_problems
from .model import CachedRepo, CachedRevision
from .walk import PARTIAL_SUFFIX, Contents, Inode, partial_files, scan_subfolders, walk_folder


def read_refs(folder: Path) -> dict[str, list[str]]:
    """Commit → the ref names (`main`, `refs/pr/1` as `pr/1`) that point at it."""
    refs_dir = folder / "refs"
    found: dict[str, list[str]] = {}
    for dirpath, _dirs, names in os.walk(refs_dir):
        for name in names:
            path = Path(dirpath) / name
            try:
                commit = path.read_text(encoding="utf-8", errors="replace").strip()
            except OSError:
                continue
            found.setdefault(commit, []).append(path.relative_to(refs_dir).as_posix())
    return {commit: sorted(names) for commit, names in found.items()}


def lock_files(cache_root: Path, folder: Path) -> list[Path]:
    """The download locks of one repository: weightlib's and the client's, one per blob."""
    locks = cache_root / ".locks" / folder.name
    try:
        return sorted(p for p in locks.iterdir() if p.name.endswith(".lock"))
    except OSError:
        return []


def blobs_by_inode(folder: Path) -> dict[Inode, tuple[Path, int]]:
    """Every complete blob of a repository (path and size), by device and inode."""
    found: dict[Inode, tuple[Path, int]] = {}
    try:
        entries = list(os.scandir(folder / "blobs"))
    except OSError:
        return found
    for entry in entries:
        if entry.name.endswith(PARTIAL_SUFFIX) or not entry.is_file(follow_symlinks=False):
            continue
        info = entry.stat(follow_symlinks=False)
        found[(info.st_dev, info.st_ino)] = (Path(entry.path), info.st_size)
    return found


def snapshot_names(snapshots: Path) -> list[str]:
    """The revision folders under `snapshots/` (a link to a folder is not one)."""
    try:
        entries = list(os.scandir(snapshots))
    except OSError:
        return []
    return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))


def _recorded_sizes(folder: Path, commit: str) -> dict[str, int] | None:
    files = recorded_files(folder, commit)
    return None if files is None else {f.path: f.size for f in files}


def scan_revision(folder: Path, commit: str, refs: list[str], contents: Contents) -> CachedRevision:
    """One snapshot: its files, bytes and what is missing from it."""
    snapshot = folder / "snapshots" / commit
    walked = walk_folder(snapshot, contents)
    missing, wrong = revision_problems(
        snapshot, walked.files, walked.dangling, _recorded_sizes(folder, commit)
    )
    return CachedRevision(
        commit, refs, snapshot, len(walked.files), walked.size, walked.modified, missing, wrong
    )


def scan_hf_repo(cache_root: Path, folder: Path, revision: str | None = None) -> CachedRepo | None:
    """One repository folder of the cache (only the snapshot `revision` names, a commit or a
    ref, if given: then its bytes and files are that revision's); None when the folder's name
    is not the client's."""
    parsed = parse_repo_folder_name(folder.name)
    if parsed is None or not folder.is_dir():
        return None
    repo, repo_type = parsed
    refs = read_refs(folder)
    contents = Contents()
    snapshots = folder / "snapshots"
    names = snapshot_names(snapshots)
    if revision is not None:
        names = [n for n in names if revision in (n, *refs.get(n, []))]
    revisions = [scan_revision(folder, name, refs.get(name, []), contents) for name in names]
    blobs = blobs_by_inode(folder) if revision is None else {}
    unused = [blob for inode, blob in blobs.items() if inode not in contents.paths]
    orphans = [path for path, _size in unused]
    orphan_bytes = sum(size for _path, size in unused)
    return CachedRepo(
        source="hf",
        repo=repo,
        repo_type=repo_type,
        folder=folder,
        revisions=revisions,
        contents=contents.files(),
        size=contents.size + orphan_bytes,
        accessed=contents.accessed,
        modified=contents.modified,
        orphans=orphans,
        orphan_bytes=orphan_bytes,
        partials=partial_files(folder / "blobs"),
        downloading=any_lock_held(lock_files(cache_root, folder)) is not None,
    )


def scan_hf_cache(cache_root: Path) -> list[CachedRepo]:
    """Every repository of a Hugging Face cache folder (none if it does not exist)."""
    return scan_subfolders(cache_root, lambda folder: scan_hf_repo(cache_root, folder))


def hf_repo_folder(cache_root: Path, repo: str, repo_type: str) -> Path:
    """Where the client caches `repo`."""
    return cache_root / repo_folder_name(repo, repo_type)
