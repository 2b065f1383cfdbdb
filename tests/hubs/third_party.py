"""An independent Hugging Face-compatible server for the tests: olah (PyPI `olah`, FastAPI).

olah is a self-hosted Hugging Face mirror. Here it runs fully offline on 127.0.0.1: its
`[accessibility] offline = true` mode never asks its upstream, and it serves repositories from
its "local mirrors" folder (`mirrors-path`): a git clone of a repository at
`<mirrors>/models/<org>/<name>`, laid out as `git clone` of a Hugging Face repository leaves it
(weights as git-LFS pointer files in the history, their bytes under `.git/lfs/objects/`).
The upstream settings point at 127.0.0.1:9 (nothing listens there) all the same, and the server
process runs under an audit hook that refuses and records any socket it would open to another
host (`OlahServer.violations`).

Use from a test module with `pytest_plugins = ["tests.hubs.third_party"]`: fixtures `olah_hub`
(the server, module scope), `olah_repo` (one sharded repository on it, module scope) and
`olah_env` (the clients' environment, caches in the test's temp dir).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest

from tests.helpers import hermetic_env, random_file, sha256_of, stop_process
from tests.layouts import INDEX, support_files, write_shard, write_sharded

LFS_SUFFIXES = (".safetensors", ".bin")
"""Files stored as git-LFS pointers, as on the Hub."""

GITATTRIBUTES = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES)

GUARD = r"""
import os, sys
LOG = os.environ["OLAH_GUARD_LOG"]
LOCAL = {None, "127.0.0.1", "::1", "localhost", b"127.0.0.1", b"localhost"}

def note(line):
    with open(LOG, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")

def guard(event, args):
    if event in ("socket.connect", "socket.sendto"):
        address = args[1]
        host = address[0] if isinstance(address, tuple) else None  # AF_UNIX: a path
    elif event in ("socket.getaddrinfo", "socket.gethostbyname"):
        host = args[0]
    else:
        return
    if host not in LOCAL:
        note(f"blocked {event} {host!r}")
        raise OSError(f"offline test: {event} to {host!r} refused")

note("armed")
sys.addaudithook(guard)
from olah.server import cli
sys.argv = ["olah-cli", *sys.argv[1:]]
cli()
"""
"""The server's launcher: olah's own `olah-cli` entry point (`olah.server:cli`) under an audit
hook that lets it resolve and connect to loopback addresses only."""

_ACCESS = re.compile(r'"(GET|HEAD|POST|PUT|DELETE|OPTIONS) (\S+) HTTP/[\d.]+" (\d{3})')


def _git_env() -> dict[str, str]:
    """git without the user's or the system's configuration, with fixed identity and dates."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    stamp = "2024-01-01T00:00:00+0000"
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
        GIT_AUTHOR_DATE=stamp,
        GIT_COMMITTER_DATE=stamp,
    )
    return env


def lfs_pointer(data: bytes) -> tuple[str, bytes]:
    """(sha256, git-LFS pointer file) of `data`."""
    sha256 = hashlib.sha256(data).hexdigest()
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n"
    return sha256, pointer.encode()


def write_mirror(mirrors: Path, repo: str, source: Path) -> str:
    """`source`'s files as olah's local mirror of model `repo` (`org/name`) under `mirrors`: a
    git repository on branch `main`, `LFS_SUFFIXES` files as LFS pointers with their bytes in
    `.git/lfs/objects/`. Returns the commit."""
    work = mirrors / "models" / repo
    work.mkdir(parents=True)
    env = _git_env()

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(work), *args], env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    git("init", "-q", "-b", "main")
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        target = work / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        if path.name.endswith(LFS_SUFFIXES):
            sha256, pointer = lfs_pointer(data)
            blob = work / ".git" / "lfs" / "objects" / sha256[:2] / sha256[2:4] / sha256
            blob.parent.mkdir(parents=True, exist_ok=True)
            blob.write_bytes(data)
            data = pointer
        target.write_bytes(data)
    (work / ".gitattributes").write_text(GITATTRIBUTES)
    git("add", "-A")
    git("commit", "-q", "-m", "Upload model")
    return git("rev-parse", "HEAD")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _server_env(home: Path, guard_log: Path) -> dict[str, str]:
    """The server's environment: hermetic, no proxy settings at all."""
    env = hermetic_env(home, OLAH_GUARD_LOG=str(guard_log), NO_PROXY="127.0.0.1,localhost")
    for key in list(env):
        if key.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del env[key]
    return env


