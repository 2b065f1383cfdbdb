"""Where and how commands print: results to stdout, logs and progress to stderr.

Rich styling only when the stream is a terminal (Rich's own detection, `NO_COLOR` honoured);
`--json` prints exactly one JSON document on stdout.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class GlobalOptions:
    """Options given before the subcommand (`weightlib -v …`)."""

    verbose: bool = False
    quiet: bool = False
    json_printed: bool = False
    """Set once a JSON document went to stdout, so a failure does not print a second one."""


OPTIONS = GlobalOptions()


def stdout_console() -> Console:
    """A Rich console on stdout for human-readable results."""
    from rich.console import Console

    class ResultConsole(Console):
        def on_broken_pipe(self) -> None:
            """Let `main` end quietly like other tools (Rich would exit 1)."""
            raise BrokenPipeError

    return ResultConsole(file=sys.stdout, highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    """A Rich console on stderr for logs and progress."""
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def stderr_is_terminal() -> bool:
    """True when progress may be drawn as a live bar (stderr is a TTY)."""
    return sys.stderr.isatty()


def print_json(document: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()
    OPTIONS.json_printed = True


def print_line(text: str) -> None:
    """Print one plain result line on stdout (no markup interpretation)."""
    sys.stdout.write(text + "\n")


def log(message: str) -> None:
    """An informational line on stderr, suppressed by `-q`."""
    if not OPTIONS.quiet:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def warn(message: str) -> None:
    """A warning line on stderr (shown even with `-q`)."""
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def format_bytes(n: int) -> str:
    """Binary units with one decimal, e.g. `86.7 MiB`."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@contextlib.contextmanager
def byte_progress_bar(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A transient Rich bar on stderr counting bytes (size, speed, time); yields `set_done(n)`.

    For terminals only: callers check `stderr_is_terminal()` and print plain lines otherwise.
    """
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn(label),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr_console(), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda done: progress.update(task, completed=done)
