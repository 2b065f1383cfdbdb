"""The one output sink for results: `emit` prints a command's JSON document or its human text.

Results go to stdout; logs, warnings and progress go to stderr (`console`, `progress`). `--json`
prints exactly one JSON document on stdout, and every command's document has `errors` (a list,
empty when nothing failed; `error_entry` makes one entry).

`-q` keeps on stdout only what scripts use: each command says what with `emit`'s `quiet_render`
(`download`: the path; `size`: the byte count; `silent`: nothing), or keeps its text when the
text is itself the answer (`filter`'s list: no `quiet_render`). `--json` is not changed by `-q`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from .console import OPTIONS, log, stderr_is_terminal, warn
from .errors import exit_code_for, one_line_message
from .units import format_bytes

# OPTIONS, log, warn, stderr_is_terminal and format_bytes (from `units`) are re-exported:
# commands import them from here
__all__ = [
    "OPTIONS",
    "emit",
    "error_entry",
    "format_bytes",
    "log",
    "print_json",
    "print_line",
    "silent",
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


def silent(document: object) -> None:
    """The `quiet_render` of a command whose text only reports what it did: `-q` prints nothing."""


def emit(
    document: Document,
    render: Callable[[Document], None],
    quiet_render: Callable[[Document], None] | None = None,
) -> None:
    """Print a command's result: its JSON form with `--json`, else its text.

    `document` is a JSON-ready dict or a library result with `to_json()`; a dict gets `errors`
    (empty) when it has none. The text is `render(document)`, or with `-q` `quiet_render(document)`
    (what scripts use: `silent` for nothing; None keeps `render`, for text that is the answer).
    """
    if OPTIONS.json:
        data = document.to_json() if isinstance(document, HasJson) else document
        if isinstance(data, dict) and "errors" not in data:
            data = {**data, "errors": []}
        print_json(data)
    elif OPTIONS.quiet and quiet_render is not None:
        quiet_render(document)
    else:
        render(document)


def error_entry(path: str, exc: BaseException) -> dict[str, Any]:
    """One entry of a document's `errors`, as `prefetch`, `status` and `evict` write them."""
    return {"path": path, "message": one_line_message(exc), "exit_code": exit_code_for(exc)}


def print_json(document: Any) -> None:
    """Print one JSON document on stdout and remember it (a failure then prints no second one)."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()
    OPTIONS.json_printed = True


def print_line(text: str) -> None:
    """Print one plain result line on stdout (no markup interpretation)."""
    sys.stdout.write(text + "\n")
