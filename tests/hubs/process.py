"""What both test hubs share on the test side: the server process, its config file and its log.

`HubServer` (tests/hubs/fixtures.py) and `MsHubServer` (tests/hubs/ms_fixtures.py) subclass
`HubProcess`; the servers themselves share tests/hubs/http.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from tests.helpers import REPO_ROOT, hermetic_env, stop_process

Hub = TypeVar("Hub", bound="HubProcess")


class HubProcess:
    """One test hub process: `python -m <module> --config … --log … --port 0 <args>`.

    The config (`self.config`) is written atomically by `write_config` and re-read by the server
    at its next request; every request is one JSON line of the log (`mark`, `requests`).
    Usable as a context manager (the process stops when the block ends).
    """

    module: str
    """The server module, run with `python -m`."""

    def __init__(self, workdir: Path, config: dict[str, Any], *args: str) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "hub-config.json"
        self.log_path = workdir / "requests.jsonl"
        self.config = config
        self.write_config()
        self.log_path.touch()
        options = ["--config", str(self.config_path), "--log", str(self.log_path), "--port", "0"]
        self.process = subprocess.Popen(
            [*self.command(), *options, *args], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"{self.module} did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The command line that starts the server, before its options."""
        return [sys.executable, "-m", self.module]

    def write_config(self) -> None:
        """Replace the server's config file with `self.config` (atomically)."""
        temp = self.config_path.with_suffix(".tmp")
        temp.write_text(json.dumps(self.config))
        os.replace(temp, self.config_path)
        time.sleep(0.002)  # distinct mtime_ns even on coarse clocks

    # -- request log ------------------------------------------------------------------------------

    def mark(self) -> int:
        """A position in the log; `requests(since=mark)` returns only later entries."""
        return self.log_path.stat().st_size

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """Every request logged after `since`, oldest first."""
        with self.log_path.open("rb") as handle:
            handle.seek(since)
            data = handle.read().decode()
        return [json.loads(line) for line in data.splitlines() if line.strip()]

    def file_gets(self, since: int = 0, repo: str | None = None) -> list[dict[str, Any]]:
        """Logged GETs of file bodies, optionally for one repo."""
        return [
            r
            for r in self.requests(since)
            if r["method"] == "GET"
            and r.get("file") is not None
            and (repo is None or r.get("repo") == repo)
        ]

    # -- clients ------------------------------------------------------------------------------

    def client_env(self) -> dict[str, str]:
        """The variables that point the hub's client at this server."""
        raise NotImplementedError

    def env(self, home: Path, **overrides: str) -> dict[str, str]:
        """A hermetic environment pointing the clients at this hub, with fast retries."""
        settings = {
            **self.client_env(),
            "WEIGHTLIB_RETRY_BASE_DELAY": "0.05",
            "NO_PROXY": "127.0.0.1,localhost",
            **overrides,
        }
        return hermetic_env(home, **settings)

    # -- lifetime -----------------------------------------------------------------------------

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self: Hub) -> Hub:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
