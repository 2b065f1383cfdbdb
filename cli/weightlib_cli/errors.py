"""The one place where failures become an `error: …` line on stderr and an exit code."""

from __future__ import annotations

import errno
import sys
import traceback
from typing import Any

from weightlib.errors import WeightlibError

from .output import OPTIONS

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_AUTH = 4
EXIT_REMOTE = 5
EXIT_INTEGRITY = 6
EXIT_LOCK_TIMEOUT = 7
EXIT_RESOURCES = 8
EXIT_INTERRUPTED = 130
"""128 + SIGINT (Ctrl-C)."""
EXIT_TERMINATED = 143
"""128 + SIGTERM (`kill`, `docker stop`, a pod's termination)."""
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what `cat` reports when its reader closes the pipe."""

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 2 usage or invalid input; 3 not found; 4 authentication/authorization; "
    "5 network/remote failure; 6 integrity (corrupt, checksum, missing shards); "
    "7 lock wait timed out; 8 not enough disk space or memory."
)

_ERRNO_EXIT = {
    errno.ENOENT: EXIT_NOT_FOUND,
    errno.ENOTDIR: EXIT_NOT_FOUND,
    errno.EACCES: EXIT_AUTH,
    errno.EPERM: EXIT_AUTH,
    errno.ENOSPC: EXIT_RESOURCES,
    errno.ENOMEM: EXIT_RESOURCES,
    errno.EDQUOT: EXIT_RESOURCES,
    errno.EIO: EXIT_INTEGRITY,
}


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwind like Ctrl-C (locks released, terminal restored), exit 143."""


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code for an exception that reached the top of a command."""
    if isinstance(exc, WeightlibError):
        return exc.exit_code
    if isinstance(exc, Terminated):
        return EXIT_TERMINATED
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, OSError) and exc.errno in _ERRNO_EXIT:
        return _ERRNO_EXIT[exc.errno]
    return EXIT_INTERNAL


def one_line_message(exc: BaseException) -> str:
    """The exception as one line: OS errors name their file, newlines are folded."""
    if isinstance(exc, Terminated):
        return "terminated (SIGTERM); partial downloads are kept and resume on the next run"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted; partial downloads are kept and resume on the next run"
    if isinstance(exc, OSError) and not isinstance(exc, WeightlibError) and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    if not isinstance(exc, (WeightlibError, OSError)):
        text = f"internal error ({type(exc).__name__}): {text}"
    return " ".join(text.split())


def report(exc: BaseException) -> int:
    """Print `error: …` (and the traceback with `--verbose`); return the exit code."""
    if OPTIONS.verbose:
        traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.write(f"error: {one_line_message(exc)}\n")
    sys.stderr.flush()
    return exit_code_for(exc)


def report_usage_error(exc: Any) -> int:
    """Print a command-line usage error (from Typer's parser) as one `error:` line; return 2."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    if type(exc).__name__ == "NoArgsIsHelpError":  # `weightlib` alone: the help is the message
        sys.stderr.write(message.rstrip() + "\n")
        return EXIT_USAGE
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    sys.stderr.write(f"error: {' '.join(message.split())}{hint}\n")
    sys.stderr.flush()
    code = getattr(exc, "exit_code", EXIT_USAGE)
    return code if isinstance(code, int) and code else EXIT_USAGE
