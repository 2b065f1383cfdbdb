"""What both test hubs (`hf_server`, `ms_server`) share, on the server side: the config file,
fault budgets, the request log, JSON answers, file bodies (Range, throttling, cut connections)
and the serving loop. Standard library only.

Both servers run as `python -m tests.hubs.<name> --config CONFIG.json --log REQUESTS.jsonl
--port 0 …` and print `PORT <n>` on stdout once listening. The config file is re-read whenever
it changes (the fixtures rewrite it atomically between requests); fault counters and the random
fault generator restart with every change.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Hashable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

CHUNK = 256 * 1024
_RANGE = re.compile(r"(\d*)-(\d*)", re.ASCII)


# ---- Range --------------------------------------------------------------------------------------


class Unsatisfiable(Exception):
    """The `Range` asks for no byte of the body: answer 416."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The span a `Range` header asks of a `size`-byte body, as `(start, stop)` with `stop`
    exclusive (`body[start:stop]`, Content-Range `start`-`stop - 1`).

    None: no header, or one the server ignores and answers 200 with the whole body (another
    unit, several ranges, not a range). Raises `Unsatisfiable` (answer 416) for a range that
    starts at or past the end, ends before it starts, or is an empty suffix (`bytes=-0`).
    """
    if not header:
        return None
    unit, equals, spec = header.partition("=")
    found = _RANGE.fullmatch(spec.strip())
    if unit.strip().lower() != "bytes" or not equals or found is None or found[0] == "-":
        return None
    first, last = found[1], found[2]
    if not first:  # a suffix: the last `last` bytes
        if int(last) == 0 or size == 0:
            raise Unsatisfiable
        return max(size - int(last), 0), size
    start = int(first)
    if start >= size or (last and int(last) < start):
        raise Unsatisfiable
    return start, size if not last else min(int(last) + 1, size)


# ---- configuration and faults ---------------------------------------------------------------


class FaultBudget:
    """Faults that apply a number of times (a negative budget: always), and a seeded coin."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.used: dict[Hashable, int] = {}
        self.rng = random.Random(0)

    def reset(self, seed: int) -> None:
        with self.lock:
            self.used = {}
            self.rng = random.Random(seed)

    def take(self, key: Hashable, budget: int | None) -> bool:
        """Spend one of `budget` faults counted under `key`; True when this request gets it."""
        if budget is None:
            return False
        with self.lock:
            used = self.used.get(key, 0)
            if 0 <= budget <= used:
                return False
            self.used[key] = used + 1
            return True

    def chance(self, rate: float) -> bool:
        """True with probability `rate` (seeded: the same config gives the same sequence)."""
        if rate <= 0:
            return False
        with self.lock:
            return self.rng.random() < rate


