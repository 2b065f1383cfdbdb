"""A Hugging Face Hub look-alike for tests, serving local folders as repositories on 127.0.0.1.

Run in its own process (hf_transfer holds the GIL, so an in-process server thread would deadlock):

    python -m tests.hubs.hf_server --config CONFIG.json --log REQUESTS.jsonl --port 0
    python -m tests.hubs.hf_server --repo org/name=/path/to/folder --port 8765   # quick demo

It prints `PORT <n>` on stdout once listening. Only the standard library is used.

The config file is re-read whenever it changes (tests switch faults between runs):

    {
      "tokens": ["hf_valid"],                       # accepted `Authorization: Bearer` tokens
      "repos": {
        "org/name": {
          "type": "model",                          # or "dataset"
          "revisions": {"main": "/abs/folder", "dev": "/abs/other"},   # branch → folder
          "tags": {"v1.0": "dev"},                  # tag → branch
          "gated": false, "private": false
        }
      },
      "faults": {
        "bandwidth": 0,            # bytes/s per connection for file bodies (0: unlimited)
        "first_byte_delay": 0,     # seconds before the response to a file GET
        "error_rate": 0,           # probability of HTTP 500 on a file GET
        "reset_rate": 0,           # probability of a TCP reset half-way through a file body
        "truncate_rate": 0,        # probability of closing the connection half-way (clean FIN)
        "api_error_rate": 0,       # probability of HTTP 500 on /api requests
        "paths": ["*"],            # globs of repo file paths the probabilistic faults,
                                   #   first_byte_delay, ignore_range, no_content_length apply to
        "wrong_content": {"model.safetensors": 1},   # glob → times to serve bad bytes (-1: always)
        "seed": 0,
        "ignore_range": false,     # `paths` files: Range ignored → 200 + whole body, no
                                   #   Content-Range / Accept-Ranges (on HEAD too), never 416
        "no_content_length": false,  # `paths` files: no Content-Length (GET and HEAD); the body
                                     #   ends when the server closes (`Connection: close`)
        "extra_files": {"../../x.json": "text"},  # name → content, added to every repo and
                                   #   revision verbatim (hostile names welcome, replacing a real
                                   #   file of that name): siblings (size, blobId), the tree
                                   #   (listed at the root, recursive or not, and under any prefix
                                   #   they start with; no directory entries made for them),
                                   #   paths-info; a resolve of exactly that path serves the text
        "commit": "../../evil",    # reported instead of the real commit of every revision of
                                   #   every repo (`sha`, refs, X-Repo-Commit); as a revision
                                   #   (in resolve, tree, paths-info, revision URLs; its "/" may
                                   #   come raw or %2F-quoted) it means `main`
        "blob_ids": {"*.json": "../../../x"},  # glob → reported instead of the blob id of those
                                   #   files: blobId / tree oid, lfs sha256 / oid, ETag and
                                   #   X-Linked-Etag
        "redirect": {"to": "http://127.0.0.1:PORT", "paths": ["*.safetensors"], "status": 302}
                                   # GET/HEAD on resolve of a matching file (after the access
                                   #   checks) → `status` with `Location: <to><same URL path and
                                   #   query>`, X-Repo-Commit, X-Linked-Size, X-Linked-Etag, ETag
                                   #   and an empty body, as the hub does for LFS files on its
                                   #   CDN; `paths` defaults to all files, `status` to 302.
                                   #   The other origin is typically a second test hub serving
                                   #   the same folders (fixtures: `HubServer.redirect_to`)
      }
    }

Every request is appended to the log as one JSON line: method, path (URL path), query, range,
status, bytes (body bytes sent), auth (whether an Authorization header came; never its value),
repo, file, fault.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import hashlib
import io
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
from typing import Any, BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".onnx", ".msgpack", ".ckpt", ".gguf")
LFS_MIN_SIZE = 10 * 1024 * 1024
CHUNK = 256 * 1024


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"
    ).encode()


class FileEntry:
    """One file of a revision with the hashes the hub publishes: a file on disk, or `data`."""

    def __init__(self, rel: str, path: Path | None = None, data: bytes | None = None) -> None:
        self.rel = rel
        self.path = path
        self.data = data
        self.size = len(data) if data is not None else self._disk().stat().st_size
        self.lfs = rel.endswith(LFS_SUFFIXES) or self.size >= LFS_MIN_SIZE
        sha256 = hashlib.sha256()
        sha1 = hashlib.sha1(b"blob %d\0" % self.size)
        with self.open() as handle:
            while block := handle.read(4 * 1024 * 1024):
                sha256.update(block)
                if not self.lfs:
                    sha1.update(block)
        self.sha256 = sha256.hexdigest()
        if self.lfs:
            pointer = lfs_pointer(self.sha256, self.size)
            self.pointer_size = len(pointer)
            self.blob_id = git_blob_sha1(pointer)
        else:
            self.pointer_size = 0
            self.blob_id = sha1.hexdigest()

    def _disk(self) -> Path:
        assert self.path is not None, "a FileEntry needs a path or data"
        return self.path

    def open(self) -> BinaryIO:
        """The content, for reading."""
        if self.data is not None:
            return io.BytesIO(self.data)
        return self._disk().open("rb")

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.blob_id

    def tree_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "type": "file",
            "oid": self.blob_id,
            "size": self.size,
            "path": self.rel,
        }
        if self.lfs:
            entry["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": self.pointer_size}
        return entry

    def sibling(self, blobs: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {"rfilename": self.rel}
        if blobs:
            entry["size"] = self.size
            entry["blobId"] = self.blob_id
            if self.lfs:
                entry["lfs"] = {
                    "size": self.size,
                    "sha256": self.sha256,
                    "pointerSize": self.pointer_size,
                }
        return entry


class Snapshot:
    """The files of one branch (a folder), hashed once."""

    def __init__(self, repo: str, branch: str, folder: Path) -> None:
        self.folder = folder
        files = {}
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                full = Path(dirpath) / name
                rel = full.relative_to(folder).as_posix()
                files[rel] = FileEntry(rel, full)
        self.files = files
        digest = hashlib.sha1(f"{repo}\0{branch}".encode())
        for rel in sorted(files):
            digest.update(f"\0{rel}\0{files[rel].blob_id}".encode())
        self.commit = digest.hexdigest()


class HubState:
    """The config (re-read on change), hashed snapshots and fault counters."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.lock = threading.Lock()
        self.stamp: tuple[int, int, int] | None = None
        self.config: dict[str, Any] = {}
        self.snapshots: dict[tuple[str, str, str], Snapshot] = {}
        self.wrong_served: dict[str, int] = {}
        self.rng = random.Random(0)
        self.extra: dict[str, FileEntry] = {}

    def current(self) -> dict[str, Any]:
        st = self.config_path.stat()
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self.lock:
            if stamp != self.stamp:
                self.config = json.loads(self.config_path.read_text())
                self.stamp = stamp
                self.wrong_served = {}
                faults = self.config.get("faults", {})
                self.rng = random.Random(faults.get("seed", 0))
                self.extra = {
                    name: FileEntry(name, data=text.encode())
                    for name, text in faults.get("extra_files", {}).items()
                }
            return self.config

    def extra_files(self) -> dict[str, FileEntry]:
        """The `extra_files` fault's entries for the current config (name → entry)."""
        with self.lock:
            return self.extra

    def files(self, snap: Snapshot) -> dict[str, FileEntry]:
        """The files a revision lists: its folder's, then the `extra_files` (which win)."""
        extra = self.extra_files()
        if not extra:
            return snap.files
        merged = {rel: entry for rel, entry in snap.files.items() if rel not in extra}
        merged.update(extra)
        return merged

    def snapshot(self, repo: str, branch: str, folder: str) -> Snapshot:
        key = (repo, branch, folder)
        with self.lock:
            snap = self.snapshots.get(key)
        if snap is None:
            snap = Snapshot(repo, branch, Path(folder))
            with self.lock:
                self.snapshots[key] = snap
        return snap

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self.lock:
            return self.rng.random() < rate

    def take_wrong(self, rel: str) -> bool:
        faults = self.current().get("faults", {})
        for pattern, count in faults.get("wrong_content", {}).items():
            if fnmatch.fnmatchcase(rel, pattern):
                with self.lock:
                    served = self.wrong_served.get(pattern, 0)
                    if count < 0 or served < count:
                        self.wrong_served[pattern] = served + 1
                        return True
        return False


