"""`weightlib cache rm`: repositories and revisions removed in the client's layout (the real
`huggingface_hub` scan still reads the rest), shared blobs kept, pages evicted, never while a
download holds the lock, and never without `--yes` or a terminal's answer."""

from __future__ import annotations

import os
import pty
import subprocess
import time
from pathlib import Path

import pytest

from tests.cache_helpers import (
    CHANGED_SHARD,
    SHARED_SHARDS,
    document,
    hf_cache,
    two_revision_repo,
    weightlib,
)
from tests.helpers import WEIGHTLIB, sha256_of, stop_process, wait_for
from tests.hubs.fixtures import HubServer, make_sharded_repo

pytest_plugins = ["tests.hubs.hf_plugin"]


@pytest.fixture
def two(hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path) -> tuple[Path, Path]:
    """`org/two` downloaded at `main` and `v1`: the two snapshot folders."""
    two_revision_repo(hf_hub, tmp_path)
    main = weightlib(hub_env, "download", "org/two").stdout.strip().splitlines()[-1]
    v1 = weightlib(hub_env, "download", "org/two", "--revision", "v1").stdout.strip().splitlines()
    return Path(main), Path(v1[-1])


def scan(env: dict[str, str]) -> object:
    """huggingface_hub's own cache scan of the test's cache."""
    from huggingface_hub import scan_cache_dir

    return scan_cache_dir(hf_cache(env))


def test_removing_a_revision_keeps_the_blobs_the_other_uses(
    two: tuple[Path, Path], hub_env: dict[str, str], tmp_path: Path
) -> None:
    main, v1 = two
    kept = {name: sha256_of(main / name) for name in SHARED_SHARDS}
    result = document(hub_env, "cache", "rm", "org/two@v1", "--yes")
    (removal,) = result["removals"]
    assert removal["revisions"] == [v1.name] and not removal["whole_repo"]
    changed = (tmp_path / "v1" / CHANGED_SHARD).stat().st_size
    assert removal["freed_bytes"] == changed + (tmp_path / "v1" / "config.json").stat().st_size
    assert removal["shared_bytes_kept"] > 0
    assert not v1.exists() and {n: sha256_of(main / n) for n in SHARED_SHARDS} == kept
    info = scan(hub_env)
    assert not info.warnings  # type: ignore[attr-defined]
    (repo,) = info.repos  # type: ignore[attr-defined]
    assert [r.commit_hash for r in repo.revisions] == [main.name]
    assert {ref for r in repo.revisions for ref in r.refs} == {"main"}
    assert weightlib(hub_env, "download", "org/two", "--offline").returncode == 0


def test_removing_a_repository_removes_its_folder(
    two: tuple[Path, Path], hub_env: dict[str, str]
) -> None:
    assert document(hub_env, "cache", "rm", "org/two", "--yes")["removals"][0]["whole_repo"]
    assert not (hf_cache(hub_env) / "models--org--two").exists()
    assert not scan(hub_env).repos and not scan(hub_env).warnings  # type: ignore[attr-defined]


def test_a_dry_run_removes_nothing(two: tuple[Path, Path], hub_env: dict[str, str]) -> None:
    before = sorted(p.name for p in (hf_cache(hub_env) / "models--org--two" / "blobs").iterdir())
    plan = document(hub_env, "cache", "rm", "org/two", "--dry-run")
    assert plan["dry_run"] and plan["freed_bytes"] > 0 and not plan["removed"]
    after = sorted(p.name for p in (hf_cache(hub_env) / "models--org--two" / "blobs").iterdir())
    assert after == before


def test_without_yes_and_no_terminal_it_refuses(
    two: tuple[Path, Path], hub_env: dict[str, str]
) -> None:
    result = weightlib(hub_env, "cache", "rm", "org/two")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--yes" in result.stderr
    assert two[0].exists() and two[1].exists()


