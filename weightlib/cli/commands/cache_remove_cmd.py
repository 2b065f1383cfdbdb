"""`weightlib cache rm MODEL[@REV]...` and `weightlib cache prune`: delete what nothing needs,
after saying what and asking (on a terminal) or being told `--yes` (in a script)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from ..examples import Example, add_command
from ..output import emit, log, print_line
from ..params import CacheFolder, CacheSource, Json, Source
from ..units import format_bytes

DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Say what would be removed; remove nothing.")
]
Yes = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Remove without asking (required when not on a terminal)."),
]


def confirmed(action: str, yes: bool) -> bool:
    """Whether to go ahead: `--yes`, else the answer on a terminal; without a terminal to ask
    on, InvalidInputError (exit 2) — a script never waits at a prompt."""
    if yes:
        return True
    from weightlib.errors import InvalidInputError

    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise InvalidInputError(f"refusing to {action} without --yes: no terminal to ask on")
    return typer.confirm(f"{action}?", default=False, err=True)


def _summary(removals: Sequence[Any]) -> str:
    freed = sum(r.freed for r in removals)
    return f"remove {len(removals)} item(s), freeing {format_bytes(freed)}"


def _document(removals: Sequence[Any], dry_run: bool, done: bool, **extra: Any) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "removed": done,
        "removals": [r.to_json() for r in removals],
        "freed_bytes": sum(r.freed for r in removals) if done or dry_run else 0,
        **extra,
    }


def _print_removals(document: dict[str, Any]) -> None:
    verb = "would remove" if document["dry_run"] else "removed" if document["removed"] else "kept"
    for removal in document["removals"]:
        what = (
            "all revisions"
            if removal["whole_repo"]
            else ", ".join(r[:12] for r in removal["revisions"]) or "unused files"
        )
        shared = removal["shared_bytes_kept"]
        kept = f"; {format_bytes(shared)} shared with other revisions kept" if shared else ""
        print_line(
            f"{verb} {removal['repo']} ({what}): {format_bytes(removal['freed_bytes'])}{kept}"
        )
    for busy in document.get("busy", []):
        print_line(f"skipped {busy}: a download is running")
    if not document["removals"]:
        print_line("nothing to remove")
    elif document["removed"] or document["dry_run"]:
        print_line(f"freed: {format_bytes(document['freed_bytes'])}")


def _remove(removals: Sequence[Any], dry_run: bool, yes: bool, **extra: Any) -> None:
    """Confirm, carry out every removal (each under its repository's locks), report."""
    from weightlib.cache import carry_out

    done = False
    if removals and not dry_run:
        if confirmed(_summary(removals), yes):
            for removal in removals:
                carry_out(removal)
            done = True
        else:
            log("nothing removed")
    emit(_document(removals, dry_run, done, **extra), _print_removals)


def cache_rm_command(
    models: Annotated[
        list[str],
        typer.Argument(
            help="Repositories (org/name, ms://org/name) or revisions (org/name@REV) to remove.",
            metavar="MODEL[@REV]...",
        ),
    ],
    source: Source = None,
    cache_dir: CacheFolder = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    as_json: Json = False,
) -> None:
    """Remove cached repositories or revisions; blobs another revision uses stay.

    Refuses (exit 7) while a download holds the repository's lock; drops the files' pages
    from the page cache first. Asks on a terminal; elsewhere needs --yes (exit 2 without).
    """
    # start-up: the cache package reaches the hub layer; it loads only when the command runs
    from weightlib.cache import plan_removal

    removals = [plan_removal(m, cache_dir=cache_dir, source=source) for m in models]
    _remove(removals, dry_run, yes)


def cache_prune_command(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Only what was last written more than AGE ago (30d, 12h, 90m, 2w).",
            show_default=False,
        ),
    ] = None,
    keep_last: Annotated[
        int | None,
        typer.Option(
            "--keep-last",
            metavar="N",
            help="Keep the N newest detached revisions of each repository.",
            show_default=False,
        ),
    ] = None,
    partials: Annotated[
        bool,
        typer.Option(
            "--partials",
            help="Also partial downloads whose lock is free (older than 1 day, or --older-than).",
        ),
    ] = False,
    source: CacheSource = "all",
    cache_dir: CacheFolder = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    as_json: Json = False,
) -> None:
    """Remove detached revisions, blobs no revision uses, and stale partial downloads.

    Detached: no branch or tag points at it. Repositories a running download holds are
    skipped. Asks on a terminal; elsewhere needs --yes (exit 2 without).
    """
    # start-up: the cache package reaches the hub layer; it loads only when the command runs
    from weightlib.cache import CacheRoots, list_cache, plan_prune

    found = list_cache(cache_dir=cache_dir, source=source, measure=False)
    plan = plan_prune(
        found.repos,
        CacheRoots.of(cache_dir),
        older_than=older_than,
        keep_last=keep_last,
        partials=partials,
    )
    _remove(plan.removals, dry_run, yes, busy=plan.busy)


RM_EXAMPLES = (
    Example("See what removing a model frees:", "weightlib cache rm org/name --dry-run"),
    Example("Remove one revision, in a script:", "weightlib cache rm org/name@v1.0 --yes"),
)
PRUNE_EXAMPLES = (
    Example("What would a prune free?", "weightlib cache prune --dry-run"),
    Example("Nightly, from cron:", "weightlib cache prune --older-than 30d --partials --yes"),
)


def register(app: typer.Typer) -> None:
    """Add `cache rm` and `cache prune` to the group."""
    add_command(app, "rm", cache_rm_command, RM_EXAMPLES)
    add_command(app, "prune", cache_prune_command, PRUNE_EXAMPLES)
