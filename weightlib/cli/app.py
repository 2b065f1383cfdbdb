"""The Typer application: global options, command registration and the process entry point."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Annotated

import typer
from typer.core import TyperGroup

import weightlib

from . import commands
from .console import OPTIONS
from .errors import (
    EXIT_BROKEN_PIPE,
    Terminated,
    one_line_message,
    report,
    report_usage_error,
    usage_message,
)
from .output import print_json
from .params import AppJson, Quiet, Verbose
from .reference import exit_codes_help

DESCRIPTION = (
    "Get model weights onto this machine and into its page cache before an LLM server starts."
)

app = typer.Typer(
    name="weightlib",
    help=f"{DESCRIPTION}\n\n{exit_codes_help()}",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    """`--version`: print it and stop before any command runs."""
    if value:
        typer.echo(f"weightlib {weightlib.__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    ctx: typer.Context,
    verbose: Verbose = False,
    quiet: Quiet = False,
    as_json: AppJson = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options that apply to every command (each also takes -v, -q and its --json after its name).

    The options' callbacks have set `OPTIONS`; `--json` here needs a command that has `--json`.
    """
    group, name = ctx.command, ctx.invoked_subcommand
    command = group.get_command(ctx, name) if isinstance(group, TyperGroup) and name else None
    if isinstance(command, TyperGroup):
        return  # `cache`: each of its subcommands has --json
    if as_json and command is not None and not any("--json" in p.opts for p in command.params):
        raise typer.BadParameter(f"'{name}' has no JSON output", param_hint="'--json'")


commands.register_all(app)


_SIGNALS_RECEIVED: list[int] = []


def _on_signal(signum: int, frame: object) -> None:
    """Unwind the command (locks released, bars closed); remember why, for the exit code."""
    _SIGNALS_RECEIVED.append(signum)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _exit_now(code: int) -> None:
    """Exit with `code` without waiting for worker threads still blocked in a read."""
    if threading.active_count() > 1:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every failure leaves as one `error:` line and a documented exit code."""
    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else argv
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    try:
        result = command.main(args=args, prog_name="weightlib", standalone_mode=False)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as `cat` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)
    except SystemExit as exc:  # Typer's parser turns a broken pipe into exit 1
        if isinstance(exc.__context__, BrokenPipeError):
            sys.exit(EXIT_BROKEN_PIPE)
        raise
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort as exc:
        _interrupted(exc.__cause__ or KeyboardInterrupt(), args)
    except typer.TyperException as exc:  # usage errors: bad option, missing argument …
        sys.exit(_usage_error(exc, args))
    except (Exception, KeyboardInterrupt) as exc:
        code = _fail(exc, args)
        if isinstance(exc, KeyboardInterrupt):
            _exit_now(code)
        sys.exit(code)
    if _SIGNALS_RECEIVED:  # Typer turned the interrupt into a plain exit code 130
        interrupt = Terminated() if signal.SIGTERM in _SIGNALS_RECEIVED else KeyboardInterrupt()
        _interrupted(interrupt, args)
    sys.exit(result if isinstance(result, int) else 0)


def _json_requested(args: list[str]) -> bool:
    """`--json` was given, before or after the command; also when the parser stopped before it.

    Words after `--` are arguments, not options.
    """
    options = args[: args.index("--")] if "--" in args else args
    return OPTIONS.json or "--json" in options


def _fail(exc: BaseException, args: list[str]) -> int:
    """Report `exc` as one `error:` line (and, with `--json`, one document); return its code."""
    code = report(exc)
    if _json_requested(args) and not OPTIONS.json_printed:  # scripts still get one document
        print_json({"error": {"message": one_line_message(exc), "exit_code": code}})
    return code


def _usage_error(exc: typer.TyperException, args: list[str]) -> int:
    """A usage error from the parser: one `error:` line and, with `--json`, one document."""
    code = report_usage_error(exc)
    if _json_requested(args) and not OPTIONS.json_printed:
        print_json({"error": {"message": usage_message(exc), "exit_code": code}})
    return code


def _interrupted(exc: BaseException, args: list[str]) -> None:
    """Ctrl-C or SIGTERM: one line, one JSON document with `--json`, exit 130 / 143 at once."""
    _exit_now(_fail(exc, args))