class ConfigFile:
    """The server's JSON config file, re-read when it changes (inode, mtime or size)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.stamp: tuple[int, int, int] | None = None
        self.config: dict[str, Any] = {}
        self.faults = FaultBudget()

    def current(self) -> dict[str, Any]:
        """The config now in force; a change restarts the fault budgets (`changed`)."""
        st = self.path.stat()
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self.lock:
            if stamp != self.stamp:
                self.config = json.loads(self.path.read_text())
                self.stamp = stamp
                self.faults.reset(self.seed(self.config))
                self.changed(self.config)
            return self.config

    def seed(self, config: dict[str, Any]) -> int:
        """The seed of the random faults in `config`."""
        return int(config.get("seed", 0))

    def changed(self, config: dict[str, Any]) -> None:
        """Called (under the lock) when a new config was read."""


# ---- requests -------------------------------------------------------------------------------


class HubHandler(BaseHTTPRequestHandler):
    """The plumbing of both test hubs' request handlers (one instance per connection)."""

    protocol_version = "HTTP/1.1"
    wbufsize = -1
    """Buffered answers: the last bytes leave when the handler returns, after `record`, so a
    client that has its whole answer always finds the request in the log."""
    state: ConfigFile
    log_path: Path
    log_lock = threading.Lock()
    config: dict[str, Any]
    """The config in force for this request."""

    def do_GET(self) -> None:
        self.config = self.state.current()
        self.answer()

    def do_HEAD(self) -> None:
        self.do_GET()

    def answer(self) -> None:
        """Route and answer the request (`self.config` is set)."""
        raise NotImplementedError

    def log_message(self, format: str, *args: Any) -> None:  # no access log on stderr
        pass

    def credentials_given(self) -> bool:
        """Whether the request carries credentials (logged as `auth`, never their value)."""
        return self.headers.get("Authorization") is not None

    def record(self, status: int, **fields: Any) -> None:
        """Append the request to the log as one JSON line: method, path (URL path), query,
        range, status, auth, then `fields`."""
        url = urlsplit(self.path)
        entry = {
            "time": time.time(),
            "method": self.command,
            "path": unquote(url.path),
            "query": url.query,
            "range": self.headers.get("Range"),
            "status": status,
            "auth": self.credentials_given(),
            **fields,
        }
        line = json.dumps(entry) + "\n"
        with self.log_lock, self.log_path.open("a", encoding="utf-8") as handle:
            handle.write(line)

    def send_json(self, status: int, document: Any, headers: dict[str, str] | None = None) -> int:
        """Answer `document` as JSON (no body for HEAD); returns the body bytes sent."""
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self._send_headers(headers or {})
        if self.command == "HEAD":
            return 0
        self.wfile.write(body)
        return len(body)

    def send_empty(self, status: int, headers: dict[str, str]) -> int:
        """An answer without a body; returns `status`."""
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self._send_headers(headers)
        return status

    def send_unsatisfiable(self, size: int, headers: dict[str, str] | None = None) -> None:
        """416 for a `size`-byte file."""
        self.send_empty(416, {"Content-Range": f"bytes */{size}", **(headers or {})})

    def _send_headers(self, headers: dict[str, str]) -> None:
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def send_body_headers(
        self,
        span: tuple[int, int] | None,
        size: int,
        headers: dict[str, str],
        *,
        ranges: bool = True,
        length: bool = True,
    ) -> int:
        """Status line and headers of a file body: 206 with Content-Range for `span`, else 200.
        `ranges`: Accept-Ranges is sent; `length`: Content-Length is sent, else the connection
        closes after the body (`Connection: close`). Returns the status."""
        start, stop = span or (0, size)
        status = 200 if span is None else 206
        self.send_response(status)
        if length:
            self.send_header("Content-Length", str(stop - start))
        else:
            self.send_header("Connection", "close")  # also sets self.close_connection
        self.send_header("Content-Type", "application/octet-stream")
        if ranges:
            self.send_header("Accept-Ranges", "bytes")
        if span is not None:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        self._send_headers(headers)
        return status

    def stream(
        self,
        source: BinaryIO,
        start: int,
        length: int,
        *,
        bandwidth: float = 0,
        flip: int | None = None,
    ) -> int:
        """Send `length` bytes of `source` from `start`, at most `bandwidth` bytes/s (0: no
        limit), with the byte at offset `flip` (if sent) inverted. Returns the bytes sent."""
        chunk = CHUNK if not bandwidth else max(16 * 1024, min(CHUNK, int(bandwidth / 20)))
        sent = 0
        began = time.monotonic()
        source.seek(start)
        while sent < length:
            block = source.read(min(chunk, length - sent))
            if not block:
                break
            at = start + sent
            if flip is not None and at <= flip < at + len(block):
                i = flip - at
                block = block[:i] + bytes([block[i] ^ 0xFF]) + block[i + 1 :]
            self.wfile.write(block)
            sent += len(block)
            if bandwidth:
                ahead = sent / bandwidth - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
        return sent

    def cut(self, how: str) -> None:
        """End the connection after what was sent: `reset` (TCP RST), `close` (FIN both ways)
        or `fin` (FIN of our side: ends a body sent without Content-Length)."""
        self.wfile.flush()
        if how == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        else:
            self.connection.shutdown(socket.SHUT_RDWR if how == "close" else socket.SHUT_WR)
        self.close_connection = True


# ---- serving --------------------------------------------------------------------------------


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True


def arguments(description: str) -> argparse.ArgumentParser:
    """The options both servers take: --config, --log, --port."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=Path, help="config JSON file (re-read on change)")
    parser.add_argument("--log", type=Path, help="request log (JSON lines)")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    return parser


def serve(handler: type[HubHandler], port: int, **bound: Any) -> None:
    """Serve `handler` (its class attributes `bound` set) on 127.0.0.1:`port` until killed,
    after printing `PORT <n>` on stdout."""
    server = Server(("127.0.0.1", port), type("BoundHandler", (handler,), bound))
    sys.stdout.write(f"PORT {server.server_address[1]}\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
