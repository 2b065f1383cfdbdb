"""The Hugging Face Hub transport: listing, range reads and file fetches through `huggingface_hub`.

The listing is one `repo_info(files_metadata=True)` request; bytes travel over the client's own
HTTP session (`get_session`, `hf_hub_url`, `build_hf_headers`, `hf_raise_for_status`), so
endpoint, proxy, token and offline settings are the client's. weightlib adds what the client does
not do since huggingface_hub 1.0: resuming a partial file after a crash (a stable `.incomplete`
file continued with `Range`), and multi-connection downloads through hf_transfer for large files.
Files land in the client's cache layout (`blobs/` + `snapshots/<commit>/` symlinks + `refs/`),
so `hf`, transformers and vLLM find them, offline too.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import AuthError, InvalidInputError, NotFoundError, RemoteError
from ..safepath import check_path_segment, safe_join
from .base import (
    ProgressCallback,
    RemoteFile,
    RepoListing,
    SnapshotLayout,
    TransientRemoteError,
    take_range,
)

CHUNK_SIZE = 1024 * 1024
HEAD_BLOCK = 100_000
"""Range reads that fall in a file's first bytes fetch this much once (safetensors headers)."""

_HF_TRANSFER_ENABLED = os.environ.get("WEIGHTLIB_HF_TRANSFER", "1") not in ("0", "false", "no")


def hf_transfer_available() -> bool:
    """True when multi-connection downloads through hf_transfer are installed and not disabled."""
    if not _HF_TRANSFER_ENABLED:
        return False
    try:
        import hf_transfer  # noqa: F401
    except ImportError:
        return False
    return True


def set_hf_transfer(enabled: bool) -> None:
    """Turn the hf_transfer path on or off for this process."""
    global _HF_TRANSFER_ENABLED
    _HF_TRANSFER_ENABLED = enabled


def hf_transfer_min_bytes() -> int:
    """Files at least this large go through hf_transfer (env `WEIGHTLIB_HF_TRANSFER_MIN_BYTES`)."""
    return int(os.environ.get("WEIGHTLIB_HF_TRANSFER_MIN_BYTES", str(16 * 1024 * 1024)))


def is_offline_env() -> bool:
    """`HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) set to a true value."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in ("1", "ON", "YES", "TRUE")


def default_cache_dir() -> Path:
    """The client's hub cache: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE).expanduser()


def repo_folder_name(repo: str, repo_type: str) -> str:
    """The client's cache folder name: `models--org--name`."""
    return "--".join([f"{repo_type}s", *repo.split("/")])


_AUTH_HINT = "pass --token, set HF_TOKEN or run `hf auth login`"


