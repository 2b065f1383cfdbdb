"""The command-line contract on every command, through the real `weightlib` (issue 14):
`-v`/`-q`/`--json` before or after the command name, what `-q` leaves on stdout, and exactly one
JSON document on every failure, usage errors included, with `errors` in each command's own."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRunner
from tests.helpers import assert_error
from tests.hubs.fixtures import HubServer, make_sharded_repo

pytest_plugins = ["tests.hubs.hf_plugin"]

REPO = "org/contract"
HAS_TORCH = importlib.util.find_spec("torch") is not None
COMMANDS = [
    "download",
    "filter",
    "index",
    "size",
    pytest.param(
        "dummy-init", marks=pytest.mark.skipif(not HAS_TORCH, reason="needs the torch extra")
    ),
    "prefetch",
    "status",
    "evict",
    "doctor",
    "cache ls",
    "cache verify",
    "cache rm",
    "cache prune",
]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local 2-shard checkpoint with an index and support files."""
    return make_sharded_repo(tmp_path_factory.mktemp("model"), shards=2, extras=False)


@pytest.fixture(scope="module")
def repo(hf_hub: HubServer, model: Path) -> str:
    """The same checkpoint on the test hub."""
    hf_hub.add_repo(REPO, model)
    return REPO


def arguments(command: str, model: Path, tmp_path: Path) -> list[str]:
    """A successful, local (or test-hub) invocation of `command`."""
    return {
        "download": ["download", REPO, "--cache-dir", str(tmp_path / "cache")],
        "filter": ["filter", str(model)],
        "index": ["index", str(model)],
        "size": ["size", str(model)],
        "dummy-init": ["dummy-init", str(model), "-o", str(tmp_path / "dummy"), "--force"],
        "prefetch": ["prefetch", str(model)],
        "status": ["status", str(model)],
        "evict": ["evict", str(model)],
        "doctor": ["doctor"],
        "cache ls": ["cache", "ls", "--cache-dir", str(tmp_path / "cache")],
        "cache verify": ["cache", "verify", REPO, "--cache-dir", str(tmp_path / "cache")],
        "cache rm": ["cache", "rm", REPO, "--cache-dir", str(tmp_path / "cache"), "--dry-run"],
        "cache prune": ["cache", "prune", "--cache-dir", str(tmp_path / "cache"), "--dry-run"],
    }[command]


