"""A test ModelScope hub on 127.0.0.1 speaking the `/api/v1` surface the modelscope client uses.

Run it in its own process (it prints `PORT <n>` once listening, then serves until killed):

    python -m tests.hubs.ms_server --root DIR --config CONFIG.json --log REQUESTS.jsonl --port 0

The plumbing shared with the Hugging Face test hub (config re-reading, Range, request log,
throttled and cut bodies) is tests/hubs/http.py.

Repositories are folders `DIR/{owner}/{name}/{revision}/…` (the default revision is `master`).
Endpoints (models only):
- `GET /api/v1/models/{owner}/{name}` → repo info
- `GET /api/v1/models/{owner}/{name}/revisions` → branches (one per revision folder)
- `GET /api/v1/models/{owner}/{name}/repo/files?Revision=R&Recursive=True[&Root=dir]` → listing
  with `Path`, `Name`, `Type`, `Size`, `Sha256`
- `GET|HEAD /api/v1/models/{owner}/{name}/repo?Revision=R&FilePath=P` → bytes, with Range support

Configuration (a JSON object in the --config file, re-read when the file changes, which also
restarts the fault counters; every key optional; file keys are `owner/name/path`):
- `private`: `{"owner/name": "token"}` → that repo needs `Authorization: Bearer token` or the
  cookie `m_session_id=token` (401 without credentials, 403 with wrong ones)
- `fail`: `{"owner/name/path": N}` → the first N GETs of that file answer 500 (N < 0: always)
- `reset`: `{"owner/name/path": N}` → the first N GETs send half the body, then reset the connection
- `fault_rate`: fraction of file GETs (whole-file, not ranged) answered 500, seeded by `seed`
- `fail_listing`: N → the first N listing requests answer 500 (N < 0: always)
- `wrong_content`: `["owner/name/path", …]` → serve those files with their first byte inverted
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

Every request is appended to the log as one JSON line: method, path, query, range, status, auth
(whether a token or session cookie came; never its value), request_id, then repo, revision,
file, kind (`file`, `listing`), bytes and reset for file bodies — written before the body.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, unquote, urlsplit

from tests.hubs.http import ConfigFile, HubHandler, Unsatisfiable, arguments, parse_range, serve

DEFAULT_REVISION = "master"


class HubState(ConfigFile):
    """The configuration (re-read on change), the repositories and their files' sha256."""

    def __init__(self, config_path: Path, root: Path) -> None:
        super().__init__(config_path)
        self.root = root
        self._sha_cache: dict[tuple[str, int, int], str] = {}

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


def commit_of(repo: str, revision: str) -> str:
    """A stable 40-hex commit id for a repo revision (the listing's `Revision` field)."""
    return hashlib.sha1(f"{repo}@{revision}".encode()).hexdigest()


def _blob(name: str, rel: str, size: int, sha: str, repo: str, revision: str) -> dict[str, Any]:
    """One file of a listing."""
    return {
        "Name": name,
        "Path": rel,
        "Type": "blob",
        "Size": size,
        "Sha256": sha,
        "Revision": commit_of(repo, revision),
        "IsLFS": size > 1024,
    }


def _success(data: dict[str, Any]) -> dict[str, Any]:
    return {"Code": 200, "Data": data, "Success": True}


