"""Inter-process locks so that concurrent processes prepare one model once.

Two kinds: `get_lock` is vLLM's (filelock, i.e. `flock`), kept for compatibility; `PosixLock`
uses POSIX record locks (`lockf`), which stay coherent across nodes on NFS and GPFS where
`flock` can silently be a no-op, and which the kernel drops when the holder dies.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import filelock

from .errors import LockTimeoutError


def lock_file_name(model: str) -> str:
    """vLLM's lock name: sha256 of the sanitised model name, then the name, then `.lock`."""
    model_name = model.replace("/", "-")
    return hashlib.sha256(model_name.encode()).hexdigest() + model_name + ".lock"


def get_lock(
    model: str, cache_dir: str | os.PathLike[str] | None = None, timeout: float | None = None
) -> filelock.FileLock:
    """A `filelock.FileLock` for `model` in `cache_dir` (else the temp dir), mode 0o666.

    The mode lets other users share the lock.

    `timeout` is in seconds; None waits forever. Acquiring raises `filelock.Timeout`; use
    `hold_lock` to get weightlib's `LockTimeoutError` (exit 7) instead.
    """
    lock_dir = os.fspath(cache_dir) if cache_dir is not None else tempfile.gettempdir()
    os.makedirs(lock_dir, exist_ok=True)
    return filelock.FileLock(
        os.path.join(lock_dir, lock_file_name(model)),
        mode=0o666,
        timeout=-1 if timeout is None else timeout,
    )


@contextlib.contextmanager
def hold_lock(lock: filelock.BaseFileLock, what: str) -> Iterator[None]:
    """Hold `lock` for the block; a wait beyond the lock's timeout raises `LockTimeoutError`."""
    try:
        lock.acquire()
    except filelock.Timeout:
        raise LockTimeoutError(
            f"{what}: timed out after {lock.timeout:g}s waiting for lock {lock.lock_file}"
        ) from None
    try:
        yield
    finally:
        lock.release()


class PosixLock:
    """An exclusive POSIX record lock (`lockf`) on a file, shared by all users (mode 0o666).

    Unlike `flock`, `lockf` locks are coherent across nodes on NFS and GPFS, and the kernel drops
    them when the holder dies (SIGKILL included), so a rerun never waits on a stale lock.
    Record locks belong to the process: threads of one process do not exclude each other.
    """

    def __init__(self, path: str | os.PathLike[str], timeout: float | None, what: str) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.what = what
        self._fd: int | None = None

    def acquire(self, on_wait: Callable[[], None] | None = None) -> None:
        """Wait for the lock (polling); `on_wait` is called once if it is busy."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o666)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        waited = False
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EACCES, errno.EAGAIN):
                    os.close(fd)
                    raise
            if deadline is not None and time.monotonic() >= deadline:
                os.close(fd)
                raise LockTimeoutError(
                    f"{self.what}: timed out after {self.timeout:g}s waiting for another "
                    f"process to release {self.path}"
                )
            if not waited and on_wait is not None:
                on_wait()
            waited = True
            time.sleep(0.1)
        self._fd = fd

    def release(self) -> None:
        """Release the lock (closing the descriptor drops it too)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.lockf(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @contextlib.contextmanager
    def held(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the lock for the block."""
        self.acquire(on_wait)
        try:
            yield
        finally:
            self.release()
