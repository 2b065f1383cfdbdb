"""Reference text generated from one table each: exit codes (`weightlib.errors.EXIT_CODES`) for
`--help`, the man page and the README; environment variables for the man page.

`python -m weightlib.cli.reference` prints the README's exit-code table;
`python -m weightlib.cli.reference --check [README.md]` exits 1 when the README's copy is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from weightlib.errors import EXIT_CODES

ENVIRONMENT_TABLE: tuple[tuple[str, str], ...] = (
    ("HF_HOME", "Hugging Face home: token file and, by default, the hub cache (HF_HOME/hub)."),
    ("HF_HUB_CACHE", "Where Hugging Face repositories are cached (snapshots link to blobs)."),
    ("HF_ENDPOINT", "Hugging Face hub or mirror URL (default https://huggingface.co)."),
    ("HF_TOKEN", "Hugging Face access token for gated and private repositories; never printed."),
    ("HF_HUB_OFFLINE", "1: use only the local cache and open no network connection."),
    ("TRANSFORMERS_OFFLINE", "1: like HF_HUB_OFFLINE when that is unset (the client's rule)."),
    ("HF_XET_HIGH_PERFORMANCE", "1: hf_xet uses more connections and memory (--high-performance)."),
    ("MODELSCOPE_CACHE", "Where ModelScope repositories are cached."),
    ("MODELSCOPE_ENDPOINT", "ModelScope hub URL, scheme included."),
    ("MODELSCOPE_API_TOKEN", "ModelScope access token for private repositories; never printed."),
    (
        "VLLM_USE_MODELSCOPE",
        "1 or true: repository ids without a scheme refer to ModelScope; read exactly as vLLM "
        "reads it (yes and on are off), so weightlib and the server agree on the hub.",
    ),
    ("WEIGHTLIB_SOURCE", "Default hub for repository ids: hf (huggingface) or modelscope (ms)."),
    ("WEIGHTLIB_OFFLINE", "1: like HF_HUB_OFFLINE, for either hub."),
    ("WEIGHTLIB_RETRIES", "Retries per file after a transient failure (default 5)."),
    ("WEIGHTLIB_RETRY_BASE_DELAY", "First retry delay in seconds, doubled each time (default 1)."),
    ("WEIGHTLIB_LIST_TIMEOUT", "Timeout in seconds of a repository listing request (default 30)."),
    ("WEIGHTLIB_PROGRESS_INTERVAL", "Seconds between plain progress lines (default 5)."),
    ("WEIGHTLIB_HF_TRANSFER", "0: never use hf_transfer, even when installed."),
    ("WEIGHTLIB_HF_TRANSFER_MIN_BYTES", "Smallest file that uses hf_transfer (default 16 MiB)."),
    ("WEIGHTLIB_HF_TRANSFER_CONNECTIONS", "Connections per file with hf_transfer (default 32)."),
    ("WEIGHTLIB_HF_TRANSFER_CHUNK", "Bytes per ranged request with hf_transfer."),
    ("NO_COLOR", "Set to any value: no colour, even on a terminal."),
)


def plain(text: str) -> str:
    """`text` without its inline-code marks, for `--help` and the man page."""
    return text.replace("`", "")


def exit_codes_help() -> str:
    """The exit codes in one paragraph for `weightlib --help`: numbers and names."""
    listed = ", ".join(f"{entry.code} {entry.name}" for entry in EXIT_CODES)
    return f"Exit codes: {listed} (meanings: man weightlib, EXIT STATUS)."


def exit_codes_markdown() -> str:
    """The README's exit-code table, with a `|` inside a cell escaped."""
    rows = ["| code | name | meaning |", "|---|---|---|"]
    for entry in EXIT_CODES:
        meaning = entry.meaning.replace("|", "\\|")
        rows.append(f"| {entry.code} | `{entry.name}` | {meaning} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    """Print the README table; with `--check [README]`, return 1 when the README lacks it."""
    table = exit_codes_markdown()
    if argv[:1] != ["--check"]:
        sys.stdout.write(table)
        return 0
    readme = Path(argv[1] if len(argv) > 1 else "README.md")
    if table in readme.read_text(encoding="utf-8"):
        return 0
    sys.stderr.write(
        f"{readme}: the exit-code table is stale; paste `python -m weightlib.cli.reference`\n"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
