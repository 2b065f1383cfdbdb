"""Inter-process locks so that concurrent processes prepare one model once."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import LockTimeoutError

if TYPE_CHECKING:
    import filelock


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
    import filelock

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
    import filelock

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