class HubError(Exception):
    def __init__(self, status: int, code: str | None, message: str, commit: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.commit = commit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TestHub/1.0"
    state: HubState
    log_path: Path
    log_lock = threading.Lock()

    # ---- plumbing -------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # silence stderr access log
        pass

    def _record(self, status: int, sent: int, **extra: Any) -> None:
        url = urlsplit(self.path)
        entry = {
            "time": time.time(),
            "method": self.command,
            "path": unquote(url.path),
            "query": url.query,
            "range": self.headers.get("Range"),
            "status": status,
            "bytes": sent,
            "auth": self.headers.get("Authorization") is not None,
            **extra,
        }
        line = json.dumps(entry) + "\n"
        with self.log_lock, self.log_path.open("a") as handle:
            handle.write(line)

    def _send_json(self, status: int, document: Any, headers: dict[str, str] | None = None) -> int:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return len(body)

    def _send_error(self, err: HubError) -> int:
        headers = {"X-Error-Message": _header_safe(err.message)}
        if err.code:
            headers["X-Error-Code"] = err.code
        if err.commit:
            headers["X-Repo-Commit"] = err.commit
        return self._send_json(err.status, {"error": err.message}, headers)

    # ---- model ------------------------------------------------------------------------------
    def _token_ok(self, config: dict[str, Any]) -> bool | None:
        """True valid token, False invalid token, None no token."""
        auth = self.headers.get("Authorization")
        if not auth:
            return None
        token = auth.removeprefix("Bearer ").strip()
        return token in config.get("tokens", [])

    def _repo(self, config: dict[str, Any], repo_type: str, repo: str) -> dict[str, Any]:
        token = self._token_ok(config)
        if token is False:
            raise HubError(401, None, "Invalid credentials in Authorization header")
        spec = config.get("repos", {}).get(repo)
        if spec is None or spec.get("type", "model") != repo_type:
            raise HubError(404, "RepoNotFound", f"Repository {repo} not found")
        if spec.get("private") and token is not True:
            raise HubError(401, "RepoNotFound", f"Repository {repo} not found")
        if spec.get("gated") and token is not True:
            raise HubError(
                401, "GatedRepo", f"Access to model {repo} is restricted. You must have access."
            )
        return spec

    def _resolve(
        self, config: dict[str, Any], repo: str, spec: dict[str, Any], revision: str | None
    ) -> tuple[str, Snapshot]:
        revisions: dict[str, str] = spec["revisions"]
        revision = revision or "main"
        if revision == config.get("faults", {}).get("commit"):
            revision = "main" if "main" in revisions else next(iter(revisions))
        branch = spec.get("tags", {}).get(revision, revision)
        if branch in revisions:
            return branch, self.state.snapshot(repo, branch, revisions[branch])
        for name, folder in revisions.items():
            snap = self.state.snapshot(repo, name, folder)
            if snap.commit == revision:
                return name, snap
        raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")

    @staticmethod
    def _commit(config: dict[str, Any], snap: Snapshot) -> str:
        """The commit reported for `snap`: its own, or the `commit` fault's string."""
        override = config.get("faults", {}).get("commit")
        return str(override) if override is not None else snap.commit

    @staticmethod
    def _split_revision(
        config: dict[str, Any], segments: list[str]
    ) -> tuple[str | None, list[str]]:
        """(revision, remaining segments): one segment, or the `commit` fault's string when the
        segments start with it (its "/" came raw)."""
        override = config.get("faults", {}).get("commit")
        if override:
            pieces = str(override).split("/")
            if len(pieces) > 1 and segments[: len(pieces)] == pieces:
                return str(override), segments[len(pieces) :]
        if not segments:
            return None, []
        return segments[0], segments[1:]

    # ---- routes -----------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        query = parse_qs(url.query)
        status, sent, extra = 500, 0, {}
        try:
            config = self.state.current()
            if parts[:1] == ["api"] and len(parts) >= 4 and parts[1] in ("models", "datasets"):
                faults = config.get("faults", {})
                if self.state.chance(faults.get("api_error_rate", 0)):
                    extra["fault"] = "api-500"
                    raise HubError(500, None, "injected server error")
                status, sent, extra = self._api(config, parts, query)
            elif "resolve" in parts:
                status, sent, extra = self._resolve_file(config, parts)
            else:
                raise HubError(404, None, "not found")
        except HubError as err:
            status = err.status
            with contextlib.suppress(OSError):
                sent = self._send_error(err)
            extra = {**extra, "error": err.code}
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True
            extra = {"fault": extra.get("fault", "client-gone")}
        self._record(status, sent, **extra)

    def _api(
        self, config: dict[str, Any], parts: list[str], query: dict[str, list[str]]
    ) -> tuple[int, int, dict[str, Any]]:
        repo_type = "model" if parts[1] == "models" else "dataset"
        repo = f"{parts[2]}/{parts[3]}"
        rest = parts[4:]
        spec = self._repo(config, repo_type, repo)
        extra = {"repo": repo}
        if not rest or rest[0] == "revision":
            revision = "/".join(rest[1:]) if rest else None
            _, snap = self._resolve(config, repo, spec, revision)
            blobs = query.get("blobs", ["false"])[0] == "true"
            blob_ids = config.get("faults", {}).get("blob_ids", {})
            doc = {
                "_id": hashlib.md5(repo.encode()).hexdigest()[:24],
                "id": repo,
                "modelId": repo,
                "sha": self._commit(config, snap),
                "private": bool(spec.get("private")),
                "gated": "manual" if spec.get("gated") else False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": [
                    _with_blob_id(f.sibling(blobs), rel, blob_ids)
                    for rel, f in self.state.files(snap).items()
                ],
            }
            return 200, self._send_json(200, doc), extra
        if rest[0] == "tree":
            revision, tail = self._split_revision(config, rest[1:])
            prefix = "/".join(tail).strip("/")
            _, snap = self._resolve(config, repo, spec, revision or "main")
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            files = self.state.files(snap)
            entries = _tree(files, self.state.extra_files(), prefix, recursive)
            if prefix and not entries and prefix not in files:
                raise HubError(404, "EntryNotFound", f"{prefix} does not exist")
            blob_ids = config.get("faults", {}).get("blob_ids", {})
            entries = [_with_blob_id(e, e["path"], blob_ids) for e in entries]
            return 200, self._send_json(200, entries), extra
        if rest[0] == "refs":
            branches = []
            for name, folder in spec["revisions"].items():
                snap = self.state.snapshot(repo, name, folder)
                commit = self._commit(config, snap)
                branches.append({"name": name, "ref": f"refs/heads/{name}", "targetCommit": commit})
            tags = []
            for tag, branch in spec.get("tags", {}).items():
                snap = self.state.snapshot(repo, branch, spec["revisions"][branch])
                commit = self._commit(config, snap)
                tags.append({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": commit})
            doc = {"branches": branches, "tags": tags, "converts": []}
            return 200, self._send_json(200, doc), extra
        if rest[0] == "paths-info":
            revision, _ = self._split_revision(config, rest[1:])
            _, snap = self._resolve(config, repo, spec, revision)
            form = parse_qs(getattr(self, "_body", b"").decode())
            paths = form.get("paths", [])
            files = self.state.files(snap)
            blob_ids = config.get("faults", {}).get("blob_ids", {})
            entries = [
                _with_blob_id(files[p].tree_entry(), p, blob_ids) for p in paths if p in files
            ]
            return 200, self._send_json(200, entries), extra
        raise HubError(404, None, "unknown api route")

    def _resolve_file(
        self, config: dict[str, Any], parts: list[str]
    ) -> tuple[int, int, dict[str, Any]]:
        at = parts.index("resolve")
        head = parts[:at]
        repo_type = "model"
        if head[:1] == ["datasets"]:
            repo_type, head = "dataset", head[1:]
        revision, tail = self._split_revision(config, parts[at + 1 :])
        if len(head) != 2 or revision is None or not tail:
            raise HubError(404, None, "bad resolve url")
        repo = "/".join(head)
        rel = "/".join(tail)
        extra: dict[str, Any] = {"repo": repo, "file": rel}
        spec = self._repo(config, repo_type, repo)
        _, snap = self._resolve(config, repo, spec, revision)
        commit = self._commit(config, snap)
        entry = self.state.files(snap).get(rel)
        if entry is None:
            raise HubError(404, "EntryNotFound", f"{rel} does not exist", commit=commit)
        faults = config.get("faults", {})
        etag = _blob_id_for(rel, faults.get("blob_ids", {}))
        file_etag = etag or entry.etag
        linked_etag = etag or entry.sha256
        size = entry.size
        redirect = faults.get("redirect")
        if redirect and any(fnmatch.fnmatchcase(rel, p) for p in redirect.get("paths", ["*"])):
            status = int(redirect.get("status", 302))
            url = urlsplit(self.path)
            location = str(redirect["to"]).rstrip("/") + url.path
            if url.query:
                location += "?" + url.query
            self.send_response(status)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.send_header("ETag", f'"{file_etag}"')
            self.send_header("X-Repo-Commit", commit)
            self.send_header("X-Linked-Size", str(size))
            self.send_header("X-Linked-Etag", f'"{linked_etag}"')
            self.end_headers()
            extra["fault"] = "redirect"
            return status, 0, extra
        in_scope = any(fnmatch.fnmatchcase(rel, p) for p in faults.get("paths", ["*"]))
        ignore_range = in_scope and bool(faults.get("ignore_range"))
        no_length = in_scope and bool(faults.get("no_content_length"))
        start, end = 0, size - 1
        status = 200
        range_header = None if ignore_range else self.headers.get("Range")
        if range_header:
            parsed = _parse_range(range_header, size)
            if parsed is None:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.send_header("X-Repo-Commit", commit)
                self.end_headers()
                return 416, 0, extra
            start, end = parsed
            status = 206
        length = end - start + 1 if size else 0
        is_get = self.command == "GET"
        if is_get and in_scope and faults.get("first_byte_delay"):
            time.sleep(float(faults["first_byte_delay"]))
        if is_get and in_scope and self.state.chance(faults.get("error_rate", 0)):
            extra["fault"] = "500"
            raise HubError(500, None, "injected server error", commit=commit)
        self.send_response(status)
        if no_length:
            self.send_header("Connection", "close")  # also sets self.close_connection
            extra["fault"] = "no-content-length"
        else:
            self.send_header("Content-Length", str(length))
        self.send_header("Content-Type", "application/octet-stream")
        if ignore_range:
            extra["fault"] = "ignore-range"
        else:
            self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{file_etag}"')
        self.send_header("X-Repo-Commit", commit)
        filename = quote(rel.split("/")[-1])
        self.send_header("Content-Disposition", f'inline; filename="{filename}"')
        if entry.lfs:
            self.send_header("X-Linked-Size", str(size))
            self.send_header("X-Linked-Etag", f'"{linked_etag}"')
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not is_get or length == 0:
            return status, 0, extra
        cut = None
        if in_scope and length > 1:
            if self.state.chance(faults.get("reset_rate", 0)):
                extra["fault"], cut = "reset", length // 2
            elif self.state.chance(faults.get("truncate_rate", 0)):
                extra["fault"], cut = "truncate", length // 2
        wrong = self.state.take_wrong(rel)
        if wrong:
            extra["fault"] = "wrong-content"
        sent = self._stream(entry, start, length if cut is None else cut, wrong, faults)
        if cut is not None:
            self.wfile.flush()
            if extra["fault"] == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif no_length:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)  # the FIN ends the body
            self.close_connection = True
        return status, sent, extra

    def _stream(
        self, entry: FileEntry, start: int, length: int, wrong: bool, faults: dict[str, Any]
    ) -> int:
        bandwidth = float(faults.get("bandwidth") or 0)
        chunk = CHUNK if not bandwidth else max(16 * 1024, min(CHUNK, int(bandwidth / 20)))
        sent = 0
        began = time.monotonic()
        with entry.open() as handle:
            handle.seek(start)
            while sent < length:
                block = handle.read(min(chunk, length - sent))
                if not block:
                    break
                if wrong and sent == 0:
                    block = bytes([block[0] ^ 0xFF]) + block[1:]
                self.wfile.write(block)
                sent += len(block)
                if bandwidth:
                    ahead = sent / bandwidth - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)
        return sent


