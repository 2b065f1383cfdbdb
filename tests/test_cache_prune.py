"""`weightlib cache prune`: detached revisions (by age, or all but the newest N), orphan blobs and
stale partial downloads go; refs, the blobs they use, and running downloads stay."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cache_helpers import document, hf_cache, repo_entry, two_revision_repo, weightlib
from tests.helpers import random_file, sha256_of
from tests.hubs.fixtures import HubServer

pytest_plugins = ["tests.hubs.hf_plugin"]

DAY = 86400


@pytest.fixture
def detached(hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path) -> tuple[Path, Path]:
    """`org/two` at `main` and at `v1`, with the `v1` ref then dropped: v1's snapshot detached,
    as after the branch moved on."""
    two_revision_repo(hf_hub, tmp_path)
    main = Path(weightlib(hub_env, "download", "org/two").stdout.strip().splitlines()[-1])
    v1 = weightlib(hub_env, "download", "org/two", "--revision", "v1").stdout.strip().splitlines()
    (hf_cache(hub_env) / "models--org--two" / "refs" / "v1").unlink()
    return main, Path(v1[-1])


def age(path: Path, seconds: float) -> None:
    """Make `path` (and what it holds) look last written `seconds` ago."""
    then = time.time() - seconds
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(item, (then, then), follow_symlinks=False)
        if item.is_symlink():
            os.utime(item.resolve(), (then, then))


def test_a_detached_revision_goes_and_the_refd_one_stays_intact(
    detached: tuple[Path, Path], hub_env: dict[str, str]
) -> None:
    main, v1 = detached
    sums = {p.name: sha256_of(p) for p in main.iterdir()}
    plan = document(hub_env, "cache", "prune", "--dry-run")
    assert [r["revisions"] for r in plan["removals"]] == [[v1.name]] and v1.exists()
    done = document(hub_env, "cache", "prune", "--yes")
    assert done["removed"] and done["freed_bytes"] == plan["freed_bytes"] > 0
    assert not v1.exists() and {p.name: sha256_of(p) for p in main.iterdir()} == sums
    from huggingface_hub import scan_cache_dir

    info = scan_cache_dir(hf_cache(hub_env))
    assert not info.warnings and [r.commit_hash for r in next(iter(info.repos)).revisions] == [
        main.name
    ]


def test_older_than_and_keep_last_spare_recent_detached_revisions(
    detached: tuple[Path, Path], hub_env: dict[str, str]
) -> None:
    _main, v1 = detached
    assert document(hub_env, "cache", "prune", "--older-than", "30d", "--yes")["removals"] == []
    assert document(hub_env, "cache", "prune", "--keep-last", "1", "--yes")["removals"] == []
    assert v1.exists()
    age(v1, 40 * DAY)
    assert document(hub_env, "cache", "prune", "--older-than", "30d", "--yes")["removed"]
    assert not v1.exists()


def test_orphan_blobs_go(detached: tuple[Path, Path], hub_env: dict[str, str]) -> None:
    blobs = hf_cache(hub_env) / "models--org--two" / "blobs"
    orphan = random_file(blobs / ("0" * 64), 5000)
    entry = repo_entry(document(hub_env, "cache", "ls"), "org/two")
    assert entry["orphan_blobs"] == 1 and entry["orphan_bytes"] == 5000
    done = document(hub_env, "cache", "prune", "--keep-last", "5", "--yes")
    assert done["freed_bytes"] == 5000 and not orphan.exists()


def test_partials_go_only_when_asked_old_and_unlocked(
    detached: tuple[Path, Path], hub_env: dict[str, str]
) -> None:
    blobs = hf_cache(hub_env) / "models--org--two" / "blobs"
    partial = random_file(blobs / (("1" * 64) + ".incomplete"), 3000)
    document(hub_env, "cache", "prune", "--keep-last", "5", "--yes")
    assert partial.exists()  # not asked for
    document(hub_env, "cache", "prune", "--keep-last", "5", "--partials", "--yes")
    assert partial.exists()  # younger than a day: a paused download resumes it
    age(partial, 2 * DAY)
    done = document(hub_env, "cache", "prune", "--keep-last", "5", "--partials", "--yes")
    assert done["freed_bytes"] == 3000 and not partial.exists()


HOLD_LOCK = (
    "import fcntl, sys, time; f = open(sys.argv[1], 'w'); fcntl.lockf(f, fcntl.LOCK_EX); "
    "print('held', flush=True); time.sleep(60)"
)


def test_a_locked_repository_is_skipped(
    detached: tuple[Path, Path], hub_env: dict[str, str]
) -> None:
    lock = hf_cache(hub_env) / ".locks" / "models--org--two" / "weightlib.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    # held by another process, as a running download holds it (lockf locks are per process)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        plan = document(hub_env, "cache", "prune", "--yes")
        assert plan["busy"] == ["org/two"] and plan["removals"] == []
        assert detached[1].exists()
        assert repo_entry(document(hub_env, "cache", "ls"), "org/two")["state"] == "downloading"
    finally:
        holder.kill()
        holder.wait()


def test_bad_ages_exit_2(hub_env: dict[str, str]) -> None:
    result = weightlib(hub_env, "cache", "prune", "--older-than", "soon", "--yes")
    assert result.returncode == 2 and "--older-than" in result.stderr


def test_without_yes_and_no_terminal_it_refuses(
    detached: tuple[Path, Path], hub_env: dict[str, str]
) -> None:
    result = weightlib(hub_env, "cache", "prune")
    assert result.returncode == 2 and detached[1].exists()
