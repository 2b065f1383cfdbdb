"""Is a download running? Probe a lock file without taking it from its holder.

Downloads hold either a POSIX record lock (weightlib, `lockf`) or a BSD lock (the hub clients,
through filelock's `flock`); the two kinds do not see each other, so both are probed. Each probe
asks for a shared lock without waiting and drops it at once: a holder's exclusive lock refuses
it, and a downloader that polls meanwhile simply retries.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterable
from pathlib import Path

_BUSY = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)


def lock_held(path: Path) -> bool:
    """True when a live process holds `path` locked (lockf or flock); False for no such file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        for locker in (fcntl.lockf, fcntl.flock):
            try:
                locker(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in _BUSY:
                    return True
                continue  # a filesystem without this kind of lock
            with contextlib.suppress(OSError):
                locker(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def any_lock_held(paths: Iterable[Path]) -> Path | None:
    """The first of `paths` a live process holds locked, or None."""
    for path in paths:
        if lock_held(path):
            return path
    return None
