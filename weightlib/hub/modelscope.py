"""ModelScope as a hub: the transport the download flow uses, remote checkpoints, vLLM's helper.

Everything goes through the real `modelscope_hub` client (installed with the `modelscope`
extra), imported only inside functions: listing with `/repo/files` (one request, sha256 per
file), bytes and ranges with `/repo?FilePath=…`. Files land in ModelScope's own cache layout
`{MODELSCOPE_CACHE}/models/{owner}--{name}/snapshots/{revision}/…` so ModelScope tools and
vLLM's `VLLM_USE_MODELSCOPE=1` path find them. Client errors become weightlib's typed errors;
the token is never part of a message.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    AuthError,
    InvalidInputError,
    MissingExtraError,
    NotFoundError,
    RemoteError,
    WeightlibError,
)
from ..safepath import safe_join
from .base import ProgressCallback, RemoteFile, RepoListing, TransientRemoteError, take_range
from .refs import ModelRef
from .source import MODELSCOPE, check_endpoint_env, env_offline, resolve_model_ref, select_source

if TYPE_CHECKING:
    from modelscope_hub import HubApi

    from ..checkpoint import Checkpoint

DEFAULT_REVISION = "master"
"""ModelScope's default branch."""

EXTRA = "modelscope"
CHUNK_SIZE = 1 << 16
"""Bytes per read of a response body: small enough for steady progress and resumable prefixes."""
LISTING_DIR = ".weightlib"
"""Per-repo folder (beside `snapshots/`) with the listings of earlier downloads, for offline use."""

_HEX40 = re.compile(r"^[0-9a-f]{40}$")


def require_modelscope() -> None:
    """Raise MissingExtraError (exit 2) unless the `modelscope` extra is importable."""
    import importlib.util

    try:
        found = importlib.util.find_spec("modelscope") is not None
        if found:
            import modelscope_hub  # noqa: F401
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtraError("ModelScope", EXTRA)


