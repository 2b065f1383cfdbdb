"""The one HTTP path for file bytes, shared by every hub: range reads and resumable fetches.

A hub supplies only how to open `GET <file>` with extra headers (its URL, session, auth and
error map) as an `OpenBody`; this module decides what the answer means — 206 with the right
`Content-Range`, 200 from a server that ignores `Range`, 416 — writes, counts and hashes the
bytes, and checks the length against the listing. Failures worth retrying raise
`TransientRemoteError` with the bytes received kept on disk, so the retry resumes them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from .base import ProgressCallback, RemoteFile, TransientRemoteError


@dataclass(frozen=True)
class Body:
    """An open response: status, headers, and its body as chunks (errors already mapped)."""

    status: int
    headers: Mapping[str, str]
    chunks: Iterable[bytes]
    close: Callable[[], None]


OpenBody = Callable[[Mapping[str, str]], AbstractContextManager[Body]]
"""Opens `GET` of one file with extra request headers. Raises weightlib errors for HTTP errors
other than 416 (which it returns as a Body), and maps errors raised while reading chunks."""

HandOver = Callable[[Body], bool]
"""Given the first answer, True when the hub fetched the file another way (e.g. its client)."""


def take_range(chunks: Iterable[bytes], skip: int, length: int) -> bytes:
    """`length` bytes after the first `skip` of a streamed body, reading no further than that
    (a server that ignores Range sends the whole file: skipped bytes are never kept)."""
    data = bytearray()
    for chunk in chunks:
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        data += chunk[skip : skip + length - len(data)]
        skip = 0
        if len(data) >= length:
            break
    return bytes(data)


def _starts_at(body: Body, offset: int) -> bool:
    """True unless a 206's `Content-Range` names another start than the one asked for."""
    content_range = body.headers.get("Content-Range")
    return content_range is None or content_range.startswith(f"bytes {offset}-")


def read_range(open_body: OpenBody, what: str, start: int, length: int) -> bytes:
    """`length` bytes from `start` (fewer at end of file), by one ranged GET."""
    if length <= 0:
        return b""
    with open_body({"Range": f"bytes={start}-{start + length - 1}"}) as body:
        if body.status == 416:  # start is at or past the end
            return b""
        if body.status == 200:  # Range ignored: the body is the whole file
            return take_range(body.chunks, start, length)
        if body.status != 206 or not _starts_at(body, start):
            raise TransientRemoteError(f"{what}: server answered a range read wrongly")
        return take_range(body.chunks, 0, length)


def _bytes_already_there(destination: Path, size: int) -> int:
    """The length of a partial file worth continuing (a longer one is stale and removed)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    have = destination.stat().st_size if destination.exists() else 0
    if have > size:
        destination.unlink()
        return 0
    return have


def _write(
    chunks: Iterable[bytes],
    destination: Path,
    mode: str,
    digest: hashlib._Hash | None,
    progress: ProgressCallback | None,
) -> int:
    """Append or write the chunks to `destination`; the number of bytes written."""
    written = 0
    with destination.open(mode + "b") as handle:
        for chunk in chunks:
            if not chunk:
                continue
            handle.write(chunk)
            written += len(chunk)
            if digest is not None:
                digest.update(chunk)
            if progress is not None:
                progress(len(chunk))
    return written


def fetch_to_file(
    open_body: OpenBody,
    what: str,
    file: RemoteFile,
    destination: Path,
    progress: ProgressCallback | None = None,
    hand_over: HandOver | None = None,
) -> str | None:
    """Write `file` to `destination`, continuing after the bytes already there (HTTP Range).

    Returns the sha256 computed while the whole file streamed (None when it was resumed,
    handed over, or the listing names no sha256), so verification need not read it back.
    """
    have = _bytes_already_there(destination, file.size)
    if have == file.size and destination.exists():
        return None
    with open_body({"Range": f"bytes={have}-"} if have else {}) as body:
        if hand_over is not None and hand_over(body):
            return None
        if body.status == 416 or (body.status == 206 and not _starts_at(body, have)):
            destination.unlink(missing_ok=True)  # the partial does not match the file: restart
            raise TransientRemoteError(f"{what}: partial download did not match; restarting")
        resumed = body.status == 206
        digest = hashlib.sha256() if file.sha256 and not resumed else None
        written = _write(body.chunks, destination, "a" if resumed else "w", digest, progress)
    received = written + (have if resumed else 0)
    if received > file.size:
        destination.unlink(missing_ok=True)
        raise TransientRemoteError(
            f"{what}: server sent {received} bytes, listing says {file.size}"
        )
    if received < file.size:
        raise TransientRemoteError(
            f"{what}: connection ended after {received} of {file.size} bytes"
        )
    return digest.hexdigest() if digest is not None else None
