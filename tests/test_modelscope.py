"""ModelScope as a source: selection, the transport and checkpoint, and vLLM's helper.

Every test runs the real `modelscope_hub` client against the test hub (tests/hubs/ms_server.py)
in a separate process on 127.0.0.1; nothing in the client is patched.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    CLIENT_ENV_PREFIXES,
    REPO_ROOT,
    kill_when,
    run_parallel,
    sha256_of,
    size_of,
    write_file,
)
from tests.hubs.ms_fixtures import MS_TOKEN, MsHubServer, add_standard_repos
from weightlib.checkpoint import Checkpoint, open_remote_checkpoint
from weightlib.errors import (
    AuthError,
    ChecksumMismatchError,
    InvalidInputError,
    MissingExtraError,
    NotFoundError,
)
from weightlib.hub import source as hub_source
from weightlib.hub.base import Destination

TINY = "org/tiny"
SHARDED = "org/sharded"
SECRET = "org/secret"


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MsHubServer]:
    """The module's hub and repos: a small one with a `v1` branch, a sharded one, a private one."""
    ms_hub = MsHubServer(tmp_path_factory.mktemp("ms-hub"))
    add_standard_repos(ms_hub, v1_seed=7, secret_seed=11)
    try:
        yield ms_hub
    finally:
        ms_hub.stop()


@pytest.fixture
def hub(repos: MsHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MsHubServer:
    """`repos` with faults cleared and this process's environment pointed at it (own caches)."""
    repos.reset_faults()
    for key in list(os.environ):
        if key.startswith(CLIENT_ENV_PREFIXES):
            monkeypatch.delenv(key)
    for key, value in repos.env(tmp_path / "home").items():
        if key.startswith(CLIENT_ENV_PREFIXES) or key in ("TQDM_DISABLE", "NO_PROXY"):
            monkeypatch.setenv(key, value)
    return repos


def served(hub: MsHubServer, repo: str, path: str, revision: str = "master") -> Path:
    return hub.root / repo / revision / path


# -- source selection --------------------------------------------------------------------------


def open_modelscope_checkpoint(model: str, **options: Any) -> Checkpoint:
    """A ModelScope repository as a checkpoint: the library's opener with the hub fixed."""
    return open_remote_checkpoint(model, source="modelscope", **options)


@pytest.mark.parametrize(
    ("model", "source", "env", "expected"),
    [
        ("ms://org/name", None, {}, "modelscope"),
        ("modelscope://org/name", None, {}, "modelscope"),
        ("org/name", "modelscope", {}, "modelscope"),
        ("org/name", "ms", {}, "modelscope"),
        ("org/name", None, {"WEIGHTLIB_SOURCE": "modelscope"}, "modelscope"),
        ("org/name", None, {"VLLM_USE_MODELSCOPE": "1"}, "modelscope"),
        ("org/name", None, {"VLLM_USE_MODELSCOPE": "True"}, "modelscope"),
        ("org/name", None, {"VLLM_USE_MODELSCOPE": "0"}, "hf"),
        ("org/name", None, {}, "hf"),
        ("hf://org/name", None, {"VLLM_USE_MODELSCOPE": "1"}, "hf"),
        ("org/name", None, {"WEIGHTLIB_SOURCE": "hf", "VLLM_USE_MODELSCOPE": "1"}, "hf"),
        ("org/name", "hf", {"WEIGHTLIB_SOURCE": "modelscope"}, "hf"),
    ],
)
def test_source_selection(
    model: str, source: str | None, env: dict[str, str], expected: str
) -> None:
    assert hub_source.select_source(model, source, env) == expected


def test_source_conflicts_and_bad_values_are_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="ms://org/name"):
        hub_source.select_source("ms://org/name", "hf", {})
    with pytest.raises(InvalidInputError, match="WEIGHTLIB_SOURCE"):
        hub_source.select_source("org/name", None, {"WEIGHTLIB_SOURCE": "github"})
    with pytest.raises(InvalidInputError, match="--source"):
        hub_source.select_source("org/name", "s3", {})


def test_model_ref_and_default_revision() -> None:
    ref = hub_source.resolve_model_ref("ms://org/name@v1.0", env={})
    assert (ref.source, ref.repo, ref.revision) == ("modelscope", "org/name", "v1.0")
    ref = hub_source.resolve_model_ref("org/name", env={"VLLM_USE_MODELSCOPE": "1"})
    assert (ref.source, ref.revision) == ("modelscope", None)
    assert hub_source.default_revision("modelscope") == "master"
    assert hub_source.default_revision("hf") == "main"


