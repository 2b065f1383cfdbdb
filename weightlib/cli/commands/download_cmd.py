"""`weightlib download MODEL`: fetch what a server needs from a hub; last stdout line = the path."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from ..console import OPTIONS, log, warn
from ..credentials import resolve_token
from ..examples import Example, add_command
from ..output import emit, format_bytes, print_line
from ..params import (
    CacheDir,
    DownloadFormat,
    Json,
    Repository,
    Revision,
    Source,
    Token,
    TokenFile,
)
from ..progress import ByteProgress, Counts, PlainLines, byte_progress, every_interval

if TYPE_CHECKING:
    from weightlib.download import DownloadResult

EXAMPLES = (
    Example(
        "Download what a server needs and keep the path:",
        "MODEL_DIR=$(weightlib download Qwen/Qwen2.5-7B-Instruct)",
    ),
    Example(
        "See the files, their sizes and what is cached, without writing:",
        "weightlib download meta-llama/Llama-3.1-8B-Instruct --dry-run",
    ),
    Example(
        "Keep the token out of ps: read it from stdin:",
        "pass show hf/token | weightlib download org/name --token -",
    ),
    Example(
        "Into a shared folder, waiting at most 10 minutes for another replica:",
        "weightlib download org/name --local-dir /models/name --lock-timeout 600",
    ),
)

QUIET = "on stdout only the folder's path, with --dry-run too"

Include = Annotated[
    list[str] | None,
    typer.Option("--include", metavar="GLOB", help="Also fetch files matching GLOB (repeatable)."),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option("--exclude", metavar="GLOB", help="Skip files matching GLOB (repeatable)."),
]
LocalDir = Annotated[
    str | None,
    typer.Option("--local-dir", metavar="DIR", help="Put the files in DIR instead of the cache."),
]
MaxWorkers = Annotated[
    int, typer.Option("--max-workers", metavar="N", help="Files fetched in parallel.")
]
Offline = Annotated[
    bool, typer.Option("--offline", help="Use only the local cache; never open a socket.")
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="List files, sizes and what is cached; write nothing.")
]
NoVerify = Annotated[
    bool, typer.Option("--no-verify", help="Skip the sha256 check of downloaded files.")
]
VerifyCached = Annotated[
    bool,
    typer.Option(
        "--verify-cached",
        help="Also hash files already on disk (offline: corrupt → exit 6; online: refetch).",
    ),
]
LockTimeout = Annotated[
    float | None,
    typer.Option(
        "--lock-timeout",
        metavar="S",
        help="Give up (exit 7) after waiting S seconds for another download of the repo.",
        show_default=False,
    ),
]
HighPerformance = Annotated[
    bool,
    typer.Option(
        "--high-performance",
        help="Set HF_XET_HIGH_PERFORMANCE=1 for Xet-backed files (more memory and threads).",
    ),
]


def _fetching(counts: Counts) -> str:
    """The plain line before the first byte: how many files, how many bytes."""
    return f"fetching {counts.items} file(s), {format_bytes(counts.total)}"


def _downloaded(counts: Counts) -> str:
    """The plain line every few seconds and at the end: bytes, files and speed so far."""
    elapsed = max(time.monotonic() - counts.began, 1e-6)
    return (
        f"downloaded {format_bytes(counts.done)} of {format_bytes(counts.total)} "
        f"({counts.items_done}/{counts.items} files, {format_bytes(int(counts.done / elapsed))}/s)"
    )


def _plain_lines() -> PlainLines:
    """Off a terminal: a line at the start, every WEIGHTLIB_PROGRESS_INTERVAL s, and at the end."""
    return PlainLines(_downloaded, every_interval(), opening=_fetching, closing=True)


def _progress() -> ByteProgress | None:
    """Bars for the total and each file in flight (gone when done), or plain lines."""
    return byte_progress("total", _plain_lines, per_item=True)


def print_result(result: DownloadResult) -> None:
    """Text output: the dry-run listing, or a summary on stderr; then the folder, last on stdout."""
    if result.dry_run:
        for file in result.files:
            state = "cached" if file.cached else "fetch"
            print_line(f"{state:6}  {file.bytes:>14,}  {file.path}")
        for path in result.removed:
            print_line(f"{'remove':6}  {'':>14}  {path}")
        print_line(
            f"total {format_bytes(sum(f.bytes for f in result.files))} in {len(result.files)} "
            f"file(s); to fetch {format_bytes(result.bytes_to_fetch)}"
        )
    else:
        if result.removed:
            log(f"removed {len(result.removed)} file(s) of the previous download: no longer needed")
        fetched = sum(1 for f in result.files if not f.cached)
        log(
            f"{result.repo}@{result.commit[:12]}: {len(result.files)} file(s), {fetched} fetched "
            f"({format_bytes(result.downloaded_bytes)} in {result.seconds:.1f}s)"
        )
    sys.stdout.flush()
    print_line(result.path)


def download_command(
    model: Repository,
    revision: Revision = None,
    fmt: DownloadFormat = "auto",
    include: Include = None,
    exclude: Exclude = None,
    cache_dir: CacheDir = None,
    local_dir: LocalDir = None,
    max_workers: MaxWorkers = 8,
    token: Token = None,
    token_file: TokenFile = None,
    source: Source = None,
    offline: Offline = False,
    dry_run: DryRun = False,
    no_verify: NoVerify = False,
    verify_cached: VerifyCached = False,
    lock_timeout: LockTimeout = None,
    high_performance: HighPerformance = False,
    as_json: Json = False,
) -> None:
    """Download what a server needs: config, tokenizer, weights.

    Verified against the hub's sha256, resumable, safe with many concurrent processes.
    The last line of stdout is the local folder: MODEL_DIR=$(weightlib download org/name).
    """
    # start-up: weightlib.download (hub clients, hashing, thread pools) costs ~40 ms
    from weightlib.download import download, set_xet_high_performance

    hub_token = resolve_token(token, token_file)
    if high_performance:
        set_xet_high_performance()
        if OPTIONS.verbose:
            log("high performance: HF_XET_HIGH_PERFORMANCE=1")
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
        progress=None if dry_run else _progress(),
    )
    if result.unverified and not (dry_run or no_verify):
        warn(_unverified_line(result.unverified))
    emit(result, render=print_result, quiet_render=lambda r: print_line(r.path))


def _unverified_line(paths: list[str]) -> str:
    """The one warning for files no published hash vouches for."""
    shown = ", ".join(paths[:3]) + (" …" if len(paths) > 3 else "")
    return (
        f"{len(paths)} file(s) not verified: the server publishes no sha256 or git blob id "
        f"for them (size checked, sha256 computed; see --json): {shown}"
    )


def register(app: typer.Typer) -> None:
    """Add `download` to the app."""
    add_command(app, "download", download_command, EXAMPLES)
