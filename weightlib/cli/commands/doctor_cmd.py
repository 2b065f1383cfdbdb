"""`weightlib doctor`: versions, caches, endpoints, memory and kernel features, for bug reports."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..examples import Example, add_command
from ..output import emit, print_line
from ..params import Json
from ..units import format_bytes

EXAMPLES = (
    Example("Attach the facts to a bug report:", "weightlib doctor --json > doctor.json"),
    Example("Check that this kernel has what prefetch uses:", "weightlib doctor | grep '^kernel'"),
    Example(
        "Check that the hubs answer from this machine (one HEAD request each):",
        "weightlib doctor --check-endpoints",
    ),
)

CheckEndpoints = Annotated[
    bool,
    typer.Option(
        "--check-endpoints",
        help="Also send one HEAD request to each endpoint (5 s timeout) and show whether it "
        "answers; never without this option, never when offline.",
    ),
]


def _yes_no(value: object) -> str:
    """`yes` or `no`, as the report prints flags."""
    return "yes" if value else "no"


def _size(n: int | None) -> str:
    """A byte count as the report prints it; `unknown` without a figure."""
    return "unknown" if n is None else format_bytes(n)


def endpoint_line(hub: str, url: str, check: dict[str, Any] | None) -> str:
    """`hub: url`, and with `--check-endpoints` whether it answered."""
    if check is None:
        return f"  {hub}: {url}"
    if check["answers"]:
        verdict = f"answers (HTTP {check['status']}, {check['seconds']:.2f} s)"
    elif check["answers"] is None:
        verdict = f"not checked ({check['error']})"
    else:
        verdict = f"no answer: {check['error']}"
    return f"  {hub}: {url}: {verdict}"


def print_memory(memory: dict[str, Any]) -> None:
    """What prefetch's memory guard sees, and what the default `--max-memory` allows."""
    print_line("memory (prefetch's guard):")
    print_line(f"  MemAvailable: {_size(memory['mem_available_bytes'])}")
    cgroup = memory["cgroup"]
    if cgroup is None:
        print_line("  cgroup: no memory limit")
    else:
        print_line(
            f"  cgroup v{cgroup['version']} {cgroup['path']}: limit "
            f"{format_bytes(cgroup['limit_bytes'])}, usage {format_bytes(cgroup['usage_bytes'])}, "
            f"reclaimable {format_bytes(cgroup['inactive_file_bytes'])}"
        )
    print_line(f"  available to prefetch: {_size(memory['available_bytes'])}")
    allowed = memory["default_max_memory_bytes"]
    print_line(
        f"  default --max-memory {memory['default_max_memory']}: {_size(allowed)}"
        + ("" if allowed is None else f" ({allowed} bytes)")
    )


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
    checks = report["endpoint_checks"] or {}
    for hub, url in report["endpoints"].items():
        print_line(endpoint_line(hub, url, checks.get(hub)))
    print_line(f"default source: {report['source']}")
    offline = [name for name, on in report["offline"].items() if on]
    print_line(f"offline: {', '.join(offline) if offline else 'no'}")
    tokens = report["token_configured"]
    print_line("token configured: " + ", ".join(f"{h} {_yes_no(v)}" for h, v in tokens.items()))
    print_line(f"HF_XET_HIGH_PERFORMANCE: {_yes_no(report['hf_xet_high_performance'])}")
    print_memory(report["memory"])
    kernel = report["kernel"]
    print_line(
        f"kernel: {kernel['kernel']} (readahead {_yes_no(kernel['readahead'])}, "
        f"cachestat {_yes_no(kernel['cachestat'])})"
    )
    cost = kernel["first_touch_ns_per_page"]
    measured = "not measurable here" if cost is None else f"{cost / 1000:.2f} µs per page"
    print_line(
        f"first touch of a device-filled page: {measured} "
        f"(prefetch --method auto reads whole files with {kernel['prefetch_auto_method']})"
    )


def doctor_command(check_endpoints: CheckEndpoints = False, as_json: Json = False) -> None:
    """Report versions, caches, endpoints, memory, kernel features.

    Versions, cache folders (filesystem, free space), endpoints, offline flags, whether a token
    is configured (never the token), the memory prefetch's guard sees (MemAvailable, the cgroup
    limit in effect, the default --max-memory in bytes), the kernel features prefetch uses, and
    the first-touch cost of a device-filled page its --method auto decides by (measured on a
    64 MiB scratch file). The network is used only with --check-endpoints.
    """
    # start-up: weightlib.environment (package metadata, kernel probes) costs ~30 ms; doctor only
    from weightlib.environment import collect_environment
    from weightlib.memory import DEFAULT_MAX_MEMORY

    report = collect_environment(DEFAULT_MAX_MEMORY, with_endpoint_checks=check_endpoints)
    emit(report, render=print_report)


def register(app: typer.Typer) -> None:
    """Add `doctor` to the app."""
    add_command(app, "doctor", doctor_command, EXAMPLES)
