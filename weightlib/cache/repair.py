"""`weightlib cache verify --repair`: fetch again just the files verification found bad or missing,
through the download flow (same lock, retries, hash checks and cache layout), then check them."""

from __future__ import annotations

import os
from collections.abc import Callable

from ..hub.base import RemoteFile, RepoListing
from ..hub.refs import ModelRef
from .verify import VerifyReport, check_file, problem_paths


def repair(
    report: VerifyReport,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    token: str | None = None,
) -> VerifyReport:
    """Re-fetch `report`'s bad and missing files at its revision; the report with their new
    verdicts (a file the hub no longer lists stays as it was) and `repaired` set."""
    # start-up: the download flow (~100 ms: its HTTP client) loads only when repairing
    from ..download import download

    wanted = set(problem_paths(report))
    if not wanted:
        return report

    def select(listing: RepoListing, _read: Callable[[str], bytes]) -> list[RemoteFile]:
        return [f for f in listing.files if f.path in wanted]

    ref = report.ref
    at = ModelRef(ref.source, ref.repo, None, ref.repo_type)
    result = download(
        str(at),
        revision=report.revision,
        source=ref.source,
        cache_dir=cache_dir,
        token=token,
        offline=False,
        verify_cached=True,
        files=select,
    )
    fetched = {f.path for f in result.files}
    verdicts = []
    for verdict in report.files:
        if verdict.path in wanted and verdict.path in fetched:
            local = report.folder / verdict.path
            size = local.stat().st_size if local.is_file() else 0
            verdict = check_file(
                report.folder, verdict.path, size, report.expected.get(verdict.path)
            )
        verdicts.append(verdict)
    report.files = verdicts
    report.repaired = sorted(wanted & fetched)
    return report
