"""What a person reads fits the terminal, through the real command in a real terminal (tmux):
`status`/`evict` paths, `index` columns, download bars at any width, result lines and units."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console

from tests.conftest import CliRunner
from tests.helpers import WEIGHTLIB, hermetic_env, random_file, wait_for, write_file
from tests.hubs.fixtures import HubServer
from tests.layouts import write_checkpoint
from weightlib.cli import progress
from weightlib.cli.progress import Bar, BarsView, Rate, RichBars, fit_bars
from weightlib.cli.units import fit_fields, format_bytes, format_progress, format_rate

pytest_plugins = ["tests.hubs.hf_plugin"]

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

MIB = 1024 * 1024
COMMIT = "0e9e39f249a16976918f6564b8830bc894c89659"
SIZE = r"\d+(\.\d)?/\d+(\.\d)? (B|KiB|MiB|GiB)"
"""A bar's bytes done of its total, whole (`2.0/9.0 MiB`)."""
BAR_LINE = re.compile(rf"^\S+\s.*\s{SIZE}(\s|$)")


class Terminal:
    """A tmux pane `width` columns wide running one shell script; `screen()` is what it shows."""

    def __init__(self, workdir: Path, width: int, height: int = 20) -> None:
        self.workdir, self.width, self.height = workdir, width, height
        self.server = ["tmux", "-L", f"wl-layout-{os.getpid()}-{width}-{time.monotonic_ns()}"]

    def run(self, command: str, env: dict[str, str]) -> None:
        """Start `command` (then `echo EXIT=$?`) in a new session with exactly `env` (without
        COLUMNS and LINES, which would override the pane's size, as a login shell has them)."""
        script = self.workdir / f"run-{self.width}.sh"
        env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
        script.write_text(f"{exports}cd {shlex.quote(str(self.workdir))}\n{command}\n")
        script.write_text(script.read_text() + "echo EXIT=$?; sleep 120\n")
        size = ["-x", str(self.width), "-y", str(self.height)]
        subprocess.run(
            [*self.server, "new-session", "-d", "-s", "t", *size, "bash", str(script)],
            env=env,  # the server's environment is the pane's too
            check=True,
        )

    def screen(self) -> str:
        """The pane's text, lines the terminal wrapped joined back into one (`-J`)."""
        return subprocess.run(
            [*self.server, "capture-pane", "-p", "-J", "-t", "t"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def stable_screen(self) -> str:
        """A screen that stays the same for 50 ms: never a frame caught half drawn."""
        while True:
            first = self.screen()
            time.sleep(0.05)
            if self.screen() == first:
                return first

    def lines(self) -> list[str]:
        """The non-empty lines of a stable screen, without trailing blanks."""
        return [line.rstrip() for line in self.stable_screen().splitlines() if line.strip()]

    def finished(self, timeout: float = 90) -> list[str]:
        """Wait for the command to end; its screen lines, up to the `EXIT=` line included."""
        wait_for(lambda: "EXIT=" in self.screen(), timeout=timeout)
        return self.lines()

    def send(self, *keys: str) -> None:
        subprocess.run([*self.server, "send-keys", "-t", "t", *keys], check=True)

    def close(self) -> None:
        """Stop the tmux server and remove its socket."""
        socket = subprocess.run(
            [*self.server, "display", "-p", "#{socket_path}"], capture_output=True, text=True
        ).stdout.strip()
        subprocess.run([*self.server, "kill-server"], capture_output=True)
        if socket:
            Path(socket).unlink(missing_ok=True)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[[int], Terminal]]:
    """Open terminals of a given width; all are closed at the end of the test."""
    opened: list[Terminal] = []

    def open_one(width: int) -> Terminal:
        opened.append(Terminal(tmp_path, width))
        return opened[-1]

    yield open_one
    for term in opened:
        term.close()


def exit_code(lines: list[str]) -> int:
    return int(next(line for line in lines if line.startswith("EXIT="))[5:])


# ---- status and evict -----------------------------------------------------------------------


@pytest.fixture
def hf_cache(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A Hugging Face cache under $HOME with a 4-shard snapshot of `Qwen/Qwen2.5-7B-Instruct`."""
    home = tmp_path / "home"
    hub = home / ".cache" / "huggingface" / "hub" / "models--Qwen--Qwen2.5-7B-Instruct"
    snapshot = hub / "snapshots" / COMMIT
    write_checkpoint(snapshot, [{f"w{i}": (64 * 1024,)} for i in range(1, 5)])
    write_file(snapshot / "config.json", "{}")
    write_file(hub / "refs" / "main", COMMIT)
    env = hermetic_env(home, HOME=str(home), HF_HOME=str(home / ".cache" / "huggingface"))
    return env, snapshot


@needs_tmux
@pytest.mark.parametrize("command", ["status", "evict"])
def test_status_and_evict_name_files_relative_to_the_folder_and_fit_100_columns(
    hf_cache: tuple[dict[str, str], Path],
    terminal: Callable[[int], Terminal],
    tmp_path: Path,
    command: str,
) -> None:
    env, snapshot = hf_cache
    alone = random_file(tmp_path / "home" / "extra" / "alone.safetensors", 4096)
    term = terminal(100)
    term.run(f"{WEIGHTLIB} {command} Qwen/Qwen2.5-7B-Instruct {alone}", env)
    lines = term.finished()
    assert exit_code(lines) == 0, lines
    assert all(len(line) <= 100 for line in lines), "\n".join(lines)
    folders = [line for line in lines if line.startswith("folder: ")]
    assert len(folders) == 1, lines
    assert folders[0].startswith("folder: ~/.cache/huggingface/hub/models--Qwen--Qwen2.5-7B")
    assert folders[0].endswith("/snapshots/" + COMMIT[:12] + "…"), folders[0]
    names = [line.split("  ")[-1] for line in lines if re.search(r"\d%  ", line)]
    assert names[:4] == [f"model-0000{k}-of-00004.safetensors" for k in range(1, 5)]
    assert "config.json" in names and "~/extra/alone.safetensors" in names, names
    assert not any(str(snapshot) in line for line in lines)
    # Piped: the folder is written in full, never cut.
    piped = subprocess.run(
        [WEIGHTLIB, command, "Qwen/Qwen2.5-7B-Instruct"], env=env, capture_output=True, text=True
    )
    assert piped.stdout.splitlines()[0] == f"folder: {snapshot}", piped.stdout
    # JSON keeps the paths as the files were found.
    document = json.loads(
        subprocess.run(
            [WEIGHTLIB, command, "--json", "Qwen/Qwen2.5-7B-Instruct", str(alone)],
            env=env,
            capture_output=True,
            text=True,
        ).stdout
    )
    paths = [entry["path"] for entry in document["files"]]
    assert paths[0] == str(snapshot / "model-00001-of-00004.safetensors") and str(alone) in paths


def test_status_of_two_folders_names_each_once(tmp_path: Path, run_cli: CliRunner) -> None:
    for name in ("a", "b"):
        write_checkpoint(tmp_path / name, [{"w": (1024,)}], index=False)
    result = run_cli("status", tmp_path / "a", tmp_path / "b", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("folder: ")] == [
        f"folder: {tmp_path / 'a'}",
        f"folder: {tmp_path / 'b'}",
    ]
    assert sum(line.endswith("  model-00001-of-00001.safetensors") for line in lines) == 2
    assert lines[1].split() == ["resident", "size", "pages", "%", "file"]


# ---- index ----------------------------------------------------------------------------------


@needs_tmux
@pytest.mark.parametrize("width", [60, 100])
def test_index_keeps_shard_names_whole(
    tmp_path: Path, terminal: Callable[[int], Terminal], width: int
) -> None:
    model = tmp_path / "model"
    write_checkpoint(model, [{f"l{i}.w": (300_000,), f"l{i}.b": (16,)} for i in range(1, 5)])
    term = terminal(width)
    term.run(f"{WEIGHTLIB} index model", hermetic_env(tmp_path / "home"))  # in tmp_path
    lines = term.finished()
    assert exit_code(lines) == 0, lines
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    for k in range(1, 5):
        assert any(f"model-0000{k}-of-00004.safetensors" in line for line in lines), lines
    header = next(line for line in lines if line.startswith("shard"))
    assert "size" in header
    assert ("bytes" in header) == (width == 100), header
    assert "…" not in "\n".join(lines)


# ---- download bars --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_repo(hf_hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """`org/layout`: three 2 MiB shards, an index and a config."""
    folder = tmp_path_factory.mktemp("layout-repo")
    write_checkpoint(folder, [{f"w{i}": (MIB // 2,)} for i in (1, 2, 3)])
    write_file(folder / "config.json", "{}")
    hf_hub.add_repo("org/layout", folder)
    return "org/layout"


def bar_frames(term: Terminal, until: Callable[[list[str]], bool]) -> list[list[str]]:
    """Stable screens that show bars, until `until(lines)`."""
    frames: list[list[str]] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        lines = term.lines()
        if until(lines):
            return frames
        if any(line.startswith("total") for line in lines):
            frames.append(lines)
        time.sleep(0.1)
    raise AssertionError("the command did not finish")


def assert_bars_fit(frames: list[list[str]], width: int) -> None:
    """Every line of every frame is a whole bar within `width` columns, in binary units."""
    assert frames, "no bars were drawn"
    for lines in frames:
        text = "\n".join(lines)
        assert all(len(line) <= width - progress.TERMINAL_MARGIN for line in lines), text
        assert all(BAR_LINE.match(line) for line in lines), text
        assert not re.search(r"\d (kB|MB|GB)(/s)?\b", text), text


@needs_tmux
@pytest.mark.parametrize("width", [60, 100])
def test_download_bars_fit_the_terminal_and_vanish(
    hf_hub: HubServer,
    slow_repo: str,
    tmp_path: Path,
    terminal: Callable[[int], Terminal],
    width: int,
) -> None:
    hf_hub.set_faults(bandwidth=600_000, paths=["*.safetensors"])
    env = hf_hub.env(tmp_path / "home", WEIGHTLIB_HF_TRANSFER="0")
    term = terminal(width)
    dest = tmp_path / "dest"
    term.run(f"{WEIGHTLIB} download {slow_repo} --local-dir {dest} --max-workers 2", env)
    frames = bar_frames(term, lambda lines: any(line.startswith("EXIT=") for line in lines))
    assert_bars_fit(frames, width)
    with_files = [lines for lines in frames if any(x.startswith("model-0") for x in lines)]
    assert any("model-00001-of-00003.safetensors" in "\n".join(lines) for lines in with_files)
    speed_and_eta = re.compile(r"\s(\S+/s|\?)\s+(\d+:\d\d:\d\d|-:--:--)$")
    for lines in with_files:  # beside the file names, at 60 columns the time left and speed go
        assert all(bool(speed_and_eta.search(x)) == (width == 100) for x in lines), lines
        assert width == 100 or not any("/s" in x or "-:--" in x for x in lines), lines
    assert any("iB/s" in x for lines in with_files for x in lines) == (width == 100)
    lines = term.finished()
    assert exit_code(lines) == 0, lines
    assert not any("━" in line or BAR_LINE.match(line) for line in lines), lines
    summary = [line for line in lines if line.startswith(f"{slow_repo}@")]
    assert len(summary) == 1 and len(summary[0]) <= 80, lines
    assert str(dest) in lines


@needs_tmux
def test_ctrl_c_leaves_no_bar_on_screen(
    hf_hub: HubServer, slow_repo: str, tmp_path: Path, terminal: Callable[[int], Terminal]
) -> None:
    hf_hub.set_faults(bandwidth=200_000, paths=["*.safetensors"])
    env = hf_hub.env(tmp_path / "home", WEIGHTLIB_HF_TRANSFER="0")
    term = terminal(100)
    term.run(f"{WEIGHTLIB} download {slow_repo} --local-dir {tmp_path / 'dest'}", env)
    frames = bar_frames(
        term, lambda lines: sum(bool(re.search(r"model-\S+ .* [1-9][\d.]*/", x)) for x in lines) > 1
    )
    term.send("C-c")
    lines = term.finished()
    assert exit_code(lines) == 130, lines
    assert_bars_fit(frames, 100)
    assert not any("━" in line or BAR_LINE.match(line) for line in lines), lines
    assert any(line.startswith("error: interrupted") for line in lines), lines


# ---- the bars' layout at every width --------------------------------------------------------


def test_bars_fit_every_width_from_40() -> None:
    for width in range(40, 201):
        layout = fit_bars(width, name=32, size=len("1023.9/1023.9 MiB"))
        assert layout.width <= width - progress.TERMINAL_MARGIN, width
        assert layout.bar >= 1 and layout.name >= progress.NAME_MIN
    # The time left goes first, then the speed, then names are shortened.
    order = [(fit_bars(w, 32, 11).eta, fit_bars(w, 32, 11).speed) for w in range(200, 39, -1)]
    assert order == sorted(order, reverse=True)
    assert fit_bars(100, 32, 11).eta and fit_bars(60, 32, 11).name == 32
    assert not fit_bars(60, 32, 11).speed and fit_bars(40, 32, 11).name < 32


def test_drawn_bars_never_exceed_the_width() -> None:
    bars = RichBars("total", per_item=True)
    now = time.monotonic()
    bars.total = Bar("total", 900 * 1024 * MIB, Rate(now - 10))
    bars.total.advance(123 * 1024 * MIB, now)
    for k in range(1, 4):
        name = f"model-0000{k}-of-00003.safetensors"
        bars.items[name] = Bar(name, 300 * 1024 * MIB, Rate(now - 5))
        bars.items[name].advance(k * 1024 * MIB, now)
    for width in range(40, 161):
        out = io.StringIO()
        Console(file=out, width=width, no_color=True, legacy_windows=False).print(BarsView(bars))
        lines = out.getvalue().splitlines()
        assert len(lines) == 4
        for line in lines:
            assert len(line) <= width - progress.TERMINAL_MARGIN, (width, line)
            assert BAR_LINE.match(line), (width, line)
            assert re.search(r"\b\d+\.\d/\d+\.\d GiB\b", line), (width, line)
        layout = fit_bars(width, name=32, size=len("123.0/900.0 GiB"))
        assert ("GiB/s" in lines[0]) == layout.speed and (":" in lines[0]) == layout.eta
        assert ("…" in lines[1]) == (layout.name < 32), (width, lines[1])


# ---- results and units ----------------------------------------------------------------------


def test_one_unit_convention() -> None:
    assert format_bytes(1536) == "1.5 KiB" and format_rate(1.5 * MIB) == "1.5 MiB/s"
    assert format_rate(2.25 * 1024 * MIB) == "2.2 GiB/s" and format_rate(100) == "100 B/s"
    assert format_progress(2 * MIB, 9 * MIB) == "2.0/9.0 MiB"


def test_summary_lines_break_at_field_boundaries() -> None:
    fields = ["14.2 GiB selected", "0 B already resident", "14.2 GiB read in 6.85 s (2.1 GiB/s)"]
    fields.append("resident after: 14.2 GiB (100.0%)")
    lines = fit_fields("prefetched 6 file(s):", fields)
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines)
    assert lines[0].endswith(",") and lines[1].startswith("  14.2 GiB read")
    assert " ".join(line.strip() for line in lines) == "prefetched 6 file(s): " + ", ".join(fields)


def test_prefetch_summary_fits_80_columns_in_binary_units(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    model = tmp_path / "a-rather-long-model-folder-name"
    write_checkpoint(model, [{f"w{i}": (256 * 1024,)} for i in (1, 2, 3)])
    result = run_cli("prefetch", model)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines), lines
    assert lines[0].startswith("prefetched 4 file(s): ") and lines[0].endswith(",")
    assert re.search(r"read in \d+\.\d\d s \(\d+(\.\d)? (B|KiB|MiB|GiB)/s\)", result.stdout)
    assert "GB/s" not in result.stdout + result.stderr


def test_quiet_prints_no_results_of_these_commands(tmp_path: Path, run_cli: CliRunner) -> None:
    model = tmp_path / "model"
    write_checkpoint(model, [{"w": (1024,)}])
    for command in ("prefetch", "status", "evict", "index"):
        result = run_cli("-q", command, model)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), command
    document = json.loads(run_cli("-q", "status", model, "--json").stdout)
    assert document["total"]["files"] == 2
    background = run_cli("-q", "prefetch", "--background", model)
    assert re.fullmatch(r"\d+\n", background.stdout), background.stdout
