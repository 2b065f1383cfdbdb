"""Glob patterns over repository paths (`--include`, `--exclude`, vLLM's allow/ignore lists)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable


def matches_any(path: str, patterns: Iterable[str], *, base_name: bool = False) -> bool:
    """True when a glob matches the whole relative path, or with `base_name` its last part too.

    Case-sensitive, as paths are; `*` also matches `/`, as in the hub clients' own filters.
    """
    name = path.rsplit("/", 1)[-1]
    return any(
        fnmatch.fnmatchcase(path, p) or (base_name and fnmatch.fnmatchcase(name, p))
        for p in patterns
    )
