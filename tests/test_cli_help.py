"""What a person reads and types: value completion, `--help`, the missing-extra error, and no
empty `--output` folder left by a failed command. Every check runs the real `weightlib`."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.helpers import WEIGHTLIB, assert_error, hermetic_env

COMMANDS = (
    "download",
    "filter",
    "index",
    "size",
    "dummy-init",
    "prefetch",
    "status",
    "evict",
    "doctor",
    "cache",
)
CACHE_COMMANDS = ("cache ls", "cache verify", "cache rm", "cache prune")
LEAF_COMMANDS = (*(c for c in COMMANDS if c != "cache"), *CACHE_COMMANDS)
"""What runs: every command, and each subcommand of the `cache` group."""
WEIGHT_FORMATS = ["auto", "safetensors", "bin", "pt"]


# ---- completion of the options that take one of a fixed set of values ------------------------


def complete_bash(words: str, cwd: Path) -> list[str]:
    """What `weightlib` answers bash for the last word of `words` (a trailing space: a new word)."""
    env = {
        **hermetic_env(cwd / "home"),
        "_WEIGHTLIB_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    done = subprocess.run([WEIGHTLIB], env=env, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("weightlib filter ./m --format ", WEIGHT_FORMATS),
        ("weightlib index ./m --format s", ["safetensors"]),
        ("weightlib size ./m --format ", WEIGHT_FORMATS),
        ("weightlib download org/m --format ", [*WEIGHT_FORMATS, "all"]),
        ("weightlib download org/m --format a", ["auto", "all"]),
        ("weightlib download org/m --source ", ["hf", "modelscope"]),
        ("weightlib filter ./m --source m", ["modelscope"]),
        ("weightlib prefetch ./m --method ", ["auto", "readahead", "sendfile", "copy"]),
        ("weightlib prefetch ./m --method re", ["readahead"]),
        ("weightlib dummy-init ./m --dtype ", ["keep", "bf16", "fp16", "fp32"]),
        ("weightlib dummy-init ./m --dtype f", ["fp16", "fp32"]),
        ("weightlib cache ", ["ls", "verify", "rm", "prune"]),
        ("weightlib cache ls --sort ", ["size", "accessed", "modified", "name"]),
        ("weightlib cache ls --source ", ["hf", "modelscope", "all"]),
        ("weightlib cache prune --source a", ["all"]),
        ("weightlib cache verify org/m --source m", ["modelscope"]),
    ],
)
def test_choice_options_complete_their_values_not_file_names(
    tmp_path: Path, words: str, expected: list[str]
) -> None:
    for name in ("auto.txt", "bin", "safetensors-notes", "hf", "readahead.log", "fp16.json"):
        (tmp_path / name).write_text("a file the shell could offer instead\n")
    assert complete_bash(words, tmp_path) == expected


def test_completed_values_are_the_ones_the_commands_accept() -> None:
    from weightlib.cache import SORT_ORDERS
    from weightlib.cache import SOURCES as CACHE_SOURCES
    from weightlib.cli import completion
    from weightlib.download import DOWNLOAD_FORMATS
    from weightlib.dummy import DTYPE_CHOICES
    from weightlib.hub.refs import SOURCES
    from weightlib.prefetch import METHODS
    from weightlib.shards import WEIGHT_FORMATS as ACCEPTED_FORMATS

    def values(complete: completion.Completer) -> list[str]:
        return [value for value, _ in complete("")]

    assert values(completion.complete_weight_format) == list(ACCEPTED_FORMATS)
    assert values(completion.complete_download_format) == list(DOWNLOAD_FORMATS)
    assert values(completion.complete_source) == list(SOURCES)
    assert values(completion.complete_method) == list(METHODS)
    assert values(completion.complete_dtype) == list(DTYPE_CHOICES)
    assert values(completion.complete_cache_source) == list(CACHE_SOURCES)
    assert values(completion.complete_cache_sort) == list(SORT_ORDERS)
    completers = (
        completion.complete_cache_source,
        completion.complete_cache_sort,
        completion.complete_weight_format,
        completion.complete_download_format,
        completion.complete_source,
        completion.complete_method,
        completion.complete_dtype,
    )
    for complete in completers:
        assert all(description for _, description in complete("")), complete


def test_zsh_completion_describes_each_value(tmp_path: Path) -> None:
    env = {
        **hermetic_env(tmp_path / "home"),
        "_WEIGHTLIB_COMPLETE": "complete_zsh",
        "_TYPER_COMPLETE_ARGS": "weightlib prefetch ./m --method ",
    }
    done = subprocess.run([WEIGHTLIB], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"sendfile":"whole files, kernel-side, no copy"' in done.stdout
    assert "_files" not in done.stdout


# ---- --help --------------------------------------------------------------------------------


def command_summaries() -> dict[str, str]:
    """Each command's one-line summary: the first paragraph of its docstring, whitespace joined."""
    import typer

    from weightlib.cli.app import app

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    return {name: " ".join(cmd.help.split("\n\n")[0].split()) for name, cmd in commands.items()}


def run_help(run_cli: CliRunner, cli_env: dict[str, str], *args: str, columns: int) -> str:
    result = run_cli(*args, "--help", env={**cli_env, "COLUMNS": str(columns)})
    assert result.returncode == 0, result.stderr
    return result.stdout


