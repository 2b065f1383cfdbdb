"""Generate `man/weightlib.1` from the Typer app itself, so the man page and `--help` agree.

Run `python -m weightlib.cli.manpage > man/weightlib.1` (what `make man` does).
"""

from __future__ import annotations

import sys
from typing import Any

import typer

import weightlib
from weightlib.errors import EXIT_CODES

from .app import DESCRIPTION, app
from .examples import examples_of
from .reference import ENVIRONMENT_TABLE, plain

COMPLETION_OPTIONS = ("install_completion", "show_completion")
"""Typer's own root options, for the shell rather than for weightlib: left out."""

FILES = (
    ("~/.cache/huggingface/hub", "Hugging Face cache (HF_HUB_CACHE); download's default target."),
    ("~/.cache/modelscope", "ModelScope cache (MODELSCOPE_CACHE)."),
    ("/proc/mounts", "read to tell network filesystems (prefetch --auto)."),
    (
        "weightlib-entrypoint",
        "container entrypoint installed beside weightlib: downloads $MODEL, warms it in the "
        "background, then execs the server with $MODEL_DIR set.",
    ),
    (
        "share/bash-completion/completions/weightlib",
        "bash completion under the install prefix; zsh's is share/zsh/site-functions/_weightlib, "
        "fish's share/fish/vendor_completions.d/weightlib.fish.",
    ),
    (
        "/etc/cron.d/weightlib-warm",
        "where the cron recipe goes; cron skips files there whose names contain a dot.",
    ),
)


def roff(text: str) -> str:
    """Escape text for roff: backslashes, hyphens, non-ASCII, control characters at line start."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text)
    lines = []
    for line in text.splitlines() or [""]:
        lines.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(lines)


def paragraphs(text: str) -> str:
    """Help text (blank-line separated paragraphs, wrapped lines) as roff paragraphs."""
    blocks = [" ".join(block.split()) for block in text.strip().split("\n\n") if block.strip()]
    return "\n.PP\n".join(roff(b) for b in blocks)


def option_lines(command: Any) -> list[str]:
    """`.TP` entries for every option and argument of a click command, as `--help` shows them."""
    out = []
    for param in command.params:
        record = param.get_help_record(typer.Context(command))
        if record is None or param.name in COMPLETION_OPTIONS:  # None: a hidden option
            continue
        names, help_text = record
        out += [".TP", f"\\fB{roff(names)}\\fR", roff(" ".join(help_text.split()))]
    return out


def leaf_commands(commands: dict[str, Any]) -> dict[str, Any]:
    """Every command that runs, by its full name: a group's (`cache`) as `cache ls`, …"""
    leaves: dict[str, Any] = {}
    for name, command in commands.items():
        subcommands = getattr(command, "commands", None)
        if subcommands:
            leaves.update({f"{name} {sub}": c for sub, c in subcommands.items()})
        else:
            leaves[name] = command
    return leaves


def command_section(commands: dict[str, Any]) -> list[str]:
    """`.SS` per command: its synopsis, its help text and its options."""
    out = [".SH COMMANDS"]
    for name, command in leaf_commands(commands).items():
        usage = " ".join(command.collect_usage_pieces(typer.Context(command, info_name=name)))
        out += [f".SS {roff(name)}", f"\\fBweightlib {roff(name)}\\fR {roff(usage)}", ".PP"]
        out += [paragraphs(command.help or ""), *option_lines(command)]
    return out


def table_section(title: str, rows: list[tuple[str, str]], font: str = "B") -> list[str]:
    """A `.SH` section of `.TP` entries: the tag in `font` (B bold, I italic), then its text."""
    out = [f".SH {title}"]
    for tag, text in rows:
        out += [".TP", f"\\f{font}{tag}\\fR", roff(plain(text))]
    return out


def examples_section(commands: dict[str, Any]) -> list[str]:
    """Every command's registered examples, in command order: caption, then the command line."""
    out = [".SH EXAMPLES"]
    for command in leaf_commands(commands).values():
        for example in examples_of(command):
            out += [".PP", roff(example.caption), ".PP", ".RS"]
            out += [f"\\fB{roff(example.command)}\\fR", ".RE"]
    return out


def render() -> str:
    """The whole man page as roff text."""
    root = typer.main.get_command(app)
    commands: dict[str, Any] = getattr(root, "commands", {})
    exit_rows = [(f"{e.code}\\fR \\fI{roff(e.name)}", e.meaning) for e in EXIT_CODES]
    out = [
        f'.TH WEIGHTLIB 1 "" "weightlib {weightlib.__version__}" "User Commands"',
        ".SH NAME",
        "weightlib \\- get model weights onto a machine and into its page cache before serving",
        ".SH SYNOPSIS",
        "\\fBweightlib\\fR [\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
        ".SH DESCRIPTION",
        paragraphs(DESCRIPTION),
        ".SH GLOBAL OPTIONS",
        *option_lines(root),
        *command_section(commands),
        *table_section("EXIT STATUS", exit_rows),
        *table_section("ENVIRONMENT", [(roff(k), v) for k, v in ENVIRONMENT_TABLE]),
        *table_section("FILES", [(roff(k), v) for k, v in FILES], font="I"),
        *examples_section(commands),
        ".SH SEE ALSO",
        "\\fBhf\\fR(1), \\fBvmtouch\\fR(8), \\fBfincore\\fR(1), \\fBcron\\fR(8), "
        "\\fBsystemd.timer\\fR(5)",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())
