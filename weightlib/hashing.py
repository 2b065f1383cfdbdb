"""Content hashes of files on disk, and the check of a file against the ids a hub published.

Hubs name content two ways: the sha256 of large (LFS/xet) files and the git blob sha1 of small
ones. Every hash weightlib computes or compares goes through this module.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Protocol

BLOCK = 8 * 1024 * 1024
"""Bytes per read while hashing: large enough that the syscall cost vanishes."""
_GIT_BLOB_ID = re.compile(r"[0-9a-f]{40}")


class ContentIds(Protocol):
    """What a listing says about a file's content (`weightlib.hub.base.RemoteFile`)."""

    @property
    def sha256(self) -> str | None: ...

    @property
    def blob_id(self) -> str | None: ...


def sha256_file(path: Path) -> str:
    """Lowercase hex sha256 of the file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def git_blob_sha1_file(path: Path) -> str:
    """The git blob id of the file (sha1 of `blob <size>\\0` + bytes), as hubs list small files."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def is_git_blob_id(blob_id: str | None) -> bool:
    """True for a git blob sha1 (40 lowercase hex), the only blob id a file can be checked by;
    other servers' ids (a mirror's opaque ETag) only name the content."""
    return blob_id is not None and _GIT_BLOB_ID.fullmatch(blob_id) is not None


def can_verify(ids: ContentIds) -> bool:
    """True when the listing names the content by a hash the bytes can be checked against."""
    return bool(ids.sha256) or is_git_blob_id(ids.blob_id)


def mismatch_reason(path: Path, ids: ContentIds, known_sha256: str | None = None) -> str | None:
    """Why `path` does not hold the content `ids` name; None when it does or nothing is named.

    `known_sha256` is a digest computed while the file was written, so it need not be re-read.
    """
    if ids.sha256:
        actual = known_sha256 or sha256_file(path)
        if actual != ids.sha256.lower():
            return f"sha256 {actual} != expected {ids.sha256}"
        return None
    if ids.blob_id is not None and is_git_blob_id(ids.blob_id):
        blob = git_blob_sha1_file(path)
        if blob != ids.blob_id:
            return f"git blob sha1 {blob} != expected {ids.blob_id}"
    return None
