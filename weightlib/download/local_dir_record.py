"""What weightlib wrote into a `--local-dir`, so a later download can take back what it no longer
needs: after the repository changed (fewer or renamed shards, another revision), the folder holds
exactly the new inference set. Only files weightlib recorded are ever removed, never a user's.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from ..atomic import atomic_writer
from ..errors import IntegrityError
from ..safepath import safe_join

RECORD = Path(".cache") / "weightlib" / "downloaded.json"
"""Inside the local dir: the commit and the files the last download left there."""
CLIENT_METADATA = Path(".cache") / "huggingface" / "download"
"""The client's per-file metadata (`<path>.metadata`), removed with the file."""


def recorded_files(root: Path) -> set[str]:
    """The files the last download recorded (none when there is no readable record). Entries are
    checked like any name read back from disk: an unsafe one is dropped, never followed."""
    try:
        document = json.loads((root / RECORD).read_text(encoding="utf-8"))
        names = document["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    safe = set()
    for name in names if isinstance(names, list) else []:
        with contextlib.suppress(IntegrityError, TypeError):
            safe_join(root, name, f"{root / RECORD}")
            safe.add(name)
    return safe


def stale_files(root: Path, keep: Iterable[str]) -> list[str]:
    """Recorded files of an earlier download that this one does not have, still on disk."""
    wanted = set(keep)
    return sorted(
        name
        for name in recorded_files(root) - wanted
        if (root / name).is_file() and not (root / name).is_symlink()
    )


def remove_files(root: Path, names: Iterable[str]) -> None:
    """Remove `names` (and their client metadata); folders they leave empty go too."""
    for name in names:
        for path in (safe_join(root, name, str(root)), root / CLIENT_METADATA / f"{name}.metadata"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            _remove_empty_parents(path.parent, root)


def _remove_empty_parents(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty (or not ours to remove): stop here
            return
        folder = folder.parent


def record(root: Path, commit: str, names: Iterable[str]) -> None:
    """Write the record of this download (atomically)."""
    path = root / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path, "w", encoding="utf-8") as handle:
        json.dump({"commit": commit, "files": sorted(names)}, handle, indent=1)
        handle.write(os.linesep)