def one_document(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """stdout is exactly one JSON object (json.loads refuses trailing data)."""
    document = json.loads(result.stdout)
    assert isinstance(document, dict), result.stdout
    return document


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one `error:` line's message."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0].removeprefix("error: ")


# ---- -v, -q and --json before or after the command name ---------------------------------------


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("command", COMMANDS)
def test_global_flags_work_before_and_after_every_command(
    run_cli: CliRunner,
    hub_env: dict[str, str],
    repo: str,
    model: Path,
    tmp_path: Path,
    command: str,
    where: str,
) -> None:
    args = arguments(command, model, tmp_path)
    if command.startswith("cache "):  # a cache holding REPO, made by the real command
        made = run_cli("download", REPO, "--cache-dir", tmp_path / "cache", env=hub_env)
        assert made.returncode == 0, made.stderr
    # status's own --verbose (page maps) takes the name; it has no -v of the global meaning
    verbose = "--verbose" if command == "status" else "-v"
    flags = [verbose, "-q", "--json"] if where == "after" else ["--verbose", "--quiet", "--json"]
    argv = [*args, *flags] if where == "after" else [*flags, *args]
    result = run_cli(*argv, env=hub_env)
    assert result.returncode == 0, (argv, result.stderr)
    document = one_document(result)  # --json took effect wherever it stood
    assert document["errors"] == []  # every command's own document has `errors`


def test_verbose_after_the_command_shows_the_traceback(run_cli: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    plain = run_cli("size", missing)
    assert_error(plain, 3, str(missing))
    for argv in (["size", missing, "-v"], ["size", missing, "--verbose"], ["-v", "size", missing]):
        loud = run_cli(*argv)
        assert loud.returncode == 3
        assert "Traceback" in loud.stderr and error_line(loud).startswith(str(missing))


@pytest.mark.parametrize(
    "argv",
    [
        ["-q", "download", REPO, "-v"],
        ["-v", "download", REPO, "-q"],
        ["download", REPO, "-q", "--verbose"],
    ],
)
def test_verbose_wins_over_quiet_in_any_order(
    run_cli: CliRunner, hub_env: dict[str, str], repo: str, argv: list[str]
) -> None:
    result = run_cli(*argv, env=hub_env)
    assert result.returncode == 0, result.stderr
    assert f"{REPO}@" in result.stderr  # the summary line that -q alone drops


# ---- -q: on stdout only what scripts use, on stderr only errors and warnings -------------------


def quiet_run(run_cli: CliRunner, where: str, *args: str | Path, **kw: Any) -> Any:
    """`args` with -q before or after the command name."""
    argv = ["-q", *args] if where == "before" else [*args, "-q"]
    return run_cli(*argv, **kw)


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_download_prints_only_the_path(
    run_cli: CliRunner, hub_env: dict[str, str], repo: str, tmp_path: Path, where: str
) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache")]
    dry = run_cli("download", repo, *cache, "--dry-run", env=hub_env)
    assert dry.returncode == 0 and len(dry.stdout.splitlines()) > 1, dry.stderr
    quiet_dry = quiet_run(run_cli, where, "download", repo, *cache, "--dry-run", env=hub_env)
    assert quiet_dry.returncode == 0 and quiet_dry.stderr == ""
    assert quiet_dry.stdout == dry.stdout.splitlines()[-1] + "\n"
    quiet = quiet_run(run_cli, where, "download", repo, *cache, env=hub_env)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout == dry.stdout.splitlines()[-1] + "\n"
    assert Path(quiet.stdout.strip(), "config.json").is_file()


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_size_prints_only_the_number(run_cli: CliRunner, model: Path, where: str) -> None:
    total = int(run_cli("size", model, "--bytes").stdout)
    assert "bytes) in 2 file(s)" in run_cli("size", model).stdout
    for extra in ([], ["--bytes"]):
        result = quiet_run(run_cli, where, "size", model, *extra)
        assert (result.returncode, result.stdout, result.stderr) == (0, f"{total}\n", "")
    as_json = quiet_run(run_cli, where, "size", model, "--json")  # -q does not change --json
    assert one_document(as_json)["bytes"] == total


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_filter_keeps_its_list(run_cli: CliRunner, model: Path, where: str) -> None:
    listing = run_cli("filter", model)
    assert listing.stdout.splitlines() == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]
    quiet = quiet_run(run_cli, where, "filter", model)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, listing.stdout, "")


@pytest.mark.skipif(not HAS_TORCH, reason="needs the torch extra")
@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_dummy_init_prints_nothing(
    run_cli: CliRunner, model: Path, tmp_path: Path, where: str
) -> None:
    loud = run_cli("dummy-init", model, "-o", tmp_path / "loud")
    assert loud.returncode == 0 and "tensors" in loud.stdout, loud.stderr
    quiet = quiet_run(run_cli, where, "dummy-init", model, "-o", tmp_path / "quiet")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    assert (tmp_path / "quiet" / "model.safetensors.index.json").is_file()


@pytest.mark.parametrize("command", ["download", "filter", "size", "dummy-init"])
def test_quiet_help_says_what_stays_on_stdout(run_cli: CliRunner, command: str) -> None:
    text = " ".join(run_cli(command, "--help").stdout.split())
    assert "-v, --verbose" in text
    assert {
        "download": "Quiet: on stdout only the folder's path",
        "filter": "Quiet: on stdout the file list",
        "size": "Quiet: on stdout only the byte count",
        "dummy-init": "Quiet: nothing on stdout",
    }[command] in text


# ---- --json: one document on a usage error too --------------------------------------------------


