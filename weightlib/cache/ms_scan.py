"""The ModelScope cache as `weightlib cache` sees it: `{cache}/models/{owner}--{name}/snapshots/
{revision}/…`, each revision a plain folder, beside the listing weightlib recorded for it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..hub.modelscope import LISTING_DIR, ModelScopeLayout
from .busy import any_lock_held
from .completeness import revision_problems
from .hf_scan import snapshot_names
from .model import CachedRepo, CachedRevision, PartialFile
from .walk import PARTIAL_SUFFIX, Contents, scan_subfolders, walk_folder


def client_lock_path(cache_root: Path, repo: str, file_path: str) -> Path:
    """Where the modelscope-hub client keeps its lock while it downloads one file of `repo`."""
    key = "\0".join(("modelscope-hub-download-lock-v2", "file", "model", repo, file_path))
    return cache_root / ".lock" / f"file_{hashlib.sha256(key.encode()).hexdigest()}.lock"


def repo_from_folder_name(name: str) -> str | None:
    """`owner/name` from the client's folder name `owner--name`; None for other names."""
    owner, sep, model = name.partition("--")
    return f"{owner}/{model}" if sep and owner and model else None


def _recorded_sizes(layout: ModelScopeLayout) -> dict[str, int] | None:
    try:
        document = json.loads(layout.record_path.read_text(encoding="utf-8"))
        return {str(f["path"]): int(f["size"]) for f in document["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _locks(cache_root: Path, folder: Path, repo: str, partials: list[PartialFile]) -> list[Path]:
    """weightlib's per-revision locks, and the client's for each file being downloaded."""
    ours = sorted((folder / LISTING_DIR).glob("*.lock"))
    theirs = []
    for partial in partials:
        relative = partial.path.relative_to(folder / "snapshots").as_posix().split("/", 1)[-1]
        theirs.append(client_lock_path(cache_root, repo, relative[: -len(PARTIAL_SUFFIX)]))
    return ours + theirs


def scan_ms_repo(cache_root: Path, folder: Path, revision: str | None = None) -> CachedRepo | None:
    """One repository folder of the cache (only `revision`, if given); None when the folder's
    name is not the client's."""
    repo = repo_from_folder_name(folder.name)
    if repo is None or not folder.is_dir():
        return None
    contents = Contents()
    revisions = []
    partials: list[PartialFile] = []
    snapshots = folder / "snapshots"
    names = [n for n in snapshot_names(snapshots) if revision in (None, n)]
    for name in names:
        root = snapshots / name
        walked = walk_folder(root, contents)
        partials += walked.partials
        layout = ModelScopeLayout(repo, name, cache_root, None)
        missing, wrong = revision_problems(
            root, walked.files, walked.dangling, _recorded_sizes(layout)
        )
        revisions.append(
            CachedRevision(
                name, [name], root, len(walked.files), walked.size, walked.modified, missing, wrong
            )
        )
    return CachedRepo(
        source="modelscope",
        repo=repo,
        repo_type="model",
        folder=folder,
        revisions=revisions,
        contents=contents.files(),
        size=contents.size,
        accessed=contents.accessed,
        modified=contents.modified,
        partials=partials,
        downloading=any_lock_held(_locks(cache_root, folder, repo, partials)) is not None,
    )


def scan_ms_cache(cache_root: Path) -> list[CachedRepo]:
    """Every model repository of a ModelScope cache folder (none if it does not exist)."""
    models = cache_root / "models"
    return scan_subfolders(models, lambda folder: scan_ms_repo(cache_root, folder))


def ms_repo_folder(cache_root: Path, repo: str) -> Path:
    """Where the client caches `repo`."""
    return cache_root / "models" / repo.replace("/", "--")
