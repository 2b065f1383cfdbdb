"""The typed errors weightlib raises; each carries the process exit code the CLI maps it to.

`EXIT_CODES` is the one table of exit codes (the same for every command); `--help`, the man page
and the README's table are generated from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple


class ExitCode(NamedTuple):
    """One process exit status: its number, a short name and what it means (inline `code`)."""

    code: int
    name: str
    meaning: str


EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(0, "ok", "success"),
    ExitCode(
        1, "internal", "internal error: a bug; rerun with `--verbose` and report the traceback"
    ),
    ExitCode(
        2,
        "usage",
        "usage error or invalid input (bad option, a file given for a folder, a missing extra, "
        "an invalid repo id or revision, an `HF_ENDPOINT` / `MODELSCOPE_ENDPOINT` that is not a "
        "URL, an empty token or a missing or unreadable `--token-file`)",
    ),
    ExitCode(3, "not-found", "not found: path, repository, revision, file, or no weight files"),
    ExitCode(
        4,
        "auth",
        "authentication or authorization: gated or private repository, bad token, unreadable file",
    ),
    ExitCode(5, "remote", "network or remote failure after retries"),
    ExitCode(
        6,
        "integrity",
        "integrity: corrupt header, checksum mismatch, index names missing files, a server or "
        "file naming an unsafe path (absolute, `..`, backslash, NUL, empty segment)",
    ),
    ExitCode(
        7,
        "lock-timeout",
        "waiting for a lock timed out, or `cache rm` found a running download holding one",
    ),
    ExitCode(
        8,
        "resources",
        "not enough resources: disk space or memory, a disk that fills up mid-download",
    ),
    ExitCode(
        130,
        "interrupted",
        "interrupted (Ctrl-C); partial files are kept and resume on the next run",
    ),
    ExitCode(
        143,
        "terminated",
        "terminated (SIGTERM); partial files are kept and resume on the next run",
    ),
    ExitCode(
        141,
        "broken-pipe",
        "stdout was closed by its reader (`weightlib … | head`), as `cat` reports it",
    ),
)
"""Every exit code of the CLI; `WeightlibError.exit_code` values come from the rows 1-8."""


class WeightlibError(Exception):
    """Base class: a one-line, user-facing message and the exit code that goes with it."""

    exit_code: int = 1


class InvalidInputError(WeightlibError, ValueError):
    """An argument or input the user gave is malformed (exit 2)."""

    exit_code = 2


class MissingExtraError(InvalidInputError):
    """A feature needs an optional extra that is not installed (exit 2).

    The message names both ways to add it: pip, and pipx (the README's install), where the
    extra's packages are injected into weightlib's own environment.
    """

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(
            f"{feature}: the optional '{extra}' extra is not installed. Install it with "
            f"pip install 'weightlib[{extra}]' or, where weightlib was installed with pipx, "
            f"pipx inject weightlib {' '.join(extra_packages(extra))} "
            f"(or pipx install --force 'weightlib[{extra}]')."
        )
        self.extra = extra


def extra_packages(extra: str) -> list[str]:
    """The distributions weightlib's `extra` adds, from the installed metadata (else `[extra]`)."""
    import importlib.metadata  # ~10 ms of start-up; read only on this error path

    try:
        requirements = importlib.metadata.requires("weightlib") or []
    except importlib.metadata.PackageNotFoundError:
        requirements = []
    marker = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")
    names = []
    for requirement in requirements:
        spec, _, markers = requirement.partition(";")
        found = marker.search(markers)
        if found and found.group(1) == extra:
            names.append(re.split(r"[\s\[<>=!~;(]", spec.strip(), maxsplit=1)[0])
    return names or [extra]


class NotFoundError(WeightlibError, FileNotFoundError):
    """A path, repository, revision, file or weight set does not exist (exit 3)."""

    exit_code = 3


class NoWeightFilesError(NotFoundError):
    """A model folder or repository holds no weight files of the requested format (exit 3)."""


class AuthError(WeightlibError, PermissionError):
    """Authentication or authorization failed: gated, private, bad token, unreadable (exit 4)."""

    exit_code = 4


class RemoteError(WeightlibError):
    """The network or the remote side failed after retries (exit 5)."""

    exit_code = 5


class IntegrityError(WeightlibError):
    """Corrupt or incomplete data: bad header, checksum mismatch, missing shards (exit 6)."""

    exit_code = 6


class CorruptHeaderError(IntegrityError):
    """A safetensors file's header is malformed; the message names the file and the reason."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: corrupt safetensors header: {reason}")
        self.path = path
        self.reason = reason


class MissingShardsError(IntegrityError):
    """An index names weight files that are not present (exit 6)."""

    def __init__(self, index_file: object, missing: Iterable[str]) -> None:
        self.missing = sorted(missing)
        shown = ", ".join(self.missing[:5]) + (" …" if len(self.missing) > 5 else "")
        super().__init__(
            f"{index_file}: {len(self.missing)} weight file(s) named in the index are missing: "
            f"{shown}"
        )
        self.index_file = index_file


class ChecksumMismatchError(IntegrityError):
    """A downloaded file's hash differs from the hub's (exit 6)."""


class LockTimeoutError(WeightlibError, TimeoutError):
    """Waiting for another process's lock took longer than allowed (exit 7)."""

    exit_code = 7


class ResourceError(WeightlibError):
    """Not enough disk space or memory for the operation (exit 8)."""

    exit_code = 8
