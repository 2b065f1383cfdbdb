"""Write a file so that readers see either the old content or the complete new one, never a part."""

from __future__ import annotations

import codecs
import contextlib
import errno
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename or a new entry in `directory` durable (best effort where unsupported)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _mode_kind(mode: str) -> str:
    """Which of `w`, `a`, `x`, `r` (`r+`) a writable `open` mode is; ValueError for the rest."""
    kinds = [c for c in mode if c in "rwax"]
    valid = (
        set(mode) <= set("rwaxbt+")
        and len(set(mode)) == len(mode)
        and len(kinds) == 1
        and not {"b", "t"} <= set(mode)
    )
    if not valid or (kinds[0] == "r" and "+" not in mode):
        raise ValueError(
            f"atomic_writer needs a mode that writes ('w', 'wb', 'w+', 'a', 'x', 'r+' …), "
            f"got {mode!r}"
        )
    return kinds[0]


def _temp_prefix(name: str) -> str:
    """`.<name>.`, the name shortened so the temp name stays within NAME_MAX (255 bytes)."""
    while len(os.fsencode(name)) > 200:
        name = name[:-1]
    return f".{name}."


def _prepare(fd: int, target: Path, kind: str, permissions: int | None) -> None:
    """Set the temp file's mode bits; for 'a' and 'r+' copy the current content of `target`."""
    os.fchmod(fd, 0o666 & ~_current_umask() if permissions is None else permissions)
    if kind in ("a", "r") and permissions is not None:
        with open(target, "rb") as source, open(fd, "wb", closefd=False) as temp:
            shutil.copyfileobj(source, temp)
        os.lseek(fd, 0, os.SEEK_SET)
    if kind == "a":  # every write goes to the end, as with open(path, "a")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)


def _commit(temp_name: str, target: Path, exclusive: bool) -> None:
    """Put the temp file at `target`: rename over it, or for 'x' modes only if it is absent."""
    if not exclusive:
        os.replace(temp_name, target)
        return
    try:
        os.link(temp_name, target)  # fails if `target` appeared meanwhile
    except FileExistsError:
        raise
    except OSError:  # no hard links on this filesystem: check, then rename
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "File exists", os.fspath(target)) from None
        os.replace(temp_name, target)


@contextlib.contextmanager
def atomic_writer(
    path: str | os.PathLike[str], mode: str = "w", encoding: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on success fsync it and rename it over `path`.

    Every mode that writes is accepted, as by vLLM's `atomic_writer` ('w', 'wb', 'w+', 'wb+',
    'a', 'x', 'r+', with 'b'/'t'), and each keeps its meaning for `path`: 'w' starts empty,
    'a' and 'r+' start from the current content ('r+' needs the file to exist), 'x' raises
    `FileExistsError` when `path` exists (vLLM's writer starts every mode from an empty file and
    replaces `path` regardless). Read-only modes are refused. The result keeps the permission
    bits of the file it replaces (a new file gets the umask default, not mkstemp's 0600). On
    error the original is untouched and the temp file removed.
    """
    kind = _mode_kind(mode)
    if encoding is not None:
        if "b" in mode:
            raise ValueError("binary mode doesn't take an encoding argument")
        codecs.lookup(encoding)  # an unknown encoding fails before any file is made
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        permissions: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        permissions = None
    if kind == "x" and permissions is not None:
        raise FileExistsError(errno.EEXIST, "File exists", os.fspath(target))
    if kind == "r" and permissions is None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", os.fspath(target))
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=_temp_prefix(target.name), suffix=".tmp")
    try:
        try:
            _prepare(fd, target, kind, permissions)
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _commit(temp_name, target, exclusive=kind == "x")
        fsync_directory(directory)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