USAGE_ERRORS = {
    "bad-int": (["download", REPO, "--max-workers", "abc", "--json"], "--max-workers"),
    "unknown-option-after": (["filter", "x", "--no-such-option", "--json"], "--no-such-option"),
    "unknown-option-json-before": (["--json", "download", REPO, "--no-such"], "--no-such"),
    "below-min": (["prefetch", "x", "--threads", "0", "--json"], "--threads"),
    "dummy-seed": (["dummy-init", "x", "-o", "y", "--seed", "abc", "--json"], "--seed"),
    "missing-argument": (["--json", "size"], "MODEL"),
    "missing-command": (["--json"], "Missing command"),
    "global-flag-bad-place": (["status", "--json", "--quiet=yes", "x"], "--quiet"),
}


@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_usage_error_with_json_prints_one_error_document(run_cli: CliRunner, case: str) -> None:
    argv, needle = USAGE_ERRORS[case]
    result = run_cli(*argv)
    assert_error(result, 2, needle)
    document = one_document(result)
    assert document == {"error": {"message": error_line(result), "exit_code": 2}}
    plain = [a for a in argv if a != "--json"]
    if plain:  # (`weightlib` alone prints its help)
        without = run_cli(*plain)
        assert_error(without, 2, needle)
        assert without.stdout == ""


def test_json_after_double_dash_is_an_argument(run_cli: CliRunner, tmp_path: Path) -> None:
    result = run_cli("size", "--", "--json", cwd=tmp_path)  # a model folder named --json
    assert_error(result, 3, "--json")
    assert result.stdout == ""


# ---- each command's own document: `errors`, and printed on failure too --------------------------


def test_filter_json_without_weights_prints_its_document_and_exits_3(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "config.json").write_text("{}")
    plain = run_cli("filter", tmp_path)
    assert_error(plain, 3, "no weight files")
    assert plain.stdout == ""
    result = run_cli("filter", tmp_path, "--json")
    assert_error(result, 3, "no weight files")
    document = one_document(result)
    assert document["files"] == []
    assert document["support"] == [{"file": "config.json", "reason": "model config"}]
    assert document["errors"] == [
        {"path": str(tmp_path), "message": error_line(result), "exit_code": 3}
    ]


@pytest.mark.parametrize("command", ["filter", "size"])
def test_missing_shard_json_names_it_in_errors_and_exits_6(
    run_cli: CliRunner, tmp_path: Path, command: str
) -> None:
    folder = make_sharded_repo(tmp_path / "model", shards=2, extras=False)
    (folder / "model-00002-of-00002.safetensors").unlink()
    result = run_cli(command, folder, "--json")
    assert_error(result, 6, "model-00002-of-00002.safetensors")
    document = one_document(result)
    assert [e["exit_code"] for e in document["errors"]] == [6]
    assert document["errors"][0]["message"] == error_line(result)
    kept = ["model-00001-of-00002.safetensors"]
    assert document["files"] == (kept if command == "filter" else len(kept))


def test_size_json_without_weights_prints_its_document_and_exits_3(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "config.json").write_text("{}")
    for argv in (["size", tmp_path], ["size", tmp_path, "--bytes"], ["-q", "size", tmp_path]):
        plain = run_cli(*argv)
        assert_error(plain, 3, "no weight files")
        assert plain.stdout == ""
    result = run_cli("size", tmp_path, "--json")
    assert_error(result, 3, "no weight files")
    assert one_document(result) == {
        "model": str(tmp_path),
        "files": 0,
        "bytes": 0,
        "errors": [{"path": str(tmp_path), "message": error_line(result), "exit_code": 3}],
    }


def test_a_failure_before_any_result_is_one_error_document(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    missing = tmp_path / "missing"
    for argv in (["size", missing, "--json"], ["--json", "size", missing]):
        result = run_cli(*argv)
        assert_error(result, 3, str(missing))
        assert one_document(result) == {"error": {"message": error_line(result), "exit_code": 3}}


def test_status_verbose_before_or_after_adds_the_page_map(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    shard = tmp_path / "a.safetensors"
    shard.write_bytes(b"x" * 8192)
    plain = run_cli("status", shard).stdout
    assert "[" not in plain
    for args in (("-v", "status", shard), ("status", shard, "-v"), ("status", "--verbose", shard)):
        result = run_cli(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert any(line.strip().startswith("[") for line in result.stdout.splitlines()), args
