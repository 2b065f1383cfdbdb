"""The one output sink for results: `emit` prints a command's JSON document or its human text.

Results go to stdout; logs, warnings and progress go to stderr (`console`, `progress`). `--json`
prints exactly one JSON document on stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from .console import OPTIONS, log, stderr_is_terminal, warn

# OPTIONS, log, warn and stderr_is_terminal are re-exported: prefetch/status import them from here
__all__ = [
    "OPTIONS",
    "emit",
    "format_bytes",
    "log",
    "print_json",
    "print_line",
    "stderr_is_terminal",
    "warn",
]

Document = TypeVar("Document")


@runtime_checkable
class HasJson(Protocol):
    """A library result that knows its own JSON form (`DownloadResult`, `DummyResult`, …)."""

    def to_json(self) -> Any:
        """The result as JSON-ready data."""
        ...


def emit(document: Document, render: Callable[[Document], None]) -> None:
    """Print a command's result: its JSON form with `--json`, else `render(document)` as text.

    `document` is a JSON-ready dict or a library result with `to_json()`; `render` gets it as is.
    """
    if OPTIONS.json:
        print_json(document.to_json() if isinstance(document, HasJson) else document)
    else:
        render(document)


def print_json(document: Any) -> None:
    """Print one JSON document on stdout and remember it (a failure then prints no second one)."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()
    OPTIONS.json_printed = True


def print_line(text: str) -> None:
    """Print one plain result line on stdout (no markup interpretation)."""
    sys.stdout.write(text + "\n")


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
