"""Progress on stderr for every command: Rich bars on a terminal, plain lines (or none) otherwise.

A command asks `byte_progress(...)` for a `ByteProgress` (None with `-q`, or off a terminal when
it has no plain lines). The library then reports into it from any thread: the `DownloadProgress`
hooks (`start`, `advance`, `file_done`, `message`, `close`), or the callbacks `add(nbytes)` and
`update(done, total)` inside `with running(progress, total):`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from .console import OPTIONS, log, stderr_console, stderr_is_terminal

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

REFRESH_SECONDS = 0.25
"""Redraw bars at least this often ourselves: hf_transfer holds the GIL, so Rich's thread can't."""


@dataclass
class Counts:
    """What a progress display knows: bytes and items, done and in total, and when it began."""

    total: int = 0
    done: int = 0
    items: int = 0
    items_done: int = 0
    began: float = field(default_factory=time.monotonic)


class Item(Protocol):
    """One unit of work with a name and a size in bytes (a `RemoteFile`, for downloads)."""

    @property
    def path(self) -> str:
        """The item's name, as reported to `advance` and `file_done`."""
        ...

    @property
    def size(self) -> int:
        """The item's bytes: the total of its own bar."""
        ...


class Display(Protocol):
    """How progress is drawn: `RichBars` on a terminal, `PlainLines` otherwise.

    `ByteProgress` calls `begin`, `advanced` and `item_done` under its lock; `message` and `end`
    only print (Rich's console and `log` are safe from any thread).
    """

    def begin(self, counts: Counts, sizes: Mapping[str, int]) -> None:
        """Work starts: `counts` holds the totals, `sizes` each item's bytes."""

    def advanced(self, counts: Counts, item: str | None, nbytes: int) -> None:
        """`nbytes` more are done (of `item`, if named); `counts` is already updated."""

    def item_done(self, item: str) -> None:
        """`item` is complete."""

    def message(self, text: str) -> None:
        """Show a log line without tearing the display."""

    def end(self, counts: Counts) -> None:
        """Work stopped, finished or not."""


class Cadence(Protocol):
    """When `PlainLines` prints its next line."""

    def reset(self, counts: Counts) -> None:
        """Start over: work begins now."""

    def due(self, counts: Counts) -> bool:
        """True when a line is due now (and counted as printed)."""


class Every:
    """Plain-line cadence: due once `seconds` have passed since the previous line."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.last = 0.0

    def reset(self, counts: Counts) -> None:
        """The first line is due `seconds` after work began."""
        self.last = counts.began

    def due(self, counts: Counts) -> bool:
        """True (and the clock restarted) once `seconds` have passed since the last line."""
        now = time.monotonic()
        if now - self.last < self.seconds:
            return False
        self.last = now
        return True


class Steps:
    """Plain-line cadence: due each time the share done reaches the next multiple of `percent`."""

    def __init__(self, percent: int = 10) -> None:
        self.percent = percent
        self.next = percent

    def reset(self, counts: Counts) -> None:
        """The first line is due at `percent` %."""
        self.next = self.percent

    def due(self, counts: Counts) -> bool:
        """True once the share done reaches the next step; the step after is then due."""
        share = int(percent_done(counts))
        if share < self.next:
            return False
        self.next = share // self.percent * self.percent + self.percent
        return True


def percent_done(counts: Counts) -> float:
    """Bytes done as a percentage of the total (100 when there is nothing to do)."""
    return 100.0 if counts.total == 0 else 100.0 * counts.done / counts.total


def every_interval() -> Every:
    """The download cadence: every WEIGHTLIB_PROGRESS_INTERVAL seconds (default 5)."""
    return Every(float(os.environ.get("WEIGHTLIB_PROGRESS_INTERVAL", "5")))


@dataclass
class PlainLines:
    """Progress as `log` lines on stderr: `line(counts)` whenever `cadence` says it is due.

    `opening` is printed by `start` and `line` once more by `close` (if `closing`), both only
    when there are items to do.
    """

    line: Callable[[Counts], str]
    cadence: Cadence
    opening: Callable[[Counts], str] | None = None
    closing: bool = False

    def begin(self, counts: Counts, sizes: Mapping[str, int]) -> None:
        """Restart the cadence; print the opening line if there are items."""
        self.cadence.reset(counts)
        if self.opening is not None and counts.items:
            log(self.opening(counts))

    def advanced(self, counts: Counts, item: str | None, nbytes: int) -> None:
        """Print `line` when the cadence says it is due."""
        if self.cadence.due(counts):
            log(self.line(counts))

    def item_done(self, item: str) -> None:
        """Nothing to draw: `line` reads finished items from `Counts`."""

    def message(self, text: str) -> None:
        """A log line like any other."""
        log(text)

    def end(self, counts: Counts) -> None:
        """The closing line, if asked for and there were items."""
        if self.closing and counts.items:
            log(self.line(counts))


class RichBars:
    """Rich bars on stderr (bytes, speed, time left): the total, and each item in flight."""

    total_task: TaskID
    """The bar of the total, added by `begin`."""

    def __init__(self, label: str, *, transient: bool, per_item: bool) -> None:
        self.label = label
        self.per_item = per_item
        self.progress = _rich_progress(transient)
        self.tasks: dict[str, TaskID] = {}
        self.sizes: dict[str, int] = {}
        self.last_refresh = 0.0

    def begin(self, counts: Counts, sizes: Mapping[str, int]) -> None:
        """Start drawing, with the bar of the total."""
        self.sizes = dict(sizes)
        self.progress.start()
        self.total_task = self.progress.add_task(self.label, total=counts.total)

    def advanced(self, counts: Counts, item: str | None, nbytes: int) -> None:
        """Move the item's bar and the total's; redraw at least every REFRESH_SECONDS."""
        if self.per_item and item is not None:
            self.progress.advance(self._task(item), nbytes)
        self.progress.advance(self.total_task, nbytes)
        now = time.monotonic()
        if now - self.last_refresh > REFRESH_SECONDS:
            self.last_refresh = now
            self.progress.refresh()

    def _task(self, item: str) -> TaskID:
        """The bar of `item`, added the first time it makes progress."""
        if item not in self.tasks:
            self.tasks[item] = self.progress.add_task(item, total=self.sizes.get(item))
        return self.tasks[item]

    def item_done(self, item: str) -> None:
        """Remove the finished item's bar (the total's stays)."""
        task = self.tasks.pop(item, None)
        if task is not None:
            self.progress.remove_task(task)

    def message(self, text: str) -> None:
        """Print above the bars, verbatim."""
        self.progress.console.print(text, markup=False, highlight=False)

    def end(self, counts: Counts) -> None:
        """Stop drawing; a transient display is erased, a lasting one stays on screen."""
        self.progress.stop()


def _rich_progress(transient: bool) -> Progress:
    """Rich's progress with the columns every weightlib bar shows."""
    # start-up: rich.progress costs ~40 ms; only a terminal that shows bars needs it
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=transient,
    )