def map_hub_error(exc: BaseException, what: str) -> Exception:
    """The weightlib error for a client exception; messages never carry the token or headers."""
    from huggingface_hub import errors as hf_errors

    try:
        import httpx2 as httpx
    except ImportError:  # pragma: no cover - older clients
        import httpx  # type: ignore[no-redef]

    if isinstance(exc, hf_errors.HFValidationError):
        return InvalidInputError(f"{what}: {str(exc).splitlines()[0][:200]}")
    if isinstance(exc, hf_errors.GatedRepoError):
        return AuthError(f"{what}: gated repository; request access on the hub, then {_AUTH_HINT}")
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        status = exc.response.status_code if exc.response is not None else 404
        if status in (401, 403):
            return AuthError(
                f"{what}: repository not found or private and needs a token; {_AUTH_HINT}"
            )
        return NotFoundError(f"{what}: repository not found")
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return NotFoundError(f"{what}: revision not found")
    if isinstance(exc, hf_errors.RemoteEntryNotFoundError):
        return NotFoundError(f"{what}: file not found in the repository")
    if isinstance(exc, hf_errors.OfflineModeIsEnabled):
        return NotFoundError(
            f"{what}: offline mode is enabled (HF_HUB_OFFLINE) and it is not cached"
        )
    if isinstance(exc, hf_errors.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        if status in (401, 403):
            return AuthError(
                f"{what}: access denied (HTTP {status}): invalid token or no access; {_AUTH_HINT}"
            )
        if status in (404, 410):
            return NotFoundError(f"{what}: not found (HTTP {status})")
        if status in (408, 429) or status >= 500:
            return TransientRemoteError(f"{what}: server error HTTP {status}")
        return RemoteError(f"{what}: HTTP {status} from the hub")
    if isinstance(exc, httpx.TimeoutException):
        return TransientRemoteError(f"{what}: timed out")
    if isinstance(exc, httpx.RemoteProtocolError):
        return TransientRemoteError(f"{what}: connection closed mid-response")
    if isinstance(exc, (httpx.NetworkError, httpx.TransportError)):
        return TransientRemoteError(f"{what}: network error ({type(exc).__name__})")
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return TransientRemoteError(f"{what}: network error ({type(exc).__name__})")
    return RemoteError(f"{what}: {type(exc).__name__}")


@contextlib.contextmanager
def hub_errors(what: str) -> Iterator[None]:
    """Translate client and network exceptions raised in the block into weightlib errors."""
    from huggingface_hub import errors as hf_errors

    try:
        import httpx2 as httpx
    except ImportError:  # pragma: no cover
        import httpx  # type: ignore[no-redef]

    try:
        yield
    except (
        hf_errors.HfHubHTTPError,
        hf_errors.OfflineModeIsEnabled,
        hf_errors.HFValidationError,
        httpx.HTTPError,
    ) as exc:
        raise map_hub_error(exc, what) from None
    except (ConnectionError, TimeoutError) as exc:
        raise map_hub_error(exc, what) from None


def _git_blob_sha1_file(path: Path) -> str:
    size = path.stat().st_size
    digest = hashlib.sha1(b"blob %d\0" % size)
    with path.open("rb") as handle:
        while block := handle.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def blob_name(file: RemoteFile) -> str:
    """The client's cache blob name: the sha256 for LFS files, the git blob sha1 otherwise."""
    name = file.sha256 or file.blob_id
    if not name:
        raise RemoteError(f"{file.path}: the hub listing gives no content id")
    return name


def _write_tree_cache(folder: Path, listing: RepoListing) -> None:
    """Record the full listing in the client's own tree cache (`trees/<commit>.json`)."""
    try:
        from huggingface_hub._tree_cache import TreeCacheEntry, write_tree_cache
    except ImportError:  # pragma: no cover - the client moved it
        return
    entries = {
        f.path: TreeCacheEntry(
            size=f.size,
            blob_id=f.blob_id or "",
            lfs_sha256=f.sha256,
            lfs_size=f.size if f.sha256 else None,
        )
        for f in listing.files
    }
    with contextlib.suppress(OSError, TypeError, ValueError):
        write_tree_cache(str(folder), listing.commit, entries)


def _read_tree_cache(folder: Path, commit: str) -> list[RemoteFile] | None:
    try:
        from huggingface_hub._tree_cache import read_tree_cache
    except ImportError:  # pragma: no cover
        return None
    try:
        entries = read_tree_cache(str(folder), commit)
    except (OSError, ValueError, TypeError):
        return None
    if entries is None:
        return None
    return [
        RemoteFile(path, e.size, e.lfs_sha256, e.blob_id or None) for path, e in entries.items()
    ]


def _atomic_text(path: Path, text: str) -> None:
    from ..atomic import atomic_writer

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _size_ok(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except OSError:
        return False


def _make_readable(path: Path) -> None:
    mask = os.umask(0)
    os.umask(mask)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o666 & ~mask)


class HfCacheLayout:
    """The client's cache: `models--org--name/{blobs,snapshots/<commit>,refs,trees}`."""

    def __init__(self, cache_dir: Path, listing: RepoListing) -> None:
        self.cache_dir = cache_dir
        self.listing = listing
        self.where = f"{listing.repo}@{listing.revision}"
        check_path_segment(listing.commit, f"{self.where}: commit id")
        self.storage = cache_dir / repo_folder_name(listing.repo, listing.repo_type)

    @property
    def root(self) -> Path:
        return self.storage / "snapshots" / self.listing.commit

    @property
    def lock_path(self) -> Path:
        return (
            self.cache_dir
            / ".locks"
            / repo_folder_name(self.listing.repo, self.listing.repo_type)
            / "weightlib.lock"
        )

    def blob_path(self, file: RemoteFile) -> Path:
        return safe_join(self.storage / "blobs", blob_name(file), self.where)

    def is_cached(self, file: RemoteFile) -> bool:
        return _size_ok(safe_join(self.root, file.path, self.where), file.size)

    def adopt(self, file: RemoteFile) -> bool:
        blob = self.blob_path(file)
        if not _size_ok(blob, file.size):
            return False
        self._link(file)
        return True

    def partial_path(self, file: RemoteFile) -> Path:
        return safe_join(self.storage / "blobs", f"{blob_name(file)}.incomplete", self.where)

    def _link(self, file: RemoteFile) -> Path:
        pointer = safe_join(self.root, file.path, self.where)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        blob = self.blob_path(file)
        target = os.path.relpath(blob, pointer.parent)
        temp = pointer.with_name(f".{pointer.name}.{os.getpid()}.link")
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        try:
            os.symlink(target, temp)
            os.stat(temp)  # some FUSE mounts (sshfs) create links they cannot resolve (EPERM)
            os.replace(temp, pointer)
        except OSError:  # no usable symlinks here: a hard link to the blob, else a copy
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            try:
                os.link(blob, temp)
            except OSError:
                shutil.copyfile(blob, temp)
            os.replace(temp, pointer)
        return pointer

    def commit_file(self, file: RemoteFile, partial: Path) -> Path:
        blob = self.blob_path(file)
        _make_readable(partial)
        os.replace(partial, blob)
        return self._link(file)

    def finish(self, listing: RepoListing) -> None:
        if listing.revision != listing.commit:
            _atomic_text(
                safe_join(self.storage / "refs", listing.revision, self.where), listing.commit
            )
        _write_tree_cache(self.storage, listing)


class HfLocalDirLayout:
    """A plain folder (`--local-dir`): files at repo paths, metadata in `.cache/huggingface`."""

    def __init__(self, local_dir: Path, listing: RepoListing) -> None:
        self.local_dir = local_dir
        self.listing = listing
        self.where = f"{listing.repo}@{listing.revision}"
        check_path_segment(listing.commit, f"{self.where}: commit id")
        self.meta = local_dir / ".cache" / "huggingface"

    @property
    def root(self) -> Path:
        return self.local_dir

    @property
    def lock_path(self) -> Path:
        return self.meta / "weightlib.lock"

    def _metadata_path(self, file: RemoteFile) -> Path:
        return safe_join(self.meta / "download", f"{file.path}.metadata", self.where)

    def _final_path(self, file: RemoteFile) -> Path:
        return safe_join(self.local_dir, file.path, self.where)

    def _write_metadata(self, file: RemoteFile) -> None:
        """The client's local-dir metadata: commit, etag, timestamp."""
        import time

        _atomic_text(
            self._metadata_path(file), f"{self.listing.commit}\n{blob_name(file)}\n{time.time()}\n"
        )

    def is_cached(self, file: RemoteFile) -> bool:
        if not _size_ok(self._final_path(file), file.size):
            return False
        try:
            lines = self._metadata_path(file).read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 2 and lines[1] == blob_name(file)

    def adopt(self, file: RemoteFile) -> bool:
        """Take a file already complete under its final name whose size and hash match the
        listing (a kill between its rename and its metadata write): record it, fetch nothing."""
        final = self._final_path(file)
        if final.is_symlink() or not _size_ok(final, file.size):
            return False
        if not (file.sha256 or (file.blob_id and len(file.blob_id) == 40)):
            return False  # nothing to prove the content with
        if verify_file(final, file) is not None:
            return False
        self._write_metadata(file)
        return True

    def partial_path(self, file: RemoteFile) -> Path:
        return safe_join(self.meta / "download", f"{file.path}.weightlib.incomplete", self.where)

    def commit_file(self, file: RemoteFile, partial: Path) -> Path:
        final = self._final_path(file)
        final.parent.mkdir(parents=True, exist_ok=True)
        _make_readable(partial)
        os.replace(partial, final)
        self._write_metadata(file)
        return final

    def finish(self, listing: RepoListing) -> None:
        _atomic_text(safe_join(self.meta / "refs", listing.revision, self.where), listing.commit)
        _write_tree_cache(self.meta, listing)


class HfTransport:
    """`HubTransport` for the Hugging Face Hub (or any server speaking its API, via HF_ENDPOINT)."""

    source = "hf"

    def __init__(self, token: str | None = None, endpoint: str | None = None) -> None:
        from .source import HF, check_endpoint_env

        if endpoint is None:
            check_endpoint_env(HF)
        self.token = token or None
        self.endpoint = endpoint
        self._head_cache: dict[tuple[str, str], bytes] = {}
        self._digests: dict[str, tuple[int, str]] = {}

    # -- helpers ------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        from huggingface_hub.utils._headers import build_hf_headers

        headers: dict[str, str] = build_hf_headers(token=self.token)
        return headers

    def url(self, listing: RepoListing, path: str) -> str:
        from huggingface_hub import hf_hub_url

        url: str = hf_hub_url(
            listing.repo,
            path,
            repo_type=listing.repo_type,
            revision=listing.commit,
            endpoint=self.endpoint,
        )
        return url

    @staticmethod
    def _timeout() -> Any:
        from huggingface_hub import constants

        try:
            import httpx2 as httpx
        except ImportError:  # pragma: no cover
            import httpx  # type: ignore[no-redef]
        return httpx.Timeout(float(constants.HF_HUB_DOWNLOAD_TIMEOUT), connect=10.0)

    # -- HubTransport -------------------------------------------------------------------------
    def list_repo(self, repo: str, revision: str | None, repo_type: str = "model") -> RepoListing:
        from huggingface_hub import HfApi

        what = f"{repo}@{revision}" if revision else repo
        with hub_errors(what):
            api = HfApi(endpoint=self.endpoint, token=self.token)
            info = api.repo_info(
                repo,
                revision=revision,
                repo_type=repo_type,
                files_metadata=True,
                timeout=float(os.environ.get("WEIGHTLIB_LIST_TIMEOUT", "30")),
            )
        files = []
        for sibling in getattr(info, "siblings", None) or []:
            lfs = sibling.lfs
            sha256 = getattr(lfs, "sha256", None) if lfs is not None else None
            if sha256 is None and isinstance(lfs, dict):
                sha256 = lfs.get("sha256")
            files.append(
                RemoteFile(sibling.rfilename, int(sibling.size or 0), sha256, sibling.blob_id)
            )
        commit = getattr(info, "sha", None) or revision or "main"
        return RepoListing(repo, revision or "main", commit, tuple(files), repo_type, "hf")

    def read_range(self, listing: RepoListing, path: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        size = listing.file(path).size if listing.has(path) else None
        if start + length <= HEAD_BLOCK and (size is None or size > 0):
            key = (listing.commit, path)
            if key not in self._head_cache:
                end = HEAD_BLOCK if size is None else min(HEAD_BLOCK, size)
                # One file's head at a time: `index` reads shards in turn, and keeping every
                # head block cost 100 kB per shard (100 MB at 1,000 shards).
                self._head_cache.clear()
                self._head_cache[key] = self._get_range(listing, path, 0, end)
            return self._head_cache[key][start : start + length]
        return self._get_range(listing, path, start, length)

    def _get_range(self, listing: RepoListing, path: str, start: int, length: int) -> bytes:
        from huggingface_hub.utils._http import get_session, hf_raise_for_status

        headers = {**self._headers(), "Range": f"bytes={start}-{start + length - 1}"}
        with (
            hub_errors(f"{listing.repo}/{path}"),
            get_session().stream(
                "GET", self.url(listing, path), headers=headers, timeout=self._timeout()
            ) as response,
        ):
            if response.status_code == 416:
                return b""
            if response.status_code >= 400:
                response.read()
            hf_raise_for_status(response)
            # A server that ignores Range answers 200 with the whole file: skip to `start` and
            # stop after `length` bytes instead of reading it all into memory.
            skip = start if response.status_code == 200 else 0
            return take_range(response.iter_bytes(CHUNK_SIZE), skip, length)

    def fetches_serially(self, file: RemoteFile) -> bool:
        """True for files fetched through hf_transfer, which holds the GIL for the whole call
        (it opens many connections itself), so parallel threads would only wait."""
        return file.size >= hf_transfer_min_bytes() and hf_transfer_available()

    def fetch(
        self,
        listing: RepoListing,
        file: RemoteFile,
        destination: Path,
        progress: ProgressCallback | None = None,
    ) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        have = destination.stat().st_size if destination.exists() else 0
        if have > file.size:
            destination.unlink()
            have = 0
        if have == file.size:
            return
        if have == 0 and file.size >= hf_transfer_min_bytes() and hf_transfer_available():
            target = self._parallel_target(listing, file)
            if target is not None:
                try:
                    self._fetch_parallel(listing, file, destination, target, progress)
                    return
                except _ParallelUnsupported:
                    pass  # the server gives no length to split by: stream it instead
        self._fetch_stream(listing, file, destination, have, progress)

    def _parallel_target(
        self, listing: RepoListing, file: RemoteFile
    ) -> tuple[str, dict[str, str]] | None:
        """The final URL of `file` and the headers safe to send there, for hf_transfer.

        Redirects are followed here (HEAD, at most 5 hops), so the token only goes to the hub's
        own origin, never to a CDN or object store on another origin. None when the final
        answer gives no length or refuses ranges: the streamed path handles such servers.
        """
        from urllib.parse import urljoin

        from huggingface_hub.utils._http import get_session, hf_raise_for_status

        url = self.url(listing, file.path)
        origin = _origin(url)
        headers = self._headers()
        with hub_errors(f"{listing.repo}/{file.path}"):
            for _ in range(6):
                response = get_session().head(
                    url, headers=headers, timeout=self._timeout(), follow_redirects=False
                )
                location = response.headers.get("Location")
                if response.status_code in (301, 302, 303, 307, 308) and location:
                    url = urljoin(url, location)
                    if _origin(url) != origin:
                        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                    continue
                if response.status_code == 405:  # no HEAD here: let the streamed path try
                    return None
                hf_raise_for_status(response)
                length = response.headers.get("Content-Length")
                if response.headers.get("Accept-Ranges", "").lower() != "bytes":
                    return None  # ranges not promised: hf_transfer would fail on this server
                if length is None or not length.isdigit() or int(length) != file.size:
                    return None
                return url, headers
        return None

    def _fetch_stream(
        self,
        listing: RepoListing,
        file: RemoteFile,
        destination: Path,
        have: int,
        progress: ProgressCallback | None,
    ) -> None:
        from huggingface_hub.utils._http import get_session, hf_raise_for_status

        what = f"{listing.repo}/{file.path}"
        headers = self._headers()
        if have:
            headers["Range"] = f"bytes={have}-"
        with (
            hub_errors(what),
            get_session().stream(
                "GET", self.url(listing, file.path), headers=headers, timeout=self._timeout()
            ) as response,
        ):
            if response.status_code == 416 and have:
                destination.unlink()  # the partial is longer than the file: start over
                raise TransientRemoteError(f"{what}: partial download did not match; restarting")
            if response.status_code >= 400:
                response.read()
            hf_raise_for_status(response)
            if "X-Xet-Hash" in response.headers and _xet_available():
                response.close()
                self._fetch_with_client(listing, file, destination)
                return
            mode = "ab" if response.status_code == 206 else "wb"
            # Hash while streaming a whole LFS file, so verification need not read it back.
            digest = hashlib.sha256() if mode == "wb" and file.sha256 else None
            self._digests.pop(str(destination), None)
            with destination.open(mode) as handle:
                for chunk in response.iter_bytes(CHUNK_SIZE):
                    handle.write(chunk)
                    if digest is not None:
                        digest.update(chunk)
                    if progress is not None:
                        progress(len(chunk))
        got = destination.stat().st_size
        if got != file.size:
            raise TransientRemoteError(f"{what}: connection ended after {got} of {file.size} bytes")
        if digest is not None:
            self._digests[str(destination)] = (got, digest.hexdigest())

    def streamed_sha256(self, path: Path) -> str | None:
        """The sha256 computed while `path` was streamed whole by this transport, if still valid."""
        known = self._digests.pop(str(path), None)
        if known is None or not _size_ok(path, known[0]):
            return None
        return known[1]

    def _fetch_parallel(
        self,
        listing: RepoListing,
        file: RemoteFile,
        destination: Path,
        target: tuple[str, dict[str, str]],
        progress: ProgressCallback | None,
    ) -> None:
        """Multi-connection ranged download with hf_transfer into a side file, then renamed."""
        import hf_transfer

        what = f"{listing.repo}/{file.path}"
        side = destination.with_name(destination.name + ".parallel")
        with contextlib.suppress(FileNotFoundError):
            side.unlink()
        connections = int(os.environ.get("WEIGHTLIB_HF_TRANSFER_CONNECTIONS", "32"))
        # Chunks small enough that every connection gets work; at most 10 MiB (the old default).
        default_chunk = min(max(file.size // connections, 1024 * 1024), 10 * 1024 * 1024)
        chunk = int(os.environ.get("WEIGHTLIB_HF_TRANSFER_CHUNK", str(default_chunk)))
        try:
            hf_transfer.download(
                url=target[0],
                filename=str(side),
                max_files=connections,
                chunk_size=chunk,
                parallel_failures=connections,
                max_retries=3,
                headers=target[1],
                callback=progress,
            )
        except Exception as exc:  # hf_transfer raises plain Exceptions (text may hold the URL)
            with contextlib.suppress(FileNotFoundError):
                side.unlink()
            text = str(exc)
            if re.search(r"os error (28|122)\b|No space left|quota exceeded", text, re.I):
                raise OSError(errno.ENOSPC, "No space left on device", str(destination)) from None
            if "no content length" in text.lower():
                raise _ParallelUnsupported(what) from None
            if "404" in text:
                raise NotFoundError(f"{what}: file not found in the repository") from None
            if "401" in text or "403" in text:
                raise AuthError(f"{what}: access denied; {_AUTH_HINT}") from None
            # Name the reason, but not the URL (an endpoint may carry credentials).
            reason = " ".join(re.sub(r"\w+://\S+", "<url>", text).split())[:200]
            raise TransientRemoteError(
                f"{what}: parallel download failed ({reason or type(exc).__name__})"
            ) from None
        if _holes_left_by_full_disk(side, file.size):
            side.unlink()
            raise OSError(errno.ENOSPC, "No space left on device", str(destination))
        if not _size_ok(side, file.size):
            with contextlib.suppress(FileNotFoundError):
                side.unlink()
            raise TransientRemoteError(f"{what}: parallel download ended short")
        os.replace(side, destination)

    def _fetch_with_client(self, listing: RepoListing, file: RemoteFile, destination: Path) -> None:
        """Xet-backed files: let the client (hf_xet) fetch, then move the file to `destination`."""
        from huggingface_hub import hf_hub_download

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

    def layout(
        self,
        listing: RepoListing,
        cache_dir: str | os.PathLike[str] | None,
        local_dir: str | os.PathLike[str] | None,
    ) -> SnapshotLayout:
        if local_dir is not None:
            return HfLocalDirLayout(Path(local_dir).expanduser().absolute(), listing)
        base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        return HfCacheLayout(base.absolute(), listing)

    def local_listing(
        self,
        repo: str,
        revision: str | None,
        repo_type: str,
        cache_dir: str | os.PathLike[str] | None,
        local_dir: str | os.PathLike[str] | None,
    ) -> RepoListing:
        import re

        revision = revision or "main"
        what = f"{repo}@{revision}"
        if local_dir is not None:
            meta = Path(local_dir).expanduser() / ".cache" / "huggingface"
            refs = meta / "refs"
            tree_folder = meta
            snapshots: Path | None = None
        else:
            base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
            storage = base / repo_folder_name(repo, repo_type)
            refs = storage / "refs"
            tree_folder = storage
            snapshots = storage / "snapshots"
        commit = None
        with contextlib.suppress(OSError):
            commit = (refs / revision).read_text().strip()
        if commit is None and re.fullmatch(r"[0-9a-f]{40}", revision):
            commit = revision
        if not commit:
            raise NotFoundError(f"{what}: offline and this revision is not in the local cache")
        files = _read_tree_cache(tree_folder, commit)
        if files is None:
            folder = snapshots / commit if snapshots is not None else Path(local_dir or ".")
            if not folder.is_dir():
                raise NotFoundError(f"{what}: offline and this revision is not in the local cache")
            from ..shards import list_local_files

            files = [RemoteFile(p, (folder / p).stat().st_size) for p in list_local_files(folder)]
        return RepoListing(repo, revision, commit, tuple(files), repo_type, "hf")


def _holes_left_by_full_disk(path: Path, size: int) -> bool:
    """True when hf_transfer's preallocated (sparse) file still has unwritten holes and the disk
    has no room to fill them: it does not report a failed write on a full disk."""
    try:
        allocated = os.stat(path).st_blocks * 512
        disk = os.statvfs(path.parent)
    except OSError:
        return False
    free = disk.f_bavail * disk.f_frsize
    return allocated < size and free < size - allocated


class _ParallelUnsupported(Exception):
    """hf_transfer cannot split this file (the server answers without a length)."""


def _origin(url: str) -> tuple[str, str | None, int | None]:
    """Scheme, host and port: where a request goes, for deciding whether a token may follow."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, parts.hostname, parts.port or default


def _xet_available() -> bool:
    try:
        from huggingface_hub.utils._runtime import is_xet_available
    except ImportError:  # pragma: no cover
        return False
    return bool(is_xet_available())


def verify_file(path: Path, file: RemoteFile, known_sha256: str | None = None) -> str | None:
    """Why `path` does not hold `file`'s content (sha256 or git blob sha1); None when it does.

    Returns None when the hub published no hash to check against.
    """
    if file.sha256 and known_sha256:
        if known_sha256 != file.sha256.lower():
            return f"sha256 {known_sha256} != expected {file.sha256}"
        return None
    if file.sha256:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(8 * 1024 * 1024):
                digest.update(block)
        if digest.hexdigest() != file.sha256.lower():
            return f"sha256 {digest.hexdigest()} != expected {file.sha256}"
        return None
    if file.blob_id and len(file.blob_id) == 40:
        actual = _git_blob_sha1_file(path)
        if actual != file.blob_id:
            return f"git blob sha1 {actual} != expected {file.blob_id}"
    return None