# -- transport: listing ------------------------------------------------------------------------


def test_listing_is_one_request_with_sizes_and_sha256(hub: MsHubServer) -> None:
    from weightlib.hub.modelscope import ModelScopeTransport

    mark = hub.mark()
    listing = ModelScopeTransport().list_repo(TINY, None)
    assert [r["path"] for r in hub.requests(mark)] == [f"/api/v1/models/{TINY}/repo/files"]
    assert listing.revision == "master" and listing.source == "modelscope"
    assert len(listing.commit) == 40
    entry = listing.file("model.safetensors")
    assert entry.size == served(hub, TINY, "model.safetensors").stat().st_size
    assert entry.sha256 == sha256_of(served(hub, TINY, "model.safetensors"))
    assert listing.has("original/consolidated.pt") and not listing.has("original")


def test_listing_of_a_revision(hub: MsHubServer) -> None:
    from weightlib.hub.modelscope import ModelScopeTransport

    listing = ModelScopeTransport().list_repo(TINY, "v1")
    assert listing.revision == "v1" and listing.has("only-in-v1.txt")
    assert not listing.has("pytorch_model.bin")
    assert listing.file("model.safetensors").sha256 == sha256_of(
        served(hub, TINY, "model.safetensors", "v1")
    )


@pytest.mark.parametrize(
    ("repo", "revision", "needles"),
    [
        ("org/missing", None, ["ms://org/missing", "repository not found"]),
        (TINY, "v9", ["ms://org/tiny@v9", "revision 'v9' not found"]),
    ],
)
def test_missing_repo_or_revision_is_not_found(
    hub: MsHubServer, repo: str, revision: str | None, needles: list[str]
) -> None:
    from weightlib.hub.modelscope import ModelScopeTransport

    with pytest.raises(NotFoundError) as info:
        ModelScopeTransport().list_repo(repo, revision)
    assert info.value.exit_code == 3
    for needle in needles:
        assert needle in str(info.value)


