"""Where Hugging Face files live on disk: the client's cache layout, `--local-dir`, offline lists.

`HfCacheLayout` writes exactly what huggingface_hub writes (`blobs/`, `snapshots/<commit>/`
symlinks, `refs/`, the `trees/` listing cache), and `HfLocalDirLayout` a plain folder with the
client's `.cache/huggingface` metadata, so `hf`, transformers and vLLM find the files, offline
too. `local_listing` reads back what a download recorded, without any network access.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from ..atomic import atomic_writer
from ..errors import NotFoundError, RemoteError
from ..fs import has_size
from ..hashing import can_verify, mismatch_reason
from ..safepath import check_path_segment, safe_join
from ..shards import list_local_files
from .base import RemoteFile, RepoListing

_COMMIT = re.compile(r"[0-9a-f]{40}")


def default_cache_dir() -> Path:
    """The client's hub cache: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub."""
    from huggingface_hub import constants  # start-up: the client loads only when a hub is used

    return Path(constants.HF_HUB_CACHE).expanduser()


def cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    """The absolute hub cache folder: `cache_dir` (`--cache-dir`), else the client's default."""
    base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return base.absolute()


def repo_folder_name(repo: str, repo_type: str) -> str:
    """The client's cache folder name: `models--org--name`."""
    return "--".join([f"{repo_type}s", *repo.split("/")])


_REPO_FOLDER = re.compile(r"(model|dataset|space)s--(.+)")


def parse_repo_folder_name(name: str) -> tuple[str, str] | None:
    """(repo id, repo type) from a cache folder name (`models--org--name`), as the client reads
    it back; None for any other name."""
    match = _REPO_FOLDER.fullmatch(name)
    if match is None:
        return None
    return match.group(2).replace("--", "/"), match.group(1)


def blob_name(file: RemoteFile) -> str:
    """The client's cache blob name: the sha256 for LFS files, the git blob sha1 otherwise."""
    name = file.sha256 or file.blob_id
    if not name:
        raise RemoteError(f"{file.path}: the hub listing gives no content id")
    return name


def _write_tree_cache(folder: Path, listing: RepoListing) -> None:
    """Record the full listing in the client's own tree cache (`trees/<commit>.json`)."""
    try:
        from huggingface_hub._tree_cache import TreeCacheEntry, write_tree_cache  # start-up
    except ImportError:  # pragma: no cover - the client moved it
        return
    entries = {
        f.path: TreeCacheEntry(
            size=f.size,
            blob_id=f.blob_id or "",
            lfs_sha256=f.sha256,
            lfs_size=f.size if f.sha256 else None,
        )
        for f in listing.files
    }
    with contextlib.suppress(OSError, TypeError, ValueError):
        write_tree_cache(str(folder), listing.commit, entries)


def recorded_files(folder: Path, commit: str) -> list[RemoteFile] | None:
    """The listing of `commit` a download recorded in `folder`'s tree cache (`trees/`), or None.

    Paths are as the hub gave them: check them before joining them to a folder.
    """
    try:
        from huggingface_hub._tree_cache import read_tree_cache  # start-up
    except ImportError:  # pragma: no cover
        return None
    try:
        entries = read_tree_cache(str(folder), commit)
    except (OSError, ValueError, TypeError):
        return None
    if entries is None:
        return None
    return [
        RemoteFile(path, e.size, e.lfs_sha256, e.blob_id or None) for path, e in entries.items()
    ]


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _make_readable(path: Path) -> None:
    mask = os.umask(0)
    os.umask(mask)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o666 & ~mask)


class HfCacheLayout:
    """The client's cache: `models--org--name/{blobs,snapshots/<commit>,refs,trees}`."""

    def __init__(self, cache_dir: Path, listing: RepoListing) -> None:
        self.cache_dir = cache_dir
        self.listing = listing
        self.where = f"{listing.repo}@{listing.revision}"
        check_path_segment(listing.commit, f"{self.where}: commit id")
        self.storage = cache_dir / repo_folder_name(listing.repo, listing.repo_type)

    @property
    def root(self) -> Path:
        return self.storage / "snapshots" / self.listing.commit

    @property
    def lock_path(self) -> Path:
        return (
            self.cache_dir
            / ".locks"
            / repo_folder_name(self.listing.repo, self.listing.repo_type)
            / "weightlib.lock"
        )

    def blob_path(self, file: RemoteFile) -> Path:
        return safe_join(self.storage / "blobs", blob_name(file), self.where)

    def is_cached(self, file: RemoteFile) -> bool:
        return has_size(safe_join(self.root, file.path, self.where), file.size)

    def adopt(self, file: RemoteFile) -> bool:
        blob = self.blob_path(file)
        if not has_size(blob, file.size):
            return False
        self._link(file)
        return True

    def partial_path(self, file: RemoteFile) -> Path:
        return safe_join(self.storage / "blobs", f"{blob_name(file)}.incomplete", self.where)

    def _link(self, file: RemoteFile) -> Path:
        pointer = safe_join(self.root, file.path, self.where)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        blob = self.blob_path(file)
        target = os.path.relpath(blob, pointer.parent)
        temp = pointer.with_name(f".{pointer.name}.{os.getpid()}.link")
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        try:
            os.symlink(target, temp)
            os.stat(temp)  # some FUSE mounts (sshfs) create links they cannot resolve (EPERM)
            os.replace(temp, pointer)
        except OSError:  # no usable symlinks here: a hard link to the blob, else a copy
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            try:
                os.link(blob, temp)
            except OSError:
                shutil.copyfile(blob, temp)
            os.replace(temp, pointer)
        return pointer

    def commit_file(self, file: RemoteFile, partial: Path) -> Path:
        blob = self.blob_path(file)
        _make_readable(partial)
        os.replace(partial, blob)
        return self._link(file)

    def finish(self, listing: RepoListing) -> None:
        if listing.revision != listing.commit:
            _atomic_text(
                safe_join(self.storage / "refs", listing.revision, self.where), listing.commit
            )
        _write_tree_cache(self.storage, listing)


