"""`weightlib prefetch MODEL_OR_FILE...`: warm weight files into the page cache before serving."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from weightlib.memory import DEFAULT_MAX_MEMORY

if TYPE_CHECKING:
    from weightlib.prefetch import PrefetchReport, PreparedPrefetch

from ..completion import complete_method
from ..examples import Example, add_command
from ..output import emit, print_line, silent, warn
from ..params import ForceMemory, Json, ModelsOrFiles
from ..progress import Counts, PlainLines, Steps, byte_progress, percent_done, running
from ..units import SUMMARY_WIDTH, fit_fields, format_bytes, format_rate

Threads = Annotated[
    int | None,
    typer.Option(
        "--threads", metavar="N", help="Reader threads (default: 2-4 by CPU count).", min=1
    ),
]
BlockSize = Annotated[
    str | None,
    typer.Option(
        "--block-size",
        metavar="SIZE",
        help="Bytes per readahead(2) call, used for --tensors ranges and the repair pass "
        "(default: the device's readahead window, max(read_ahead_kb, max_sectors_kb)).",
    ),
]
MaxMemory = Annotated[
    str,
    typer.Option(
        "--max-memory",
        metavar="SIZE|PCT",
        help="Refuse (exit 8) when more than this is still to read; SIZE like 16G or a "
        "percentage of available memory (cgroup limits honoured).",
    ),
]
Auto = Annotated[
    bool, typer.Option("--auto", help="Warm only files on a network filesystem; else skip, exit 0.")
]
Tensors = Annotated[
    str | None,
    typer.Option(
        "--tensors",
        metavar="REGEX",
        help="Warm only the byte ranges of safetensors tensors whose name matches.",
    ),
]
Rank = Annotated[
    int | None,
    typer.Option("--rank", metavar="I", help="This node-local rank: warm files[rank::N]."),
]
WorldSize = Annotated[
    int | None,
    typer.Option("--world-size", metavar="N", help="Ranks sharing the node's page cache."),
]
Background = Annotated[
    bool, typer.Option("--background", help="Warm in a detached process; print its pid.")
]
Method = Annotated[
    str,
    typer.Option(
        "--method",
        metavar="METHOD",
        help="First pass: sendfile (whole files, kernel-side, no copy), copy (whole files read "
        "into a reused buffer, so the CPU touches every page now), readahead (queued "
        "readahead(2) calls), auto (sendfile, switching to copy once sampled first touches of "
        "the pages it filled prove costly; readahead for --tensors ranges).",
        autocompletion=complete_method,
    ),
]


def prefetch_command(
    models: ModelsOrFiles,
    threads: Threads = None,
    block_size: BlockSize = None,
    max_memory: MaxMemory = DEFAULT_MAX_MEMORY,
    force: ForceMemory = False,
    auto: Auto = False,
    tensors: Tensors = None,
    rank: Rank = None,
    world_size: WorldSize = None,
    background: Background = False,
    method: Method = "auto",
    as_json: Json = False,
) -> None:
    """Read weights into the page cache before a server mmaps them.

    MODEL_OR_FILE is a model folder (its weights plus config/tokenizer files) or a file.
    Pages already cached are skipped, so a warm rerun costs almost nothing. With
    --rank/--world-size each rank warms files[rank::world_size] of the weights (support files
    on every rank); pass the node-local rank, since the page cache is per node.
    """
    # start-up: the library's hub and checkpoint code loads only when the command runs, not
    # for `--help` or a Tab completion
    from weightlib.prefetch import PrefetchOptions, prepare_prefetch

    options = PrefetchOptions(
        models, threads, block_size, max_memory, force, auto, tensors, rank, world_size, method
    )
    prepared = prepare_prefetch(options, on_warning=warn)
    if background and prepared.skipped is None:
        _start_background(prepared)
        return
    to_read = prepared.plan.to_read_bytes
    progress = byte_progress("prefetch", PlainLines(_progress_line, Steps(10))) if to_read else None
    with running(progress, to_read):
        report = prepared.run(None if progress is None else progress.update)
    for message in report.warnings:
        warn(message)
    emit(report, _print_summary, quiet_render=silent)
    report.raise_for_errors()


def _print_summary(report: PrefetchReport) -> None:
    for line in _summary(report, _summary_width()):
        print_line(line)


def _summary_width() -> int:
    """Summary lines fit 80 columns, or the terminal stdout is if it is narrower."""
    if sys.stdout.isatty():
        return min(SUMMARY_WIDTH, shutil.get_terminal_size().columns)
    return SUMMARY_WIDTH


def _summary(report: PrefetchReport, width: int = SUMMARY_WIDTH) -> list[str]:
    """The result: what was selected, resident, read, and resident afterwards, on one line of
    at most `width` columns or broken between two of these fields."""
    if report.skipped is not None:
        return [f"prefetch skipped: {report.skipped}"]
    stats = report.stats
    rate = stats.read_bytes / stats.seconds if stats.seconds > 0 else 0.0
    fields = [
        f"{format_bytes(stats.bytes)} selected",
        f"{format_bytes(stats.already_resident_bytes)} already resident",
        f"{format_bytes(stats.read_bytes)} read in {stats.seconds:.2f} s ({format_rate(rate)})",
        f"resident after: {format_bytes(stats.resident_after_bytes)} "
        f"({_percent(stats.resident_after_bytes, stats.bytes):.1f}%)",
    ]
    if stats.read_bytes:
        fields.append(f"via {stats.method}")
    return fit_fields(f"prefetched {stats.files} file(s):", fields, width)


def _percent(part: int, whole: int) -> float:
    """`part` as a percentage of `whole` (100 when there is nothing)."""
    return percent_done(Counts(total=whole, done=part))


def _progress_line(counts: Counts) -> str:
    """The plain progress line off a terminal, printed at every 10 % of the bytes to read."""
    elapsed = max(time.monotonic() - counts.began, 1e-9)
    return (
        f"prefetch: {int(percent_done(counts)) // 10 * 10}% ({format_bytes(counts.done)} of "
        f"{format_bytes(counts.total)} requested, {format_rate(counts.done / elapsed)})"
    )


def _start_background(prepared: PreparedPrefetch) -> None:
    """Hand the planned files to a detached `weightlib prefetch` and say so."""
    plan = prepared.plan
    if plan.errors:  # report bad inputs now, before anything runs detached
        from weightlib.prefetch import PrefetchError  # start-up, as above

        raise PrefetchError(plan.errors)
    pid = _spawn_background(prepared)
    line = (
        f"prefetching {len(plan.files)} file(s) ({format_bytes(plan.to_read_bytes)} to "
        f"read) in the background, pid {pid}"
    )
    emit({"pid": pid, **plan.to_json()}, lambda _: print_line(line), lambda _: print_line(str(pid)))


def _spawn_background(prepared: PreparedPrefetch) -> int:
    """Start a detached `weightlib prefetch` over the planned files; return its pid."""
    options = prepared.options
    args = [sys.executable, "-m", "weightlib.cli", "-q", "prefetch", "--force"]
    args += ["--method", options.method]
    if options.threads is not None:
        args += ["--threads", str(options.threads)]
    if options.block_size is not None:
        args += ["--block-size", str(options.block_size)]
    if options.tensors is not None:
        args += ["--tensors", options.tensors]
    args += ["--", *(os.path.abspath(f.path) for f in prepared.plan.files)]
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    return process.pid


EXAMPLES = (
    Example("Warm a model folder before the server starts:", "weightlib prefetch ./model"),
    Example("Warm in the background, then serve:", "weightlib prefetch ./model --background"),
    Example(
        "Only on network storage, within 50% of free memory:",
        "weightlib prefetch org/name --auto --max-memory 50%",
    ),
)


def register(app: typer.Typer) -> None:
    """Add `prefetch` to the app."""
    add_command(app, "prefetch", prefetch_command, EXAMPLES)
