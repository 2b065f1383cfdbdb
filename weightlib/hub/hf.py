"""The Hugging Face Hub transport: listing, range reads and file fetches through `huggingface_hub`.

The listing is one `repo_info(files_metadata=True)` request; bytes travel over the client's own
HTTP session (`get_session`, `hf_hub_url`, `build_hf_headers`, `hf_raise_for_status`), so
endpoint, proxy, token and offline settings are the client's, and through the shared HTTP path
(`weightlib.hub.http`), which resumes a partial file after a crash. Large files go through
hf_transfer when it is installed (`weightlib.hub.parallel`), xet-backed ones through the client.
Files land in the client's cache layout (`weightlib.hub.hf_cache`). huggingface_hub is imported
where used: `weightlib --help` and local commands must not pay for loading it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from . import hf_cache, hf_metadata, parallel
from .base import Destination, RemoteFile, RepoListing, SnapshotLayout
from .hf_errors import httpx_module, hub_errors
from .http import Body, HandOver, OpenBody
from .source import HF, check_endpoint_env
from .transport import FetchJob, HubTransport

CHUNK_SIZE = 1024 * 1024
HEAD_BLOCK = 100_000
"""Range reads that fall in a file's first bytes fetch this much once (safetensors headers)."""


def _timeout() -> Any:
    """The client's download timeout for reads, 10 s to connect."""
    from huggingface_hub import constants  # start-up: see the module docstring

    return httpx_module().Timeout(float(constants.HF_HUB_DOWNLOAD_TIMEOUT), connect=10.0)


def _xet_available() -> bool:
    try:
        from huggingface_hub.utils._runtime import is_xet_available  # start-up
    except ImportError:  # pragma: no cover
        return False
    return bool(is_xet_available())


def _normalize_etag(etag: str | None) -> str | None:
    """An ETag without its weak marker and quotes, as the client normalises it."""
    return etag.removeprefix("W/").strip('"') if etag else None


def _size_of_ranged_answer(status: int, headers: Mapping[str, str]) -> int | None:
    """The whole file's size from a 0-byte ranged GET: `Content-Range` total, else length."""
    total = headers.get("Content-Range", "").rpartition("/")[2]
    if status == 206 and total.isdigit():
        return int(total)
    length = headers.get("Content-Length", "")
    return int(length) if status == 200 and length.isdigit() else None


