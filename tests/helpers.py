"""Helpers shared by tests: a hermetic environment, processes (interrupted, in parallel), files,
and checks on the real CLI's output."""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WEIGHTLIB = str(Path(sys.executable).with_name("weightlib"))
"""The console script installed beside the interpreter running the tests."""

REPO_ROOT = Path(__file__).resolve().parents[1]

CLIENT_ENV_PREFIXES = ("HF_", "HUGGINGFACE_", "MODELSCOPE_", "WEIGHTLIB_", "VLLM_")

Command = Sequence[str | os.PathLike[str]]


def hermetic_env(home: Path, **overrides: str) -> dict[str, str]:
    """The process environment without hub settings, with caches under `home` and no telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLIENT_ENV_PREFIXES)}
    env.update(
        HF_HOME=str(home / "hf"),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_UPDATE_CHECK="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        MODELSCOPE_CACHE=str(home / "modelscope"),
        MODELSCOPE_HOME=str(home / "modelscope-home"),
        MODELSCOPE_DOWNLOAD_INTRA_CLOUD="false",
        NO_COLOR="1",
    )
    env.update(overrides)
    return env


# ---- files ----------------------------------------------------------------------------------


def write_file(path: Path, data: bytes | str) -> Path:
    """Write `data` to `path`, creating its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def random_file(path: Path, size: int) -> Path:
    """A file of `size` random bytes."""
    return write_file(path, os.urandom(size))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def size_of(path: Path) -> int:
    """The size of `path`; 0 while it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _sizes(root: Path, suffixes: tuple[str, ...]) -> list[int]:
    return [size_of(p) for p in root.rglob("*") if p.name.endswith(suffixes) and p.is_file()]


def bytes_under(root: Path, suffixes: tuple[str, ...]) -> int:
    """Bytes in the files under `root` whose names end with one of `suffixes` (0: none yet)."""
    return sum(_sizes(root, suffixes))


def largest_under(root: Path, suffixes: tuple[str, ...]) -> int:
    """Size of the largest file under `root` whose name ends with one of `suffixes` (or 0)."""
    return max(_sizes(root, suffixes), default=0)


# ---- processes ------------------------------------------------------------------------------


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, poll: float = 0.02) -> None:
    """Return once `predicate()` is true; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(poll)


@dataclass
class Killed:
    """A run stopped by a signal (`kill_when`), and how to run it again."""

    command: list[str]
    env: dict[str, str]
    cwd: Path | None
    ready: bool
    """Whether the condition held before the signal (False: timed out or the run ended)."""
    returncode: int
    """The exit status: `-signal` when the signal killed it."""
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    """From the signal to the exit."""

    def rerun(self, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """The same command, environment and folder, run to the end (output captured)."""
        return subprocess.run(
            self.command,
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def kill_when(
    command: Command,
    ready: Callable[[], object],
    *,
    env: dict[str, str],
    sig: int = signal.SIGKILL,
    settle: float = 0.0,
    timeout: float = 60.0,
    cwd: Path | None = None,
    capture: bool = False,
) -> Killed:
    """Start `command`, wait until `ready()` holds (polled every 5 ms; at most `timeout` s, and
    not past the process's own end), `settle` seconds more, then send `sig` and reap it.

    The typical use: start a download, wait until some bytes landed, kill it, check what was
    kept, then `.rerun()` it. Output goes to /dev/null unless `capture` (then it is returned).
    """
    args = [os.fspath(a) for a in command]
    pipe = subprocess.PIPE if capture else subprocess.DEVNULL
    process = subprocess.Popen(args, env=env, cwd=cwd, stdout=pipe, stderr=pipe, text=True)
    try:
        deadline = time.monotonic() + timeout
        reached = False
        while process.poll() is None and time.monotonic() < deadline:
            if ready():
                reached = True
                break
            time.sleep(0.005)
        time.sleep(settle if reached else 0)
    finally:
        process.send_signal(sig)  # no-op once it has ended
        sent = time.monotonic()
        out, err = process.communicate(timeout=60)
    seconds = time.monotonic() - sent
    return Killed(args, env, cwd, reached, process.returncode, out or "", err or "", seconds)


def run_parallel(
    command: Command,
    count: int,
    *,
    env: dict[str, str],
    cwd: Path | None = None,
    timeout: float = 120,
) -> list[subprocess.CompletedProcess[str]]:
    """`count` copies of `command` started together, each run to the end (output captured)."""
    args = [os.fspath(a) for a in command]
    processes = [
        subprocess.Popen(
            args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(count)
    ]
    outputs = [p.communicate(timeout=timeout) for p in processes]
    return [
        subprocess.CompletedProcess(args, p.returncode, out, err)
        for p, (out, err) in zip(processes, outputs, strict=True)
    ]


def run_with_fd_limit(
    command: Command, limit: int, *, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """`command` run to the end (output captured) with at most `limit` open file descriptors."""

    def lower_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return subprocess.run(
        [os.fspath(a) for a in command],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=lower_limit,
    )


def stop_process(process: subprocess.Popen[Any], *, group: bool = False) -> None:
    """Terminate a test server process (kill it after 5 s) and close its pipe; with `group`,
    its whole process group (a server started with `start_new_session=True`)."""

    def send(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)

    if process.poll() is None:
        send(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            process.wait()
    if process.stdout:
        process.stdout.close()


# ---- checks ---------------------------------------------------------------------------------


def output_path(result: subprocess.CompletedProcess[str]) -> Path:
    """The path a successful run printed last (a download's snapshot or folder)."""
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def assert_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """The run failed with `code` and one `error:` line naming every needle; no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
