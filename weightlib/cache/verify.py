"""`weightlib cache verify`: re-hash every file of a cached revision against the sha256 or git blob
id its download recorded (offline) or the hub lists now, and name each bad or missing file."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IntegrityError
from ..hashing import can_verify, mismatch_reason
from ..hub import get_transport
from ..hub.base import RemoteFile
from ..hub.refs import ModelRef
from ..hub.retries import with_retries
from ..hub.source import MODELSCOPE, resolve_model_ref
from .inventory import CacheRoots, cached_repo
from .model import CachedRevision
from .walk import Contents, walk_folder

OK, BAD, MISSING, UNVERIFIED = "ok", "bad", "missing", "unverified"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BLOB_ID = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class FileVerdict:
    """One file: `ok`, `bad` (with why), `missing`, or `unverified` (no hash to check it by)."""

    path: str
    status: str
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "reason": self.reason}


@dataclass
class VerifyReport:
    """A revision's files, each with its verdict, and what `--repair` fetched again."""

    ref: ModelRef
    """The repository, at the revision asked for."""
    revision: str
    """The commit (Hugging Face) or revision (ModelScope) checked."""
    folder: Path
    against: str
    """`recorded` (the listing the download kept) or `hub` (listed now)."""
    files: list[FileVerdict]
    expected: Mapping[str, RemoteFile] = field(default_factory=dict)
    """What each file should hold (the listing checked against)."""
    repaired: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[FileVerdict]:
        return [f for f in self.files if f.status in (BAD, MISSING)]

    def to_json(self) -> dict[str, Any]:
        counts = {s: sum(f.status == s for f in self.files) for s in (OK, BAD, MISSING, UNVERIFIED)}
        return {
            "repo": str(self.ref),
            "revision": self.revision,
            "path": str(self.folder),
            "against": self.against,
            **counts,
            "files": [f.to_json() for f in self.files],
            "repaired": self.repaired,
        }

    def raise_for_problems(self) -> None:
        """IntegrityError (exit 6) naming the bad and missing files, if any."""
        problems = self.problems
        if not problems:
            return
        names = ", ".join(f.path for f in problems[:5]) + (" …" if len(problems) > 5 else "")
        raise IntegrityError(f"{self.ref}: {len(problems)} file(s) bad or missing: {names}")


def ids_from_link(path: Path) -> RemoteFile | None:
    """The content id a Hugging Face snapshot link's blob name gives (sha256 for LFS files, the
    git blob id otherwise), or None for a plain file."""
    try:
        target = os.path.basename(os.readlink(path))
    except OSError:
        return None
    if _SHA256.fullmatch(target):
        return RemoteFile(path.name, 0, target)
    if _BLOB_ID.fullmatch(target):
        return RemoteFile(path.name, 0, None, target)
    return None


def check_file(folder: Path, path: str, size: int, expected: RemoteFile | None) -> FileVerdict:
    """One file's verdict: its size, then its hash, against what the listing says."""
    local = folder / path
    ids = expected if expected is not None and can_verify(expected) else ids_from_link(local)
    if expected is not None and expected.size != size and expected.size > 0:
        return FileVerdict(path, BAD, f"size {size} != expected {expected.size}")
    if ids is None or not can_verify(ids):
        return FileVerdict(path, UNVERIFIED, "no sha256 or git blob id recorded")
    try:
        reason = mismatch_reason(local, ids)
    except OSError as exc:
        return FileVerdict(path, BAD, f"unreadable: {exc.strerror or exc}")
    return FileVerdict(path, OK) if reason is None else FileVerdict(path, BAD, reason)


def expected_files(
    ref: ModelRef, commit: str, roots: CacheRoots, offline: bool, token: str | None
) -> tuple[dict[str, RemoteFile], str]:
    """What each file should hold: the listing recorded at download time, or the hub's now."""
    if not offline:
        transport = get_transport(ref.source, token)
        revision = commit if ref.source != MODELSCOPE else ref.revision
        listing = with_retries(lambda: transport.list_repo(ref.repo, revision, ref.repo_type))
        return {f.path: f for f in listing.files}, "hub"
    from ..hub import cached_revision  # the recorded listing (tree cache / weightlib's record)

    at = ModelRef(ref.source, ref.repo, commit, ref.repo_type)
    cache_dir = roots.modelscope if ref.source == MODELSCOPE else roots.hf
    listing, _folder = cached_revision(at, cache_dir)
    return {f.path: f for f in listing.files}, "recorded"


def check_revision(
    revision: CachedRevision, expected: Mapping[str, RemoteFile], workers: int = 4
) -> list[FileVerdict]:
    """Every file of one revision hashed (in `workers` threads: hashing releases the GIL), plus
    the files it lacks."""
    walked = walk_folder(revision.folder, Contents())
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(
            pool.map(
                lambda item: check_file(revision.folder, item[0], item[1], expected.get(item[0])),
                sorted(walked.files.items()),
            )
        )
    verdicts += [FileVerdict(path, MISSING, "not on disk") for path in revision.missing]
    return verdicts


def verify_cached_revision(
    model: str,
    *,
    revision: str | None = None,
    source: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    offline: bool = False,
    token: str | None = None,
) -> VerifyReport:
    """Verify one cached revision (default: the hub's default branch) of a repository."""
    ref = resolve_model_ref(model, revision=revision, source=source)
    if ref.revision is None:
        ref = ModelRef(ref.source, ref.repo, "master" if ref.source == MODELSCOPE else "main",
                       ref.repo_type)  # fmt: skip
    roots = CacheRoots.of(cache_dir)
    cached = cached_repo(ref, roots).revisions[0]  # the one `ref.revision` names
    expected, against = expected_files(ref, cached.name, roots, offline, token)
    verdicts = check_revision(cached, expected)
    return VerifyReport(ref, cached.name, cached.folder, against, verdicts, expected)


def problem_paths(report: VerifyReport) -> Sequence[str]:
    """The files `--repair` fetches again."""
    return [f.path for f in report.problems]