class ByteProgress:
    """Counts bytes and items reported from any thread and draws them through one `Display`."""

    def __init__(self, display: Display) -> None:
        self.display = display
        self.counts = Counts()
        self.lock = threading.Lock()

    def start(self, files: Sequence[Item], total_bytes: int) -> None:
        """Begin: `files` (possibly none) and the bytes to do in total."""
        with self.lock:
            self.counts = Counts(total=total_bytes, items=len(files))
            self.display.begin(self.counts, {f.path: f.size for f in files})

    def advance(self, path: str | None, nbytes: int) -> None:
        """`nbytes` more done (negative when a file restarts), of the item `path` if any."""
        with self.lock:
            self.counts.done += nbytes
            self.display.advanced(self.counts, path, nbytes)

    def add(self, nbytes: int) -> None:
        """Callback form of `advance` without an item: `nbytes` more done."""
        self.advance(None, nbytes)

    def update(self, done: int, total: int) -> None:
        """Callback form for cumulative reports: `done` of `total` bytes so far."""
        with self.lock:
            self.counts.total = total
            delta, self.counts.done = done - self.counts.done, done
            self.display.advanced(self.counts, None, delta)

    def file_done(self, path: str) -> None:
        """The item `path` is complete."""
        with self.lock:
            self.counts.items_done += 1
            self.display.item_done(path)

    def message(self, text: str) -> None:
        """A log line that does not tear the bars."""
        self.display.message(text)

    def close(self) -> None:
        """Stop drawing (a transient bar disappears); plain lines may print a last line."""
        self.display.end(self.counts)


def byte_progress(
    label: str,
    plain: PlainLines | Callable[[], PlainLines] | None = None,
    *,
    transient: bool = True,
    per_item: bool = False,
) -> ByteProgress | None:
    """Progress for one command: None with `-q`; on a terminal Rich bars (the total labelled
    `label`, one bar per item if `per_item`); else `plain` lines (built only now if a factory)."""
    if OPTIONS.quiet:
        return None
    if stderr_is_terminal():
        return ByteProgress(RichBars(label, transient=transient, per_item=per_item))
    if plain is None:
        return None
    return ByteProgress(plain() if callable(plain) else plain)


@contextmanager
def running(progress: ByteProgress | None, total: int) -> Iterator[None]:
    """Start `progress` for `total` bytes and close it on the way out; None does nothing."""
    if progress is None:
        yield
        return
    progress.start((), total)
    try:
        yield
    finally:
        progress.close()
