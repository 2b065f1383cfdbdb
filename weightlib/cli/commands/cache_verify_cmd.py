"""`weightlib cache verify MODEL`: re-hash a cached revision; name every bad or missing file."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..credentials import resolve_token
from ..examples import Example, add_command
from ..output import OPTIONS, emit, print_line
from ..params import CacheFolder, Json, Repository, Revision, Source, Token, TokenFile


def cache_verify_command(
    model: Repository,
    revision: Revision = None,
    source: Source = None,
    cache_dir: CacheFolder = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Check against the listing recorded at download time; no network.",
        ),
    ] = False,
    repair: Annotated[
        bool,
        typer.Option("--repair", help="Fetch the bad and missing files again (needs the hub)."),
    ] = False,
    token: Token = None,
    token_file: TokenFile = None,
    as_json: Json = False,
) -> None:
    """Re-hash every file of a cached revision against its sha256 or git blob id.

    Against the hub's listing of that commit, or with --offline the one recorded at download
    time. Names each bad or missing file and exits 6 if there is any; --repair fetches just
    those again (same locks and checks as download) and checks them once more.
    """
    # start-up: the cache package reaches the hub layer; it loads only when the command runs
    from weightlib.cache import repair as repair_files
    from weightlib.cache import verify_cached_revision
    from weightlib.errors import InvalidInputError

    if offline and repair:
        raise InvalidInputError("--repair fetches from the hub; it cannot be used with --offline")
    secret = resolve_token(token, token_file)
    report = verify_cached_revision(
        model, revision=revision, source=source, cache_dir=cache_dir, offline=offline, token=secret
    )
    if repair:
        report = repair_files(report, cache_dir=cache_dir, token=secret)
    emit(report, lambda r: _print_report(r.to_json()))
    report.raise_for_problems()


def _print_report(document: dict[str, Any]) -> None:
    for entry in document["files"]:
        if entry["status"] != "ok" or OPTIONS.verbose:
            reason = f"  {entry['reason']}" if entry["reason"] else ""
            print_line(f"{entry['status']:<10}  {entry['path']}{reason}")
    for path in document["repaired"]:
        print_line(f"{'repaired':<10}  {path}")
    against = "the hub's listing" if document["against"] == "hub" else "the recorded listing"
    print_line(
        f"{document['repo']} ({document['revision'][:12]}): {document['ok']} ok, "
        f"{document['bad']} bad, {document['missing']} missing, "
        f"{document['unverified']} unverified, against {against}"
    )


EXAMPLES = (
    Example("Is the cached model intact (hub's hashes)?", "weightlib cache verify org/name"),
    Example(
        "Offline, against what the download recorded:", "weightlib cache verify org/name --offline"
    ),
    Example("Fetch just the damaged files again:", "weightlib cache verify org/name --repair"),
)


def register(app: typer.Typer) -> None:
    """Add `cache verify` to the group."""
    add_command(app, "verify", cache_verify_command, EXAMPLES)
