"""`weightlib prefetch MODEL_OR_FILE...`: warm weight files into the page cache before serving."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from weightlib.prefetch import FileError, PrefetchPlan, PrefetchStats, ProgressCallback

from ..output import (
    OPTIONS,
    byte_progress_bar,
    format_bytes,
    log,
    print_json,
    print_line,
    stderr_is_terminal,
    warn,
)

DEFAULT_MAX_MEMORY = "90%"


def _percent(part: int, whole: int) -> float:
    return 100.0 if whole == 0 else 100.0 * part / whole


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[ProgressCallback | None]:
    """A Rich bar (bytes, GB/s) on a terminal; a plain stderr line every 10 % otherwise."""
    if not enabled or total == 0:
        yield None
        return
    if stderr_is_terminal():
        with byte_progress_bar("prefetch", total) as set_done:
            yield lambda done, _total: set_done(done)
        return
    started = time.monotonic()
    next_step = [10]

    def plain(done: int, whole: int) -> None:
        percent = int(_percent(done, whole))
        if percent < next_step[0]:
            return
        next_step[0] = percent // 10 * 10 + 10
        elapsed = max(time.monotonic() - started, 1e-9)
        log(
            f"prefetch: {percent // 10 * 10}% ({format_bytes(done)} of {format_bytes(whole)} "
            f"requested, {done / elapsed / 1e9:.2f} GB/s)"
        )

    yield plain


def _spawn_background(
    plan: PrefetchPlan,
    threads: int | None,
    block_size: str | None,
    tensors: str | None,
    method: str,
) -> int:
    """Start a detached `weightlib prefetch` over the planned files; return its pid."""
    args = [sys.executable, "-m", "weightlib_cli", "-q", "prefetch", "--force", "--method", method]
    if threads is not None:
        args += ["--threads", str(threads)]
    if block_size is not None:
        args += ["--block-size", block_size]
    if tensors is not None:
        args += ["--tensors", tensors]
    args += ["--", *(os.path.abspath(f.path) for f in plan.files)]
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    return process.pid


def _print_summary(stats: PrefetchStats) -> None:
    print_line(
        f"prefetched {stats.files} file(s): {format_bytes(stats.bytes)} selected, "
        f"{format_bytes(stats.already_resident_bytes)} already resident, "
        f"{format_bytes(stats.read_bytes)} read in {stats.seconds:.2f} s ({stats.gbps:.2f} GB/s); "
        f"resident after: {format_bytes(stats.resident_after_bytes)} "
        f"({_percent(stats.resident_after_bytes, stats.bytes):.1f}%)"
    )


def prefetch_command(
    models: Annotated[
        list[str],
        typer.Argument(
            help="Model folders, files, or repository ids resolved in the local hub cache.",
            metavar="MODEL_OR_FILE...",
        ),
    ],
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads", metavar="N", help="Reader threads (default: 2-4 by CPU count).", min=1
        ),
    ] = None,
    block_size: Annotated[
        str | None,
        typer.Option(
            "--block-size",
            metavar="SIZE",
            help="Bytes per readahead(2) call, used for --tensors ranges and the repair pass "
            "(default: the device's readahead window, max(read_ahead_kb, max_sectors_kb)).",
        ),
    ] = None,
    max_memory: Annotated[
        str,
        typer.Option(
            "--max-memory",
            metavar="SIZE|PCT",
            help="Refuse (exit 8) when more than this is still to read; SIZE like 16G or a "
            "percentage of available memory (cgroup limits honoured).",
        ),
    ] = DEFAULT_MAX_MEMORY,
    force: Annotated[bool, typer.Option("--force", help="Skip the memory guard.")] = False,
    auto: Annotated[
        bool,
        typer.Option("--auto", help="Warm only files on a network filesystem; else skip, exit 0."),
    ] = False,
    tensors: Annotated[
        str | None,
        typer.Option(
            "--tensors",
            metavar="REGEX",
            help="Warm only the byte ranges of safetensors tensors whose name matches.",
        ),
    ] = None,
    rank: Annotated[
        int | None,
        typer.Option("--rank", metavar="I", help="This node-local rank: warm files[rank::N]."),
    ] = None,
    world_size: Annotated[
        int | None,
        typer.Option("--world-size", metavar="N", help="Ranks sharing the node's page cache."),
    ] = None,
    background: Annotated[
        bool, typer.Option("--background", help="Warm in a detached process; print its pid.")
    ] = False,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            metavar="METHOD",
            help="First pass: sendfile (whole files, kernel-side, no copy), readahead (queued "
            "readahead(2) calls), auto (sendfile, or readahead for --tensors ranges).",
        ),
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Read weight files into the page cache so a server's mmap finds them there.

    MODEL_OR_FILE is a model folder (its weights plus config/tokenizer files) or a file.
    Pages already cached are skipped, so a warm rerun costs almost nothing. With
    --rank/--world-size each rank warms files[rank::world_size] of the weights (support files
    on every rank); pass the node-local rank, since the page cache is per node.
    """
    from weightlib.errors import InvalidInputError
    from weightlib.memory import available_memory_bytes, parse_memory_limit, parse_size
    from weightlib.prefetch import (
        MAX_THREADS,
        METHODS,
        PrefetchError,
        check_memory,
        network_files,
        plan_prefetch,
        rank_slice,
        resolve_files,
        run_prefetch,
    )

    if method not in METHODS:
        raise InvalidInputError(f"unknown --method {method!r}; use one of {', '.join(METHODS)}")
    if threads is not None and threads > MAX_THREADS:
        raise InvalidInputError(f"--threads must be in 1..{MAX_THREADS}, got {threads}")
    block_bytes = None if block_size is None else parse_size(block_size, "--block-size")
    resolved = resolve_files(models)
    weights = rank_slice(resolved.weights, rank, world_size)
    files = [*weights, *resolved.support]
    if auto and files:
        files, reason = network_files(files)
        if not files:
            if as_json:
                print_json({**_empty_stats(resolved.errors), "skipped": reason})
            else:
                print_line(f"prefetch skipped: {reason}")
            if resolved.errors:
                raise PrefetchError(resolved.errors)
            return
    plan = plan_prefetch(files, tensors)
    plan.errors[:0] = resolved.errors
    if plan.tensors_matched == 0 and plan.files:
        warn(f"--tensors {tensors!r} matched no tensor; only headers are warmed")
    if not force:
        available = available_memory_bytes()
        limit = parse_memory_limit(max_memory, available)
        shown = max_memory
        if max_memory.strip().endswith("%"):
            shown = f"{max_memory} of {format_bytes(available)} available"
        check_memory(plan, limit, shown)
    if background:
        if plan.errors:  # report bad inputs now, before anything runs detached
            raise PrefetchError(plan.errors)
        pid = _spawn_background(plan, threads, block_size, tensors, method)
        if as_json:
            print_json(
                {
                    "pid": pid,
                    "files": len(plan.files),
                    "bytes": plan.bytes,
                    "to_read_bytes": plan.to_read_bytes,
                    "errors": [e.to_json() for e in plan.errors],
                }
            )
        else:
            print_line(
                f"prefetching {len(plan.files)} file(s) ({format_bytes(plan.to_read_bytes)} to "
                f"read) in the background, pid {pid}"
            )
        return
    with _progress(plan.to_read_bytes, not OPTIONS.quiet) as callback:
        stats = run_prefetch(plan, threads, block_bytes, callback, method)
    for message in stats.warnings:
        warn(message)
    if as_json:
        print_json(stats.to_json())
    else:
        _print_summary(stats)
    stats.raise_for_errors()


def _empty_stats(errors: list[FileError]) -> dict[str, Any]:
    from weightlib.prefetch import PrefetchStats

    return PrefetchStats(0, 0, 0, 0, 0.0, 0, errors=list(errors)).to_json()


def register(app: typer.Typer) -> None:
    """Add `prefetch` to the app."""
    app.command("prefetch")(prefetch_command)