def test_private_repo_needs_a_token(hub: MsHubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from weightlib.hub.modelscope import ModelScopeTransport

    with pytest.raises(AuthError, match="MODELSCOPE_API_TOKEN") as info:
        ModelScopeTransport().list_repo(SECRET, None)
    assert info.value.exit_code == 4
    with pytest.raises(AuthError, match="rejected") as info:
        ModelScopeTransport(token="ms-wrong-token").list_repo(SECRET, None)
    assert "ms-wrong-token" not in str(info.value)
    assert ModelScopeTransport(token=MS_TOKEN).list_repo(SECRET, None).has("config.json")
    monkeypatch.setenv("MODELSCOPE_API_TOKEN", MS_TOKEN)
    transport = ModelScopeTransport()
    listing = transport.list_repo(SECRET, None)
    data = served(hub, SECRET, "config.json").read_bytes()
    assert transport.read_range(listing, "config.json", 0, len(data)) == data
    logged = json.dumps(hub.requests())
    assert MS_TOKEN not in logged


# -- transport: bytes --------------------------------------------------------------------------


def test_fetch_resumes_from_partial_bytes(hub: MsHubServer, tmp_path: Path) -> None:
    from weightlib.hub.modelscope import ModelScopeTransport

    transport = ModelScopeTransport()
    listing = transport.list_repo(TINY, None)
    entry = listing.file("model.safetensors")
    original = served(hub, TINY, "model.safetensors").read_bytes()
    destination = tmp_path / "model.safetensors.incomplete"
    destination.write_bytes(original[:1000])
    seen: list[int] = []
    mark = hub.mark()
    transport.fetch(listing, entry, destination, progress=seen.append)
    assert destination.read_bytes() == original
    assert sum(seen) == len(original) - 1000
    assert [r["range"] for r in hub.file_gets(mark)] == ["bytes=1000-"]


def test_fetch_after_a_reset_keeps_the_prefix(hub: MsHubServer, tmp_path: Path) -> None:
    from weightlib.hub.base import TransientRemoteError
    from weightlib.hub.modelscope import ModelScopeTransport

    transport = ModelScopeTransport()
    listing = transport.list_repo(TINY, None)
    entry = listing.file("pytorch_model.bin")
    hub.configure(reset={f"{TINY}/pytorch_model.bin": 1})
    destination = tmp_path / "pytorch_model.bin.incomplete"
    with pytest.raises(TransientRemoteError, match=r"pytorch_model\.bin"):
        transport.fetch(listing, entry, destination)
    kept = destination.stat().st_size if destination.exists() else 0
    assert kept < entry.size
    transport.fetch(listing, entry, destination)
    assert hashlib.sha256(destination.read_bytes()).hexdigest() == entry.sha256


def test_fetch_failures_are_typed(hub: MsHubServer, tmp_path: Path) -> None:
    from weightlib.hub.base import RemoteFile, TransientRemoteError
    from weightlib.hub.modelscope import ModelScopeTransport

    transport = ModelScopeTransport()
    listing = transport.list_repo(TINY, None)
    hub.configure(fail={f"{TINY}/config.json": -1})
    with pytest.raises(TransientRemoteError, match=r"ms://org/tiny@master/config\.json") as info:
        transport.fetch(listing, listing.file("config.json"), tmp_path / "c")
    assert info.value.exit_code == 5
    with pytest.raises(NotFoundError, match=r"gone\.json"):
        transport.fetch(listing, RemoteFile("gone.json", 3), tmp_path / "g")


def test_range_reads_with_and_without_server_range_support(hub: MsHubServer) -> None:
    from weightlib.hub.modelscope import ModelScopeTransport

    transport = ModelScopeTransport()
    listing = transport.list_repo(TINY, None)
    data = served(hub, TINY, "model.safetensors").read_bytes()
    mark = hub.mark()
    assert transport.read_range(listing, "model.safetensors", 0, 8) == data[:8]
    assert transport.read_range(listing, "model.safetensors", 100, 50) == data[100:150]
    assert transport.read_range(listing, "model.safetensors", len(data) - 4, 100) == data[-4:]
    assert transport.read_range(listing, "model.safetensors", len(data) + 10, 5) == b""
    ranges = [r["range"] for r in hub.file_gets(mark)]
    assert ranges[:2] == ["bytes=0-7", "bytes=100-149"]
    hub.configure(no_range=True)
    assert transport.read_range(listing, "model.safetensors", 100, 50) == data[100:150]


# -- checkpoint (filter / size / index) ----------------------------------------------------------


def test_sharded_checkpoint_selection_and_headers(hub: MsHubServer) -> None:
    from weightlib.checkpoint import select_checkpoint_weights
    from weightlib.safetensors_header import read_header_with

    index = json.loads(served(hub, SHARDED, "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1
    mark = hub.mark()
    checkpoint = open_modelscope_checkpoint(f"ms://{SHARDED}")
    sizes = checkpoint.file_sizes()
    selection = select_checkpoint_weights(checkpoint)
    assert selection.files == shards and selection.index_file == "model.safetensors.index.json"
    excluded = {e.file: e.reason for e in selection.excluded}
    assert excluded["consolidated.safetensors"] == "not-in-index"
    assert excluded["training_args.bin"] == "training-artifact"
    listings = [r for r in hub.requests(mark) if r.get("kind") == "listing"]
    assert len(listings) == 1
    assert sizes[shards[0]] == served(hub, SHARDED, shards[0]).stat().st_size
    header = read_header_with(
        lambda start, length: checkpoint.read_range(shards[0], start, length),
        sizes[shards[0]],
        f"{checkpoint.name}/{shards[0]}",
    )
    assert {t.name for t in header.tensors} == {
        name for name, shard in index["weight_map"].items() if shard == shards[0]
    }
    file_gets = hub.file_gets(mark)
    assert all(r["range"] for r in file_gets if r["file"] == shards[0])
    assert sum(r["bytes"] for r in file_gets if r["file"] == shards[0]) == 8 + header.header_size


def test_checkpoint_revision_and_missing(hub: MsHubServer) -> None:
    checkpoint = open_modelscope_checkpoint(f"ms://{TINY}@v1")
    assert checkpoint.name == "ms://org/tiny@v1"
    assert "only-in-v1.txt" in checkpoint.file_sizes()
    checkpoint = open_modelscope_checkpoint(TINY, revision="v1")
    assert "only-in-v1.txt" in checkpoint.file_sizes()
    with pytest.raises(NotFoundError):
        open_modelscope_checkpoint("ms://org/missing")
    with pytest.raises(InvalidInputError):
        open_modelscope_checkpoint("hf://org/tiny")


# -- vLLM's maybe_download_from_modelscope --------------------------------------------------------


def test_maybe_download_does_nothing_unless_modelscope_is_selected(
    hub: MsHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weightlib.download import maybe_download_from_modelscope

    mark = hub.mark()
    assert maybe_download_from_modelscope(TINY, download_dir=str(tmp_path)) is None
    local = tmp_path / "local-model"
    local.mkdir()
    assert maybe_download_from_modelscope(str(local)) is None
    monkeypatch.setenv("VLLM_USE_MODELSCOPE", "1")
    assert maybe_download_from_modelscope(str(local)) == str(local)
    assert hub.requests(mark) == []


def test_maybe_download_with_vllm_env_patterns_and_revision(
    hub: MsHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weightlib.download import maybe_download_from_modelscope

    monkeypatch.setenv("VLLM_USE_MODELSCOPE", "1")
    download_dir = tmp_path / "dl"
    path = maybe_download_from_modelscope(
        TINY, download_dir=str(download_dir), allow_patterns=["*.json", "*.safetensors"]
    )
    assert path is not None
    root = Path(path)
    assert root == download_dir / "models" / "org--tiny" / "snapshots" / "master"
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert "model.safetensors" in names and "config.json" in names
    assert not any(n.endswith((".bin", ".pt", ".md", ".py")) for n in names)
    for name in names:
        assert sha256_of(root / name) == sha256_of(served(hub, TINY, name))
    path = maybe_download_from_modelscope(
        f"ms://{TINY}", revision="v1", download_dir=str(download_dir), ignore_patterns="*.md"
    )
    assert path is not None and Path(path).name == "v1"
    assert (Path(path) / "only-in-v1.txt").read_text() == "v1\n"
    assert not (Path(path) / "README.md").exists()


def test_maybe_download_offline_full_and_partial_cache(
    hub: MsHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weightlib.download import maybe_download_from_modelscope

    download_dir = str(tmp_path / "dl")
    path = maybe_download_from_modelscope(f"ms://{TINY}", download_dir=download_dir)
    assert path is not None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    mark = hub.mark()
    assert maybe_download_from_modelscope(f"ms://{TINY}", download_dir=download_dir) == path
    with pytest.raises(NotFoundError, match=r"ms://org/tiny@v1") as info:
        maybe_download_from_modelscope(f"ms://{TINY}", revision="v1", download_dir=download_dir)
    assert "offline" in str(info.value)
    assert hub.requests(mark) == []


def test_maybe_download_private_and_wrong_sha256(
    hub: MsHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weightlib.download import maybe_download_from_modelscope

    download_dir = str(tmp_path / "dl")
    with pytest.raises(AuthError) as auth:
        maybe_download_from_modelscope(f"ms://{SECRET}", download_dir=download_dir)
    assert auth.value.exit_code == 4
    monkeypatch.setenv("MODELSCOPE_API_TOKEN", MS_TOKEN)
    path = maybe_download_from_modelscope(
        f"ms://{SECRET}", download_dir=download_dir, allow_patterns="*.json"
    )
    assert path is not None and (Path(path) / "config.json").is_file()
    hub.configure(wrong_sha256=[f"{TINY}/config.json"])
    with pytest.raises(ChecksumMismatchError, match=r"config\.json") as bad:
        maybe_download_from_modelscope(
            f"ms://{TINY}", download_dir=download_dir, allow_patterns="config.json"
        )
    assert bad.value.exit_code == 6


CONCURRENT_SCRIPT = """
import sys
from weightlib.download import maybe_download_from_modelscope
print(maybe_download_from_modelscope(sys.argv[1], download_dir=sys.argv[2]))
"""


def test_concurrent_processes_fetch_each_file_once(hub: MsHubServer, tmp_path: Path) -> None:
    env = hub.env(tmp_path / "home", VLLM_USE_MODELSCOPE="1")
    download_dir = tmp_path / "shared-cache"
    mark = hub.mark()
    command = [sys.executable, "-c", CONCURRENT_SCRIPT, SHARDED, str(download_dir)]
    runs = run_parallel(command, 4, env=env, cwd=REPO_ROOT)
    assert all(r.returncode == 0 for r in runs), [(r.stdout, r.stderr) for r in runs]
    paths = {r.stdout.strip().splitlines()[-1] for r in runs}
    assert len(paths) == 1
    root = Path(paths.pop())
    gets = hub.file_gets(mark, repo=SHARDED)
    fetched = [r["file"] for r in gets]
    assert sorted(fetched) == sorted(set(fetched))
    served_files = sorted(
        p.relative_to(served(hub, SHARDED, "")).as_posix()
        for p in served(hub, SHARDED, "").rglob("*")
        if p.is_file()
    )
    assert sorted(fetched) == served_files
    for name in served_files:
        assert sha256_of(root / name) == sha256_of(served(hub, SHARDED, name))


KILL_SCRIPT = """
import sys
from pathlib import Path
from weightlib.hub.modelscope import ModelScopeTransport
transport = ModelScopeTransport()
listing = transport.list_repo(sys.argv[1], None)
transport.fetch(listing, listing.file(sys.argv[2]), Path(sys.argv[3]))
"""


def test_sigkill_mid_file_then_rerun_resumes(hub: MsHubServer, tmp_path: Path) -> None:
    from weightlib.hub.modelscope import ModelScopeTransport

    write_file(served(hub, TINY, "big.bin"), os.urandom(600_000))
    hub.configure(bytes_per_second=300_000)
    destination = tmp_path / "big.bin.incomplete"
    kill_when(
        [sys.executable, "-c", KILL_SCRIPT, TINY, "big.bin", destination],
        lambda: size_of(destination) > 0,
        env=hub.env(tmp_path / "home"),
        cwd=REPO_ROOT,
        timeout=30,
    )
    kept = destination.stat().st_size
    assert 0 < kept < 600_000
    hub.configure(bytes_per_second=0)
    mark = hub.mark()
    transport = ModelScopeTransport()
    listing = transport.list_repo(TINY, None)
    transport.fetch(listing, listing.file("big.bin"), destination)
    assert sha256_of(destination) == sha256_of(served(hub, TINY, "big.bin"))
    assert [r["range"] for r in hub.file_gets(mark)] == [f"bytes={kept}-"]


def test_layout_and_offline_listing(hub: MsHubServer, tmp_path: Path) -> None:
    from weightlib.hub import cached_snapshot
    from weightlib.hub.modelscope import ModelScopeTransport

    transport = ModelScopeTransport()
    listing = transport.list_repo(TINY, None)
    layout = transport.layout(listing, Destination())
    cache = Path(os.environ["MODELSCOPE_CACHE"])
    assert layout.root == cache / "models" / "org--tiny" / "snapshots" / "master"
    entry = listing.file("config.json")
    assert not layout.is_cached(entry)
    partial = layout.partial_path(entry)
    transport.fetch(listing, entry, partial)
    final = layout.commit_file(entry, partial)
    assert layout.is_cached(entry) and final == layout.root / "config.json"
    with pytest.raises(NotFoundError, match="ms://org/tiny@v1"):
        open_modelscope_checkpoint(f"ms://{TINY}@v1", offline=True)
    layout.finish(listing)
    recorded = transport.local_listing(TINY, None, "model", Destination())
    assert (recorded.files, recorded.commit) == (listing.files, listing.commit)
    mark = hub.mark()
    checkpoint = open_modelscope_checkpoint(f"ms://{TINY}", offline=True)
    assert dict(checkpoint.file_sizes()) == listing.sizes()
    assert checkpoint.read_file("config.json") == served(hub, TINY, "config.json").read_bytes()
    with pytest.raises(NotFoundError, match=r"model\.safetensors"):
        checkpoint.read_range("model.safetensors", 0, 8)
    assert cached_snapshot(f"ms://{TINY}") == layout.root
    with pytest.raises(NotFoundError, match="ms://org/sharded"):
        cached_snapshot(SHARDED, source="modelscope")
    assert hub.requests(mark) == []


# -- the modelscope extra ------------------------------------------------------------------------

BLOCKED_SCRIPT = """
import sys
sys.modules["modelscope"] = None
sys.modules["modelscope_hub"] = None
from weightlib.errors import MissingExtraError
from weightlib.checkpoint import open_remote_checkpoint
from weightlib.download import maybe_download_from_modelscope
try:
    open_remote_checkpoint("ms://org/tiny")
except MissingExtraError as exc:
    print(exc.exit_code, exc)
assert maybe_download_from_modelscope("org/tiny") is None
"""


def test_missing_extra_is_exit_2_naming_the_extra(tmp_path: Path) -> None:
    from tests.helpers import hermetic_env

    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_SCRIPT],
        env=hermetic_env(tmp_path / "home"),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("2 ")
    assert "pip install 'weightlib[modelscope]'" in result.stdout
    assert MissingExtraError("ModelScope", "modelscope").exit_code == 2
