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
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from .console import OPTIONS, log, stderr_console, stderr_is_terminal
from .units import format_bytes, format_duration, format_progress, format_rate

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult

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


RATE_WINDOW = 10.0
"""Seconds of history a bar's speed is averaged over."""

TERMINAL_MARGIN = 2
"""Columns left free at the right of every bar: the terminal echoes `^C` there without wrapping
the line, so erasing the bars on the way out leaves no stale copy of the first one."""
BAR_MIN, BAR_MAX, NAME_MIN = 10, 40, 10
SPEED_WIDTH = len("1023.9 KiB/s")
ETA_WIDTH = len("10:00:00")
ETA_LIMIT = 100 * 3600
"""A time left this long or longer is shown as unknown (`-:--:--`): it fits ETA_WIDTH."""


class Rate:
    """Bytes per second over the last RATE_WINDOW seconds, from (time, bytes done) samples.

    `began`: when the work started with 0 bytes done; None when unknown (an item's bar, added at
    its first bytes), and the first sample is then the start.
    """

    def __init__(self, began: float | None) -> None:
        self.samples: deque[tuple[float, int]] = deque([] if began is None else [(began, 0)])

    def add(self, now: float, done: int) -> None:
        """Record `done` bytes at `now`; samples older than the window are dropped."""
        self.samples.append((now, done))
        while len(self.samples) > 2 and self.samples[1][0] < now - RATE_WINDOW:
            self.samples.popleft()

    def per_second(self, now: float) -> float | None:
        """The rate up to `now` (it decays while nothing arrives); None before any progress."""
        if len(self.samples) < 2:
            return None
        (start, first), (_, last) = self.samples[0], self.samples[-1]
        if now <= start or last <= first:
            return None
        return (last - first) / (now - start)


@dataclass
class Bar:
    """One line of the bars: a name, bytes done of a total (None: unknown), and their rate."""

    name: str
    total: int | None
    rate: Rate
    done: int = 0

    def advance(self, nbytes: int, now: float) -> None:
        """`nbytes` more done (fewer, when a file restarts) at `now`."""
        self.done += nbytes
        self.rate.add(now, self.done)

    def size_text(self) -> str:
        """`2.0/9.0 MiB`, or the bytes done alone when the total is unknown."""
        if self.total is None:
            return format_bytes(self.done)
        return format_progress(self.done, self.total)

    def widest_size(self) -> int:
        """The widest `size_text` this bar can show (done never exceeds the total's width)."""
        if self.total is None:
            return len(self.size_text())
        return len(format_progress(self.total, self.total))


@dataclass(frozen=True)
class BarLayout:
    """Column widths of the bars on one terminal width; `speed`/`eta`: whether they are shown."""

    name: int
    bar: int
    size: int
    speed: bool
    eta: bool

    @property
    def width(self) -> int:
        """Columns a line takes (one space between columns)."""
        extra = (SPEED_WIDTH + 1 if self.speed else 0) + (ETA_WIDTH + 1 if self.eta else 0)
        return self.name + 1 + self.bar + 1 + self.size + extra


def fit_bars(width: int, name: int, size: int) -> BarLayout:
    """The layout of bars on `width` columns whose widest name and size text are `name` and
    `size`: everything if it fits, else without the time left, then without the speed, then
    with names cut short (never below NAME_MIN); the bar takes what is left, up to BAR_MAX."""
    room = width - TERMINAL_MARGIN
    for speed, eta in ((True, True), (True, False), (False, False)):
        layout = BarLayout(name, BAR_MIN, size, speed, eta)
        if layout.width <= room:
            return BarLayout(name, min(BAR_MAX, BAR_MIN + room - layout.width), size, speed, eta)
    short = max(NAME_MIN, min(name, room - size - 2 - BAR_MIN))
    return BarLayout(short, max(1, room - short - size - 2), size, False, False)


