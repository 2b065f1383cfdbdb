"""weightlib on a REAL network filesystem: sshfs (FUSE, SFTP over TCP) mounted over loopback.

The mount comes from tests/netfs.py (a private sshd on 127.0.0.1, throwaway keys). Without
sshfs/sshd/FUSE the tests skip with the reason; with CI=true or WEIGHTLIB_REQUIRE_NETFS=1 they
fail instead. No timing assertions.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import CliRunner
from tests.helpers import WEIGHTLIB, assert_error, output_path, random_file, sha256_of
from tests.hubs.fixtures import HubServer, make_sharded_repo
from tests.layouts import write_checkpoint
from weightlib.fs import get_fs_type, is_network_fs
from weightlib.locks import PosixLock
from weightlib.residency import evict, residency

if TYPE_CHECKING:
    from tests.netfs import SshfsMount

pytest_plugins = ["tests.hubs.hf_plugin", "tests.netfs"]  # fixtures hf_hub, hub_env, netfs…

MIB = 1024 * 1024


def small_model(folder: Path, shards: int = 2, shard_mib: int = 4) -> list[Path]:
    """Real safetensors shards (random F32) plus config and tokenizer files."""
    floats = shard_mib * MIB // 4
    layers = range(1, shards + 1)
    checkpoint = write_checkpoint(
        folder, [{f"layers.{i}.w": (floats,)} for i in layers], index=False
    )
    (folder / "config.json").write_text('{"model_type": "tiny"}')
    (folder / "tokenizer.json").write_text("{}")
    return checkpoint.paths


def resident_fraction(*paths: Path) -> float:
    results = [residency(p) for p in paths]
    return sum(r.resident_pages for r in results) / sum(r.pages for r in results)


def test_get_fs_type_reports_the_mount_as_network(netfs: SshfsMount) -> None:
    folder = netfs.path("fstype")
    folder.mkdir()
    (folder / "a.safetensors").write_bytes(b"x")
    assert get_fs_type(netfs.mount) == "fuse.sshfs"
    assert get_fs_type(folder / "a.safetensors") == "fuse.sshfs"
    assert is_network_fs(get_fs_type(folder / "a.safetensors"))
    local = get_fs_type(netfs.export / "fstype" / "a.safetensors")
    assert local != "fuse.sshfs" and not is_network_fs(local)


def test_a_mount_through_the_benchmarks_delay_relay_serves_the_same_bytes(tmp_path: Path) -> None:
    # bench/load.py's network storage: sshfs → bench/delay_relay.py (2 ms each way) → sshd
    from bench.load import delay_relay
    from tests.netfs import sshfs_mount

    relayed: list[tuple[int, int]] = []  # (sshd's port, the relay's)

    @contextlib.contextmanager
    def relay(sshd_port: int) -> Iterator[int]:
        with delay_relay(sshd_port, 2.0) as port:
            relayed.append((sshd_port, port))
            yield port

    with sshfs_mount(tmp_path / "relayed", via=relay) as mounted:
        assert [mounted.port] == [port for _, port in relayed] != [s for s, _ in relayed]
        written = random_file(mounted.export / "w.safetensors", 3 * MIB)
        through = mounted.mount / "w.safetensors"
        assert sha256_of(through) == sha256_of(written)
        done = subprocess.run(
            [WEIGHTLIB, "prefetch", str(through), "--json"], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["resident_after_bytes"] == 3 * MIB


def test_prefetch_auto_warms_on_the_mount_and_skips_on_local_disk(
    netfs: SshfsMount, run_cli: CliRunner
) -> None:
    small_model(netfs.export / "warm")
    folder = netfs.path("warm")
    shards = sorted(folder.glob("*.safetensors"))
    for path in shards:
        evict(path)
    assert resident_fraction(*shards) <= 0.05
    result = run_cli("prefetch", "--auto", "--json", folder)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert "skipped" not in doc and doc["errors"] == []
    weight_bytes = sum(p.stat().st_size for p in shards)
    assert doc["files"] == 4  # two shards + config + tokenizer
    assert doc["read_bytes"] >= 0.95 * weight_bytes
    assert doc["resident_after_bytes"] >= 0.9 * doc["bytes"]
    status = run_cli("status", "--json", *shards)  # another process, new opens
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["total"]["percent"] >= 90

    skipped = run_cli("prefetch", "--auto", netfs.export / "warm")  # the same files, local disk
    assert skipped.returncode == 0, skipped.stderr
    assert "prefetch skipped" in skipped.stdout and "network filesystem" in skipped.stdout
    as_json = run_cli("prefetch", "--auto", "--json", netfs.export / "warm")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["read_bytes"] == 0 and "network filesystem" in doc["skipped"]


def test_prefetch_reports_residency_honestly_where_fuse_drops_the_cache(
    netfs_defaults: SshfsMount, run_cli: CliRunner
) -> None:
    """sshfs without kernel_cache drops a file's pages at every open: warming cannot stick."""
    (shard,) = small_model(netfs_defaults.export / "drop", shards=1)
    path = netfs_defaults.path("drop", shard.name)
    result = run_cli("prefetch", "--json", path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["read_bytes"] >= 0.95 * doc["bytes"]
    assert doc["resident_after_bytes"] <= 0.1 * doc["bytes"]  # measured after a reopen


def test_prefetch_warns_when_the_filesystem_drops_warmed_pages(
    netfs_defaults: SshfsMount, run_cli: CliRunner
) -> None:
    (shard,) = small_model(netfs_defaults.export / "warn", shards=1)
    result = run_cli("prefetch", netfs_defaults.path("warn", shard.name))
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "kernel_cache" in result.stderr


def test_posix_lock_on_the_mount_makes_a_second_process_wait(netfs: SshfsMount) -> None:
    """The download lock (lockf) held by one process on the mount: another waits, then gets it."""
    lock_file = netfs.path("locks", "weightlib.lock")
    holder = PosixLock(lock_file, timeout=5, what="org/locked")
    code = (
        "import sys, time\n"
        "from weightlib.locks import PosixLock\n"
        "lock = PosixLock(sys.argv[1], timeout=float(sys.argv[2]), what='org/locked')\n"
        "began = time.monotonic()\n"
        "lock.acquire(on_wait=lambda: print('waiting', flush=True))\n"
        "print(f'acquired {time.monotonic() - began:.2f}', flush=True)\n"
    )
    python = str(Path(WEIGHTLIB).with_name("python"))
    with holder.held():
        timed_out = subprocess.run(
            [python, "-c", code, str(lock_file), "0.3"], capture_output=True, text=True, timeout=60
        )
        assert timed_out.returncode != 0 and "LockTimeoutError" in timed_out.stderr
        waiter = subprocess.Popen(
            [python, "-c", code, str(lock_file), "30"], stdout=subprocess.PIPE, text=True
        )
        assert waiter.stdout is not None
        assert waiter.stdout.readline().strip() == "waiting"
        time.sleep(0.3)
        assert waiter.poll() is None  # still blocked while we hold the lock
    out, _ = waiter.communicate(timeout=30)
    assert waiter.returncode == 0 and out.startswith("acquired")


def test_download_lock_on_the_mount_makes_others_wait(
    netfs: SshfsMount, hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    """The repo's download lock on the mount is held (by this test, as a slow first download):
    real `weightlib download`s wait for it, one with --lock-timeout gives up with exit 7, and
    once it is free the waiters fetch each file once between them."""
    folder = make_sharded_repo(tmp_path / "repo", shards=2, shard_floats=64 * 1024, extras=False)
    hf_hub.add_repo("org/netfs-lock", folder)
    hf_hub.set_faults(bandwidth=1_000_000)  # the two waiters overlap once released
    cache = netfs.path("lock-cache")
    env = {**hub_env, "WEIGHTLIB_HF_TRANSFER": "0", "WEIGHTLIB_PROGRESS_INTERVAL": "60"}
    argv = [WEIGHTLIB, "download", "org/netfs-lock", "--cache-dir", str(cache)]
    lock_file = cache / ".locks" / "models--org--netfs-lock" / "weightlib.lock"
    mark = hf_hub.mark()
    with PosixLock(lock_file, timeout=5, what="test").held():
        waiters = [
            subprocess.Popen(
                argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        impatient = subprocess.run(
            [*argv, "--lock-timeout", "0.5"], env=env, capture_output=True, text=True, timeout=60
        )
        assert_error(impatient, 7, "org/netfs-lock", "timed out")
        deadline = time.monotonic() + 30  # both waiters listed the repo, so they are at the lock
        while time.monotonic() < deadline:
            listings = [r for r in hf_hub.requests(mark) if r["path"].startswith("/api/")]
            if len(listings) >= 3:
                break
            time.sleep(0.05)
        time.sleep(0.5)
        assert all(w.poll() is None for w in waiters)  # still blocked on the lock
        assert not hf_hub.file_gets(mark, repo="org/netfs-lock")  # nothing fetched meanwhile
    outputs = [w.communicate(timeout=120) for w in waiters]
    assert [w.returncode for w in waiters] == [0, 0], [e for _, e in outputs]
    assert all("waiting for another download" in err for _, err in outputs), outputs
    gets = Counter(r["file"] for r in hf_hub.file_gets(mark, repo="org/netfs-lock"))
    assert gets and set(gets.values()) == {1}, gets
    path = Path(outputs[1][0].strip().splitlines()[-1])
    assert get_fs_type(path) == "fuse.sshfs"
    for name in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        assert sha256_of(path / name) == sha256_of(folder / name)


def test_four_concurrent_downloads_into_a_cache_on_the_mount_fetch_each_file_once(
    netfs: SshfsMount, hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    folder = make_sharded_repo(tmp_path / "repo", shards=4, shard_floats=64 * 1024)
    hf_hub.add_repo("org/netfs-four", folder)
    hf_hub.set_faults(bandwidth=2_000_000)  # the processes overlap
    cache = netfs.path("four-cache")
    env = {**hub_env, "WEIGHTLIB_HF_TRANSFER": "0"}
    mark = hf_hub.mark()
    procs = [
        subprocess.Popen(
            [WEIGHTLIB, "download", "org/netfs-four", "--cache-dir", str(cache)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outputs]
    paths = {Path(out.strip().splitlines()[-1]) for out, _ in outputs}
    assert len(paths) == 1
    path = paths.pop()
    assert get_fs_type(path) == "fuse.sshfs"
    gets = Counter(r["file"] for r in hf_hub.file_gets(mark, repo="org/netfs-four"))
    assert gets and set(gets.values()) == {1}, gets
    assert "model-00004-of-00004.safetensors" in gets
    for name in gets:
        assert sha256_of(path / name) == sha256_of(folder / name), name
    assert not list(cache.rglob("*.incomplete"))
    # the server side holds the same bytes: they really crossed the network filesystem
    blobs = list((netfs.export / "four-cache").rglob("blobs/*"))
    assert len(blobs) == len(gets)
    assert os.path.isdir(netfs.export / "four-cache" / ".locks")


def test_download_into_a_cache_on_sshfs_with_default_options(
    netfs_defaults: SshfsMount, hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    folder = make_sharded_repo(tmp_path / "repo", shards=2, extras=False)
    hf_hub.add_repo("org/netfs-defaults", folder)
    cache = netfs_defaults.path("defaults-cache")
    result = subprocess.run(
        [WEIGHTLIB, "download", "org/netfs-defaults", "--cache-dir", str(cache)],
        env={**hub_env, "WEIGHTLIB_HF_TRANSFER": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    path = output_path(result)
    name = "model-00002-of-00002.safetensors"
    assert sha256_of(path / name) == sha256_of(folder / name)


def test_a_missing_mount_skips_with_the_reason_or_fails_where_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without sshfs the fixtures skip naming the package; with CI=true they fail instead."""
    import tests.netfs as netfs_module

    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "sshfs" else real_which(name))
    reason = netfs_module.unavailable_reason()
    assert reason is not None and "apt-get install sshfs" in reason
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("WEIGHTLIB_REQUIRE_NETFS", raising=False)
    with (
        pytest.raises(pytest.skip.Exception, match="apt-get install sshfs"),
        netfs_module.sshfs_mount(tmp_path / "skip"),
    ):
        pass
    monkeypatch.setenv("CI", "true")
    with (
        pytest.raises(pytest.fail.Exception, match="required here"),
        netfs_module.sshfs_mount(tmp_path / "fail"),
    ):
        pass
