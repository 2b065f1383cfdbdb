"""How `prefetch` fills whole files: `auto` measures the first-touch cost of a device-filled page
and copies where it is costly, keeps sendfile where it is not; `--method copy` on request."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRunner
from tests.helpers import random_file
from weightlib import first_touch
from weightlib.prefetch import PrefetchStats, plan_prefetch, readers, run_prefetch
from weightlib.prefetch.engine import NETWORK_THREADS, default_threads
from weightlib.residency import resident_bytes_in

MiB = 1024 * 1024


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


def test_the_threshold_is_between_the_two_measured_regimes() -> None:
    assert not first_touch.is_costly(360.0)  # the worst cheap touch measured (pages mapped)
    assert first_touch.is_costly(1010.0)  # the cheapest costly median sampled here


Detector = Callable[[int, int, int], "float | None"]


def auto_prefetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, detector: Detector
) -> tuple[PrefetchStats, Path, list[tuple[int, int]]]:
    """`run_prefetch(method="auto")` on a cold 12 MiB file cut in 1 MiB pieces, one thread, with
    the touch-cost sampler answering `detector`; also every (offset, length) copied."""
    path = cold_file(tmp_path, 12 * MiB)
    monkeypatch.setattr(readers, "READ_CHUNK", MiB)
    monkeypatch.setattr(first_touch, "sample_touch_ns", detector)
    copied: list[tuple[int, int]] = []
    real_copy = readers.Reader.copy

    def recording_copy(self: readers.Reader, target: Any, offset: int, length: int) -> None:
        copied.append((offset, length))
        real_copy(self, target, offset, length)

    monkeypatch.setattr(readers.Reader, "copy", recording_copy)
    stats = run_prefetch(plan_prefetch([str(path)]), num_threads=1)
    assert stats.resident_after_bytes >= 0.99 * path.stat().st_size
    return stats, path, copied


def covered(pieces: list[tuple[int, int]]) -> int:
    return sum(length for _, length in sorted(set(pieces)))


def test_a_costly_first_touch_makes_auto_copy_every_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stats, path, copied = auto_prefetch(tmp_path, monkeypatch, lambda fd, at, n: 6000.0)
    assert stats.method == "copy" and stats.first_touch_ns == 6000.0
    assert "6.00 µs per page" in stats.method_reason and "after 2 MiB" in stats.method_reason
    assert covered(copied) == path.stat().st_size  # the two sampled pieces were copied too
    assert stats.to_json()["method"] == "copy"


def test_a_cheap_first_touch_keeps_sendfile_and_copies_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stats, _, copied = auto_prefetch(tmp_path, monkeypatch, lambda fd, at, n: 200.0)
    assert stats.method == "sendfile" and copied == []
    assert "0.20 µs per page" in stats.method_reason and "12 samples" in stats.method_reason


def test_auto_switches_to_copy_when_the_cost_rises_part_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the first pieces come from memory the hypervisor still maps; the rest do not
    def detector(fd: int, offset: int, length: int) -> float:
        return 250.0 if offset < 4 * MiB else 7000.0

    stats, path, copied = auto_prefetch(tmp_path, monkeypatch, detector)
    assert stats.method == "copy" and "after 6 MiB" in stats.method_reason
    assert covered(copied) == path.stat().st_size  # the cheap early pieces are touched too


def test_one_slow_sample_does_not_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def detector(fd: int, offset: int, length: int) -> float:
        return 9000.0 if offset == 5 * MiB else 200.0  # e.g. the thread was preempted once

    stats, _, copied = auto_prefetch(tmp_path, monkeypatch, detector)
    assert stats.method == "sendfile" and copied == []


def test_no_sample_keeps_sendfile_and_an_explicit_method_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stats, _, copied = auto_prefetch(tmp_path, monkeypatch, lambda fd, at, n: None)
    assert stats.method == "sendfile" and stats.first_touch_ns is None and copied == []
    for method in ("copy", "sendfile"):
        forced = run_prefetch(plan_prefetch([str(cold_file(tmp_path / method))]), method=method)
        assert forced.method == method and forced.method_reason == f"--method {method}"


def test_the_real_sampler_times_a_run_of_pages(tmp_path: Path) -> None:
    path = random_file(tmp_path / "w.safetensors", 4 * MiB)
    fd = os.open(path, os.O_RDONLY)
    try:
        cost = first_touch.sample_touch_ns(fd, 0, 4 * MiB)
        assert cost is not None and cost > 0
        assert first_touch.sample_touch_ns(fd, 0, 64 * 1024) is None  # too short to sample
    finally:
        os.close(fd)


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


def test_the_detector_fills_and_samples_the_whole_sample_not_its_head(tmp_path: Path) -> None:
    # the first MiB allocated after a pause read cheap where the rest does not: the sample spans
    # the fill (runs spread evenly to its end), and the filled pages count as warmed
    path = cold_file(tmp_path)
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        assert first_touch.touch_cost_ns(fd, size, 0) is not None
        assert resident_bytes_in(fd, size, [(0, size)]) == size
        runs = first_touch._touch_runs(fd, 0, size)
    finally:
        os.close(fd)
    assert len(runs) == first_touch.RUNS and all(cost > 0 for cost in runs)


def test_doctor_scratch_sample_is_measured_and_removed(tmp_path: Path) -> None:
    cost = first_touch.measure_in(tmp_path)
    assert cost is None or cost > 0
    assert list(tmp_path.iterdir()) == []


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
