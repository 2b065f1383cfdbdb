"""How `auto` reads whole files: sendfile while the pages it fills are cheap to touch, else copy.

Where the first CPU touch of a page the device filled is expensive (`weightlib.first_touch`),
a no-copy fill leaves that cost to the server's load; copying while reading pays it inside the
prefetch, on several threads. The cost is a property of the memory the kernel hands out at that
moment, not of the machine alone: on this project's VMs the first tens of MiB allocated after a
pause come from memory the hypervisor still maps and touch cheap, the rest costs 20× more. So
`AutoFill` samples a run of pages of every piece right after sendfile filled it, and switches to
copying from the moment the recent samples say costly; the pieces filled before the switch are
copied again at the end of their batch, so every page is touched once by the prefetch.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from .. import first_touch
from ..first_touch import COSTLY_NS_PER_PAGE, is_costly
from .readers import Chunk, OpenFile, Reader, run_threads

RECENT_SAMPLES = 3
"""Samples the verdict looks at: the median of the last few, so one slow sample (a preempted
thread) does not switch, and a change of regime part-way through is followed within a piece
or two."""
MIN_SAMPLES = 2
"""Samples needed before switching to copy."""


@dataclass(frozen=True)
class FillChoice:
    """How whole files were read in the first pass, and why (the JSON summary reports both)."""

    method: str
    reason: str
    first_touch_ns: float | None = None
    """The median sampled per-page cost of the first CPU touch after a device fill, if sampled."""


def explicit_choice(method: str) -> FillChoice:
    """The choice for a `--method` given on the command line: used as asked."""
    return FillChoice(method, f"--method {method}")


def _cost_text(cost_ns: float) -> str:
    return f"{cost_ns / 1000:.2f} µs per page"


def _mib(n: int) -> str:
    return f"{n / 1024**2:.0f} MiB"


class AutoFill:
    """The first-pass action for whole files under `auto` (thread-safe; one per prefetch)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.samples: list[float] = []
        self.copying = False
        self.sent_bytes = 0
        """Bytes filled by sendfile before the switch to copy (all of them if none)."""
        self.untouched: list[Chunk] = []
        """Pieces of the current batch filled by sendfile, to copy if the verdict turns costly."""
        self.lock = threading.Lock()

    def __call__(self, target: OpenFile, offset: int, length: int) -> None:
        """Fill one piece: copy once costly, else sendfile it and sample its touch cost."""
        if self.copying:
            self.reader.copy(target, offset, length)
            return
        self.reader.read(target, offset, length)
        cost = first_touch.sample_touch_ns(target.fd, offset, length)
        with self.lock:
            self.untouched.append((target, offset, length))
            if self.copying:
                return
            self.sent_bytes += length
            if cost is not None:
                self.samples.append(cost)
            recent = self.samples[-RECENT_SAMPLES:]
            if len(recent) >= MIN_SAMPLES and is_costly(statistics.median(recent)):
                self.copying = True

    def finish_batch(self, threads: int) -> None:
        """Before a batch's files close: once costly, copy the pieces sendfile filled, so the
        prefetch, not the server, pays their first touch."""
        with self.lock:
            pending: Sequence[Chunk] = self.untouched if self.copying else []
            self.untouched = []
        run_threads(iter(pending), self.reader.copy, threads)

    def choice(self) -> FillChoice:
        """What ran and why, for the JSON summary."""
        if not self.samples:
            return FillChoice("sendfile", "no piece large enough to sample the first-touch cost")
        median = statistics.median(self.samples)
        limit = f"{COSTLY_NS_PER_PAGE / 1000:.2f} µs"
        if self.copying:
            recent = statistics.median(self.samples[-RECENT_SAMPLES:])
            reason = (
                f"the first CPU touch of pages sendfile filled cost {_cost_text(recent)} "
                f"(>= {limit}) after {_mib(self.sent_bytes)}: copying the rest, and those "
                "pieces again, pays it now instead of during the server's load"
            )
            return FillChoice("copy", reason, median)
        reason = (
            f"the first CPU touch of pages sendfile filled cost {_cost_text(median)} "
            f"(< {limit}; {len(self.samples)} samples): no copy"
        )
        return FillChoice("sendfile", reason, median)
