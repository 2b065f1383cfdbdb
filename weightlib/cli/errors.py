"""The one place where failures become an `error: …` line on stderr and an exit code."""

from __future__ import annotations

import errno
import sys
import traceback
from collections.abc import Callable
from typing import Any

from weightlib.errors import EXIT_CODES, WeightlibError

from .console import OPTIONS

_CODE = {entry.name: entry.code for entry in EXIT_CODES}

EXIT_INTERNAL = _CODE["internal"]
EXIT_USAGE = _CODE["usage"]
EXIT_NOT_FOUND = _CODE["not-found"]
EXIT_AUTH = _CODE["auth"]
EXIT_INTEGRITY = _CODE["integrity"]
EXIT_RESOURCES = _CODE["resources"]
EXIT_INTERRUPTED = _CODE["interrupted"]
"""128 + SIGINT (Ctrl-C)."""
EXIT_TERMINATED = _CODE["terminated"]
"""128 + SIGTERM (`kill`, `docker stop`, a pod's termination)."""
EXIT_BROKEN_PIPE = _CODE["broken-pipe"]
"""128 + SIGPIPE: what `cat` reports when its reader closes the pipe."""

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


def failure_of(check: Callable[[], object]) -> WeightlibError | None:
    """The error `check()` raises (a documented one), or None: for a command that prints its
    document with the failure in `errors` before it exits with the failure's code."""
    try:
        check()
    except WeightlibError as exc:
        return exc
    return None


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
    if type(exc).__name__ == "NoArgsIsHelpError":  # `weightlib` alone: the help is the message
        sys.stderr.write(_parser_message(exc).rstrip() + "\n")
        return EXIT_USAGE
    sys.stderr.write(f"error: {usage_message(exc)}\n")
    sys.stderr.flush()
    code = getattr(exc, "exit_code", EXIT_USAGE)
    return code if isinstance(code, int) and code else EXIT_USAGE


def usage_message(exc: Any) -> str:
    """A usage error as one line, with where to read more: the `error:` line without `error: `."""
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return " ".join(_parser_message(exc).split()) + hint


def _parser_message(exc: Any) -> str:
    return str(exc.format_message() if hasattr(exc, "format_message") else exc)
