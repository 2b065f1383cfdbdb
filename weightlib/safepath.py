"""The one place that decides whether a name from a server or a file may become a path on disk.

Listing entries, index entries, commit ids, blob ids and cached metadata read back are hostile
until `check_relative_path` (names with folders) or `check_path_segment` (one component) has
accepted them; writers then build paths with `safe_join`, which also refuses to follow a symlink
that already exists inside the destination out of it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import IntegrityError

_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_SEGMENT_BYTES = 255


def unsafe_reason(name: object) -> str | None:
    """Why `name` is not a safe relative POSIX path inside a folder; None when it is."""
    if not isinstance(name, str):
        return "not a string"
    if not name:
        return "empty"
    if _CONTROL.search(name):
        return "control character (e.g. NUL or newline)"
    if "\\" in name:
        return "backslash"
    if name.startswith("/"):
        return "absolute path"
    if re.match(r"[A-Za-z]:", name):
        return "drive letter"
    for segment in name.split("/"):
        if segment == "":
            return "empty path segment"
        if segment in (".", ".."):
            return f"{segment!r} segment"
        if len(segment.encode("utf-8", "surrogateescape")) > MAX_SEGMENT_BYTES:
            return "path segment longer than 255 bytes"
    return None


def check_relative_path(name: object, where: str) -> str:
    """`name` itself when it is a safe relative path; else IntegrityError (exit 6) naming it."""
    reason = unsafe_reason(name)
    if reason is not None:
        raise IntegrityError(f"{where}: refusing unsafe file name {name!r} ({reason})")
    assert isinstance(name, str)
    return name


def check_path_segment(name: object, where: str) -> str:
    """`name` when it is one plain file-name component (commit or blob id); else IntegrityError."""
    if not isinstance(name, str) or not _SEGMENT.fullmatch(name) or len(name) > MAX_SEGMENT_BYTES:
        raise IntegrityError(f"{where}: refusing unsafe name {name!r} (not a plain file name)")
    return name


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def safe_join(root: Path, name: str, where: str) -> Path:
    """`root / name`, checked: a safe name, and no folder on the way is a symlink out of `root`.

    The last component may be a symlink (writers replace it, never write through it); a folder
    below `root` that is a symlink leading out of it is refused with IntegrityError.
    """
    check_relative_path(name, where)
    folder = root
    for segment in name.split("/")[:-1]:
        folder = folder / segment
        if not os.path.lexists(folder):
            break
        if os.path.islink(folder) and not _inside(os.path.realpath(folder), os.path.realpath(root)):
            raise IntegrityError(
                f"{where}: refusing to write {name!r}: {segment!r} is a symlink out of {root}"
            )
    return root / name


def remove_symlink(path: Path) -> None:
    """Remove `path` when it is a symlink, so opening it for writing cannot write through it."""
    if path.is_symlink():
        path.unlink()
