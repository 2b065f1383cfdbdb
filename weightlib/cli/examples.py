"""Worked examples registered beside each command: the end of its `--help`, and the man page.

Each command module defines `EXAMPLES = (Example(caption, command_line), ...)` and registers
itself with `add_command(app, name, function, EXAMPLES)`; the Typer command it builds carries them
as `.examples`, which `manpage` reads too. The same command class gives `weightlib --help` each
command's whole one-line summary (the first paragraph of its docstring) and writes arguments in
usage lines as `MODEL`, not Typer's `{MODEL}`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter  # Typer vendors click; these aren't public


@dataclass(frozen=True)
class Example:
    """One example: what it is for, and the command line (under 75 characters: 80 columns)."""

    caption: str
    command: str


def whole_summary(command: TyperCommand | TyperGroup) -> str:
    """A command's summary whole, for the app's command list, which wraps it to the terminal.

    Click would cut it at the width left beside the names (~42 characters at 60 columns) and end
    it with `...`, mid-sentence.
    """
    text = command.short_help or (command.help or "").split("\n\n", 1)[0]
    return " ".join(text.split())


class ExamplesCommand(TyperCommand):
    """A Typer command whose `--help` ends with an Examples block."""

    examples: tuple[Example, ...] = ()

    def get_short_help_str(self, limit: int = 45) -> str:
        """The summary whole (`whole_summary`), not cut at `limit`."""
        return whole_summary(self)

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        """Click's usage pieces, with each argument as its metavar: `[OPTIONS] MODEL`.

        Typer 0.28 writes a required argument as `{MODEL}` (`TyperArgument.make_metavar` with
        `usage=True`); an optional one stays `[MODEL]`, as Click writes it.
        """
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.make_metavar(ctx)  # without usage=True: no braces
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_epilog(self, ctx: Context, formatter: HelpFormatter) -> None:
        """Click's epilog, then each example: its caption, and the command line unwrapped."""
        super().format_epilog(ctx, formatter)
        if not self.examples:
            return
        with formatter.section("Examples"):
            for example in self.examples:
                formatter.write_text(example.caption)
                formatter.write(" " * formatter.current_indent + f"  $ {example.command}\n")


class SummaryGroup(TyperGroup):
    """A command group (`cache`) listed in the app's `--help` with its summary whole."""

    def get_short_help_str(self, limit: int = 45) -> str:
        """The summary whole (`whole_summary`), not cut at `limit`."""
        return whole_summary(self)


def add_command(
    app: typer.Typer, name: str, function: Callable[..., Any], examples: Sequence[Example]
) -> None:
    """Register `function` as `weightlib NAME`, its `--help` ending with `examples`."""
    shown = tuple(examples)

    class Command(ExamplesCommand):
        """`ExamplesCommand` carrying this command's examples."""

        examples = shown

    app.command(name, cls=Command)(function)


def examples_of(command: object) -> tuple[Example, ...]:
    """The examples a command was registered with (none for a plain Typer command)."""
    return command.examples if isinstance(command, ExamplesCommand) else ()