def _tree(
    files: dict[str, FileEntry], extra: dict[str, FileEntry], prefix: str, recursive: bool
) -> list[dict[str, Any]]:
    """Tree entries under `prefix`; the `extra` names are listed verbatim at the root and under
    any prefix they start with, without directory entries."""
    base = prefix + "/" if prefix else ""
    entries: list[dict[str, Any]] = []
    dirs: set[str] = set()
    for rel, entry in files.items():
        if not rel.startswith(base):
            continue
        if rel in extra:
            entries.append(entry.tree_entry())
            continue
        rest = rel[len(base) :]
        segments = rest.split("/")
        for i in range(1, len(segments)):
            if not recursive and i > 1:
                break
            dirs.add(base + "/".join(segments[:i]))
        if recursive or len(segments) == 1:
            entries.append(entry.tree_entry())
    for directory in sorted(dirs):
        oid = hashlib.sha1(directory.encode()).hexdigest()
        entries.append({"type": "directory", "oid": oid, "size": 0, "path": directory})
    return entries


def _blob_id_for(rel: str, blob_ids: dict[str, str]) -> str | None:
    """The `blob_ids` fault's string for `rel` (first matching glob), if any."""
    for pattern, value in blob_ids.items():
        if fnmatch.fnmatchcase(rel, pattern):
            return str(value)
    return None