class Handler(HubHandler):
    """One request against the test hub."""

    server_version = "ms-test-hub/1"
    state: HubState

    # -- plumbing ---------------------------------------------------------------------------

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

    def credentials_given(self) -> bool:
        return bool(self._credentials())

    def _log(self, status: int, **extra: Any) -> None:
        self.record(status, request_id=self.headers.get("X-Request-ID"), **extra)

    def _answer(self, status: int, body: dict[str, Any], **log_extra: Any) -> None:
        self._log(status, **log_extra)
        self.send_json(status, body)

    def _error(self, status: int, message: str, **log_extra: Any) -> None:
        body = {"Code": status, "Message": message, "Success": False, "RequestId": "test"}
        self._answer(status, body, **log_extra)

    def _authorize(self, repo: str) -> bool:
        """False (error already answered) when `repo` is private and no valid token came."""
        token = self.config.get("private", {}).get(repo)
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

    def answer(self) -> None:
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
            self._repo_info(repo)
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

    def _repo_info(self, repo: str) -> None:
        owner, name = repo.split("/")
        private = repo in self.config.get("private", {})
        info = {
            "Id": abs(hash(repo)) % 100000,
            "Path": owner,
            "Name": name,
            "Visibility": 1 if private else 5,
            "Revision": DEFAULT_REVISION,
        }
        self._answer(200, _success(info), repo=repo)

    def _revisions(self, repo: str, repo_dir: Path) -> None:
        branches = [
            {"Revision": p.name, "CommitId": commit_of(repo, p.name), "CreatedAt": 0}
            for p in sorted(repo_dir.iterdir())
            if p.is_dir()
        ]
        data = {"RevisionMap": {"Branches": branches, "Tags": []}}
        self._answer(200, _success(data), repo=repo)

    def _listing(self, repo: str, repo_dir: Path, query: dict[str, str]) -> None:
        if self.state.faults.take(("fail_listing",), self.config.get("fail_listing")):
            self._error(500, "injected listing failure", repo=repo, kind="listing")
            return
        folder = self._revision_dir(repo, repo_dir, query)
        if folder is None:
            return
        revision = folder.name
        recursive = query.get("Recursive", "True").lower() == "true"
        root_rel = (query.get("Root") or "").strip("/")
        base = folder / root_rel if root_rel else folder
        if not base.is_dir():
            self._error(404, f"{root_rel} not found in {repo}@{revision}", repo=repo)
            return
        files = [
            *self._folder_entries(repo, folder, base, recursive),
            *self._extra_entries(repo, revision, root_rel),
        ]
        data = {"Files": files}
        self._answer(200, _success(data), repo=repo, revision=revision, kind="listing")

    def _sha(self, repo: str, rel: str, sha: str) -> str:
        """`sha`, or a wrong one for the `wrong_sha256` files."""
        if f"{repo}/{rel}" in self.config.get("wrong_sha256", []):
            return hashlib.sha256(b"wrong" + sha.encode()).hexdigest()
        return sha

    def _folder_entries(
        self, repo: str, folder: Path, base: Path, recursive: bool
    ) -> Iterator[dict[str, Any]]:
        """The listing of `base` (a folder in revision `folder`): trees, then blobs, per level."""
        extra = self.config.get("extra_files") or {}
        walker = os.walk(base) if recursive else [next(os.walk(base))]
        for dirpath, dirnames, filenames in walker:
            dirnames.sort()
            for dirname in dirnames:
                rel = Path(dirpath, dirname).relative_to(folder).as_posix()
                yield {"Name": dirname, "Path": rel, "Type": "tree", "Size": 0, "Sha256": ""}
            for filename in sorted(filenames):
                full = Path(dirpath, filename)
                rel = full.relative_to(folder).as_posix()
                if rel in extra:
                    continue
                sha = self._sha(repo, rel, self.state.sha256(full))
                yield _blob(filename, rel, full.stat().st_size, sha, repo, folder.name)

    def _extra_entries(self, repo: str, revision: str, root_rel: str) -> Iterator[dict[str, Any]]:
        """The `extra_files` listed at the root and under any `Root` they start with."""
        extra: dict[str, str] = self.config.get("extra_files") or {}
        for name, text in extra.items():
            if root_rel and not name.startswith(root_rel + "/"):
                continue
            data = text.encode()
            sha = self._sha(repo, name, hashlib.sha256(data).hexdigest())
            yield _blob(name.rsplit("/", 1)[-1], name, len(data), sha, repo, revision)

    def _open(self, folder: Path, rel: str, gone: bool) -> BinaryIO | None:
        """The content of `rel` in `folder` (or its `extra_files` text); None: not found."""
        extra: dict[str, str] = self.config.get("extra_files") or {}
        if rel in extra and not gone:
            return io.BytesIO(extra[rel].encode())
        full = folder / rel
        if not rel or ".." in rel.split("/") or not full.is_file() or gone:
            return None
        return full.open("rb")

    def _file(self, repo: str, repo_dir: Path, query: dict[str, str]) -> None:
        folder = self._revision_dir(repo, repo_dir, query)
        if folder is None:
            return
        given = query.get("FilePath") or ""
        rel = given if given in (self.config.get("extra_files") or {}) else given.lstrip("/")
        key = f"{repo}/{rel}"
        log = {"repo": repo, "revision": folder.name, "file": rel, "kind": "file"}
        source = self._open(folder, rel, key in self.config.get("gone", []))
        if source is None:
            self._error(404, f"file {rel} not found in {repo}@{folder.name}", **log)
            return
        with source:
            self._send_file(source, key, log)

    def _send_file(self, source: BinaryIO, key: str, log: dict[str, Any]) -> None:
        """The body (or the part `Range` asks for) with the `fail`, `fault_rate`, `reset`,
        `wrong_content`, `first_byte_delay` and `bytes_per_second` faults."""
        size = source.seek(0, io.SEEK_END)
        try:
            header = None if self.config.get("no_range") else self.headers.get("Range")
            span = parse_range(header, size)
        except Unsatisfiable:
            self._log(416, **log)
            self.send_unsatisfiable(size)
            return
        is_get = self.command == "GET"
        faults = self.state.faults
        if is_get and (
            faults.take(("fail", key), self.config.get("fail", {}).get(key))
            or (span is None and faults.chance(float(self.config.get("fault_rate", 0))))
        ):
            self._error(500, f"injected failure for {log['file']}", **log)
            return
        start, stop = span or (0, size)
        reset = is_get and faults.take(("reset", key), self.config.get("reset", {}).get(key))
        self._log(200 if span is None else 206, bytes=stop - start, reset=reset, **log)
        self.send_body_headers(span, size, {})
        if not is_get:
            return
        time.sleep(float(self.config.get("first_byte_delay", 0)))
        wrong = key in self.config.get("wrong_content", [])
        length = (stop - start) // 2 if reset else stop - start
        rate = float(self.config.get("bytes_per_second", 0))
        self.stream(source, start, length, bandwidth=rate, flip=0 if wrong else None)
        if reset:
            self.cut("reset")


def main(argv: list[str] | None = None) -> None:
    """Parse the options, bind 127.0.0.1, print the port, serve until killed."""
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="the repositories' folder")
    args = parser.parse_args(argv)
    if args.config is None or args.log is None:
        parser.error("--config and --log are required")
    state = HubState(args.config, args.root.resolve())
    serve(Handler, args.port, state=state, log_path=args.log)


if __name__ == "__main__":
    main()
