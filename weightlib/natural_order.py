"""Natural order of file names: `model-2-of-12` before `model-10-of-12`, as servers load shards."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

_DIGITS = re.compile(r"(\d+)")


def natural_sort_key(path: str | os.PathLike[str]) -> tuple[object, ...]:
    """Sort key on the base name where digit runs compare as integers.

    `model-2-of-12` sorts before `model-10-of-12`. Text and digit runs alternate at fixed
    positions, so keys always compare; the full path breaks ties (`01` vs `1`).
    """
    text = os.fspath(path)
    parts = _DIGITS.split(os.path.basename(text))
    key = tuple(int(p) if i % 2 and p.isdecimal() else p for i, p in enumerate(parts))
    return (key, text)


def natural_sorted(paths: Iterable[str]) -> list[str]:
    """`paths` sorted by `natural_sort_key`."""
    return sorted(paths, key=natural_sort_key)
