"""Multi-connection downloads of large files through hf_transfer (the `hf-transfer` extra).

hf_transfer splits a file into ranges fetched over many connections. It needs the final URL
(redirects resolved here, so the token never travels to another origin), a server that
promises ranges and gives the length, and it reports little: a full disk leaves sparse holes
without an error, so the result is checked before it is used.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from ..errors import AuthError, NotFoundError
from ..fs import has_size
from .base import ProgressCallback, RemoteFile, TransientRemoteError
from .hf_errors import AUTH_HINT

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)
_enabled = os.environ.get("WEIGHTLIB_HF_TRANSFER", "1") not in ("0", "false", "no")


def hf_transfer_available() -> bool:
    """True when multi-connection downloads through hf_transfer are installed and not disabled."""
    if not _enabled:
        return False
    try:
        import hf_transfer  # noqa: F401  - optional extra: present or not
    except ImportError:
        return False
    return True


def set_hf_transfer(enabled: bool) -> None:
    """Turn the hf_transfer path on or off for this process."""
    global _enabled
    _enabled = enabled


def hf_transfer_min_bytes() -> int:
    """Files at least this large go through hf_transfer (env `WEIGHTLIB_HF_TRANSFER_MIN_BYTES`)."""
    return int(os.environ.get("WEIGHTLIB_HF_TRANSFER_MIN_BYTES", str(16 * 1024 * 1024)))


def uses_hf_transfer(file: RemoteFile) -> bool:
    """True for files large enough to fetch through hf_transfer, when it is available."""
    return file.size >= hf_transfer_min_bytes() and hf_transfer_available()


class ParallelUnsupported(Exception):
    """hf_transfer cannot split this file (the server answers without a length)."""


@dataclass(frozen=True)
class HeadAnswer:
    """What one `HEAD` (without following redirects) answered."""

    status: int
    headers: dict[str, str]


def origin(url: str) -> tuple[str, str | None, int | None]:
    """Scheme, host and port: where a request goes, for deciding whether a token may follow."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, parts.hostname, parts.port or default


def _without_auth(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != "authorization"}


def resolve_target(
    url: str,
    headers: dict[str, str],
    size: int,
    head: Callable[[str, dict[str, str]], HeadAnswer],
) -> tuple[str, dict[str, str]] | None:
    """The final URL of a file and the headers safe to send there, for hf_transfer.

    Redirects are followed by hand (`head` must not follow them), dropping Authorization when
    one leaves the first origin. None when the server refuses HEAD (405), gives no length equal
    to `size`, or does not promise ranges: the streamed path handles such servers.
    """
    first = origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        answer = head(url, headers)
        location = answer.headers.get("location")
        if answer.status in _REDIRECTS and location:
            url = urljoin(url, location)
            headers = headers if origin(url) == first else _without_auth(headers)
            continue
        length = answer.headers.get("content-length", "")
        ranges = answer.headers.get("accept-ranges", "").lower() == "bytes"
        if answer.status == 405 or not ranges or not length.isdigit() or int(length) != size:
            return None
        return url, headers
    return None


def _chunk_size(size: int, connections: int) -> int:
    """Chunks small enough that every connection gets work; at most 10 MiB (the old default)."""
    default = min(max(size // connections, 1024 * 1024), 10 * 1024 * 1024)
    return int(os.environ.get("WEIGHTLIB_HF_TRANSFER_CHUNK", str(default)))


def _failure(exc: Exception, what: str, destination: Path) -> Exception:
    """The typed error for an hf_transfer failure, from its text without the URL (which may
    carry credentials, and whose port digits must not read as a status code)."""
    text = " ".join(re.sub(r"\w+://\S+", "<url>", str(exc)).split())
    if re.search(r"os error (28|122)\b|No space left|quota exceeded", text, re.I):
        return OSError(errno.ENOSPC, "No space left on device", str(destination))
    if "no content length" in text.lower():
        return ParallelUnsupported(what)
    if re.search(r"\b404\b", text):
        return NotFoundError(f"{what}: file not found in the repository")
    if re.search(r"\b40[13]\b", text):
        return AuthError(f"{what}: access denied; {AUTH_HINT}")
    reason = text[:200] or type(exc).__name__
    return TransientRemoteError(f"{what}: parallel download failed ({reason})")


def holes_left_by_full_disk(path: Path, size: int) -> bool:
    """True when hf_transfer's preallocated (sparse) file still has unwritten holes and the disk
    has no room to fill them: it does not report a failed write on a full disk."""
    try:
        allocated = os.stat(path).st_blocks * 512
        disk = os.statvfs(path.parent)
    except OSError:
        return False
    free = disk.f_bavail * disk.f_frsize
    return allocated < size and free < size - allocated


def fetch_parallel(
    target: tuple[str, dict[str, str]],
    what: str,
    size: int,
    destination: Path,
    progress: ProgressCallback | None,
) -> None:
    """Download into a side file over many connections, check it, then rename it into place."""
    import hf_transfer  # optional extra, present when `uses_hf_transfer` said so

    side = destination.with_name(destination.name + ".parallel")
    with contextlib.suppress(FileNotFoundError):
        side.unlink()
    connections = int(os.environ.get("WEIGHTLIB_HF_TRANSFER_CONNECTIONS", "32"))
    try:
        hf_transfer.download(
            url=target[0],
            filename=str(side),
            max_files=connections,
            chunk_size=_chunk_size(size, connections),
            parallel_failures=connections,
            max_retries=3,
            headers=target[1],
            callback=progress,
        )
    except Exception as exc:  # hf_transfer raises plain Exceptions
        side.unlink(missing_ok=True)
        raise _failure(exc, what, destination) from None
    if holes_left_by_full_disk(side, size):
        side.unlink()
        raise OSError(errno.ENOSPC, "No space left on device", str(destination))
    if not has_size(side, size):
        side.unlink(missing_ok=True)
        raise TransientRemoteError(f"{what}: parallel download ended short")
    os.replace(side, destination)