def default_cache_dir() -> Path:
    """ModelScope's cache root: `MODELSCOPE_CACHE`, else `~/.cache/modelscope`."""
    configured = os.environ.get("MODELSCOPE_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "modelscope"


def repo_cache_dir(repo: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """`{cache}/models/{owner}--{name}`, the client's folder for one model repository."""
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / "models" / repo.replace("/", "--")


def snapshot_dir(
    repo: str, revision: str | None, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """The folder the client downloads `repo@revision` into (revisions are folder names)."""
    return repo_cache_dir(repo, cache_dir) / "snapshots" / (revision or DEFAULT_REVISION)


def _label(repo: str, revision: str | None = None) -> str:
    return f"ms://{repo}" + (f"@{revision}" if revision else "")


class ModelScopeTransport:
    """`HubTransport` for ModelScope through the real `modelscope_hub` client."""

    source = MODELSCOPE

    def __init__(self, token: str | None = None, endpoint: str | None = None) -> None:
        require_modelscope()
        if endpoint is None:
            check_endpoint_env(MODELSCOPE)
        self._token = token or os.environ.get("MODELSCOPE_API_TOKEN") or None
        self._endpoint = endpoint
        self._api_instance: HubApi | None = None

    def _api(self) -> HubApi:
        if self._api_instance is None:
            from modelscope_hub import HubApi, HubConfig

            # A fresh config reads MODELSCOPE_ENDPOINT / MODELSCOPE_CACHE now, not at first use.
            config = HubConfig(endpoint=self._endpoint, token=self._token)
            self._api_instance = HubApi(config=config)
        return self._api_instance

    # -- errors ---------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        text = " ".join(str(text).split())
        if self._token:
            text = text.replace(self._token, "***")
        return text

    def _map_error(
        self, exc: BaseException, what: str, *, missing: str | None = None
    ) -> WeightlibError:
        """The weightlib error for a client or transport exception about `what`."""
        import requests
        from modelscope_hub import errors as ms_errors

        if isinstance(exc, WeightlibError):
            return exc
        if isinstance(exc, ms_errors.NotExistError):
            return NotFoundError(f"{what}: {missing or 'not found'} on ModelScope")
        if isinstance(exc, (ms_errors.AuthenticationError, ms_errors.PermissionDeniedError)):
            if self._token:
                return AuthError(f"{what}: access denied on ModelScope; the token was rejected")
            return AuthError(
                f"{what}: private or gated on ModelScope; pass --token or set MODELSCOPE_API_TOKEN"
            )
        if isinstance(exc, ms_errors.InvalidParameter):
            return InvalidInputError(f"{what}: {self._scrub(str(exc))}")
        retryable = isinstance(
            exc,
            (
                ms_errors.ServerError,
                ms_errors.RateLimitError,
                ms_errors.NetworkError,
                requests.RequestException,
                ConnectionError,
                TimeoutError,
            ),
        )
        detail = self._scrub(str(exc)) or type(exc).__name__
        if retryable:
            return TransientRemoteError(f"{what}: ModelScope request failed: {detail}")
        return RemoteError(f"{what}: ModelScope request failed: {detail}")

    # -- listing --------------------------------------------------------------------------

    def list_repo(self, repo: str, revision: str | None, repo_type: str = "model") -> RepoListing:
        """Every file of `repo@revision` (default `master`) from one `/repo/files` request."""
        if repo_type != "model":
            raise InvalidInputError(
                f"{_label(repo)}: only model repositories are supported on ModelScope"
            )
        rev = revision or DEFAULT_REVISION
        api = self._api()
        try:
            entries = api.legacy.list_repo_files(repo, "model", revision=rev, recursive=True)
        except Exception as exc:
            raise self._listing_error(exc, repo, rev) from None
        files: list[RemoteFile] = []
        commits: set[str] = set()
        for entry in entries:
            if (entry.get("Type") or entry.get("type") or "blob") == "tree":
                continue
            path = entry.get("Path") or entry.get("path") or ""
            if not path:
                continue
            sha = (entry.get("Sha256") or entry.get("sha256") or "").lower() or None
            files.append(RemoteFile(path, int(entry.get("Size") or entry.get("size") or 0), sha))
            commit = str(entry.get("Revision") or "").lower()
            if _HEX40.match(commit):
                commits.add(commit)
        commit = commits.pop() if len(commits) == 1 else rev
        return RepoListing(repo, rev, commit, tuple(files), repo_type="model", source=MODELSCOPE)

    def _listing_error(self, exc: BaseException, repo: str, revision: str) -> WeightlibError:
        from modelscope_hub import errors as ms_errors

        if not isinstance(exc, ms_errors.NotExistError):
            mapped = self._map_error(exc, _label(repo, revision))
            # The client already retried the listing with backoff: do not retry it again.
            if isinstance(mapped, TransientRemoteError):
                return RemoteError(f"{mapped} (after the client's retries)")
            return mapped
        # One more request, only on failure, to say which of repo and revision is missing.
        try:
            self._api().legacy.get_repo_info(repo, "model")
        except ms_errors.NotExistError:
            return NotFoundError(f"{_label(repo)}: repository not found on ModelScope")
        except Exception:
            pass
        return NotFoundError(
            f"{_label(repo, revision)}: revision {revision!r} not found on ModelScope"
        )

    # -- bytes ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _stream(
        self, listing: RepoListing, path: str, headers: Mapping[str, str] | None = None
    ) -> Iterator[Any]:
        """An open streaming response for `path` of `listing` (the client's session and auth)."""
        what = f"{_label(listing.repo, listing.revision)}/{path}"
        try:
            response = self._api().legacy.download_stream(
                listing.repo, "model", path, listing.revision, headers=dict(headers or {})
            )
        except Exception as exc:
            status = getattr(exc, "status_code", None)
            if status == 416:
                yield None
                return
            raise self._map_error(exc, what, missing="file not found") from None
        try:
            yield response
        finally:
            response.close()

    def read_range(self, listing: RepoListing, path: str, start: int, length: int) -> bytes:
        """`length` bytes of `path` from `start` by one ranged GET (fewer at end of file).

        A server that ignores Range is read from the start and the body cut off once the range
        has arrived. Transient failures raise TransientRemoteError; the caller retries.
        """
        if length <= 0:
            return b""
        what = f"{_label(listing.repo, listing.revision)}/{path}"
        header = {"Range": f"bytes={start}-{start + length - 1}"}
        with self._stream(listing, path, header) as response:
            if response is None:  # 416: start is at or past the end
                return b""
            skip = 0
            if response.status_code == 200:  # Range ignored: the body is the whole file
                skip = start
            elif response.status_code != 206 or not str(
                response.headers.get("Content-Range", "")
            ).startswith(f"bytes {start}-"):
                raise TransientRemoteError(f"{what}: server answered a range read wrongly")
            try:
                return take_range(response.iter_content(CHUNK_SIZE), skip, length)
            except Exception as exc:
                raise self._map_error(exc, what) from None

    def fetch(
        self,
        listing: RepoListing,
        file: RemoteFile,
        destination: Path,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Write `file` to `destination`, continuing after the bytes already there (HTTP Range).

        Transient failures (5xx, resets, short bodies) raise TransientRemoteError, keeping the
        bytes received so far so the caller's retry resumes them.
        """
        what = f"{_label(listing.repo, listing.revision)}/{file.path}"
        destination.parent.mkdir(parents=True, exist_ok=True)
        have = destination.stat().st_size if destination.exists() else 0
        if have > file.size:
            destination.unlink()
            have = 0
        if have == file.size and file.size > 0:
            return
        headers = {"Range": f"bytes={have}-"} if have else {}
        with self._stream(listing, file.path, headers) as response:
            if response is None:  # 416 on resume: the partial bytes are stale
                destination.unlink(missing_ok=True)
                raise TransientRemoteError(f"{what}: server refused to resume at byte {have}")
            mode = "ab"
            if response.status_code == 206:
                if not str(response.headers.get("Content-Range", "")).startswith(f"bytes {have}-"):
                    destination.unlink(missing_ok=True)
                    raise TransientRemoteError(f"{what}: resume answered with the wrong range")
            else:
                mode, have = "wb", 0
            received = have
            try:
                with destination.open(mode) as handle:
                    for chunk in response.iter_content(CHUNK_SIZE):
                        if not chunk:
                            continue
                        handle.write(chunk)
                        received += len(chunk)
                        if progress is not None:
                            progress(len(chunk))
            except Exception as exc:
                raise self._map_error(exc, what) from None
        if received < file.size:
            raise TransientRemoteError(
                f"{what}: connection closed after {received} of {file.size} bytes"
            )
        if received > file.size:
            destination.unlink(missing_ok=True)
            raise TransientRemoteError(
                f"{what}: server sent {received} bytes, listing says {file.size}"
            )

    # -- local cache ----------------------------------------------------------------------

    def layout(
        self,
        listing: RepoListing,
        cache_dir: str | os.PathLike[str] | None,
        local_dir: str | os.PathLike[str] | None,
    ) -> ModelScopeLayout:
        """ModelScope's cache snapshot for `listing` (or `local_dir` when given)."""
        return ModelScopeLayout(listing.repo, listing.revision, cache_dir, local_dir)

    def local_listing(
        self,
        repo: str,
        revision: str | None,
        repo_type: str,
        cache_dir: str | os.PathLike[str] | None,
        local_dir: str | os.PathLike[str] | None,
    ) -> RepoListing:
        """The listing an earlier download recorded, else the files on disk; no network."""
        return local_listing(repo, revision, cache_dir, local_dir)


class ModelScopeLayout:
    """`SnapshotLayout` in the client's cache layout (or a plain `local_dir`)."""

    def __init__(
        self,
        repo: str,
        revision: str,
        cache_dir: str | os.PathLike[str] | None,
        local_dir: str | os.PathLike[str] | None,
    ) -> None:
        self.repo = repo
        self.revision = revision
        if local_dir is not None:
            self._root = Path(local_dir)
            self._record = self._root / LISTING_DIR / f"{_safe(revision)}.json"
        else:
            self._root = snapshot_dir(repo, revision, cache_dir)
            self._record = repo_cache_dir(repo, cache_dir) / LISTING_DIR / f"{_safe(revision)}.json"

    @property
    def root(self) -> Path:
        return self._root

    @property
    def lock_path(self) -> Path:
        """The download flow's per-revision lock file (beside the recorded listing)."""
        return self._record.with_suffix(".lock")

    @property
    def record_path(self) -> Path:
        """Where `finish` writes the listing for offline runs."""
        return self._record

    def _target(self, file: RemoteFile) -> Path:
        return safe_join(self._root, file.path, _label(self.repo, self.revision))

    def is_cached(self, file: RemoteFile) -> bool:
        target = self._target(file)
        return target.is_file() and target.stat().st_size == file.size

    def partial_path(self, file: RemoteFile) -> Path:
        # The client's own name for partial bytes, so either tool can resume the other's.
        target = self._target(file)
        return target.with_name(target.name + ".incomplete")

    def commit_file(self, file: RemoteFile, partial: Path) -> Path:
        target = self._target(file)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)
        return target

    def finish(self, listing: RepoListing) -> None:
        from ..atomic import atomic_writer

        self._record.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(self._record, "w", encoding="utf-8") as handle:
            json.dump(listing_to_json(listing), handle, indent=1)


def _safe(revision: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", revision)


def listing_to_json(listing: RepoListing) -> dict[str, Any]:
    """A JSON document for a listing (what `finish` records)."""
    return {
        "repo": listing.repo,
        "revision": listing.revision,
        "commit": listing.commit,
        "source": listing.source,
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in listing.files],
    }


def listing_from_json(document: Mapping[str, Any]) -> RepoListing:
    """The listing `listing_to_json` wrote."""
    files = tuple(
        RemoteFile(str(f["path"]), int(f["size"]), f.get("sha256") or None)
        for f in document["files"]
    )
    return RepoListing(
        str(document["repo"]),
        str(document["revision"]),
        str(document["commit"]),
        files,
        source=MODELSCOPE,
    )


def local_listing(
    repo: str,
    revision: str | None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_dir: str | os.PathLike[str] | None = None,
) -> RepoListing:
    """What the local cache knows of `repo@revision`, without network (NotFoundError if nothing)."""
    from ..shards import list_local_files

    rev = revision or DEFAULT_REVISION
    layout = ModelScopeLayout(repo, rev, cache_dir, local_dir)
    if layout.record_path.is_file():
        try:
            return listing_from_json(json.loads(layout.record_path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError):
            pass  # unreadable record: fall back to the files themselves
    root = layout.root
    names = (
        [p for p in list_local_files(root) if not p.endswith(".incomplete")]
        if root.is_dir()
        else []
    )
    if not names:
        raise NotFoundError(
            f"{_label(repo, rev)}: not in the local ModelScope cache ({root}); offline mode is on"
        )
    files = tuple(RemoteFile(p, (root / p).stat().st_size) for p in sorted(names))
    return RepoListing(repo, rev, rev, files, source=MODELSCOPE)


# -- remote checkpoints (filter / size / index) ----------------------------------------------


def _modelscope_ref(model: str, revision: str | None) -> ModelRef:
    ref = resolve_model_ref(model, revision=revision, source=MODELSCOPE)
    if ref.repo_type != "model":
        raise InvalidInputError(f"{model}: only model repositories are supported on ModelScope")
    return ref


def open_modelscope_checkpoint(
    model: str,
    *,
    revision: str | None = None,
    token: str | None = None,
    offline: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Checkpoint:
    """`ms://org/name[@rev]` (or `org/name`) as a Checkpoint: one listing request, ranged reads.

    The same `RemoteCheckpoint` as for Hugging Face, over the ModelScope transport. Offline
    (`offline=True`, or `WEIGHTLIB_OFFLINE`/`HF_HUB_OFFLINE` when None) reads the local
    ModelScope cache instead, without any socket.
    """
    from . import CachedCheckpoint, RemoteCheckpoint

    ref = _modelscope_ref(model, revision)
    name = str(ref) if ref.revision else _label(ref.repo)
    if offline if offline is not None else env_offline():
        listing = local_listing(ref.repo, ref.revision, cache_dir)
        root = ModelScopeLayout(ref.repo, listing.revision, cache_dir, None).root
        return CachedCheckpoint(name, listing, root)
    transport = ModelScopeTransport(token=token)
    checkpoint = RemoteCheckpoint(name, transport, ref.repo, ref.revision)
    _ = checkpoint.listing  # list now: a missing repo or a missing token fails here
    return checkpoint


def cached_snapshot(
    model: str, revision: str | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """The local snapshot folder of a ModelScope repo, without network or the client installed.

    For `prefetch ms://org/name`: NotFoundError (3) when the local cache holds nothing for it.
    """
    ref = _modelscope_ref(model, revision)
    listing = local_listing(ref.repo, ref.revision, cache_dir)
    return ModelScopeLayout(ref.repo, listing.revision, cache_dir, None).root


# -- vLLM compatibility ----------------------------------------------------------------------


def _patterns(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _matches(path: str, patterns: Sequence[str]) -> bool:
    """The client's pattern rule: `fnmatch` on the whole path (legacy `.*` regexes read as `*`)."""
    import fnmatch

    return any(
        fnmatch.fnmatch(path, p) or (".*" in p and fnmatch.fnmatch(path, p.replace(".*", "*")))
        for p in patterns
    )


def maybe_download_from_modelscope(
    model: str,
    revision: str | None = None,
    download_dir: str | None = None,
    ignore_patterns: str | Sequence[str] | None = None,
    allow_patterns: str | Sequence[str] | None = None,
) -> str | None:
    """vLLM's helper: when ModelScope is selected, the local snapshot path of `model`, else None.

    ModelScope is selected by an `ms://`/`modelscope://` prefix, `WEIGHTLIB_SOURCE=modelscope` or
    `VLLM_USE_MODELSCOPE=1`. A path that exists is returned as is. Otherwise every file matching
    the patterns is fetched by weightlib's download flow (sha256-verified, resumable) into
    ModelScope's cache layout under `download_dir`, holding vLLM's lock there;
    `HF_HUB_OFFLINE`/`WEIGHTLIB_OFFLINE` resolve the local cache only.
    """
    if os.path.exists(model):
        return model if select_source(model) == MODELSCOPE else None
    if select_source(model) != MODELSCOPE:
        return None
    from ..download import download
    from ..locks import get_lock, hold_lock

    ref = _modelscope_ref(model, revision)
    allow = _patterns(allow_patterns)
    ignore = _patterns(ignore_patterns)

    def choose(listing: RepoListing, read_file: Callable[[str], bytes]) -> list[RemoteFile]:
        return [
            f
            for f in listing.files
            if (not allow or _matches(f.path, allow)) and not (ignore and _matches(f.path, ignore))
        ]

    with hold_lock(get_lock(ref.repo, download_dir), _label(ref.repo, ref.revision)):
        result = download(
            _label(ref.repo),
            revision=ref.revision,
            cache_dir=download_dir,
            offline=env_offline(),
            files=choose,
        )
    return result.path


__all__ = [
    "DEFAULT_REVISION",
    "ModelScopeLayout",
    "ModelScopeTransport",
    "cached_snapshot",
    "default_cache_dir",
    "local_listing",
    "maybe_download_from_modelscope",
    "open_modelscope_checkpoint",
    "repo_cache_dir",
    "require_modelscope",
    "snapshot_dir",
]
