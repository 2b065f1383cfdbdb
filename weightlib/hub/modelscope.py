"""ModelScope as a hub: the transport the download flow uses and the client's cache layout.

Everything goes through the real `modelscope_hub` client (installed with the `modelscope`
extra), imported only inside functions: listing with `/repo/files` (one request, sha256 per
file), bytes and ranges with `/repo?FilePath=…`. Files land in ModelScope's own cache layout
`{MODELSCOPE_CACHE}/models/{owner}--{name}/snapshots/{revision}/…` so ModelScope tools and
vLLM's `VLLM_USE_MODELSCOPE=1` path find them. Client errors become weightlib's typed errors;
the token is never part of a message.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_writer
from ..errors import (
    AuthError,
    InvalidInputError,
    MissingExtraError,
    NotFoundError,
    RemoteError,
    WeightlibError,
)
from ..fs import has_size
from ..safepath import safe_join
from ..shards import list_local_files
from .base import Destination, RemoteFile, RepoListing, TransientRemoteError
from .http import Body, OpenBody
from .refs import ModelRef
from .source import MODELSCOPE, check_endpoint_env, resolve_model_ref
from .transport import HubTransport

if TYPE_CHECKING:
    from modelscope_hub import HubApi

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


def label(repo: str, revision: str | None = None) -> str:
    """How messages name a ModelScope repository: `ms://org/name[@rev]`."""
    return f"ms://{repo}" + (f"@{revision}" if revision else "")


class ModelScopeTransport(HubTransport):
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
            from modelscope_hub import HubApi, HubConfig  # the optional modelscope extra

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
        import requests  # the modelscope client's HTTP library: present with the extra
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
                f"{label(repo)}: only model repositories are supported on ModelScope"
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
        from modelscope_hub import errors as ms_errors  # the optional modelscope extra

        if not isinstance(exc, ms_errors.NotExistError):
            mapped = self._map_error(exc, label(repo, revision))
            # The client already retried the listing with backoff: do not retry it again.
            if isinstance(mapped, TransientRemoteError):
                return RemoteError(f"{mapped} (after the client's retries)")
            return mapped
        # One more request, only on failure, to say which of repo and revision is missing.
        try:
            self._api().legacy.get_repo_info(repo, "model")
        except ms_errors.NotExistError:
            return NotFoundError(f"{label(repo)}: repository not found on ModelScope")
        except Exception:
            pass
        return NotFoundError(
            f"{label(repo, revision)}: revision {revision!r} not found on ModelScope"
        )

    # -- bytes ----------------------------------------------------------------------------

    def describe(self, listing: RepoListing, path: str) -> str:
        return f"{label(listing.repo, listing.revision)}/{path}"

    def open_body(self, listing: RepoListing, path: str) -> OpenBody:
        """`OpenBody` for `path`: a GET over the client's session and auth, errors mapped."""
        what = self.describe(listing, path)

        @contextlib.contextmanager
        def open_body(headers: Mapping[str, str]) -> Iterator[Body]:
            try:
                response = self._api().legacy.download_stream(
                    listing.repo, "model", path, listing.revision, headers=dict(headers)
                )
            except Exception as exc:
                if getattr(exc, "status_code", None) == 416:
                    yield Body(416, {}, (), lambda: None)
                    return
                raise self._map_error(exc, what, missing="file not found") from None
            try:
                chunks = self._mapped(response.iter_content(CHUNK_SIZE), what)
                yield Body(response.status_code, response.headers, chunks, response.close)
            finally:
                response.close()

        return open_body

    def _mapped(self, chunks: Iterable[bytes], what: str) -> Iterator[bytes]:
        """`chunks`, with a failure while reading them raised as a weightlib error."""
        try:
            yield from chunks
        except Exception as exc:
            raise self._map_error(exc, what) from None

    # -- local cache ----------------------------------------------------------------------

    def layout(self, listing: RepoListing, where: Destination) -> ModelScopeLayout:
        """ModelScope's cache snapshot for `listing` (or `local_dir` when given)."""
        return ModelScopeLayout(listing.repo, listing.revision, where.cache_dir, where.local_dir)

    def local_listing(
        self, repo: str, revision: str | None, repo_type: str, where: Destination
    ) -> RepoListing:
        """The listing an earlier download recorded, else the files on disk; no network."""
        return local_listing(repo, revision, where.cache_dir, where.local_dir)


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
        return safe_join(self._root, file.path, label(self.repo, self.revision))

    def is_cached(self, file: RemoteFile) -> bool:
        target = self._target(file)
        return has_size(target, file.size)

    def partial_path(self, file: RemoteFile) -> Path:
        # The client's own name for partial bytes, so either tool can resume the other's.
        target = self._target(file)
        return target.with_name(target.name + ".incomplete")

    def adopt(self, file: RemoteFile) -> bool:
        """False: ModelScope's cache keeps no content shared between revisions to reuse."""
        return False

    def commit_file(self, file: RemoteFile, partial: Path) -> Path:
        target = self._target(file)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)
        return target

    def finish(self, listing: RepoListing) -> None:
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
            f"{label(repo, rev)}: not in the local ModelScope cache ({root}); offline mode is on"
        )
    files = tuple(RemoteFile(p, (root / p).stat().st_size) for p in sorted(names))
    return RepoListing(repo, rev, rev, files, source=MODELSCOPE)


def modelscope_ref(model: str, revision: str | None) -> ModelRef:
    """`model` resolved as a ModelScope reference; only model repositories exist there."""
    ref = resolve_model_ref(model, revision=revision, source=MODELSCOPE)
    if ref.repo_type != "model":
        raise InvalidInputError(f"{model}: only model repositories are supported on ModelScope")
    return ref


__all__ = [
    "DEFAULT_REVISION",
    "ModelScopeLayout",
    "ModelScopeTransport",
    "default_cache_dir",
    "label",
    "local_listing",
    "modelscope_ref",
    "repo_cache_dir",
    "require_modelscope",
    "snapshot_dir",
]
