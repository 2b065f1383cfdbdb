"""What `weightlib cache` knows of a cached repository: revisions, files, bytes, residency."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMPLETE = "complete"
INCOMPLETE = "incomplete"
DOWNLOADING = "downloading"
PARTIAL_FILES = "partial files"
STATES = (COMPLETE, INCOMPLETE, DOWNLOADING, PARTIAL_FILES)
"""A repository's state, most urgent first in `CachedRepo.state`: a live lock, then missing
files, then bytes an interrupted download left."""


@dataclass(frozen=True)
class PartialFile:
    """Bytes an interrupted (or running) download left under a temporary name."""

    path: Path
    size: int
    modified: float


@dataclass
class CachedRevision:
    """One revision on disk: a snapshot (Hugging Face commit, ModelScope revision) or a folder."""

    name: str
    """The commit id (Hugging Face), the revision (ModelScope), or `-` for a plain folder."""
    refs: list[str]
    """Branch or tag names that point at it (empty: detached)."""
    folder: Path
    files: int
    size: int
    """Bytes of its files, each blob once."""
    modified: float
    missing: list[str] = field(default_factory=list)
    """Files its index names, or links whose blob is gone, absent from the folder."""
    wrong_size: list[str] = field(default_factory=list)
    """Files whose size differs from the listing the download recorded."""

    @property
    def complete(self) -> bool:
        return not self.missing and not self.wrong_size

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.name,
            "refs": self.refs,
            "path": str(self.folder),
            "files": self.files,
            "bytes": self.size,
            "modified": self.modified,
            "missing": self.missing,
            "wrong_size": self.wrong_size,
        }


@dataclass
class CachedRepo:
    """One repository of a hub's cache (or a model folder given by path)."""

    source: str
    """`hf`, `modelscope`, or `local` for a folder."""
    repo: str
    """The repository id (`org/name`), or the folder's path."""
    repo_type: str
    folder: Path
    revisions: list[CachedRevision]
    contents: list[Path]
    """Every file holding content (each blob once): what residency, `rm` and `verify` read."""
    size: int
    accessed: float
    modified: float
    orphans: list[Path] = field(default_factory=list)
    """Blobs no revision uses (Hugging Face): what `cache prune` removes."""
    orphan_bytes: int = 0
    partials: list[PartialFile] = field(default_factory=list)
    downloading: bool = False
    """A live process holds one of the repository's download locks."""
    resident: int | None = None
    """Bytes in the page cache; None when not measured."""
    resident_unknown: int = 0
    """Files whose residency the kernel hides from this user."""

    @property
    def state(self) -> str:
        if self.downloading:
            return DOWNLOADING
        if not all(r.complete for r in self.revisions) or not self.revisions:
            return INCOMPLETE
        if self.partials:
            return PARTIAL_FILES
        return COMPLETE

    @property
    def files(self) -> int:
        return len(self.contents)

    @property
    def partial_bytes(self) -> int:
        return sum(p.size for p in self.partials)

    @property
    def label(self) -> str:
        """How messages name it: `org/name`, `ms://org/name`, `datasets/org/name`, a path."""
        prefix = {"hf": "", "modelscope": "ms://", "local": ""}[self.source]
        kind = "" if self.repo_type == "model" or self.source == "local" else "datasets/"
        return f"{prefix}{kind}{self.repo}"

    def to_json(self) -> dict[str, Any]:
        percent = None
        if self.resident is not None and not self.resident_unknown:
            percent = 100.0 if self.size == 0 else round(100.0 * self.resident / self.size, 1)
        return {
            "repo": self.repo,
            "source": self.source,
            "repo_type": self.repo_type,
            "path": str(self.folder),
            "state": self.state,
            "revisions": [r.to_json() for r in self.revisions],
            "refs": sorted({ref for r in self.revisions for ref in r.refs}),
            "files": self.files,
            "bytes": self.size,
            "resident_bytes": self.resident,
            "resident_percent": percent,
            "resident_unknown_files": self.resident_unknown,
            "accessed": self.accessed,
            "modified": self.modified,
            "partial_files": [
                {"path": str(p.path), "bytes": p.size, "modified": p.modified}
                for p in self.partials
            ],
            "partial_bytes": self.partial_bytes,
            "orphan_blobs": len(self.orphans),
            "orphan_bytes": self.orphan_bytes,
            "downloading": self.downloading,
        }
