"""What a download reports: per-file results, the summary document, and its progress hooks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..hub.base import RemoteFile


@dataclass
class FileResult:
    """One file of the download: its size, content hash and whether it was already on disk."""

    path: str
    bytes: int
    sha256: str | None
    cached: bool
    verified: bool = True
    """False when the server published no sha256 or git blob id to check the bytes against
    (only the size was checked; `sha256` is then computed from the bytes on disk)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "cached": self.cached,
            "verified": self.verified,
        }


@dataclass
class DownloadResult:
    """What `download` did; `path` is the folder to point a server at."""

    repo: str
    revision: str
    commit: str
    path: str
    files: list[FileResult]
    downloaded_bytes: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    source: str = "hf"
    removed: list[str] = field(default_factory=list)
    """Files of the previous download into this `--local-dir` that this one removed (on a
    dry run: would remove), because the new inference set no longer has them."""

    @property
    def unverified(self) -> list[str]:
        """Files whose content no published hash vouches for."""
        return [f.path for f in self.files if not f.verified]

    @property
    def bytes_to_fetch(self) -> int:
        return sum(f.bytes for f in self.files if not f.cached)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "repo": self.repo,
            "revision": self.revision,
            "commit": self.commit,
            "path": self.path,
            "files": [f.to_json() for f in self.files],
            "downloaded_bytes": self.downloaded_bytes,
            "seconds": round(self.seconds, 3),
            "removed": self.removed,
        }
        if self.dry_run:
            document["dry_run"] = True
            document["bytes_to_fetch"] = self.bytes_to_fetch
        return document


class DownloadProgress(Protocol):
    """Progress reporting hooks (the CLI draws Rich bars or prints plain lines)."""

    def start(self, files: Sequence[RemoteFile], total_bytes: int) -> None: ...

    def advance(self, path: str, nbytes: int) -> None: ...

    def file_done(self, path: str) -> None: ...

    def message(self, text: str) -> None: ...

    def close(self) -> None: ...