class RichBars:
    """Live bars on stderr: the total, and each item in flight (bytes, speed, time left).

    Fitted to the terminal's width at every redraw (`fit_bars`), and erased when work stops,
    finished or interrupted: what stays on screen is the command's own summary line.
    """

    def __init__(self, label: str, *, per_item: bool) -> None:
        # start-up: rich.live costs ~25 ms; only a terminal that shows bars needs it
        from rich.live import Live

        self.label = label
        self.per_item = per_item
        self.lock = threading.Lock()
        self.total = Bar(label, 0, Rate(None))
        self.items: dict[str, Bar] = {}
        self.sizes: dict[str, int] = {}
        self.last_refresh = 0.0
        self.live = Live(
            BarsView(self),
            console=stderr_console(),
            transient=True,
            redirect_stdout=False,
            refresh_per_second=1 / REFRESH_SECONDS,
        )

    def begin(self, counts: Counts, sizes: Mapping[str, int]) -> None:
        """Start drawing, with the bar of the total."""
        with self.lock:
            self.sizes = dict(sizes)
            self.total = Bar(self.label, counts.total, Rate(counts.began))
        self.live.start()

    def advanced(self, counts: Counts, item: str | None, nbytes: int) -> None:
        """Move the item's bar and the total's; redraw at least every REFRESH_SECONDS."""
        now = time.monotonic()
        with self.lock:
            if self.per_item and item is not None:
                self._bar(item).advance(nbytes, now)
            self.total.total = counts.total
            self.total.advance(nbytes, now)
            due = now - self.last_refresh > REFRESH_SECONDS
            if due:
                self.last_refresh = now
        if due and self.live.is_started:
            self.live.refresh()

    def _bar(self, item: str) -> Bar:
        """The bar of `item`, added the first time it makes progress."""
        if item not in self.items:
            self.items[item] = Bar(item, self.sizes.get(item), Rate(None))
        return self.items[item]

    def item_done(self, item: str) -> None:
        """Remove the finished item's bar (the total's stays until the end)."""
        with self.lock:
            self.items.pop(item, None)

    def message(self, text: str) -> None:
        """Print above the bars, verbatim."""
        self.live.console.print(text, markup=False, highlight=False)

    def end(self, counts: Counts) -> None:
        """Stop drawing and erase the bars."""
        self.live.stop()

    def snapshot(self, now: float) -> list[tuple[Bar, float | None]]:
        """Copies of the bars to draw at `now`, each with its rate: the total first, then the
        items in flight."""
        with self.lock:
            bars = (self.total, *self.items.values())
            return [(replace(bar), bar.rate.per_second(now)) for bar in bars]


class BarsView:
    """What `Live` redraws: the bars of a `RichBars`, laid out for the width at hand."""

    def __init__(self, bars: RichBars) -> None:
        self.bars = bars

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """One grid row per bar, `fit_bars` columns wide."""
        # start-up: rich.table and rich.progress_bar cost ~20 ms; only drawn bars need them
        from rich.progress_bar import ProgressBar
        from rich.table import Column, Table

        bars = self.bars.snapshot(time.monotonic())
        layout = fit_bars(
            options.max_width,
            max(len(bar.name) for bar, _ in bars),
            max(bar.widest_size() for bar, _ in bars),
        )
        columns = [
            Column(width=layout.name, no_wrap=True, overflow="ellipsis"),
            Column(width=layout.bar, no_wrap=True),
            Column(width=layout.size, no_wrap=True, justify="right"),
        ]
        if layout.speed:
            columns.append(Column(width=SPEED_WIDTH, no_wrap=True, justify="right"))
        if layout.eta:
            columns.append(Column(width=ETA_WIDTH, no_wrap=True, justify="right"))
        grid = Table.grid(*columns, padding=(0, 1))
        for bar, rate in bars:
            total = None if bar.total is None else max(bar.total, 1)
            done = bar.done if bar.total else 1
            cells: list[RenderableType] = [
                bar.name,
                ProgressBar(total=total, completed=done, width=layout.bar),
                bar.size_text(),
            ]
            if layout.speed:
                cells.append("?" if rate is None else format_rate(rate))
            if layout.eta:
                cells.append(_time_left(bar, rate))
            grid.add_row(*cells)
        yield grid


def _time_left(bar: Bar, rate: float | None) -> str:
    """`h:mm:ss` until `bar` is done at `rate`; `-:--:--` when that cannot be told (or is 100
    hours or more)."""
    if bar.total is not None and bar.done >= bar.total:
        return format_duration(0)
    seconds = None if bar.total is None or rate is None else (bar.total - bar.done) / rate
    if seconds is None or seconds >= ETA_LIMIT:
        return "-:--:--"
    return format_duration(seconds)


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
    per_item: bool = False,
) -> ByteProgress | None:
    """Progress for one command: None with `-q`; on a terminal Rich bars (the total labelled
    `label`, one bar per item if `per_item`); else `plain` lines (built only now if a factory).

    The bars always vanish when work stops.
    """
    if OPTIONS.quiet:
        return None
    if stderr_is_terminal():
        return ByteProgress(RichBars(label, per_item=per_item))
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
