"""`weightlib cache prune`: remove what no ref and no running download needs — detached revisions
(optionally only old ones, or all but the newest N), blobs no revision uses, and (with
`--partials`) partial downloads older than a bound."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInputError
from .inventory import CacheRoots
from .model import CachedRepo
from .remove import Removal, plan_revisions

DEFAULT_PARTIAL_AGE = 24 * 3600.0
"""Partial files younger than this are kept without `--older-than`: a paused download resumes."""
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """Seconds from `30d`, `12h`, `90m`, `2w`, `45s`; anything else is InvalidInputError (2)."""
    match = _AGE.match(text)
    if match is None:
        raise InvalidInputError(f"invalid --older-than {text!r}; use a number and s, m, h, d or w")
    return float(match.group(1)) * _SECONDS[match.group(2)]


@dataclass
class PrunePlan:
    """One removal per repository with something to prune, and the repositories skipped."""

    removals: list[Removal] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    """Repositories a running download holds: nothing of theirs is pruned."""

    @property
    def freed(self) -> int:
        return sum(r.freed for r in self.removals)

    def to_json(self) -> dict[str, Any]:
        return {
            "removals": [r.to_json() for r in self.removals],
            "busy": self.busy,
            "freed_bytes": self.freed,
        }


def _detached_to_remove(
    repo: CachedRepo, older_than: float | None, keep_last: int | None, now: float
) -> list[str]:
    detached = sorted((r for r in repo.revisions if not r.refs), key=lambda r: -r.modified)
    if keep_last is not None:
        detached = detached[keep_last:]
    return [r.name for r in detached if older_than is None or r.modified < now - older_than]


def plan_repo(
    repo: CachedRepo,
    roots: CacheRoots,
    *,
    older_than: float | None,
    keep_last: int | None,
    partials: bool,
    now: float,
) -> Removal | None:
    """What pruning one repository removes; None when nothing."""
    doomed = _detached_to_remove(repo, older_than, keep_last, now) if repo.source == "hf" else []
    revisions = [r for r in repo.revisions if r.name in doomed]
    removal = plan_revisions(repo, revisions, roots) if revisions else None
    if removal is not None and removal.whole:
        return removal  # every revision was detached: the folder goes, orphans included
    if removal is None:
        removal = plan_revisions(repo, [], roots)
    bound = now - (older_than if older_than is not None else 0)
    orphans = [p for p in repo.orphans if older_than is None or p.stat().st_mtime < bound]
    removal.delete += orphans
    removal.evict += orphans
    removal.freed += sum(p.stat().st_size for p in orphans)
    if partials:
        age = older_than if older_than is not None else DEFAULT_PARTIAL_AGE
        stale = [p for p in repo.partials if p.modified < now - age]
        removal.delete += [p.path for p in stale]
        removal.freed += sum(p.size for p in stale)
    return removal if removal.delete else None


def plan_prune(
    repos: Sequence[CachedRepo],
    roots: CacheRoots,
    *,
    older_than: str | None = None,
    keep_last: int | None = None,
    partials: bool = False,
    now: float | None = None,
) -> PrunePlan:
    """What `cache prune` removes from `repos` (from `list_cache`)."""
    if keep_last is not None and keep_last < 0:
        raise InvalidInputError(f"--keep-last must be at least 0, got {keep_last}")
    age = parse_age(older_than) if older_than is not None else None
    moment = time.time() if now is None else now
    plan = PrunePlan()
    for repo in repos:
        if repo.source == "local":
            continue
        if repo.downloading:
            plan.busy.append(repo.label)
            continue
        removal = plan_repo(
            repo, roots, older_than=age, keep_last=keep_last, partials=partials, now=moment
        )
        if removal is not None:
            plan.removals.append(removal)
    return plan
