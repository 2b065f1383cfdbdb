"""How `prefetch` fills whole files: `auto` measures the first-touch cost of a device-filled page
and copies where it is costly, keeps sendfile where it is not; `--method copy` on request."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.helpers import random_file
from weightlib import first_touch
from weightlib.prefetch import engine, plan_prefetch, run_prefetch
from weightlib.prefetch.engine import NETWORK_THREADS, choose_fill, default_threads

MiB = 1024 * 1024


def test_a_costly_first_touch_makes_auto_copy() -> None:
    choice = choose_fill("auto", 5800.0)
    assert choice.method == "copy" and "5.80 µs per page" in choice.reason
    assert choice.first_touch_ns == 5800.0


def test_a_cheap_first_touch_keeps_sendfile() -> None:
    choice = choose_fill("auto", 230.0)
    assert choice.method == "sendfile" and "0.23 µs per page" in choice.reason


def test_no_measurement_keeps_sendfile_and_an_explicit_method_is_kept() -> None:
    assert choose_fill("auto", None).method == "sendfile"
    assert choose_fill("copy", None).method == "copy"
    assert choose_fill("sendfile", 9000.0).method == "sendfile"  # asked for: not overridden


def test_the_threshold_is_between_the_two_measured_regimes() -> None:
    assert not first_touch.is_costly(260.0)  # a page already mapped (after a copying read)
    assert first_touch.is_costly(1100.0)  # the cheapest costly touch measured on these VMs


def cold_file(tmp_path: Path, size: int = 24 * MiB) -> Path:
    """A file of random bytes, synced and dropped from the page cache."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = random_file(tmp_path / "w.safetensors", size)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return path


@pytest.mark.parametrize(("measured", "method"), [(6000.0, "copy"), (200.0, "sendfile")])
def test_run_prefetch_uses_what_the_detector_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, measured: float, method: str
) -> None:
    path = cold_file(tmp_path)
    monkeypatch.setattr(engine, "measure_first_touch", lambda plan: measured)
    stats = run_prefetch(plan_prefetch([str(path)]))
    assert stats.method == method and stats.first_touch_ns == measured
    assert stats.resident_after_bytes >= 0.99 * path.stat().st_size
    assert stats.to_json()["method"] == method and stats.to_json()["method_reason"]


def test_the_detector_measures_a_cold_sample_and_declines_a_cached_one(tmp_path: Path) -> None:
    path = cold_file(tmp_path)
    fd = os.open(path, os.O_RDONLY)
    try:
        size = path.stat().st_size
        cost = first_touch.touch_cost_ns(fd, size, 0)
        assert cost is not None and cost > 0
        assert first_touch.touch_cost_ns(fd, size, 0) is None  # now cached: no device fill
    finally:
        os.close(fd)


def test_method_copy_through_the_command(run_cli: CliRunner, tmp_path: Path) -> None:
    path = cold_file(tmp_path)
    result = run_cli("prefetch", path, "--method", "copy", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["method"] == "copy" and summary["method_reason"] == "--method copy"
    assert summary["resident_after_bytes"] >= 0.99 * path.stat().st_size
    text = run_cli("prefetch", path, "--method", "copy", "--force")
    assert text.returncode == 0


def test_auto_reports_its_choice_and_the_measured_cost(run_cli: CliRunner, tmp_path: Path) -> None:
    path = cold_file(tmp_path)
    summary = json.loads(run_cli("prefetch", path, "--json").stdout)
    assert summary["method"] in ("copy", "sendfile")
    assert summary["first_touch_ns_per_page"] is None or summary["first_touch_ns_per_page"] > 0
    assert ("µs per page" in summary["method_reason"]) == (
        summary["first_touch_ns_per_page"] is not None
    )


def test_doctor_reports_the_first_touch_cost(run_cli: CliRunner) -> None:
    kernel = json.loads(run_cli("doctor", "--json").stdout)["kernel"]
    assert kernel["prefetch_auto_method"] in ("copy", "sendfile")
    cost = kernel["first_touch_ns_per_page"]
    assert cost is None or cost > 0
    assert kernel["prefetch_auto_method"] == ("copy" if first_touch.is_costly(cost) else "sendfile")


def test_network_filesystems_get_more_streams() -> None:
    assert default_threads(network=True) == NETWORK_THREADS > default_threads()


def test_files_are_warmed_in_the_loaders_order(tmp_path: Path) -> None:
    # what --background relies on to stay ahead of a loader instead of racing it: file order,
    # then offset, one chunk after another
    from weightlib.prefetch.readers import READ_CHUNK, OpenFile, chunks

    plans = plan_prefetch([str(cold_file(tmp_path / n, 3 * MiB)) for n in ("a", "b")]).files
    opened = [OpenFile(p, fd, MiB, "copy") for fd, p in enumerate(plans)]
    order = [
        (item.plan.path, offset)
        for item, offset, _ in chunks(
            opened, {0: [(0, 3 * MiB)], 1: [(0, 3 * MiB)]}, by_method=True
        )
    ]
    assert order == sorted(order) and 3 * MiB <= READ_CHUNK and len(order) == 2
