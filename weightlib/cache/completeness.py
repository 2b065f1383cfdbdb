"""Is a revision on disk whole? Checked from metadata only: index files, links, recorded sizes.

A revision is incomplete when an index names a shard the folder lacks, a link's blob is gone, or a
file's size differs from the listing its download recorded. An index is only held to its shards
when the folder has weights of its format (or none at all): a download that chose safetensors may
keep `pytorch_model.bin.index.json` without the `.bin` shards it names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import IntegrityError
from ..index import read_index_file

INDEX_SUFFIX = ".index.json"


def _weight_suffix(index_name: str) -> str:
    """`.safetensors` for `model.safetensors.index.json`, `.bin` for `…bin.index.json`."""
    stem = index_name[: -len(INDEX_SUFFIX)]
    return stem[stem.rfind(".") :] if "." in stem else ""


def _indexes_to_check(files: Mapping[str, int]) -> list[str]:
    """The root-level index files whose format the folder holds weights of (all, if none)."""
    indexes = [name for name in files if "/" not in name and name.endswith(INDEX_SUFFIX)]
    has = {
        suffix
        for suffix in {_weight_suffix(i) for i in indexes}
        if any(n.endswith(suffix) for n in files if not n.endswith(INDEX_SUFFIX))
    }
    return [i for i in indexes if not has or _weight_suffix(i) in has]


def missing_shards(folder: Path, files: Mapping[str, int]) -> list[str]:
    """Shards an index in `folder` names that are not among `files` (relative path → size).

    An unreadable or unsafe index counts itself as missing: what it should name is unknown.
    """
    missing: set[str] = set()
    for index in _indexes_to_check(files):
        try:
            shards = read_index_file(folder / index).shards
        except (IntegrityError, OSError):
            missing.add(index)
            continue
        missing.update(shard for shard in shards if shard not in files)
    return sorted(missing)


def revision_problems(
    folder: Path,
    files: Mapping[str, int],
    dangling: Sequence[str],
    recorded: Mapping[str, int] | None,
) -> tuple[list[str], list[str]]:
    """(missing, wrong size) for one revision: index-named shards and dangling links absent;
    present files whose size differs from `recorded` (the download's listing), if any."""
    missing = sorted(set(missing_shards(folder, files)) | set(dangling))
    wrong = sorted(
        path for path, size in files.items() if recorded and recorded.get(path, size) != size
    )
    return missing, wrong