def run_on_terminal(env: dict[str, str], answer: bytes, *args: str) -> tuple[int, str]:
    """Run `weightlib ARGS` with a pseudo-terminal as stdin and stderr; answer its prompt."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [WEIGHTLIB, *args], env=env, stdin=terminal, stdout=subprocess.PIPE, stderr=terminal
    )
    os.close(terminal)
    seen = b""
    deadline = time.monotonic() + 60
    while b"?" not in seen and time.monotonic() < deadline:
        seen += os.read(controller, 1024)
    os.write(controller, answer)
    out, _ = process.communicate(timeout=60)
    os.close(controller)
    return process.returncode, seen.decode() + out.decode()


@pytest.mark.parametrize(("answer", "removed"), [(b"y\n", True), (b"n\n", False)])
def test_on_a_terminal_it_asks(
    two: tuple[Path, Path], hub_env: dict[str, str], answer: bytes, removed: bool
) -> None:
    code, shown = run_on_terminal(hub_env, answer, "cache", "rm", "org/two@v1")
    assert code == 0, shown
    assert "remove 1 item(s)" in shown
    assert two[1].exists() is not removed and two[0].exists()


def test_a_running_download_makes_rm_refuse_and_keeps_everything(
    hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    repo = make_sharded_repo(tmp_path / "repo", shard_floats=400_000)
    hf_hub.add_repo("org/busy", repo)
    hf_hub.set_faults(bandwidth=300_000, paths=["*.safetensors"])
    blobs = hf_cache(hub_env) / "models--org--busy" / "blobs"
    process = subprocess.Popen(
        [WEIGHTLIB, "download", "org/busy"], env=hub_env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: any(p.name.endswith(".incomplete") for p in blobs.glob("*")))
        result = weightlib(hub_env, "cache", "rm", "org/busy", "--yes")
        assert result.returncode == 7, result.stderr
        assert "a download is running" in result.stderr and result.stderr.count("\n") == 1
        assert blobs.is_dir() and any(blobs.iterdir())
        out, _ = process.communicate(timeout=120)
    finally:
        stop_process(process)
    assert process.returncode == 0
    snapshot = Path(out.strip().splitlines()[-1])
    for shard in (s for s in os.listdir(repo) if s.startswith("model-")):
        assert sha256_of(snapshot / shard) == sha256_of(repo / shard)
    assert weightlib(hub_env, "cache", "rm", "org/busy", "--yes").returncode == 0


def test_pages_are_evicted_before_the_files_go(
    two: tuple[Path, Path], hub_env: dict[str, str]
) -> None:
    main, _v1 = two
    shard = main / CHANGED_SHARD
    handle = shard.open("rb")  # an open descriptor keeps the inode (and its pages) alive
    try:
        weightlib(hub_env, "prefetch", str(main))
        assert document(hub_env, "status", str(shard))["total"]["resident_bytes"] > 0
        document(hub_env, "cache", "rm", "org/two@main", "--yes")
        from weightlib.residency import residency

        fd_path = f"/proc/self/fd/{handle.fileno()}"
        assert residency(fd_path).resident_pages == 0
    finally:
        handle.close()


def test_an_uncached_target_exits_3_and_removes_nothing(
    two: tuple[Path, Path], hub_env: dict[str, str]
) -> None:
    result = weightlib(hub_env, "cache", "rm", "org/two", "org/none", "--yes")
    assert result.returncode == 3 and "org/none" in result.stderr
    assert two[0].exists()


def test_links_out_of_the_cache_are_removed_never_followed(
    two: tuple[Path, Path], hub_env: dict[str, str], tmp_path: Path
) -> None:
    main, v1 = two
    outside = tmp_path / "precious.safetensors"
    outside.write_bytes(b"not the cache's")
    os.symlink(outside, v1 / "planted.safetensors")  # a hostile link inside a snapshot
    blobs = hf_cache(hub_env) / "models--org--two" / "blobs"
    os.symlink(outside, blobs / ("f" * 64))  # and one posing as a blob
    document(hub_env, "cache", "rm", "org/two@v1", "--yes")
    document(hub_env, "cache", "prune", "--yes")
    assert outside.read_bytes() == b"not the cache's"
    assert not v1.exists() and main.is_dir()
    document(hub_env, "cache", "rm", "org/two", "--yes")
    assert outside.read_bytes() == b"not the cache's"