def commands_section(text: str) -> dict[str, list[str]]:
    """The app's command list: name → its lines (the first beside the name, then wrapped ones)."""
    section = text.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
    rows: dict[str, list[str]] = {}
    name = ""
    for line in section.splitlines():
        match = re.match(r"^  (\S+)\s+(.*)$", line)
        if match and match.group(1) in COMMANDS:
            name = match.group(1)
            rows[name] = [match.group(2)]
        else:
            rows[name].append(line.strip())
    return rows


@pytest.mark.parametrize("columns", [100, 80, 60])
def test_app_help_shows_every_summary_whole(
    run_cli: CliRunner, cli_env: dict[str, str], columns: int
) -> None:
    rows = commands_section(run_help(run_cli, cli_env, columns=columns))
    summaries = command_summaries()
    assert list(rows) == list(COMMANDS)
    for name, lines in rows.items():
        assert " ".join(lines) == summaries[name], name  # not cut with "..." mid-sentence
        assert summaries[name].endswith("."), name
        if columns >= 80:
            assert len(lines) == 1, f"{name}: its summary does not fit one line at {columns}"
        assert all(len(line) <= columns for line in lines)


@pytest.mark.parametrize("command", LEAF_COMMANDS)
def test_every_command_help_ends_with_two_to_four_examples(
    run_cli: CliRunner, cli_env: dict[str, str], command: str
) -> None:
    text = run_help(run_cli, cli_env, *command.split(), columns=100)
    examples = text.rstrip().rsplit("\nExamples:\n", 1)
    assert len(examples) == 2, f"{command} --help has no Examples section at its end"
    lines = [line.strip() for line in examples[1].splitlines() if line.strip()]
    commands = [line for line in lines if line.startswith("$ ")]
    assert 2 <= len(commands) <= 4, lines
    assert all(f"weightlib {command}" in c for c in commands), commands
    assert lines[-1] == commands[-1]  # nothing after the last example
    assert all(len(c) <= 77 for c in commands)  # `  $ ` + 75 characters: fits 80 columns


@pytest.mark.parametrize("command", LEAF_COMMANDS)
def test_usage_lines_name_arguments_without_braces(
    run_cli: CliRunner, cli_env: dict[str, str], command: str
) -> None:
    text = run_help(run_cli, cli_env, *command.split(), columns=100)
    usage = text.split("\n\n", 1)[0]
    assert usage.startswith(f"Usage: weightlib {command} ")
    assert "{" not in usage and "}" not in usage, usage
    if command in ("prefetch", "status", "evict"):
        assert usage.rstrip().endswith(" MODEL_OR_FILE..."), usage
    elif command in ("cache ls", "cache rm"):
        assert usage.rstrip().endswith((" [MODEL...]", " MODEL[@REV]...")), usage
    elif command not in ("doctor", "cache prune"):
        assert usage.rstrip().endswith(" MODEL"), usage


# ---- a missing extra, and the --output folder of a failed command ----------------------------


def without_torch(tmp_path: Path) -> dict[str, str]:
    """A hermetic environment in which `import torch` fails, as when the extra is not installed."""
    blocker = tmp_path / "no-torch"
    (blocker / "torch").mkdir(parents=True)
    (blocker / "torch" / "__init__.py").write_text("raise ImportError('torch is not installed')\n")
    path = os.pathsep.join(p for p in (str(blocker), os.environ.get("PYTHONPATH")) if p)
    return hermetic_env(tmp_path / "home", PYTHONPATH=path)


def test_missing_torch_names_pip_and_pipx_and_creates_no_output(
    run_cli: CliRunner, minilm_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "new" / "dummy"
    result = run_cli("dummy-init", minilm_dir, "--output", output, env=without_torch(tmp_path))
    assert_error(result, 2, "dummy checkpoints: the optional 'torch' extra is not installed.")
    message = result.stderr.strip()
    assert "pip install 'weightlib[torch]'" in message
    assert re.search(r"pipx inject weightlib( \S+)* torch\b", message), message
    assert "pipx install --force 'weightlib[torch]'" in message
    assert "needs the" not in message  # "dummy checkpoints needs …": the old wording
    assert not (tmp_path / "new").exists()


def test_missing_torch_keeps_an_output_folder_that_existed(
    run_cli: CliRunner, minilm_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "mine"
    output.mkdir()
    result = run_cli("dummy-init", minilm_dir, "--output", output, env=without_torch(tmp_path))
    assert result.returncode == 2, result.stderr
    assert output.is_dir() and not any(output.iterdir())


def test_a_failed_dummy_init_removes_only_the_folders_it_created(
    run_cli: CliRunner, minilm_dir: Path, small_fs: Path
) -> None:
    pytest.importorskip("torch")  # the run must get past the torch check to its mkdir
    existing = small_fs / "existing"
    existing.mkdir()
    for output in (small_fs / "new" / "deeper" / "dummy", existing):
        result = run_cli("dummy-init", minilm_dir, "--output", output)
        assert_error(result, 8, str(output))  # MiniLM's 87 MiB do not fit a 1 MiB tmpfs
    assert sorted(p.name for p in small_fs.iterdir()) == ["existing"]
    assert not any(existing.iterdir())