class OlahServer:
    """One olah process on a free 127.0.0.1 port, offline, serving the mirrors in
    `self.mirrors` (add repositories with `add_repo`). A context manager: it stops at the end.

    Its access log (`requests`) and its stdout/stderr are `self.log_path`.
    """

    def __init__(self, workdir: Path, *, attempts: int = 3) -> None:
        self.workdir = workdir
        self.mirrors = workdir / "mirrors"
        self.mirrors.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "server.log"
        self.guard_log = workdir / "guard.log"
        for _ in range(attempts):  # a free port can be taken between the probe and the bind
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.process = self._start()
            if self._wait_ready(timeout=60):
                return
            self.stop()
        raise RuntimeError(f"olah did not start:\n{self.log_path.read_text()[-3000:]}")

    def _config(self) -> Path:
        netloc = f"127.0.0.1:{self.port}"
        config = self.workdir / "olah.toml"
        config.write_text(
            "[basic]\n"
            'host = "127.0.0.1"\n'
            f"port = {self.port}\n"
            f'repos-path = "{self.workdir / "cache"}"\n'
            f'mirrors-path = ["{self.mirrors}"]\n'
            'hf-scheme = "http"\n'
            'hf-netloc = "127.0.0.1:9"\n'
            'hf-lfs-netloc = "127.0.0.1:9"\n'
            'mirror-scheme = "http"\n'
            f'mirror-netloc = "{netloc}"\n'
            f'mirror-lfs-netloc = "{netloc}"\n'
            "\n[accessibility]\n"
            "offline = true\n"
        )
        return config

    def _start(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-c", GUARD, "--config", str(self._config())]
        command += ["--log-path", str(self.workdir / "logs")]
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                command,
                cwd=self.workdir,
                env=_server_env(self.workdir / "home", self.guard_log),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed whole by `stop`
            )

    def _wait_ready(self, timeout: float) -> bool:
        """True once the server answers HTTP (a path no route takes: 404, and no upstream
        asked); False if it exits or `timeout` passes."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                opener.open(f"{self.url}/-/ready/no/such/route", timeout=2).close()
                return True
            except urllib.error.HTTPError:
                return True
            except OSError:
                time.sleep(0.1)
        return False

    def add_repo(self, repo: str, source: Path) -> str:
        """Serve `source` as model `repo`; returns its commit."""
        return write_mirror(self.mirrors, repo, source)

    def env(self, home: Path, **overrides: str) -> dict[str, str]:
        """A hermetic client environment pointing `huggingface_hub` (and so weightlib) here."""
        settings = {"HF_ENDPOINT": self.url, "NO_PROXY": "127.0.0.1,localhost"}
        return hermetic_env(home, **settings, WEIGHTLIB_RETRY_BASE_DELAY="0.05", **overrides)

    # -- what it saw -------------------------------------------------------------------------

    def mark(self) -> int:
        """A position in the log; `requests(since=mark)` returns only later requests."""
        return self.log_path.stat().st_size

    def requests(self, since: int = 0) -> list[tuple[str, str, int]]:
        """(method, path with query, status) of every request logged after `since`."""
        with self.log_path.open("rb") as handle:
            handle.seek(since)
            text = handle.read().decode(errors="replace")
        return [(m[1], m[2], int(m[3])) for m in _ACCESS.finditer(text)]

    def violations(self) -> list[str]:
        """What the offline guard refused (empty: only loopback was ever asked for)."""
        lines = self.guard_log.read_text().splitlines() if self.guard_log.exists() else []
        assert lines[:1] == ["armed"], f"the offline guard did not run: {lines}"
        return lines[1:]

    # -- lifetime -----------------------------------------------------------------------------

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL after 5 s."""
        stop_process(self.process, group=True)

    def __enter__(self) -> OlahServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# ---- a repository ---------------------------------------------------------------------------


@dataclass
class OlahRepo:
    """A sharded repository served by `server` as `name`, from the folder `source`."""

    server: OlahServer
    name: str
    source: Path
    commit: str
    shards: list[str]
    """The weight files a server loads, in load order."""
    support: list[str]
    """The small root files weightlib downloads with them (config, tokenizer, code, index)."""
    decoys: dict[str, str]
    """Files never downloaded, with the `filter` reason for each."""

    @property
    def downloaded(self) -> list[str]:
        """What `weightlib download` fetches, sorted."""
        return sorted([*self.shards, *self.support])

    def sha256(self, path: str) -> str:
        return sha256_of(self.source / path)

    def size(self, path: str) -> int:
        return (self.source / path).stat().st_size


def serve_sharded(server: OlahServer, name: str, folder: Path) -> OlahRepo:
    """Serve as `name` a model folder written in `folder`: three shards written by
    huggingface_hub's serializer with their index, the support files, and decoys of every kind
    `filter` drops."""
    shards = write_sharded(folder, max_shard_size=40_000)
    support_files(folder)
    random_file(folder / "pytorch_model.bin", 2048)
    random_file(folder / "training_args.bin", 512)
    write_shard(folder / "consolidated.safetensors", {"all": (256,)}, seed=99)
    write_shard(folder / "original" / "model.safetensors", {"orig": (128,)}, seed=98)
    support = [INDEX, "chat_template.jinja", "config.json", "generation_config.json"]
    support += ["modeling_tiny.py", "tokenizer.json", "tokenizer_config.json"]
    decoys = {
        "pytorch_model.bin": "other-format",
        "training_args.bin": "training-artifact",
        "consolidated.safetensors": "not-in-index",
        "original/model.safetensors": "subfolder",
    }
    commit = server.add_repo(name, folder)
    return OlahRepo(server, name, folder, commit, shards, support, decoys)


# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def olah_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OlahServer]:
    """A running olah for the module; at the end, it must have asked for nothing off 127.0.0.1."""
    with OlahServer(tmp_path_factory.mktemp("olah")) as server:
        yield server
    assert server.violations() == []


@pytest.fixture(scope="module")
def olah_repo(olah_hub: OlahServer, tmp_path_factory: pytest.TempPathFactory) -> OlahRepo:
    """`org/tiny` on `olah_hub`: see `serve_sharded`."""
    return serve_sharded(olah_hub, "org/tiny", tmp_path_factory.mktemp("olah-source"))


@pytest.fixture
def olah_env(olah_hub: OlahServer, tmp_path: Path) -> dict[str, str]:
    """Environment for CLI runs against `olah_hub`, caches in the test's temp dir."""
    return olah_hub.env(tmp_path / "home")
