"""How the command line writes sizes, rates and durations, and how it fits a line of fields.

One convention everywhere (README, "Units"): sizes in binary units (B, KiB, MiB, GiB, TiB) with
one decimal, rates in the same units per second (`MiB/s`, `GiB/s`).
"""

from __future__ import annotations

from collections.abc import Sequence

SUMMARY_WIDTH = 80
"""Result lines longer than this break at a field boundary (`fit_fields`)."""


def format_bytes(n: int) -> str:
    """Binary units with one decimal, e.g. `86.7 MiB`; plain `n B` below 1 KiB."""
    if abs(n) < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if abs(value) < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} TiB"


def format_rate(bytes_per_second: float) -> str:
    """A rate in the units of `format_bytes`, per second: `812.3 KiB/s`, `2.1 GiB/s`."""
    return f"{format_bytes(int(bytes_per_second))}/s"


def format_progress(done: int, total: int) -> str:
    """Bytes done of a total in the total's unit, e.g. `2.0/9.0 MiB` (`512/900 B`)."""
    unit, scale = _unit_of(total)
    if scale == 1:
        return f"{done}/{total} B"
    return f"{done / scale:.1f}/{total / scale:.1f} {unit}"


def _unit_of(n: int) -> tuple[str, int]:
    """The unit `format_bytes` writes `n` in, with its size in bytes."""
    scale = 1
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 * scale:
            return unit, scale
        scale *= 1024
    return "TiB", scale


def format_duration(seconds: float) -> str:
    """A time left as `h:mm:ss` (`0:00:07`), whole seconds rounded up."""
    whole = int(-(-seconds // 1))
    hours, rest = divmod(max(whole, 0), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def fit_fields(head: str, fields: Sequence[str], width: int = SUMMARY_WIDTH) -> list[str]:
    """`head` and then `fields`, comma-separated, on lines of at most `width` characters.

    A line breaks only between two fields (after the comma); the lines after the first are
    indented by two spaces. A field wider than `width` keeps its line whole.
    """
    words = [f"{field}," for field in fields[:-1]] + list(fields[-1:])
    lines = [head]
    for word in words:
        if lines[-1].strip() and len(lines[-1]) + 1 + len(word) > width:
            lines.append(" ")
        lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
    return lines
