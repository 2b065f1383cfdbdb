"""get_lock: vLLM-compatible names, shared permissions, and a timeout that becomes exit code 7."""

from __future__ import annotations

import hashlib
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from weightlib.errors import LockTimeoutError
from weightlib.locks import PosixLock, get_lock, hold_lock


def test_lock_name_and_mode(tmp_path: Path) -> None:
    lock = get_lock("org/model", tmp_path)
    expected = hashlib.sha256(b"org-model").hexdigest() + "org-model.lock"
    assert Path(lock.lock_file) == tmp_path / expected
    with hold_lock(lock, "org/model"):
        assert stat.S_IMODE((tmp_path / expected).stat().st_mode) == 0o666


def test_wait_times_out_when_another_process_holds_it(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from weightlib.locks import get_lock\n"
            f"lock = get_lock('org/model', {str(tmp_path)!r}); lock.acquire()\n"
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        with (
            pytest.raises(LockTimeoutError, match="org/model"),
            hold_lock(get_lock("org/model", tmp_path, timeout=0.3), "org/model"),
        ):
            pass
        assert time.monotonic() - started < 30  # it gave up instead of waiting for the holder
    finally:
        holder.kill()
        holder.wait()
    with hold_lock(get_lock("org/model", tmp_path, timeout=5), "org/model"):
        pass  # free again once the holder is gone


def test_posix_lock_is_dropped_when_its_holder_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "repo.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from weightlib.locks import PosixLock\n"
            f"PosixLock({str(path)!r}, None, 'holder').acquire()\n"
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        waits: list[bool] = []
        with pytest.raises(LockTimeoutError, match="org/model"):
            PosixLock(path, 0.3, "org/model").acquire(on_wait=lambda: waits.append(True))
        assert waits == [True]
    finally:
        holder.kill()  # SIGKILL: no cleanup runs in the holder
        holder.wait()
    with PosixLock(path, 5, "org/model").held():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666
