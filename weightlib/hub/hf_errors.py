"""Hugging Face client and network exceptions as weightlib's typed errors.

Messages name the repository and the reason, never the token, headers or a URL (an endpoint
may carry credentials). huggingface_hub and httpx are imported where used: `weightlib --help`
and local commands must not pay for loading them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..errors import AuthError, InvalidInputError, NotFoundError, RemoteError
from .base import TransientRemoteError

AUTH_HINT = "pass --token, set HF_TOKEN or run `hf auth login`"


def httpx_module() -> Any:
    """The HTTP library the installed client uses (httpx2 since huggingface_hub 2)."""
    try:
        import httpx2  # start-up: loaded only when a request is made or failed
    except ImportError:  # pragma: no cover - older clients
        import httpx  # start-up, as above

        return httpx
    return httpx2


def _status(exc: Any, default: int) -> int:
    response = getattr(exc, "response", None)
    return int(response.status_code) if response is not None else default


def _repository_error(exc: Any, what: str) -> Exception:
    if _status(exc, 404) in (401, 403):
        return AuthError(f"{what}: repository not found or private and needs a token; {AUTH_HINT}")
    return NotFoundError(f"{what}: repository not found")


def _http_status_error(exc: Any, what: str) -> Exception:
    status = _status(exc, 0)
    if status in (401, 403):
        return AuthError(
            f"{what}: access denied (HTTP {status}): invalid token or no access; {AUTH_HINT}"
        )
    if status in (404, 410):
        return NotFoundError(f"{what}: not found (HTTP {status})")
    if status in (408, 429) or status >= 500:
        return TransientRemoteError(f"{what}: server error HTTP {status}")
    return RemoteError(f"{what}: HTTP {status} from the hub")


def _client_error(exc: BaseException, what: str) -> Exception | None:
    """The error for a huggingface_hub exception, most specific class first; None if not one."""
    from huggingface_hub import errors as hf  # start-up: see the module docstring

    if isinstance(exc, hf.HFValidationError):
        return InvalidInputError(f"{what}: {str(exc).splitlines()[0][:200]}")
    if isinstance(exc, hf.GatedRepoError):
        return AuthError(f"{what}: gated repository; request access on the hub, then {AUTH_HINT}")
    if isinstance(exc, hf.RepositoryNotFoundError):
        return _repository_error(exc, what)
    if isinstance(exc, hf.RevisionNotFoundError):
        return NotFoundError(f"{what}: revision not found")
    if isinstance(exc, hf.RemoteEntryNotFoundError):
        return NotFoundError(f"{what}: file not found in the repository")
    if isinstance(exc, hf.OfflineModeIsEnabled):
        return NotFoundError(
            f"{what}: offline mode is enabled (HF_HUB_OFFLINE) and it is not cached"
        )
    if isinstance(exc, hf.HfHubHTTPError):
        return _http_status_error(exc, what)
    return None


def _network_error(exc: BaseException, what: str) -> Exception:
    httpx = httpx_module()
    if isinstance(exc, httpx.TimeoutException):
        return TransientRemoteError(f"{what}: timed out")
    if isinstance(exc, httpx.RemoteProtocolError):
        return TransientRemoteError(f"{what}: connection closed mid-response")
    if isinstance(exc, (httpx.NetworkError, httpx.TransportError, ConnectionError, TimeoutError)):
        return TransientRemoteError(f"{what}: network error ({type(exc).__name__})")
    return RemoteError(f"{what}: {type(exc).__name__}")


def map_hub_error(exc: BaseException, what: str) -> Exception:
    """The weightlib error for a client or network exception about `what`."""
    return _client_error(exc, what) or _network_error(exc, what)


@contextlib.contextmanager
def hub_errors(what: str) -> Iterator[None]:
    """Translate client and network exceptions raised in the block into weightlib errors."""
    from huggingface_hub import errors as hf  # start-up: see the module docstring

    httpx = httpx_module()
    try:
        yield
    except (
        hf.HfHubHTTPError,
        hf.OfflineModeIsEnabled,
        hf.HFValidationError,
        httpx.HTTPError,
        ConnectionError,
        TimeoutError,
    ) as exc:
        raise map_hub_error(exc, what) from None
