"""`weightlib doctor`: versions, caches, endpoints and kernel features, for bug reports."""

from __future__ import annotations

from typing import Any

import typer

from ..examples import Example, add_command
from ..output import emit, format_bytes, print_line
from ..params import Json

EXAMPLES = (
    Example("Attach the facts to a bug report:", "weightlib doctor --json > doctor.json"),
    Example("Check that this kernel has what prefetch uses:", "weightlib doctor | grep '^kernel'"),
)


def _yes_no(value: object) -> str:
    """`yes` or `no`, as the report prints flags."""
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
    # start-up: weightlib.environment (package metadata, kernel probes) costs ~30 ms; doctor only
    from weightlib.environment import collect_environment

    emit(collect_environment(), render=print_report)


def register(app: typer.Typer) -> None:
    """Add `doctor` to the app."""
    add_command(app, "doctor", doctor_command, EXAMPLES)
