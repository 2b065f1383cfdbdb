"""Scale: MoE expert slices warmed by `prefetch --tensors`, and 1,000-shard / 1 TB checkpoints.

The layouts come from bench/scale.py (`write_moe_checkpoint`): valid safetensors shards in a
MoE layout with an index; sparse (a header, then `truncate`) for the 1 TB checkpoint, real bytes
for the prefetch test. No timing assertions: the time and RSS curve is the benchmark's job.
This VM reclaims idle page cache (DAMON), so residency is checked against thresholds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.scale import (
    RSS_TARGET_MB,
    Checkpoint,
    SparseHub,
    expert_regex,
    layout_for_size,
    run_measured,
    write_moe_checkpoint,
)
from tests.conftest import CliRunner
from tests.helpers import WEIGHTLIB, run_with_fd_limit, wait_for
from weightlib.prefetch import plan_prefetch
from weightlib.residency import PAGE_SIZE, evict, residency
from weightlib.safetensors_header import read_safetensors_header

MIB = 1024 * 1024
TB = 10**12


@pytest.fixture(scope="module")
def moe_real(tmp_path_factory: pytest.TempPathFactory) -> Checkpoint:
    """~130 MiB of real bytes: 4 layers × 16 experts × 3 projections + dense, in 8 shards."""
    layout = layout_for_size(128 * MIB, layers=4, experts=16)
    return write_moe_checkpoint(
        tmp_path_factory.mktemp("moe-real"), layout, 8, sparse=False, placement=True
    )


@pytest.fixture(scope="module")
def moe_1000(tmp_path_factory: pytest.TempPathFactory) -> Checkpoint:
    """1,000 sparse shards, ~1 TB logical, 3,303 tensors (60 layers × 16 experts × 3 + dense)."""
    layout = layout_for_size(TB, layers=60, experts=16)
    return write_moe_checkpoint(tmp_path_factory.mktemp("moe-1000"), layout, 1000)


def owned_pages(checkpoint: Checkpoint, pattern: re.Pattern[str]) -> dict[str, set[int]]:
    """Per shard, the pages holding the matching tensors."""
    pages: dict[str, set[int]] = {s: set() for s in checkpoint.shards}
    for name, (shard, start, end) in checkpoint.placement.items():
        if pattern.search(name):
            pages[shard].update(range(start // PAGE_SIZE, -(-end // PAGE_SIZE)))
    return pages


def test_prefetch_tensors_warms_only_the_experts_one_rank_owns(
    moe_real: Checkpoint, run_cli: CliRunner
) -> None:
    rank, world_size = 1, 4
    regex = expert_regex(rank, world_size, moe_real.layout.experts)
    pattern = re.compile(regex)
    files = [moe_real.folder / s for s in moe_real.shards]
    share = sum(e - s for n, (_, s, e) in moe_real.placement.items() if pattern.search(n))
    owned = sum(1 for n in moe_real.placement if pattern.search(n))
    assert owned == moe_real.layout.layers * 4 * 3  # 4 of 16 experts, 3 projections per layer
    assert 0.1 < share / moe_real.data_bytes < 0.25

    evict_all = run_cli("evict", "--json", *files)
    assert evict_all.returncode == 0, evict_all.stderr
    assert json.loads(evict_all.stdout)["total"]["percent"] <= 5
    plan = plan_prefetch(files, regex)
    assert plan.tensors_matched == owned

    result = run_cli("prefetch", "--json", "--tensors", regex, *files)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["errors"] == [] and doc["files"] == len(files)
    # bytes read ≈ the rank's share (the headers and page rounding add a few pages)
    assert abs(doc["read_bytes"] - share) <= 0.01 * share, (doc["read_bytes"], share)
    assert abs(doc["bytes"] - share) <= 0.01 * share

    inside = outside = inside_resident = outside_resident = 0
    for shard, pages in owned_pages(moe_real, pattern).items():
        state = residency(moe_real.folder / shard, page_map=True)
        assert state.page_vector is not None
        data_start = read_safetensors_header(moe_real.folder / shard).data_start
        header_pages = set(range(-(-data_start // PAGE_SIZE)))  # the header is warmed too
        for page, cached in enumerate(state.page_vector):
            if page in pages:
                inside += 1
                inside_resident += cached & 1
            elif page not in header_pages:
                outside += 1
                outside_resident += cached & 1
    print(f"owned pages resident {inside_resident}/{inside}, others {outside_resident}/{outside}")
    assert inside_resident >= 0.9 * inside, (inside_resident, inside)
    assert outside_resident <= 0.01 * outside, (outside_resident, outside)


def test_thousand_shards_filter_index_size_status(moe_1000: Checkpoint, run_cli: CliRunner) -> None:
    folder = moe_1000.folder
    sizes = {s: (folder / s).stat().st_size for s in moe_1000.shards}
    assert sum(sizes.values()) > 0.9 * TB  # logical: the data areas are holes

    listed = run_cli("filter", folder)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == moe_1000.shards  # all of them, in natural order

    size = run_cli("size", "--bytes", folder)
    assert size.returncode == 0, size.stderr
    assert int(size.stdout.strip()) == sum(sizes.values())

    index = run_cli("index", "--json", folder)
    assert index.returncode == 0, index.stderr
    doc = json.loads(index.stdout)
    assert [s["file"] for s in doc["shards"]] == moe_1000.shards
    assert doc["total_tensors"] == moe_1000.layout.tensor_count
    assert doc["total_bytes"] == sum(sizes.values())
    assert doc["missing"] == [] and doc["errors"] == []
    assert {d for s in doc["shards"] for d in s["dtypes"]} == {"BF16"}

    status = run_cli("status", "--json", folder)
    assert status.returncode == 0, status.stderr
    total = json.loads(status.stdout)["total"]
    assert total["files"] == 1000 + 5  # shards + index, config, tokenizer ×2, generation config
    assert total["size"] >= sum(sizes.values())
    assert total["percent"] < 1  # only header pages were ever written; nothing faulted in


def test_thousand_shards_remote_size_and_filter_use_one_listing(
    moe_1000: Checkpoint, tmp_path: Path, run_cli: CliRunner
) -> None:
    hub = SparseHub(tmp_path / "hub", {"scale/moe-1000": moe_1000.folder})
    try:
        env = hub.env(tmp_path / "home")
        for argv in (["size", "--bytes"], ["filter"]):
            mark = hub.mark()
            result = run_cli(*argv, "scale/moe-1000", env=env)
            assert result.returncode == 0, result.stderr
            logged = hub.requests(mark)
            api = [r for r in logged if r["path"].startswith("/api/")]
            files = [r["file"] for r in logged if r.get("file")]
            assert len(api) == 1, api  # ONE listing, never one request per shard
            assert files == ["model.safetensors.index.json"], files
        assert result.stdout.splitlines() == moe_1000.shards
    finally:
        hub.stop()


def test_prefetch_of_a_thousand_cold_shards_fits_a_low_descriptor_limit(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    layout = layout_for_size(32 * MIB, layers=60, experts=16)
    checkpoint = write_moe_checkpoint(tmp_path / "moe", layout, 1000, sparse=False)
    files = sorted(checkpoint.folder.iterdir())
    for path in files:
        evict(path)
    result = run_with_fd_limit(
        [WEIGHTLIB, "prefetch", "--json", checkpoint.folder], 256, env=cli_env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-500:]
    doc = json.loads(result.stdout)
    assert doc["files"] == len(files) and doc["errors"] == []
    assert doc["resident_after_bytes"] >= 0.9 * doc["bytes"]


def test_thousand_shard_remote_index_streams_and_stops_when_range_is_ignored(
    moe_1000: Checkpoint, tmp_path: Path
) -> None:
    # a server that ignores Range sends each whole (1 GB, sparse) shard for a header read:
    # the client keeps only the header block it asked for and drops the connection
    hub = SparseHub(tmp_path / "hub", {"scale/moe-1000": moe_1000.folder})
    try:
        hub.set_faults(ignore_range=True, paths=["*.safetensors"])
        env = hub.env(tmp_path / "home")
        _, rss_mb, code, out, err = run_measured(
            [WEIGHTLIB, "index", "scale/moe-1000", "--json"], env
        )
        assert code == 0, err
        report = json.loads(out)
        assert [s["file"] for s in report["shards"]] == moe_1000.shards
        assert sum(s["tensors"] for s in report["shards"]) == moe_1000.layout.tensor_count
        assert rss_mb < RSS_TARGET_MB, rss_mb

        # every shard's whole body was offered and the client hung up after its header block
        # (the hub logs each when its next write fails, which may come after the client exits)
        def hung_up() -> int:
            return sum(r.get("fault") == "client-gone" for r in hub.requests())

        wait_for(lambda: hung_up() >= len(moe_1000.shards), timeout=60)
    finally:
        hub.stop()
