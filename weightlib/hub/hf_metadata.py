"""Complete a Hugging Face listing that a mirror or proxy answered without sizes or content ids.

`repo_info(files_metadata=True)` gives every file's size, git blob id and LFS sha256 on the hub;
some servers drop them (they strip `blobs=true`). What is missing is filled, in order, from the
tree listing (`list_repo_tree`, which such proxies often answer in full) and else from each
file's own metadata, as the client reads it: `HEAD` of its resolve URL (`X-Linked-Size` /
`Content-Length`, `X-Linked-Etag` / `ETag`, `X-Repo-Commit`, relative redirects followed), or a
0-byte ranged GET where `HEAD` is refused (405). An ETag that is a sha256 or a git blob id is
checked after download; any other is only a name, and the file is reported unverified.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from ..errors import RemoteError

HEX64 = re.compile(r"[0-9a-f]{64}")
METADATA_WORKERS = 8
"""Files whose metadata is asked for at the same time (one HEAD each)."""


@dataclass(frozen=True)
class Entry:
    """One listed file with what the server said of it so far (None: not said)."""

    path: str
    size: int | None = None
    sha256: str | None = None
    blob_id: str | None = None

    @property
    def complete(self) -> bool:
        """True when size and a content id are known."""
        return self.size is not None and (self.sha256 or self.blob_id) is not None

    def merged(self, size: int | None, sha256: str | None, blob_id: str | None) -> Entry:
        """This entry with the fields it lacks taken from another answer."""
        return replace(
            self,
            size=self.size if self.size is not None else size,
            sha256=self.sha256 or sha256,
            blob_id=self.blob_id or blob_id,
        )


def from_sibling(sibling: Any) -> Entry:
    """An entry from the client's `RepoSibling` (LFS sha256 as attribute or dict)."""
    lfs = sibling.lfs
    sha256 = getattr(lfs, "sha256", None) if lfs is not None else None
    if sha256 is None and isinstance(lfs, dict):
        sha256 = lfs.get("sha256")
    size = sibling.size if isinstance(sibling.size, int) else None
    return Entry(sibling.rfilename, size, sha256, sibling.blob_id or None)


def ids_from_etag(etag: str | None) -> tuple[str | None, str | None]:
    """(sha256, blob id) from a normalised ETag: a 64-hex one is the content's sha256 (the hub's
    LFS files), anything else its name (a git blob sha1 on the hub, opaque on other servers)."""
    if not etag:
        return None, None
    if HEX64.fullmatch(etag.lower()):
        return etag.lower(), None
    return None, etag


def fill_from_tree(entries: list[Entry], tree: Iterable[Any]) -> list[Entry]:
    """Entries completed from the client's `list_repo_tree` items (folders skipped)."""
    known = {}
    for item in tree:
        if getattr(item, "blob_id", None) is None and getattr(item, "size", None) is None:
            continue  # a folder, or an entry that says nothing
        lfs = getattr(item, "lfs", None)
        known[item.path] = (item.size, getattr(lfs, "sha256", None), item.blob_id)
    return [e if e.complete or e.path not in known else e.merged(*known[e.path]) for e in entries]


def fill_from_heads(
    entries: list[Entry], head: Callable[[str], tuple[int | None, str | None]]
) -> list[Entry]:
    """Entries completed from each incomplete file's own metadata, `head(path)` → (size, etag),
    asked for in parallel."""
    missing = [e for e in entries if not e.complete]
    if not missing:
        return entries
    with ThreadPoolExecutor(METADATA_WORKERS, thread_name_prefix="weightlib-head") as pool:
        answers = dict(pool.map(lambda e: (e.path, head(e.path)), missing))
    completed = []
    for entry in entries:
        if entry.path in answers:
            size, etag = answers[entry.path]
            entry = entry.merged(size, *ids_from_etag(etag))
        completed.append(entry)
    return completed


def unnamed_blob_id(commit: str, path: str) -> str:
    """A cache name for a file the server gives no id for: unique to the commit and path."""
    return "weightlib-" + hashlib.sha256(f"{commit}/{path}".encode()).hexdigest()


def require_sizes(entries: list[Entry], what: str) -> None:
    """Refuse (exit 5) a listing whose files' sizes stay unknown after every source was asked."""
    unknown = [e.path for e in entries if e.size is None]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise RemoteError(f"{what}: the server gives no size for {len(unknown)} file(s): {shown}")
