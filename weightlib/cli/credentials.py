"""Where a hub token given on the command line comes from: `--token T`, `--token -`, `--token-file`.

`--token T` puts the token in the process's argv, which every user can read (`ps`,
`/proc/PID/cmdline`); `--token -` (one line from stdin) and `--token-file PATH` keep it out.
Every command resolves its options through `resolve_token` and hands the library a plain
`str | None` (None: the library's default, `HF_TOKEN` / `MODELSCOPE_API_TOKEN` or the stored login).
Error messages never contain the token.
"""

from __future__ import annotations

import getpass
import sys

from weightlib.errors import InvalidInputError

STDIN = "-"
"""The `--token` value that means: read the token from stdin."""

MAX_TOKEN_LINE = 64 * 1024
"""Bytes read at most for the line holding the token (a token is far shorter)."""


def resolve_token(token: str | None, token_file: str | None) -> str | None:
    """The token from `--token T`, `--token -` (stdin) or `--token-file PATH`; None if neither.

    Raises InvalidInputError (exit 2) when both options are given, the file is missing or
    unreadable, or the token read is empty or not printable ASCII.
    """
    if token is not None and token_file is not None:
        raise InvalidInputError("--token and --token-file cannot be used together; give one")
    if token_file is not None:
        return _checked(_read_token_file(token_file), f"--token-file {token_file}")
    if token == STDIN:
        return _checked(_read_token_stdin(), "--token -")
    return token


def _checked(token: str, origin: str) -> str:
    """`token` stripped; refuse an empty one or one an HTTP header cannot carry."""
    token = token.strip()
    if not token:
        where = "stdin" if origin == "--token -" else "the file's first line"
        raise InvalidInputError(f"{origin}: no token (empty input on {where})")
    if not (token.isascii() and token.isprintable()):
        raise InvalidInputError(
            f"{origin}: not a token (it contains control or non-ASCII characters)"
        )
    return token


def _read_token_file(path: str) -> str:
    """The first line of `path`; any failure to read it is an input error naming the path."""
    try:
        with open(path, "rb") as handle:
            data = handle.readline(MAX_TOKEN_LINE)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InvalidInputError(f"--token-file {path}: cannot read the token: {reason}") from None
    return _decode(data, f"--token-file {path}")


def _read_token_stdin() -> str:
    """One line from stdin: prompted without echo on a terminal, else read as it comes."""
    stream = sys.stdin
    if stream is None or stream.closed:
        raise InvalidInputError("--token -: stdin is closed; pipe the token into it")
    try:
        if stream.isatty():
            try:
                return getpass.getpass("Hub token: ")
            except EOFError:
                return ""
        buffer = getattr(stream, "buffer", None)
        if buffer is None:  # a text-only stream (embedding, tests)
            return stream.readline(MAX_TOKEN_LINE)
        return _decode(buffer.readline(MAX_TOKEN_LINE), "--token -")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InvalidInputError(f"--token -: cannot read the token from stdin: {reason}") from None


def _decode(data: bytes, origin: str) -> str:
    """`data` as UTF-8 text; anything else is not a token (exit 2, never echoing the bytes)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{origin}: not a token (not UTF-8 text)") from None
