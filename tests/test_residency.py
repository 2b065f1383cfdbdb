"""residency/evict on real files, and the `status` and `evict` commands.

This VM reclaims idle page cache on its own (DAMON), so residency is checked against thresholds,
never against exactly 100 %.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.helpers import assert_error, random_file
from weightlib import linux
from weightlib.residency import (
    PAGE_SIZE,
    evict,
    merge_ranges,
    missing_ranges,
    missing_runs,
    residency,
)

MIB = 1024 * 1024


def warm(path: Path) -> None:
    with path.open("rb") as handle:
        while handle.read(4 * MIB):
            pass


def test_evict_drops_and_read_restores(tmp_path: Path) -> None:
    path = random_file(tmp_path / "a.bin", 16 * MIB)
    warm(path)
    assert residency(path).percent >= 90
    after = evict(path)
    assert after.resident_pages <= after.pages // 20
    assert residency(path).percent <= 5


def test_mincore_and_cachestat_agree(tmp_path: Path) -> None:
    path = random_file(tmp_path / "a.bin", 8 * MIB)
    evict(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # exactly the first quarter
        os.pread(fd, 2 * MIB, 0)
    finally:
        os.close(fd)
    by_mincore = residency(path, method="mincore").resident_pages
    mapped = residency(path, page_map=True)
    assert mapped.page_vector is not None and len(mapped.page_vector) == mapped.pages
    assert mapped.page_vector[0] == 1
    if linux.cachestat_available():
        by_cachestat = residency(path, method="cachestat").resident_pages
        assert abs(by_cachestat - by_mincore) <= mapped.pages // 10
    assert residency(path).pages == 8 * MIB // PAGE_SIZE


def test_residency_does_not_fault_pages_in(tmp_path: Path) -> None:
    path = random_file(tmp_path / "a.bin", 16 * MIB)
    evict(path)
    for _ in range(3):
        residency(path, page_map=True)
        residency(path, method="mincore")
    assert residency(path).percent <= 5


def test_page_map_and_missing_ranges(tmp_path: Path) -> None:
    path = random_file(tmp_path / "a.bin", 4 * MIB)
    evict(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        os.pread(fd, PAGE_SIZE, 0)
        size = os.fstat(fd).st_size
        missing = missing_ranges(fd, size, [(0, size)])
    finally:
        os.close(fd)
    assert missing and missing[0][0] >= PAGE_SIZE
    assert missing[-1][1] == 4 * MIB
    page_map = residency(path, page_map=True).page_map(width=8)
    assert len(page_map) == 8 and page_map[0] in "Oo" and "." in page_map


def test_range_helpers() -> None:
    assert merge_ranges([(10, 20), (5000, 9000), (8000, 8200)], 10000, 4096) == [(0, 10000)]
    assert merge_ranges([(9000, 9100), (10, 20)], 20000, 4096) == [(0, 4096), (8192, 12288)]
    assert merge_ranges([(0, 0), (200, 100)], 1000) == []
    assert missing_runs(b"\x01\x00\x00\x01\x00", 0, 5) == [(1, 3), (4, 5)]
    assert missing_runs(b"\x01\x01", 0, 2) == []


def test_empty_file_residency(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(b"")
    result = residency(path)
    assert (result.size, result.pages, result.percent) == (0, 0, 100.0)


def test_status_and_evict_commands(tmp_path: Path, run_cli: CliRunner) -> None:
    a = random_file(tmp_path / "a.safetensors", 8 * MIB)
    b = random_file(tmp_path / "b.safetensors", 8 * MIB)
    warm(a)
    evicted = run_cli("evict", "--json", a, b)
    assert evicted.returncode == 0, evicted.stderr
    doc = json.loads(evicted.stdout)
    assert [f["path"] for f in doc["files"]] == [str(a), str(b)]
    assert doc["total"]["resident_bytes"] <= 16 * MIB // 20
    warm(a)
    status = run_cli("status", "--json", "--verbose", a, b)
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    first, second = doc["files"]
    assert first["percent"] >= 90 and second["percent"] <= 5
    assert set(first["page_map"]) <= {"O", "o"} and set(second["page_map"]) == {"."}
    assert doc["total"]["size"] == 16 * MIB and doc["errors"] == []
    # Status itself did not fault b in.
    assert residency(b).percent <= 5
    human = run_cli("status", a)
    assert human.returncode == 0 and "total (1 files)" in human.stdout and str(a) in human.stdout


def test_status_of_a_model_folder_includes_support_files(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    random_file(tmp_path / "model.safetensors", MIB)
    (tmp_path / "config.json").write_text("{}")
    result = run_cli("status", "--json", tmp_path)
    assert result.returncode == 0, result.stderr
    names = [Path(f["path"]).name for f in json.loads(result.stdout)["files"]]
    assert names == ["model.safetensors", "config.json"]


@pytest.mark.parametrize("command", ["status", "evict"])
def test_missing_path_is_exit_3(tmp_path: Path, run_cli: CliRunner, command: str) -> None:
    present = random_file(tmp_path / "a.bin", MIB)
    result = run_cli(command, present, tmp_path / "nope.safetensors")
    assert_error(result, 3, "nope.safetensors", "no such file")
    assert str(present) in result.stdout


def test_status_of_folder_without_weights_is_exit_3(tmp_path: Path, run_cli: CliRunner) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert_error(run_cli("status", tmp_path), 3, str(tmp_path), "no weight files")


def test_writer_calls_reserve_blocks_and_report_errors(tmp_path: Path) -> None:
    # dummy-init reserves each shard's blocks and starts writeback per chunk (weightlib.linux)
    path = tmp_path / "reserved"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.ftruncate(fd, 4 * 1024 * 1024)
        assert os.fstat(fd).st_blocks == 0  # sparse until reserved
        linux.fallocate(fd, 0, 4 * 1024 * 1024)
        assert os.fstat(fd).st_blocks * 512 >= 4 * 1024 * 1024
        os.pwrite(fd, b"x" * 65536, 0)
        linux.start_writeback(fd, 0, 65536)
    finally:
        os.close(fd)
    assert path.read_bytes()[:2] == b"xx"
    for call in (linux.fallocate, linux.start_writeback):
        with pytest.raises(OSError) as raised:
            call(fd, 0, 4096)  # closed: the errno comes through, nothing is swallowed here
        assert raised.value.errno == errno.EBADF
