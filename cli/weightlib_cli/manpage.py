"""Generate `man/weightlib.1` from the Typer app itself, so the man page and `--help` agree.

Run `python -m weightlib_cli.manpage > man/weightlib.1` (what `make man` does).
"""

from __future__ import annotations

import sys
from typing import Any

import typer

import weightlib

from .app import app
from .reference import ENVIRONMENT_TABLE, EXIT_CODE_TABLE

EXAMPLES = (
    ("Which shards would vLLM load, in order?", "weightlib filter ./Llama-3.1-8B"),
    ("Check a checkpoint's headers and index before serving:", "weightlib index ./model --json"),
    ("Download what a server needs and keep the path:", "MODEL_DIR=$(weightlib download org/name)"),
    (
        "Warm the page cache in the background, then serve:",
        "weightlib prefetch ./model --background",
    ),
    ("How much of the model is in memory?", "weightlib status ./model"),
)

FILES = (
    ("~/.cache/huggingface/hub", "Hugging Face cache (HF_HUB_CACHE); download's default target."),
    ("~/.cache/modelscope", "ModelScope cache (MODELSCOPE_CACHE)."),
    ("/proc/mounts", "read to tell network filesystems (prefetch --auto)."),
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
    """`.TP` entries for every option and argument of a click command."""
    out = []
    for param in command.params:
        if getattr(param, "hidden", False) or param.name in (
            "install_completion",
            "show_completion",
        ):
            continue
        record = param.get_help_record(typer.Context(command))
        if record is None:
            names = (
                param.make_metavar(typer.Context(command)) if hasattr(param, "make_metavar") else ""
            )
            record = (names or param.name.upper(), getattr(param, "help", "") or "")
        names, help_text = record
        out += [".TP", f"\\fB{roff(names)}\\fR", roff(" ".join(help_text.split()))]
    return out


def render() -> str:
    """The whole man page as roff text."""
    root = typer.main.get_command(app)
    commands: dict[str, Any] = getattr(root, "commands", {})
    out = [
        f'.TH WEIGHTLIB 1 "" "weightlib {weightlib.__version__}" "User Commands"',
        ".SH NAME",
        "weightlib \\- get model weights onto a machine and into its page cache before serving",
        ".SH SYNOPSIS",
        "\\fBweightlib\\fR [\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
        ".SH DESCRIPTION",
        paragraphs((root.help or "").split("Exit codes:")[0]),
        ".SH GLOBAL OPTIONS",
        *option_lines(root),
        ".SH COMMANDS",
    ]
    for name, command in commands.items():
        ctx = typer.Context(command, info_name=name)
        usage = " ".join(command.collect_usage_pieces(ctx))
        out += [f".SS {roff(name)}", f"\\fBweightlib {roff(name)}\\fR {roff(usage)}", ".PP"]
        out += [paragraphs(command.help or ""), *option_lines(command)]
    out += [".SH EXIT STATUS"]
    for code, meaning in EXIT_CODE_TABLE:
        out += [".TP", f"\\fB{code}\\fR", roff(meaning)]
    out += [".SH ENVIRONMENT"]
    for variable, meaning in ENVIRONMENT_TABLE:
        out += [".TP", f"\\fB{roff(variable)}\\fR", roff(meaning)]
    out += [".SH FILES"]
    for path, meaning in FILES:
        out += [".TP", f"\\fI{roff(path)}\\fR", roff(meaning)]
    out += [".SH EXAMPLES"]
    for caption, command_line in EXAMPLES:
        out += [".PP", roff(caption), ".PP", ".RS", f"\\fB{roff(command_line)}\\fR", ".RE"]
    out += [".SH SEE ALSO", "\\fBhf\\fR(1), \\fBvmtouch\\fR(8), \\fBfincore\\fR(1)", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())
