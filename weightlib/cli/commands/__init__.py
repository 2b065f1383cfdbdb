"""One module per subcommand; `register_all` adds them to the app in the order `--help` shows.

A command module declares the options only it has (shared ones come from `params`), its
`EXAMPLES`, the command function (which prints through `output.emit`) and `register(app)`, which
calls `examples.add_command`. It may declare `QUIET`, what `-q` leaves on stdout (the end of
"Quiet: …" in its `--help`, e.g. "print only the folder path").

`register_all` gives every command the global `-v`/`-q` too, so they work after the command name
as well as before it (a command that declares an option of the same name keeps its own).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import typer
from typer.core import TyperCommand

from ..params import command_flags
from . import (
    cache_cmd,
    doctor_cmd,
    download_cmd,
    dummy_init_cmd,
    evict_cmd,
    filter_cmd,
    index_cmd,
    prefetch_cmd,
    size_cmd,
    status_cmd,
)

MODULES: tuple[ModuleType, ...] = (
    download_cmd,
    filter_cmd,
    index_cmd,
    size_cmd,
    dummy_init_cmd,
    prefetch_cmd,
    status_cmd,
    evict_cmd,
    cache_cmd,
    doctor_cmd,
)


def register_all(app: typer.Typer) -> None:
    """Attach every subcommand to `app`, each with the global `-v`/`-q`."""
    for module in MODULES:
        before = len(app.registered_commands), len(app.registered_groups)
        module.register(app)
        added = app.registered_commands[before[0] :]
        for group in app.registered_groups[before[1] :]:  # `cache ls|verify|rm|prune`
            added += group.typer_instance.registered_commands if group.typer_instance else []
        for info in added:
            base = info.cls or TyperCommand
            info.cls = with_global_flags(base, getattr(module, "QUIET", None))


def with_global_flags(base: type[TyperCommand], quiet_help: str | None) -> type[TyperCommand]:
    """`base` (a command class) whose commands also take `-v` and `-q` after the command name."""

    def __init__(self: TyperCommand, *args: Any, **kwargs: Any) -> None:
        params = list(kwargs.pop("params", None) or ())
        taken = {name for param in params for name in param.opts + param.secondary_opts}
        params += [f for f in command_flags(quiet_help) if taken.isdisjoint(f.opts)]
        base.__init__(self, *args, params=params, **kwargs)

    return type(base.__name__, (base,), {"__init__": __init__, "__doc__": base.__doc__})
