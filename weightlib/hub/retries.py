"""Retries with exponential backoff for hub requests that failed transiently (5xx, resets).

The attempts and the base delay are settings (`WEIGHTLIB_RETRIES`, `WEIGHTLIB_RETRY_BASE_DELAY`)
so a flaky mirror can be given more patience and a test a shorter wait.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import InvalidInputError, RemoteError
from .base import TransientRemoteError

T = TypeVar("T")

MAX_DELAY = 15.0
"""Seconds: the backoff stops growing here."""


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise InvalidInputError(f"{name}={os.environ[name]!r} is not a number") from None


def retry_attempts() -> int:
    """Attempts per request for transient failures (`WEIGHTLIB_RETRIES`, default 5 retries)."""
    return 1 + int(_env_float("WEIGHTLIB_RETRIES", 5))


def retry_delay(attempt: int) -> float:
    """Exponential backoff before retry `attempt` (1-based), capped at `MAX_DELAY`."""
    base = _env_float("WEIGHTLIB_RETRY_BASE_DELAY", 1.0)
    return float(min(base * 2 ** (attempt - 1), MAX_DELAY))


def with_retries(
    call: Callable[[], T],
    *,
    should_stop: Callable[[], bool] = lambda: False,
    on_retry: Callable[[TransientRemoteError], None] | None = None,
) -> T:
    """`call()`, again after a backoff while it raises TransientRemoteError.

    The last failure (or one while `should_stop()`) becomes a RemoteError (exit 5) that says
    how many attempts were made; `on_retry` hears each failure that is retried.
    """
    attempts = retry_attempts()
    attempt = 1
    while True:
        try:
            return call()
        except TransientRemoteError as exc:
            if attempt >= attempts or should_stop():
                raise RemoteError(f"{exc} (gave up after {attempt} attempts)") from None
            if on_retry is not None:
                on_retry(exc)
            time.sleep(retry_delay(attempt))
            attempt += 1
