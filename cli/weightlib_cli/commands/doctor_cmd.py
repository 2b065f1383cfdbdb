"""`weightlib doctor`: versions, caches, endpoints and kernel features, for bug reports."""

from __future__ import annotations

from typing import Any

import typer

from ..output import format_bytes, print_json, print_line
from ..params import Json


def _yes_no(value: object) -> str:
    return "yes" if value else "no"


def print_report(report: dict[str, Any]) -> None:
    """The human-readable report: one `key: value` line per fact, grouped."""
    print_line(f"python: {report['python']} ({report['executable']})")
    print_line("packages:")
    for name, version in report["packages"].items():
        print_line(f"  {name}: {version or 'not installed'}")
    print_line("caches:")
    for cache in report["caches"]:
        free = "?" if cache["free_bytes"] is None else format_bytes(cache["free_bytes"])
        state = "" if cache["exists"] else " (not created yet)"
        print_line(
            f"  {cache['name']}: {cache['path']}{state} [{cache['fs_type'] or '?'}, {free} free]"
        )
    print_line("endpoints:")
    for hub, url in report["endpoints"].items():
        print_line(f"  {hub}: {url}")
    print_line(f"default source: {report['source']}")
    offline = [name for name, on in report["offline"].items() if on]
    print_line(f"offline: {', '.join(offline) if offline else 'no'}")
    tokens = report["token_configured"]
    print_line("token configured: " + ", ".join(f"{h} {_yes_no(v)}" for h, v in tokens.items()))
    print_line(f"HF_XET_HIGH_PERFORMANCE: {_yes_no(report['hf_xet_high_performance'])}")
    kernel = report["kernel"]
    print_line(
        f"kernel: {kernel['kernel']} (readahead {_yes_no(kernel['readahead'])}, "
        f"cachestat {_yes_no(kernel['cachestat'])})"
    )


def doctor_command(as_json: Json = False) -> None:
    """Report versions, cache folders (filesystem, free space), endpoints, offline flags, whether a
    token is configured (never the token) and the kernel features prefetch uses."""
    from weightlib.environment import collect_environment

    report = collect_environment()
    if as_json:
        print_json(report)
    else:
        print_report(report)


def register(app: typer.Typer) -> None:
    """Add `doctor` to the app."""
    app.command("doctor")(doctor_command)
