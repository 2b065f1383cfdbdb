"""A test ModelScope hub on 127.0.0.1 speaking the `/api/v1` surface the modelscope client uses.

Run it in its own process: `python -m tests.hubs.ms_server --root DIR --port 0 --config JSON`
prints the port it listens on (one line), then serves until killed.

Repositories are folders `DIR/{owner}/{name}/{revision}/…` (the default revision is `master`).
Endpoints (models only):
- `GET /api/v1/models/{owner}/{name}` → repo info
- `GET /api/v1/models/{owner}/{name}/revisions` → branches (one per revision folder)
- `GET /api/v1/models/{owner}/{name}/repo/files?Revision=R&Recursive=True[&Root=dir]` → listing
  with `Path`, `Name`, `Type`, `Size`, `Sha256`
- `GET|HEAD /api/v1/models/{owner}/{name}/repo?Revision=R&FilePath=P` → bytes, with Range support
- `POST /_test/config` → merge a JSON object into the configuration (faults can change mid-test)

Configuration (JSON object; every key optional; file keys are `owner/name/path`):
- `log`: path of a JSON-lines request log (one object per request, written before the body)
- `private`: `{"owner/name": "token"}` → that repo needs `Authorization: Bearer token` or the
  cookie `m_session_id=token` (401 without credentials, 403 with wrong ones)
- `fail`: `{"owner/name/path": N}` → the first N GETs of that file answer 500 (N < 0: always)
- `reset`: `{"owner/name/path": N}` → the first N GETs send half the body, then reset the connection
- `fault_rate`: fraction of file GETs (whole-file, not ranged) answered 500, seeded by `seed`
- `fail_listing`: N → the first N listing requests answer 500 (N < 0: always)
- `wrong_content`: `["owner/name/path", …]` → serve those files with one byte flipped
- `gone`: `["owner/name/path", …]` → listed, but a GET of the file answers 404
- `wrong_sha256`: `["owner/name/path", …]` → the listing reports a wrong sha256 for those files
- `no_range`: true → ignore `Range` (always 200 with the whole file)
- `first_byte_delay`: seconds before each file body; `bytes_per_second`: per-connection limit
- `extra_files`: `{"name": "text", …}` → in every repo and revision, listed as blobs with
  `Path` exactly the name (hostile ones welcome: `../../x.json`, `/abs/x.json`, `a\\b.json`, NUL…),
  `Name` its last `/`-segment, the text's `Size` and `Sha256`, replacing a real file of that
  path; listed at the root (recursive or not) and under any `Root` they start with (no `tree`
  entries made for them). `repo?FilePath=<name>` (exactly the name) serves the text; the
  `owner/name/<name>` keys of `fail`, `reset`, `wrong_content`, `gone`, `wrong_sha256` apply
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_REVISION = "master"


class HubState:
    """The repositories, the configuration, the fault counters and the request log."""

    def __init__(self, root: Path, config: dict[str, Any]) -> None:
        self.root = root
        self.config: dict[str, Any] = config
        self.lock = threading.Lock()
        self.counters: dict[tuple[str, str], int] = {}
        self.random = random.Random(config.get("seed", 0))
        self._sha_cache: dict[tuple[str, int, int], str] = {}

    def update(self, changes: dict[str, Any]) -> None:
        with self.lock:
            self.config.update(changes)
            self.counters.clear()
            if "seed" in changes:
                self.random = random.Random(changes["seed"])

    def take(self, kind: str, key: str) -> bool:
        """Consume one injected fault of `kind` for `key`; True when it applies to this request."""
        with self.lock:
            budget = self.config.get(kind, {}).get(key)
            if budget is None:
                return False
            used = self.counters.get((kind, key), 0)
            if budget >= 0 and used >= budget:
                return False
            self.counters[(kind, key)] = used + 1
            return True

    def take_listing_fault(self) -> bool:
        with self.lock:
            budget = self.config.get("fail_listing")
            if budget is None:
                return False
            used = self.counters.get(("fail_listing", ""), 0)
            if budget >= 0 and used >= budget:
                return False
            self.counters[("fail_listing", "")] = used + 1
            return True

    def random_fault(self) -> bool:
        with self.lock:
            rate = float(self.config.get("fault_rate", 0))
            return rate > 0 and self.random.random() < rate

    def sha256(self, path: Path) -> str:
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self.lock:
            cached = self._sha_cache.get(key)
        if cached is not None:
            return cached
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        value = digest.hexdigest()
        with self.lock:
            self._sha_cache[key] = value
        return value

    def log(self, entry: dict[str, Any]) -> None:
        target = self.config.get("log")
        if not target:
            return
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.lock, open(target, "a", encoding="utf-8") as handle:
            handle.write(line)


def commit_of(repo: str, revision: str) -> str:
    """A stable 40-hex commit id for a repo revision (the listing's `Revision` field)."""
    return hashlib.sha1(f"{repo}@{revision}".encode()).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """One request against the test hub."""

    protocol_version = "HTTP/1.1"
    server_version = "ms-test-hub/1"
    state: HubState

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing ---------------------------------------------------------------------------

    def _entry(self, status: int, **extra: Any) -> None:
        url = urlsplit(self.path)
        entry = {
            "time": time.time(),
            "method": self.command,
            "path": unquote(url.path),
            "query": {k: v[0] for k, v in parse_qs(url.query).items()},
            "status": status,
            "range": self.headers.get("Range"),
            "auth": bool(self._credentials()),
            "request_id": self.headers.get("X-Request-ID"),
        }
        entry.update(extra)
        self.state.log(entry)

    def _send_json(self, status: int, body: dict[str, Any], **log_extra: Any) -> None:
        self._entry(status, **log_extra)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, message: str, **log_extra: Any) -> None:
        self._send_json(
            status,
            {"Code": status, "Message": message, "Success": False, "RequestId": "test"},
            **log_extra,
        )

    def _credentials(self) -> list[str]:
        found = []
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and auth[7:].strip():
            found.append(auth[7:].strip())
        for part in self.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "m_session_id" and value:
                found.append(value)
        return found

    def _authorize(self, repo: str) -> bool:
        """False (error already answered) when `repo` is private and no valid token came."""
        token = self.state.config.get("private", {}).get(repo)
        if token is None:
            return True
        given = self._credentials()
        if token in given:
            return True
        if given:
            self._error(403, f"access to {repo} denied", repo=repo)
        else:
            self._error(401, f"authentication required for {repo}", repo=repo)
        return False

    # -- routing ----------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/_test/config":
            length = int(self.headers.get("Content-Length") or 0)
            changes = json.loads(self.rfile.read(length) or b"{}")
            self.state.update(changes)
            self._send_json(200, {"ok": True})
            return
        self._error(404, f"no route for POST {url.path}")

    def do_GET(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route()

    def _route(self) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if parts[:3] != ["api", "v1", "models"] or len(parts) < 5:
            self._error(404, f"no route for {url.path}")
            return
        owner, name, rest = parts[3], parts[4], parts[5:]
        repo = f"{owner}/{name}"
        repo_dir = self.state.root / owner / name
        if not repo_dir.is_dir():
            self._error(404, f"model {repo} not found", repo=repo)
            return
        if not self._authorize(repo):
            return
        if not rest:
            self._repo_info(repo, repo_dir)
        elif rest == ["revisions"]:
            self._revisions(repo, repo_dir)
        elif rest == ["repo", "files"]:
            self._listing(repo, repo_dir, query)
        elif rest == ["repo"]:
            self._file(repo, repo_dir, query)
        else:
            self._error(404, f"no route for {url.path}", repo=repo)

    # -- endpoints --------------------------------------------------------------------------

    def _revision_dir(self, repo: str, repo_dir: Path, query: dict[str, str]) -> Path | None:
        revision = query.get("Revision") or DEFAULT_REVISION
        folder = repo_dir / revision
        if "/" in revision or revision.startswith(".") or not folder.is_dir():
            self._error(404, f"revision {revision} of {repo} not found", repo=repo)
            return None
        return folder

    def _repo_info(self, repo: str, repo_dir: Path) -> None:
        owner, name = repo.split("/")
        private = repo in self.state.config.get("private", {})
        self._send_json(
            200,
            {
                "Code": 200,
                "Data": {
                    "Id": abs(hash(repo)) % 100000,
                    "Path": owner,
                    "Name": name,
                    "Visibility": 1 if private else 5,
                    "Revision": DEFAULT_REVISION,
                },
                "Success": True,
            },
            repo=repo,
        )

    def _revisions(self, repo: str, repo_dir: Path) -> None:
        branches = [
            {"Revision": p.name, "CommitId": commit_of(repo, p.name), "CreatedAt": 0}
            for p in sorted(repo_dir.iterdir())
            if p.is_dir()
        ]
        self._send_json(
            200,
            {
                "Code": 200,
                "Data": {"RevisionMap": {"Branches": branches, "Tags": []}},
                "Success": True,
            },
            repo=repo,
        )

    def _listing(self, repo: str, repo_dir: Path, query: dict[str, str]) -> None:
        if self.state.take_listing_fault():
            self._error(500, "injected listing failure", repo=repo, kind="listing")
            return
        folder = self._revision_dir(repo, repo_dir, query)
        if folder is None:
            return
        revision = folder.name
        recursive = query.get("Recursive", "True").lower() == "true"
        root_rel = (query.get("Root") or "").strip("/")
        base = folder / root_rel if root_rel else folder
        files: list[dict[str, Any]] = []
        if not base.is_dir():
            self._error(404, f"{root_rel} not found in {repo}@{revision}", repo=repo)
            return
        wrong = set(self.state.config.get("wrong_sha256", []))
        extra: dict[str, str] = self.state.config.get("extra_files") or {}
        walker = os.walk(base) if recursive else [next(os.walk(base))]
        for dirpath, dirnames, filenames in walker:
            dirnames.sort()
            for dirname in dirnames:
                rel = Path(dirpath, dirname).relative_to(folder).as_posix()
                files.append(
                    {"Name": dirname, "Path": rel, "Type": "tree", "Size": 0, "Sha256": ""}
                )
            for filename in sorted(filenames):
                full = Path(dirpath, filename)
                rel = full.relative_to(folder).as_posix()
                if rel in extra:
                    continue
                sha = self.state.sha256(full)
                if f"{repo}/{rel}" in wrong:
                    sha = hashlib.sha256(b"wrong" + sha.encode()).hexdigest()
                files.append(
                    {
                        "Name": filename,
                        "Path": rel,
                        "Type": "blob",
                        "Size": full.stat().st_size,
                        "Sha256": sha,
                        "Revision": commit_of(repo, revision),
                        "IsLFS": full.stat().st_size > 1024,
                    }
                )
        for extra_name, text in extra.items():
            if root_rel and not extra_name.startswith(root_rel + "/"):
                continue
            data = text.encode()
            sha = hashlib.sha256(data).hexdigest()
            if f"{repo}/{extra_name}" in wrong:
                sha = hashlib.sha256(b"wrong" + sha.encode()).hexdigest()
            files.append(
                {
                    "Name": extra_name.rsplit("/", 1)[-1],
                    "Path": extra_name,
                    "Type": "blob",
                    "Size": len(data),
                    "Sha256": sha,
                    "Revision": commit_of(repo, revision),
                    "IsLFS": len(data) > 1024,
                }
            )
        self._send_json(
            200,
            {"Code": 200, "Data": {"Files": files}, "Success": True},
            repo=repo,
            revision=revision,
            kind="listing",
        )

    def _file(self, repo: str, repo_dir: Path, query: dict[str, str]) -> None:
        folder = self._revision_dir(repo, repo_dir, query)
        if folder is None:
            return
        extra: dict[str, str] = self.state.config.get("extra_files") or {}
        given = query.get("FilePath") or ""
        rel = given if given in extra else given.lstrip("/")
        full = folder / rel
        key = f"{repo}/{rel}"
        log = {"repo": repo, "revision": folder.name, "file": rel, "kind": "file"}
        gone = key in self.state.config.get("gone", [])
        if rel in extra and not gone:
            data = extra[rel].encode()
        elif not rel or ".." in rel.split("/") or not full.is_file() or gone:
            self._error(404, f"file {rel} not found in {repo}@{folder.name}", **log)
            return
        else:
            data = full.read_bytes()
        if key in self.state.config.get("wrong_content", []) and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        size = len(data)
        ranged = self._parse_range(size)
        if ranged == "unsatisfiable":
            self._entry(416, **log)
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.command == "GET" and (
            self.state.take("fail", key) or (ranged is None and self.state.random_fault())
        ):
            self._error(500, f"injected failure for {rel}", **log)
            return
        status, start, end = (200, 0, size) if ranged is None else (206, ranged[0], ranged[1])
        body = data[start:end]
        reset = self.command == "GET" and self.state.take("reset", key)
        self._entry(status, bytes=len(body), reset=reset, **log)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        delay = float(self.state.config.get("first_byte_delay", 0))
        if delay:
            time.sleep(delay)
        if reset:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        self._write_throttled(body)

    def _write_throttled(self, body: bytes) -> None:
        rate = int(self.state.config.get("bytes_per_second", 0))
        if rate <= 0:
            self.wfile.write(body)
            return
        chunk = max(1, rate // 20)
        for offset in range(0, len(body), chunk):
            self.wfile.write(body[offset : offset + chunk])
            time.sleep(len(body[offset : offset + chunk]) / rate)

    def _parse_range(self, size: int) -> tuple[int, int] | str | None:
        """(start, end exclusive) for a satisfiable `Range`, 'unsatisfiable', or None for none."""
        header = self.headers.get("Range")
        if not header or self.state.config.get("no_range"):
            return None
        unit, _, spec = header.partition("=")
        if unit.strip() != "bytes" or "," in spec:
            return None
        first, _, last = spec.strip().partition("-")
        try:
            if first == "":
                length = int(last)
                return (max(0, size - length), size) if length > 0 and size else "unsatisfiable"
            start = int(first)
            end = min(int(last) + 1, size) if last else size
        except ValueError:
            return None
        if start >= size or end <= start:
            return "unsatisfiable"
        return start, end


def main(argv: list[str] | None = None) -> None:
    """Parse the options, bind 127.0.0.1, print the port, serve forever."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--config", default="{}", help="JSON object, or @file holding one")
    args = parser.parse_args(argv)
    raw = args.config
    if raw.startswith("@"):
        raw = Path(raw[1:]).read_text(encoding="utf-8")
    state = HubState(args.root.resolve(), json.loads(raw))
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    sys.stdout.write(f"{server.server_address[1]}\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
