"""A real FUSE network filesystem for tests: sshfs over loopback against a private sshd.

`sshfs_mount(workdir)` starts `sshd` on 127.0.0.1 (a free port, a throwaway host key and user
key in `workdir`, public-key login only, the built-in sftp server) and mounts `workdir/export`
at `workdir/mnt` with sshfs, so reads and writes under the mount cross a real network protocol
(SFTP over TCP) and land in the kernel's page cache as `fuse.sshfs`. Nothing is installed at
test time: without the Debian packages `sshfs` and `openssh-server` (or without /dev/fuse or
root) the fixtures skip with the reason. Where the mount is required — `CI` is true or
`WEIGHTLIB_REQUIRE_NETFS=1` — they fail instead, so CI cannot silently skip it.

Use from a test module with `pytest_plugins = ["tests.netfs"]` (fixtures `netfs`, `netfs_defaults`).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from tests.helpers import stop_process

SSHD = "/usr/sbin/sshd"
TRUE = ("1", "true", "yes", "on")
Relay = Callable[[int], contextlib.AbstractContextManager[int]]
"""Given the sshd's port, a context that relays to it and yields the port to connect to."""


def netfs_required() -> bool:
    """True where the mount must work (CI, or WEIGHTLIB_REQUIRE_NETFS=1): fail, never skip."""
    return any(
        os.environ.get(name, "").strip().lower() in TRUE
        for name in ("CI", "WEIGHTLIB_REQUIRE_NETFS")
    )


def unavailable_reason() -> str | None:
    """Why an sshfs loopback mount cannot be made here, or None when it can be tried."""
    missing = [
        name
        for name, found in (
            ("sshfs (apt-get install sshfs)", shutil.which("sshfs")),
            ("sshd (apt-get install openssh-server)", os.access(SSHD, os.X_OK) or None),
            ("ssh-keygen (apt-get install openssh-client)", shutil.which("ssh-keygen")),
        )
        if not found
    ]
    if missing:
        return "no real network filesystem: missing " + ", ".join(missing)
    if not os.path.exists("/dev/fuse"):
        return "no real network filesystem: /dev/fuse does not exist"
    if os.geteuid() != 0 and not (shutil.which("fusermount3") or shutil.which("fusermount")):
        return "no real network filesystem: not root and no fusermount"
    return None


def give_up(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it where the mount is required."""
    if netfs_required():
        pytest.fail(f"{reason} (required here: CI or WEIGHTLIB_REQUIRE_NETFS=1)")
    pytest.skip(reason)


@dataclass
class SshfsMount:
    """A live sshfs mount: `export` is the server side, `mount` the client view of it."""

    export: Path
    mount: Path
    options: str
    port: int

    def path(self, *parts: str) -> Path:
        """A path under the mount (client side)."""
        return self.mount.joinpath(*parts)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "weightlib-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


def _sshd_config(workdir: Path, port: int) -> Path:
    config = workdir / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {workdir / 'host_key'}\n"
        f"AuthorizedKeysFile {workdir / 'authorized_keys'}\n"
        f"PidFile {workdir / 'sshd.pid'}\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        f"AllowUsers {getpass.getuser()}\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "Subsystem sftp internal-sftp\n"
    )
    return config


def _unmount(mount: Path) -> None:
    for command in (["fusermount3", "-u", "-z"], ["fusermount", "-u", "-z"], ["umount", "-l"]):
        if shutil.which(command[0]) is None:
            continue
        done = subprocess.run([*command, str(mount)], capture_output=True)
        if done.returncode == 0:
            return


def _start_sshd(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A private sshd on a free port of 127.0.0.1 (gives up with its log when it won't start)."""
    log = workdir / "sshd.log"
    for _ in range(3):  # a free port can be taken between choosing and binding it
        port = _free_port()
        config = _sshd_config(workdir, port)
        with log.open("wb") as sink:
            sshd = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)], stdout=sink, stderr=subprocess.STDOUT
            )
        if _wait_for_port(port, sshd, timeout=10):
            return sshd, port
        stop_process(sshd)
    give_up(f"no real network filesystem: sshd did not start: {log.read_text()[-300:]!r}")


@contextlib.contextmanager
def sshfs_mount(
    workdir: Path,
    *,
    kernel_cache: bool = True,
    follow_symlinks: bool = True,
    via: Relay | None = None,
) -> Iterator[SshfsMount]:
    """Start a private sshd and mount `workdir/export` at `workdir/mnt` over sshfs.

    `kernel_cache` keeps file pages in the page cache across opens (sshfs's default drops them
    at every open, which makes page-cache warming pointless on such a mount).
    `follow_symlinks` lets the server resolve symlinks (sshfs 3.7 otherwise fails readlink with
    EPERM for targets holding `..` or `/`, such as the hub cache's `../../blobs/…` links).
    `via`, given the sshd's port, opens a relay in front of it and yields the port sshfs connects
    to instead (bench/load.py puts a delaying relay there).
    Skips (or fails where required) with the reason when the mount cannot be made.
    """
    reason = unavailable_reason()
    if reason:
        give_up(reason)
    workdir.mkdir(parents=True, exist_ok=True)
    export, mount = workdir / "export", workdir / "mnt"
    export.mkdir(exist_ok=True)
    mount.mkdir(exist_ok=True)
    _keygen(workdir / "host_key")
    _keygen(workdir / "user_key")
    shutil.copy(workdir / "user_key.pub", workdir / "authorized_keys")
    os.chmod(workdir / "authorized_keys", 0o600)
    if os.geteuid() == 0:  # sshd refuses to start without its privilege-separation directory
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    sshd, sshd_port = _start_sshd(workdir)
    try:
        with via(sshd_port) if via else contextlib.nullcontext(sshd_port) as port:
            options = _options(workdir, port, kernel_cache, follow_symlinks)
            _mount(workdir, options)
            try:
                yield SshfsMount(export, mount, options, port)
            finally:
                _unmount(mount)
    finally:
        stop_process(sshd)


def _options(workdir: Path, port: int, kernel_cache: bool, follow_symlinks: bool) -> str:
    """sshfs's -o for this test sshd: its keys, no user config, no prompts."""
    return ",".join(
        [
            f"IdentityFile={workdir / 'user_key'}",
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
            "BatchMode=yes",
            "LogLevel=ERROR",
            "ssh_command=ssh -F /dev/null",  # ignore the user's ~/.ssh/config
            f"port={port}",
            *(["kernel_cache"] if kernel_cache else []),
            *(["follow_symlinks"] if follow_symlinks else []),
        ]
    )


def _mount(workdir: Path, options: str) -> None:
    """Mount `workdir/export` at `workdir/mnt` with sshfs `options` (gives up when it fails)."""
    done = subprocess.run(
        [
            "sshfs",
            "-o",
            options,
            f"{getpass.getuser()}@127.0.0.1:{workdir / 'export'}",
            str(workdir / "mnt"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        give_up(f"no real network filesystem: sshfs failed: {done.stderr.strip()[-300:]}")


@pytest.fixture(scope="module")
def netfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshfsMount]:
    """An sshfs mount (kernel_cache, follow_symlinks) for the module; tests use subfolders."""
    with sshfs_mount(tmp_path_factory.mktemp("sshfs")) as mounted:
        yield mounted


@pytest.fixture(scope="module")
def netfs_defaults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshfsMount]:
    """An sshfs mount with sshfs's defaults: pages dropped at every open, symlinks not followed."""
    with sshfs_mount(
        tmp_path_factory.mktemp("sshfs-defaults"), kernel_cache=False, follow_symlinks=False
    ) as mounted:
        yield mounted