def _with_blob_id(entry: dict[str, Any], rel: str, blob_ids: dict[str, str]) -> dict[str, Any]:
    """A sibling or tree entry with its blob ids replaced per the `blob_ids` fault."""
    value = _blob_id_for(rel, blob_ids) if entry.get("type", "file") == "file" else None
    if value is None:
        return entry
    entry = {**entry}
    for key in ("oid", "blobId"):
        if key in entry:
            entry[key] = value
    if "lfs" in entry:
        entry["lfs"] = {**entry["lfs"]}
        for key in ("oid", "sha256"):
            if key in entry["lfs"]:
                entry["lfs"][key] = value
    return entry


def _header_safe(text: str) -> str:
    """`text` with control and non-ASCII characters escaped, fit for one header line."""
    return "".join(c if " " <= c < "\x7f" else c.encode("unicode_escape").decode() for c in text)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """First range of a `bytes=` header as inclusive (start, end); None when unsatisfiable."""
    if not header.startswith("bytes="):
        return None
    spec = header[6:].split(",")[0].strip()
    first, _, last = spec.partition("-")
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0 or size == 0:
                return None
            return max(size - suffix, 0), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or start > end:
        return None
    return start, min(end, size - 1)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--config", type=Path, default=None, help="Config JSON (re-read on change)."
    )
    parser.add_argument(
        "--repo",
        action="append",
        default=[],
        metavar="ORG/NAME=FOLDER",
        help="Serve FOLDER as model repo ORG/NAME, branch main (repeatable; without --config).",
    )
    parser.add_argument("--log", type=Path, default=None)
    parser.add_argument("--root", type=Path, default=None, help="Folder for the default log.")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.config is None:
        import tempfile

        if not args.repo:
            parser.error("give --config or at least one --repo ORG/NAME=FOLDER")
        folder = args.root or Path(tempfile.mkdtemp(prefix="test-hub-"))
        folder.mkdir(parents=True, exist_ok=True)
        repos = {}
        for item in args.repo:
            name, _, path = item.partition("=")
            repos[name] = {"type": "model", "revisions": {"main": str(Path(path).resolve())}}
        args.config = folder / "hub-config.json"
        args.config.write_text(json.dumps({"tokens": [], "repos": repos, "faults": {}}))
    log = args.log or (args.root or args.config.parent) / "requests.jsonl"
    handler = type("BoundHandler", (Handler,), {"state": HubState(args.config), "log_path": log})
    server = Server(("127.0.0.1", args.port), handler)
    sys.stdout.write(f"PORT {server.server_address[1]}\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
