"""`weightlib download MODEL`: fetch what a server needs from a hub; last stdout line = the path."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..credentials import resolve_token
from ..output import OPTIONS, format_bytes, log, print_json, print_line, stderr_is_terminal
from ..params import Json, Repository, Revision, Token, TokenFile

if TYPE_CHECKING:
    from weightlib.hub.base import RemoteFile

FORMAT_HELP = (
    "Weights to fetch: auto, safetensors, bin, pt, or all (every file of the repository). "
    "auto: safetensors, else bin."
)


class PlainProgress:
    """A progress line on stderr every few seconds (stderr is not a terminal)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.lock = threading.Lock()
        self.total = 0
        self.done = 0
        self.files = 0
        self.files_done = 0
        self.began = time.monotonic()
        self.last = self.began

    def start(self, files: Sequence[RemoteFile], total_bytes: int) -> None:
        self.total, self.files = total_bytes, len(files)
        self.began = self.last = time.monotonic()
        if files:
            log(f"fetching {len(files)} file(s), {format_bytes(total_bytes)}")

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self.began, 1e-6)
        return (
            f"downloaded {format_bytes(self.done)} of {format_bytes(self.total)} "
            f"({self.files_done}/{self.files} files, {format_bytes(int(self.done / elapsed))}/s)"
        )

    def advance(self, path: str, nbytes: int) -> None:
        with self.lock:
            self.done += nbytes
            now = time.monotonic()
            if now - self.last >= self.interval:
                self.last = now
                log(self._line())

    def file_done(self, path: str) -> None:
        with self.lock:
            self.files_done += 1

    def message(self, text: str) -> None:
        log(text)

    def close(self) -> None:
        if self.files:
            log(self._line())


class RichProgress:
    """Rich bars on a terminal: one for the total, one per file in flight."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        from ..output import stderr_console

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=stderr_console(),
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.sizes: dict[str, int] = {}
        self.total_task: Any = None
        self.lock = threading.Lock()
        self.last_refresh = 0.0

    def start(self, files: Sequence[RemoteFile], total_bytes: int) -> None:
        self.sizes = {f.path: f.size for f in files}
        self.progress.start()
        self.total_task = self.progress.add_task("total", total=total_bytes)

    def advance(self, path: str, nbytes: int) -> None:
        with self.lock:
            task = self.tasks.get(path)
            if task is None:
                task = self.progress.add_task(path, total=self.sizes.get(path))
                self.tasks[path] = task
        self.progress.advance(task, nbytes)
        self.progress.advance(self.total_task, nbytes)
        now = time.monotonic()
        if now - self.last_refresh > 0.25:  # hf_transfer holds the GIL: Rich's thread can't draw
            self.last_refresh = now
            self.progress.refresh()

    def file_done(self, path: str) -> None:
        with self.lock:
            task = self.tasks.pop(path, None)
        if task is not None:
            self.progress.remove_task(task)

    def message(self, text: str) -> None:
        if not OPTIONS.quiet:
            self.progress.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        self.progress.stop()


def _progress() -> PlainProgress | RichProgress | None:
    if OPTIONS.quiet:
        return None
    if stderr_is_terminal():
        return RichProgress()
    return PlainProgress(float(os.environ.get("WEIGHTLIB_PROGRESS_INTERVAL", "5")))


def download_command(
    model: Repository,
    revision: Revision = None,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", help=FORMAT_HELP)] = "auto",
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include", metavar="GLOB", help="Also fetch files matching GLOB (repeatable)."
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", metavar="GLOB", help="Skip files matching GLOB (repeatable)."),
    ] = None,
    cache_dir: Annotated[
        str | None,
        typer.Option(
            "--cache-dir", metavar="DIR", help="Hub cache folder (default: HF_HUB_CACHE)."
        ),
    ] = None,
    local_dir: Annotated[
        str | None,
        typer.Option(
            "--local-dir", metavar="DIR", help="Put the files in DIR instead of the cache."
        ),
    ] = None,
    max_workers: Annotated[
        int, typer.Option("--max-workers", metavar="N", help="Files fetched in parallel.")
    ] = 8,
    token: Token = None,
    token_file: TokenFile = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            metavar="HUB",
            help="hf or modelscope (default: from MODEL).",
            show_default=False,
        ),
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Use only the local cache; never open a socket.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List files, sizes and what is cached; write nothing.")
    ] = False,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip the sha256 check of downloaded files.")
    ] = False,
    verify_cached: Annotated[
        bool,
        typer.Option(
            "--verify-cached",
            help="Also hash files already on disk (offline: corrupt → exit 6; online: refetch).",
        ),
    ] = False,
    lock_timeout: Annotated[
        float | None,
        typer.Option(
            "--lock-timeout",
            metavar="S",
            help="Give up (exit 7) after waiting S seconds for another download of the repo.",
            show_default=False,
        ),
    ] = None,
    high_performance: Annotated[
        bool,
        typer.Option(
            "--high-performance",
            help="Set HF_XET_HIGH_PERFORMANCE=1 for Xet-backed files (more memory and threads).",
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """Download what a server needs: config, tokenizer, code and exactly the weights `filter` picks.

    Verified against the hub's sha256, resumable, safe with many concurrent processes.
    The last line of stdout is the local folder: MODEL_DIR=$(weightlib download org/name).
    """
    from weightlib.download import download, enable_xet_high_performance

    hub_token = resolve_token(token, token_file)
    if high_performance:
        enable_xet_high_performance()
        if OPTIONS.verbose:
            log("high performance: HF_XET_HIGH_PERFORMANCE=1")
    progress = None if dry_run else _progress()
    result = download(
        model,
        revision=revision,
        source=source,
        fmt=fmt,
        include=include or (),
        exclude=exclude or (),
        cache_dir=cache_dir,
        local_dir=local_dir,
        max_workers=max_workers,
        token=hub_token,
        offline=True if offline else None,
        dry_run=dry_run,
        verify=not no_verify,
        verify_cached=verify_cached,
        lock_timeout=lock_timeout,
        progress=progress,
    )
    if as_json:
        print_json(result.to_json())
        return
    if dry_run:
        for file in result.files:
            state = "cached" if file.cached else "fetch"
            print_line(f"{state:6}  {file.bytes:>14,}  {file.path}")
        print_line(
            f"total {format_bytes(sum(f.bytes for f in result.files))} in {len(result.files)} "
            f"file(s); to fetch {format_bytes(result.bytes_to_fetch)}"
        )
    else:
        fetched = sum(1 for f in result.files if not f.cached)
        log(
            f"{result.repo}@{result.commit[:12]}: {len(result.files)} file(s), {fetched} fetched "
            f"({format_bytes(result.downloaded_bytes)} in {result.seconds:.1f}s)"
        )
    sys.stdout.flush()
    print_line(result.path)


def register(app: typer.Typer) -> None:
    """Add `download` to the app."""
    app.command("download")(download_command)
