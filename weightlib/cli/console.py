"""Where text goes: the global flags, Rich consoles on stdout/stderr, and log lines on stderr.

Rich styling only when the stream is a terminal (Rich's own detection, `NO_COLOR` honoured).
Results go to stdout (see `output`); logs, warnings and progress go to stderr.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class GlobalOptions:
    """Flags every command shares: `-v`, `-q` and `--json`, given before or after the command
    name (the callbacks in `params` set them; `-v` clears `quiet` whatever the order)."""

    verbose: bool = False
    quiet: bool = False
    json: bool = False
    """`--json` was given: `output.emit` prints the JSON document instead of human text."""
    json_printed: bool = False
    """Set once a JSON document went to stdout, so a failure does not print a second one."""


OPTIONS = GlobalOptions()


def stdout_console() -> Console:
    """A Rich console on stdout for human-readable results (tables)."""
    # start-up: rich.console costs ~25 ms; only commands that draw with Rich pay for it
    from rich.console import Console

    class ResultConsole(Console):
        def on_broken_pipe(self) -> None:
            """Let `main` end quietly like other tools (Rich would exit 1)."""
            raise BrokenPipeError

    return ResultConsole(file=sys.stdout, highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    """A Rich console on stderr for progress bars."""
    # start-up: rich.console costs ~25 ms; only commands that draw with Rich pay for it
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def stderr_is_terminal() -> bool:
    """True when progress may be drawn as a live bar (stderr is a TTY)."""
    return sys.stderr.isatty()


def log(message: str) -> None:
    """An informational line on stderr, suppressed by `-q`."""
    if not OPTIONS.quiet:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def warn(message: str) -> None:
    """A warning line on stderr (shown even with `-q`)."""
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()