class HfLocalDirLayout:
    """A plain folder (`--local-dir`): files at repo paths, metadata in `.cache/huggingface`."""

    def __init__(self, local_dir: Path, listing: RepoListing) -> None:
        self.local_dir = local_dir
        self.listing = listing
        self.where = f"{listing.repo}@{listing.revision}"
        check_path_segment(listing.commit, f"{self.where}: commit id")
        self.meta = local_dir / ".cache" / "huggingface"

    @property
    def root(self) -> Path:
        return self.local_dir

    @property
    def lock_path(self) -> Path:
        return self.meta / "weightlib.lock"

    def _metadata_path(self, file: RemoteFile) -> Path:
        return safe_join(self.meta / "download", f"{file.path}.metadata", self.where)

    def _final_path(self, file: RemoteFile) -> Path:
        return safe_join(self.local_dir, file.path, self.where)

    def _write_metadata(self, file: RemoteFile) -> None:
        """The client's local-dir metadata: commit, etag, timestamp."""
        _atomic_text(
            self._metadata_path(file), f"{self.listing.commit}\n{blob_name(file)}\n{time.time()}\n"
        )

    def is_cached(self, file: RemoteFile) -> bool:
        if not has_size(self._final_path(file), file.size):
            return False
        try:
            lines = self._metadata_path(file).read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 2 and lines[1] == blob_name(file)

    def adopt(self, file: RemoteFile) -> bool:
        """Take a file already complete under its final name whose size and hash match the
        listing (a kill between its rename and its metadata write): record it, fetch nothing."""
        final = self._final_path(file)
        if final.is_symlink() or not has_size(final, file.size):
            return False
        if not can_verify(file):
            return False  # nothing to prove the content with
        if mismatch_reason(final, file) is not None:
            return False
        self._write_metadata(file)
        return True

    def partial_path(self, file: RemoteFile) -> Path:
        return safe_join(self.meta / "download", f"{file.path}.weightlib.incomplete", self.where)

    def commit_file(self, file: RemoteFile, partial: Path) -> Path:
        final = self._final_path(file)
        final.parent.mkdir(parents=True, exist_ok=True)
        _make_readable(partial)
        os.replace(partial, final)
        self._write_metadata(file)
        return final

    def finish(self, listing: RepoListing) -> None:
        _atomic_text(safe_join(self.meta / "refs", listing.revision, self.where), listing.commit)
        _write_tree_cache(self.meta, listing)


def _metadata_folders(
    repo: str,
    repo_type: str,
    cache_dir: str | os.PathLike[str] | None,
    local_dir: str | os.PathLike[str] | None,
) -> tuple[Path, Callable[[str], Path]]:
    """The folder holding `refs/` and `trees/`, and where the files of a commit are."""
    if local_dir is not None:
        folder = Path(local_dir).expanduser()
        return folder / ".cache" / "huggingface", lambda _commit: folder
    storage = cache_root(cache_dir) / repo_folder_name(repo, repo_type)
    return storage, lambda commit: storage / "snapshots" / commit


def local_listing(
    repo: str,
    revision: str | None,
    repo_type: str,
    cache_dir: str | os.PathLike[str] | None,
    local_dir: str | os.PathLike[str] | None,
) -> RepoListing:
    """What an earlier download recorded (tree cache, else the snapshot's files); no network."""
    revision = revision or "main"
    what = f"{repo}@{revision}"
    meta, files_folder = _metadata_folders(repo, repo_type, cache_dir, local_dir)
    commit = None
    with contextlib.suppress(OSError):
        commit = (meta / "refs" / revision).read_text().strip()
    if commit is None and _COMMIT.fullmatch(revision):
        commit = revision
    if not commit:
        raise NotFoundError(f"{what}: offline and this revision is not in the local cache")
    check_path_segment(commit, f"{what}: recorded commit id")
    files = recorded_files(meta, commit)
    if files is None:
        folder = files_folder(commit)
        if not folder.is_dir():
            raise NotFoundError(f"{what}: offline and this revision is not in the local cache")
        files = [RemoteFile(p, (folder / p).stat().st_size) for p in list_local_files(folder)]
    return RepoListing(repo, revision, commit, tuple(files), repo_type, "hf")