class HfTransport(HubTransport):
    """`HubTransport` for the Hugging Face Hub (or any server speaking its API, via HF_ENDPOINT)."""

    source = HF

    def __init__(self, token: str | None = None, endpoint: str | None = None) -> None:
        if endpoint is None:
            check_endpoint_env(HF)
        self.token = token or None
        self.endpoint = endpoint
        self._head_cache: dict[tuple[str, str], bytes] = {}

    def _headers(self) -> dict[str, str]:
        from huggingface_hub.utils._headers import build_hf_headers  # start-up

        headers: dict[str, str] = build_hf_headers(token=self.token)
        return headers

    def url(self, listing: RepoListing, path: str) -> str:
        """The resolve URL of `path` at the listing's commit."""
        return self._resolve_url(listing.repo, listing.repo_type, listing.commit, path)

    def _resolve_url(self, repo: str, repo_type: str, commit: str, path: str) -> str:
        from huggingface_hub import hf_hub_url  # start-up

        url: str = hf_hub_url(
            repo, path, repo_type=repo_type, revision=commit, endpoint=self.endpoint
        )
        return url

    def list_repo(self, repo: str, revision: str | None, repo_type: str = "model") -> RepoListing:
        """One `repo_info` at an explicit revision (`main` by default, as `snapshot_download`
        asks: some mirrors answer only that form); what it lacks is filled by `_complete`."""
        from huggingface_hub import HfApi  # start-up

        rev = revision or "main"
        api = HfApi(endpoint=self.endpoint, token=self.token)
        with hub_errors(f"{repo}@{revision}" if revision else repo):
            info = api.repo_info(
                repo,
                revision=rev,
                repo_type=repo_type,
                files_metadata=True,
                timeout=float(os.environ.get("WEIGHTLIB_LIST_TIMEOUT", "30")),
            )
        commit = getattr(info, "sha", None) or rev
        entries = [hf_metadata.from_sibling(s) for s in getattr(info, "siblings", None) or []]
        if not all(e.complete for e in entries):
            entries = self._complete(api, repo, repo_type, commit, entries)
        hf_metadata.require_sizes(entries, f"{repo}@{rev}")
        files = tuple(
            RemoteFile(
                e.path,
                e.size or 0,
                e.sha256,
                e.blob_id or hf_metadata.unnamed_blob_id(commit, e.path),
            )
            for e in entries
        )
        return RepoListing(repo, rev, commit, files, repo_type, HF)

    def _complete(
        self, api: Any, repo: str, repo_type: str, commit: str, entries: list[hf_metadata.Entry]
    ) -> list[hf_metadata.Entry]:
        """Fill sizes and ids a server left out: the tree listing, then each file's metadata."""
        try:
            tree = list(
                api.list_repo_tree(repo, revision=commit, repo_type=repo_type, recursive=True)
            )
        except Exception:  # no tree here (404, 5xx, a malformed answer): ask file by file
            tree = []
        entries = hf_metadata.fill_from_tree(entries, tree)

        def head(path: str) -> tuple[int | None, str | None]:
            url = self._resolve_url(repo, repo_type, commit, path)
            return self._file_metadata(url, f"{repo}/{path}")

        return hf_metadata.fill_from_heads(entries, head)

    def _file_metadata(self, url: str, what: str) -> tuple[int | None, str | None]:
        """(size, ETag) of one file as the client reads them (`HEAD`); a 0-byte ranged GET
        where the server refuses HEAD (405)."""
        from huggingface_hub import get_hf_file_metadata  # start-up
        from huggingface_hub.errors import HfHubHTTPError

        with hub_errors(what):
            try:
                meta = get_hf_file_metadata(
                    url, token=self.token, timeout=_timeout(), endpoint=self.endpoint
                )
                return meta.size, meta.etag
            except HfHubHTTPError as exc:
                if exc.response is None or exc.response.status_code != 405:
                    raise
            return self._ranged_metadata(url)

    def _ranged_metadata(self, url: str) -> tuple[int | None, str | None]:
        """(size, ETag) from `GET Range: bytes=0-0`, redirects followed by hand (the token stays
        on the first origin); the hub's own answer on a redirect carries X-Linked-* already."""
        from huggingface_hub.utils._http import get_session, hf_raise_for_status  # start-up

        headers = {**self._headers(), "Range": "bytes=0-0", "Accept-Encoding": "identity"}
        first = parallel.origin(url)
        for _ in range(parallel.MAX_REDIRECTS + 1):
            session = get_session()
            with session.stream(
                "GET", url, headers=headers, timeout=_timeout(), follow_redirects=False
            ) as response:
                linked = response.headers.get("X-Linked-Size")
                etag = response.headers.get("X-Linked-Etag") or response.headers.get("ETag")
                if response.is_redirect and linked is None:
                    url = urljoin(url, response.headers["Location"])
                    if parallel.origin(url) != first:
                        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                    continue
                if response.status_code >= 400:
                    response.read()
                    hf_raise_for_status(response)
                size = int(linked) if linked and linked.isdigit() else None
                if size is None:
                    size = _size_of_ranged_answer(response.status_code, response.headers)
                return size, _normalize_etag(etag)
        return None, None

    def open_body(self, listing: RepoListing, path: str) -> OpenBody:
        """`OpenBody` for `path`: a GET over the client's session, errors mapped."""

        @contextlib.contextmanager
        def open_body(extra: Mapping[str, str]) -> Iterator[Body]:
            from huggingface_hub.utils._http import get_session, hf_raise_for_status  # start-up

            headers = {**self._headers(), **extra}
            url = self.url(listing, path)
            with (
                hub_errors(f"{listing.repo}/{path}"),
                get_session().stream("GET", url, headers=headers, timeout=_timeout()) as response,
            ):
                if response.status_code >= 400 and response.status_code != 416:
                    response.read()
                    hf_raise_for_status(response)
                chunks = response.iter_bytes(CHUNK_SIZE)
                yield Body(response.status_code, response.headers, chunks, response.close)

        return open_body

    def read_range(self, listing: RepoListing, path: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        size = listing.file(path).size if listing.has(path) else None
        if start + length > HEAD_BLOCK or size == 0:
            return super().read_range(listing, path, start, length)
        key = (listing.commit, path)
        if key not in self._head_cache:
            # One file's head at a time: `index` reads shards in turn, and keeping every
            # head block cost 100 kB per shard (100 MB at 1,000 shards).
            self._head_cache.clear()
            end = HEAD_BLOCK if size is None else min(HEAD_BLOCK, size)
            self._head_cache[key] = super().read_range(listing, path, 0, end)
        return self._head_cache[key][start : start + length]

    def fetches_serially(self, file: RemoteFile) -> bool:
        """True for files fetched through hf_transfer, which holds the GIL for the whole call
        (it opens many connections itself), so parallel threads would only wait."""
        return parallel.uses_hf_transfer(file)

    def fetch_otherwise(self, job: FetchJob) -> bool:
        """Large files go through hf_transfer when it is installed and the server allows it."""
        have = job.bytes_there
        if not (have == 0 or have > job.file.size) or not parallel.uses_hf_transfer(job.file):
            return False
        target = self._parallel_target(job.listing, job.file)
        if target is None:
            return False
        job.destination.parent.mkdir(parents=True, exist_ok=True)
        what = self.describe(job.listing, job.file.path)
        try:
            parallel.fetch_parallel(target, what, job.file.size, job.destination, job.progress)
        except parallel.ParallelUnsupported:  # the server gives no length to split by
            return False
        return True

    def hand_over(self, job: FetchJob) -> HandOver:
        """Xet-backed files (the answer names an `X-Xet-Hash`) are fetched by the client."""

        def hand_over(body: Body) -> bool:
            if body.status >= 300 or "X-Xet-Hash" not in body.headers or not _xet_available():
                return False
            body.close()
            self._fetch_with_client(job.listing, job.file, job.destination)
            return True

        return hand_over

    def _parallel_target(
        self, listing: RepoListing, file: RemoteFile
    ) -> tuple[str, dict[str, str]] | None:
        """Where hf_transfer should fetch `file` from, with which headers (None: stream it)."""
        from huggingface_hub.utils._http import get_session, hf_raise_for_status  # start-up

        def head(url: str, headers: dict[str, str]) -> parallel.HeadAnswer:
            response = get_session().head(
                url, headers=headers, timeout=_timeout(), follow_redirects=False
            )
            if response.status_code >= 400 and response.status_code != 405:
                hf_raise_for_status(response)
            answer = {k.lower(): v for k, v in response.headers.items()}
            return parallel.HeadAnswer(response.status_code, answer)

        with hub_errors(f"{listing.repo}/{file.path}"):
            return parallel.resolve_target(
                self.url(listing, file.path), self._headers(), file.size, head
            )

    def _fetch_with_client(self, listing: RepoListing, file: RemoteFile, destination: Path) -> None:
        """Xet-backed files: let the client (hf_xet) fetch, then move the file to `destination`."""
        from huggingface_hub import hf_hub_download  # start-up

        with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".xet-") as temp:
            with hub_errors(f"{listing.repo}/{file.path}"):
                got = hf_hub_download(
                    listing.repo,
                    file.path,
                    repo_type=listing.repo_type,
                    revision=listing.commit,
                    local_dir=temp,
                    token=self.token,
                    endpoint=self.endpoint,
                )
            os.replace(str(got), destination)

    def layout(self, listing: RepoListing, where: Destination) -> SnapshotLayout:
        if where.local_dir is not None:
            return hf_cache.HfLocalDirLayout(Path(where.local_dir).expanduser().absolute(), listing)
        return hf_cache.HfCacheLayout(hf_cache.cache_root(where.cache_dir), listing)

    def local_listing(
        self, repo: str, revision: str | None, repo_type: str, where: Destination
    ) -> RepoListing:
        return hf_cache.local_listing(repo, revision, repo_type, where.cache_dir, where.local_dir)
