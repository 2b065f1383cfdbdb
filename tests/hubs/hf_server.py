"""A Hugging Face Hub look-alike for tests, serving local folders as repositories on 127.0.0.1.

Run in its own process (hf_transfer holds the GIL, so an in-process server thread would deadlock):

    python -m tests.hubs.hf_server --config CONFIG.json --log REQUESTS.jsonl --port 0
    python -m tests.hubs.hf_server --repo org/name=/path/to/folder --port 8765   # quick demo

It prints `PORT <n>` on stdout once listening. Only the standard library is used; the plumbing
shared with the ModelScope test hub (config re-reading, Range, request log) is tests/hubs/http.py.

The config file is re-read whenever it changes (tests switch faults between runs; the fault
counters and the seeded random faults restart with every change):

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
        # Mirrors and proxies that answer differently from the hub:
        "info_needs_revision": 401,  # model info without /revision/{rev} → this status
        "strip_info_metadata": true, # siblings carry only rfilename, whatever `blobs=true` says
        "tree": "full",              # "missing": the tree endpoint answers 404
        "head_405": ["*"],           # HEAD of a resolve URL of these files → 405 (GET works)
        "no_etag": ["*.json"],       # resolve answers of these files carry no ETag/X-Linked-Etag
      }
    }

Every request is appended to the log as one JSON line: method, path (URL path), query, range,
status, bytes (body bytes sent), auth (whether an Authorization header came; never its value),
repo, file, fault.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.hubs.http import ConfigFile, HubHandler, Unsatisfiable, arguments, parse_range, serve

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".onnx", ".msgpack", ".ckpt", ".gguf")
LFS_MIN_SIZE = 10 * 1024 * 1024
Answer = tuple[int, int, dict[str, Any]]
"""(status, body bytes sent, extra fields for the request log)"""


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


class HubState(ConfigFile):
    """The config (re-read on change), hashed snapshots and the `extra_files` entries."""

    def __init__(self, config_path: Path) -> None:
        super().__init__(config_path)
        self.snapshots: dict[tuple[str, str, str], Snapshot] = {}
        self.extra: dict[str, FileEntry] = {}

    def seed(self, config: dict[str, Any]) -> int:
        return int(config.get("faults", {}).get("seed", 0))

    def changed(self, config: dict[str, Any]) -> None:
        self.extra = {
            name: FileEntry(name, data=text.encode())
            for name, text in config.get("faults", {}).get("extra_files", {}).items()
        }

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

    def take_wrong(self, rel: str, faults: dict[str, Any]) -> bool:
        """Whether this GET of `rel` gets bad bytes (the `wrong_content` fault)."""
        for pattern, count in faults.get("wrong_content", {}).items():
            if fnmatch.fnmatchcase(rel, pattern) and self.faults.take(("wrong", pattern), count):
                return True
        return False


class HubError(Exception):
    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        commit: str | None = None,
        fault: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.commit = commit
        self.fault = fault


def _matches(rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(rel, p) for p in patterns)


class Handler(HubHandler):
    server_version = "TestHub/1.0"
    state: HubState

    # ---- plumbing -------------------------------------------------------------------------
    @property
    def faults_config(self) -> dict[str, Any]:
        """The config's `faults` (empty: none)."""
        faults: dict[str, Any] = self.config.get("faults", {})
        return faults

    def _send_error(self, err: HubError) -> int:
        headers = {"X-Error-Message": _header_safe(err.message)}
        if err.code:
            headers["X-Error-Code"] = err.code
        if err.commit:
            headers["X-Repo-Commit"] = err.commit
        return self.send_json(err.status, {"error": err.message}, headers)

    # ---- model ------------------------------------------------------------------------------
    def _token_ok(self) -> bool | None:
        """True valid token, False invalid token, None no token."""
        auth = self.headers.get("Authorization")
        if not auth:
            return None
        token = auth.removeprefix("Bearer ").strip()
        return token in self.config.get("tokens", [])

    def _repo(self, repo_type: str, repo: str) -> dict[str, Any]:
        token = self._token_ok()
        if token is False:
            raise HubError(401, None, "Invalid credentials in Authorization header")
        spec: dict[str, Any] | None = self.config.get("repos", {}).get(repo)
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
        self, repo: str, spec: dict[str, Any], revision: str | None
    ) -> tuple[str, Snapshot]:
        revisions: dict[str, str] = spec["revisions"]
        revision = revision or "main"
        if revision == self.faults_config.get("commit"):
            revision = "main" if "main" in revisions else next(iter(revisions))
        branch = spec.get("tags", {}).get(revision, revision)
        if branch in revisions:
            return branch, self.state.snapshot(repo, branch, revisions[branch])
        for name, folder in revisions.items():
            snap = self.state.snapshot(repo, name, folder)
            if snap.commit == revision:
                return name, snap
        raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")

    def _commit(self, snap: Snapshot) -> str:
        """The commit reported for `snap`: its own, or the `commit` fault's string."""
        override = self.faults_config.get("commit")
        return str(override) if override is not None else snap.commit

    def _split_revision(self, segments: list[str]) -> tuple[str | None, list[str]]:
        """(revision, remaining segments): one segment, or the `commit` fault's string when the
        segments start with it (its "/" came raw)."""
        override = self.faults_config.get("commit")
        if override:
            pieces = str(override).split("/")
            if len(pieces) > 1 and segments[: len(pieces)] == pieces:
                return str(override), segments[len(pieces) :]
        if not segments:
            return None, []
        return segments[0], segments[1:]

    # ---- routes -----------------------------------------------------------------------------
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""
        self.do_GET()

    def answer(self) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        status, sent = 500, 0
        extra: dict[str, Any] = {}
        try:
            if parts[:1] == ["api"] and len(parts) >= 4 and parts[1] in ("models", "datasets"):
                if self.state.faults.chance(self.faults_config.get("api_error_rate", 0)):
                    raise HubError(500, None, "injected server error", fault="api-500")
                status, sent, extra = self._api(parts, parse_qs(url.query))
            elif "resolve" in parts:
                status, sent, extra = self._resolve_file(parts)
            else:
                raise HubError(404, None, "not found")
        except HubError as err:
            status = err.status
            with contextlib.suppress(OSError):
                sent = self._send_error(err)
            extra = {"error": err.code, **({"fault": err.fault} if err.fault else {})}
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True
            extra = {"fault": extra.get("fault", "client-gone")}
        self.record(status, bytes=sent, **extra)

    # ---- /api ---------------------------------------------------------------------------------
    def _api(self, parts: list[str], query: dict[str, list[str]]) -> Answer:
        repo_type = "model" if parts[1] == "models" else "dataset"
        repo = f"{parts[2]}/{parts[3]}"
        rest = parts[4:]
        spec = self._repo(repo_type, repo)
        faults = self.faults_config
        if not rest and faults.get("info_needs_revision"):
            raise HubError(int(faults["info_needs_revision"]), None, "ask with /revision/{rev}")
        if not rest or rest[0] == "revision":
            revision = "/".join(rest[1:]) if rest else None
            document: Any = self._info(repo, spec, revision, query)
        elif rest[0] == "tree":
            if faults.get("tree") == "missing":
                raise HubError(404, None, "no tree listing on this server")
            document = self._tree(repo, spec, rest[1:], query)
        elif rest[0] == "refs":
            document = self._refs(repo, spec)
        elif rest[0] == "paths-info":
            document = self._paths_info(repo, spec, rest[1:])
        else:
            raise HubError(404, None, "unknown api route")
        return 200, self.send_json(200, document), {"repo": repo}

    def _info(
        self,
        repo: str,
        spec: dict[str, Any],
        revision: str | None,
        query: dict[str, list[str]],
    ) -> dict[str, Any]:
        _, snap = self._resolve(repo, spec, revision)
        blobs = query.get("blobs", ["false"])[0] == "true"
        blobs = blobs and not self.faults_config.get("strip_info_metadata")
        blob_ids = self.faults_config.get("blob_ids", {})
        return {
            "_id": hashlib.md5(repo.encode()).hexdigest()[:24],
            "id": repo,
            "modelId": repo,
            "sha": self._commit(snap),
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

    def _tree(
        self,
        repo: str,
        spec: dict[str, Any],
        segments: list[str],
        query: dict[str, list[str]],
    ) -> list[dict[str, Any]]:
        revision, tail = self._split_revision(segments)
        prefix = "/".join(tail).strip("/")
        _, snap = self._resolve(repo, spec, revision or "main")
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        files = self.state.files(snap)
        entries = _tree(files, self.state.extra_files(), prefix, recursive)
        if prefix and not entries and prefix not in files:
            raise HubError(404, "EntryNotFound", f"{prefix} does not exist")
        blob_ids = self.faults_config.get("blob_ids", {})
        return [_with_blob_id(e, e["path"], blob_ids) for e in entries]

    def _refs(self, repo: str, spec: dict[str, Any]) -> dict[str, Any]:
        def ref(kind: str, name: str, branch: str) -> dict[str, str]:
            snap = self.state.snapshot(repo, branch, spec["revisions"][branch])
            commit = self._commit(snap)
            return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": commit}

        return {
            "branches": [ref("heads", name, name) for name in spec["revisions"]],
            "tags": [ref("tags", tag, branch) for tag, branch in spec.get("tags", {}).items()],
            "converts": [],
        }

    def _paths_info(
        self, repo: str, spec: dict[str, Any], segments: list[str]
    ) -> list[dict[str, Any]]:
        revision, _ = self._split_revision(segments)
        _, snap = self._resolve(repo, spec, revision)
        form = parse_qs(getattr(self, "_body", b"").decode())
        files = self.state.files(snap)
        blob_ids = self.faults_config.get("blob_ids", {})
        return [
            _with_blob_id(files[p].tree_entry(), p, blob_ids)
            for p in form.get("paths", [])
            if p in files
        ]

    # ---- /resolve -----------------------------------------------------------------------------
    def _resolve_file(self, parts: list[str]) -> Answer:
        repo, rel, snap = self._locate(parts)
        commit = self._commit(snap)
        entry = self.state.files(snap).get(rel)
        if entry is None:
            raise HubError(404, "EntryNotFound", f"{rel} does not exist", commit=commit)
        extra: dict[str, Any] = {"repo": repo, "file": rel}
        faults = self.faults_config
        if self.command == "HEAD" and _matches(rel, faults.get("head_405", [])):
            raise HubError(405, None, "HEAD is not allowed here", commit=commit, fault="head-405")
        etag = _blob_id_for(rel, faults.get("blob_ids", {}))
        headers = {"ETag": f'"{etag or entry.etag}"', "X-Repo-Commit": commit}
        linked = {"X-Linked-Size": str(entry.size), "X-Linked-Etag": f'"{etag or entry.sha256}"'}
        if _matches(rel, faults.get("no_etag", [])):
            del headers["ETag"], linked["X-Linked-Etag"]
        redirect = faults.get("redirect")
        if redirect and _matches(rel, redirect.get("paths", ["*"])):
            extra["fault"] = "redirect"
            return self._redirect(redirect, {**headers, **linked}), 0, extra
        filename = quote(rel.split("/")[-1])
        headers["Content-Disposition"] = f'inline; filename="{filename}"'
        if entry.lfs:
            headers.update(linked)
        return self._send_entry(entry, headers, extra)

    def _locate(self, parts: list[str]) -> tuple[str, str, Snapshot]:
        """(repo, file path, snapshot) of a `…/resolve/{revision}/{path}` URL, access checked."""
        at = parts.index("resolve")
        head = parts[:at]
        repo_type = "model"
        if head[:1] == ["datasets"]:
            repo_type, head = "dataset", head[1:]
        revision, tail = self._split_revision(parts[at + 1 :])
        if len(head) != 2 or revision is None or not tail:
            raise HubError(404, None, "bad resolve url")
        repo = "/".join(head)
        spec = self._repo(repo_type, repo)
        _, snap = self._resolve(repo, spec, revision)
        return repo, "/".join(tail), snap

    def _redirect(self, redirect: dict[str, Any], headers: dict[str, str]) -> int:
        """The `redirect` fault: `status` to the same URL path and query on the other origin."""
        status = int(redirect.get("status", 302))
        url = urlsplit(self.path)
        location = str(redirect["to"]).rstrip("/") + url.path
        if url.query:
            location += "?" + url.query
        return self.send_empty(status, {"Location": location, **headers})

    def _send_entry(
        self, entry: FileEntry, headers: dict[str, str], extra: dict[str, Any]
    ) -> Answer:
        """The body of `entry` (or the part `Range` asks for), with the body faults; those of
        `ignore_range`, `no_content_length`, `first_byte_delay` and the rates apply to the
        `paths` files only."""
        faults = self.faults_config
        in_scope = _matches(entry.rel, faults.get("paths", ["*"]))
        ignore_range = in_scope and bool(faults.get("ignore_range"))
        no_length = in_scope and bool(faults.get("no_content_length"))
        try:
            span = None if ignore_range else parse_range(self.headers.get("Range"), entry.size)
        except Unsatisfiable:
            self.send_unsatisfiable(entry.size, {"X-Repo-Commit": headers["X-Repo-Commit"]})
            return 416, 0, extra
        is_get = self.command == "GET"
        if is_get and in_scope:
            self._before_body(headers["X-Repo-Commit"])
        if no_length or ignore_range:
            extra["fault"] = "ignore-range" if ignore_range else "no-content-length"
        status = self.send_body_headers(
            span, entry.size, headers, ranges=not ignore_range, length=not no_length
        )
        start, stop = span or (0, entry.size)
        if not is_get or stop == start:
            return status, 0, extra
        cut = self._pick_cut(stop - start, in_scope, extra)
        sent = self._send_body(
            entry, start, stop - start if cut is None else (stop - start) // 2, extra
        )
        if cut or no_length:
            self.cut(cut or "fin")  # without Content-Length, the FIN ends the body
        return status, sent, extra

    def _before_body(self, commit: str) -> None:
        """The `first_byte_delay` and `error_rate` faults of a GET."""
        faults = self.faults_config
        if faults.get("first_byte_delay"):
            time.sleep(float(faults["first_byte_delay"]))
        if self.state.faults.chance(faults.get("error_rate", 0)):
            raise HubError(500, None, "injected server error", commit=commit, fault="500")

    def _pick_cut(self, length: int, in_scope: bool, extra: dict[str, Any]) -> str | None:
        """How `reset_rate` / `truncate_rate` cut this body half-way, if they do."""
        if not in_scope or length < 2:
            return None
        if self.state.faults.chance(self.faults_config.get("reset_rate", 0)):
            extra["fault"] = "reset"
            return "reset"
        if self.state.faults.chance(self.faults_config.get("truncate_rate", 0)):
            extra["fault"] = "truncate"
            return "close"
        return None

    def _send_body(self, entry: FileEntry, start: int, length: int, extra: dict[str, Any]) -> int:
        """`length` bytes of `entry` from `start`, at the `bandwidth` limit; the first one
        inverted for the `wrong_content` files."""
        wrong = self.state.take_wrong(entry.rel, self.faults_config)
        if wrong:
            extra["fault"] = "wrong-content"
        bandwidth = float(self.faults_config.get("bandwidth") or 0)
        with entry.open() as source:
            return self.stream(
                source, start, length, bandwidth=bandwidth, flip=start if wrong else None
            )


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


def main(argv: list[str] | None = None) -> None:
    parser = arguments(__doc__.split("\n")[0])
    parser.add_argument(
        "--repo",
        action="append",
        default=[],
        metavar="ORG/NAME=FOLDER",
        help="Serve FOLDER as model repo ORG/NAME, branch main (repeatable; without --config).",
    )
    parser.add_argument("--root", type=Path, default=None, help="Folder for the default log.")
    args = parser.parse_args(argv)
    if args.config is None:
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
    serve(Handler, args.port, state=HubState(args.config), log_path=log)


if __name__ == "__main__":
    main()
