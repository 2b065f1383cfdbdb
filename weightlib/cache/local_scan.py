"""A model folder given by path (a `--local-dir`, a copy on shared storage) as one `CachedRepo`."""

from __future__ import annotations

from pathlib import Path

from ..hub.modelscope import LISTING_DIR
from .busy import any_lock_held
from .completeness import revision_problems
from .model import CachedRepo, CachedRevision, PartialFile
from .walk import PARTIAL_SUFFIX, Contents, walk_folder

METADATA_DIRS = frozenset({".cache", ".git", LISTING_DIR})
"""Download metadata inside a folder, not model files."""


def _metadata_partials_and_locks(folder: Path) -> tuple[list[Path], list[Path]]:
    """Partial files and lock files the hub client or weightlib keep under `.cache/`."""
    meta = folder / ".cache" / "huggingface"
    partials = sorted(meta.rglob(f"*{PARTIAL_SUFFIX}")) if meta.is_dir() else []
    locks = sorted(meta.rglob("*.lock")) if meta.is_dir() else []
    locks += sorted((folder / LISTING_DIR).glob("*.lock"))
    return partials, locks


def scan_local_folder(folder: Path) -> CachedRepo:
    """A plain folder: its files, what its index or weightlib's record says is missing, partial
    files, and whether a download into it is running."""
    # start-up: the download package (~100 ms: its HTTP client) loads only for a folder argument
    from ..download.local_dir_record import recorded_files

    folder = folder.absolute()
    contents = Contents()
    walked = walk_folder(folder, contents, skip_dirs=METADATA_DIRS)
    missing, wrong = revision_problems(folder, walked.files, walked.dangling, None)
    recorded_missing = sorted(recorded_files(folder) - set(walked.files))
    revision = CachedRevision(
        "-",
        [],
        folder,
        len(walked.files),
        walked.size,
        walked.modified,
        sorted(set(missing) | set(recorded_missing)),
        wrong,
    )
    extra_partials, locks = _metadata_partials_and_locks(folder)
    partials = list(walked.partials)
    for path in extra_partials:
        info = path.stat()
        partials.append(PartialFile(path, info.st_size, info.st_mtime))
    return CachedRepo(
        source="local",
        repo=str(folder),
        repo_type="model",
        folder=folder,
        revisions=[revision],
        contents=contents.files(),
        size=contents.size,
        accessed=contents.accessed,
        modified=contents.modified,
        partials=partials,
        downloading=any_lock_held(locks) is not None,
    )
