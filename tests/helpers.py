"""Helpers shared by tests: a hermetic environment and checks on the real CLI's output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

WEIGHTLIB = str(Path(sys.executable).with_name("weightlib"))
"""The console script installed beside the interpreter running the tests."""

CLIENT_ENV_PREFIXES = ("HF_", "HUGGINGFACE_", "MODELSCOPE_", "WEIGHTLIB_", "VLLM_")


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


class RequestLog:
    """A test server's JSON-lines request log, read from a marked position."""

    log_path: Path

    def mark(self) -> int:
        """A position in the log; `requests(since=mark)` returns only later entries."""
        return self.log_path.stat().st_size

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """Every request logged after `since`, oldest first."""
        with self.log_path.open("rb") as handle:
            handle.seek(since)
            data = handle.read().decode()
        return [json.loads(line) for line in data.splitlines() if line.strip()]


def write_file(path: Path, data: bytes | str) -> Path:
    """Write `data` to `path`, creating its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate a test server process (kill it after 5 s) and close its pipe."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout:
        process.stdout.close()


def assert_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """The run failed with `code` and one `error:` line naming every needle; no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
