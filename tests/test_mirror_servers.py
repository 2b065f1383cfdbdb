"""Every command against servers that answer differently from the hub, as mirrors and proxies do:
model info only at an explicit revision, listings without sizes or ids (filled from the tree or
from each file's HEAD / 0-byte GET), HEAD refused, no ETag at all, Range ignored, redirects."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import WEIGHTLIB
from tests.hubs.fixtures import HubServer, make_sharded_repo, running_hub

pytest_plugins = ["tests.hubs.hf_plugin"]

REPO = "org/mirrored"
STRIPPED: dict[str, Any] = {"strip_info_metadata": True}
NO_TREE: dict[str, Any] = {**STRIPPED, "tree": "missing"}
BEHAVIOURS: dict[str, dict[str, Any]] = {
    "info-needs-revision": {"info_needs_revision": 401},
    "no-metadata-tree-full": STRIPPED,
    "no-metadata-no-tree": NO_TREE,
    "no-metadata-head-405": {**NO_TREE, "head_405": ["*"]},
    "range-ignored": {"ignore_range": True},
}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sharded_repo(tmp_path_factory.mktemp("mirrored") / "repo", shard_floats=8192)


@pytest.fixture(scope="module")
def served(hf_hub: HubServer, source: Path) -> HubServer:
    hf_hub.add_repo(REPO, source)
    return hf_hub


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real `weightlib` command."""
    return subprocess.run([WEIGHTLIB, *args], env=env, capture_output=True, text=True, timeout=300)


def outputs(env: dict[str, str], out: Path) -> dict[str, Any]:
    """What each command answers for REPO (download last: it fills the cache)."""

    def ok(*args: str) -> str:
        result = run_cli(*args, env=env)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    index = json.loads(ok("index", REPO, "--json"))
    dummy = json.loads(ok("dummy-init", REPO, "-o", str(out / "dummy"), "--json"))
    download = json.loads(ok("download", REPO, "--json"))
    return {
        "size": ok("size", REPO, "--bytes").strip(),
        "filter": ok("filter", REPO).split(),
        "index": [(s["file"], s["tensors"], s["bytes"]) for s in index["shards"]],
        "dummy": sorted(dummy["files"]),
        "download": sorted((f["path"], f["bytes"], f["sha256"]) for f in download["files"]),
        "verified": {f["path"]: f["verified"] for f in download["files"]},
        "path": download["path"],
    }


@pytest.fixture(scope="module")
def expected(served: HubServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The answers of a server that behaves like the hub."""
    served.set_faults()
    home = tmp_path_factory.mktemp("baseline")
    return outputs(served.env(home / "home"), home)


@pytest.mark.parametrize("behaviour", sorted(BEHAVIOURS))
def test_every_command_works_the_same(
    behaviour: str,
    served: HubServer,
    expected: dict[str, Any],
    tmp_path: Path,
    source: Path,
) -> None:
    served.set_faults(**BEHAVIOURS[behaviour])
    got = outputs(served.env(tmp_path / "home"), tmp_path)
    for key in ("size", "filter", "index", "dummy", "download", "verified"):
        assert got[key] == expected[key], (behaviour, key)
    assert all(expected["verified"].values())  # sha256 or git blob id for every file
    folder = Path(got["path"])
    for name, _, digest in got["download"]:
        assert sha256(folder / name) == digest == sha256(source / name), name


def test_what_the_stripped_server_was_asked(served: HubServer, tmp_path: Path) -> None:
    # a listing without metadata and no tree: one HEAD per file, then one GET per file
    served.set_faults(**NO_TREE)
    mark = served.mark()
    result = run_cli("download", REPO, "--json", env=served.env(tmp_path / "home"))
    assert result.returncode == 0, result.stderr
    files = [f["path"] for f in json.loads(result.stdout)["files"]]
    logged = served.requests(mark)
    info = [r for r in logged if r["path"].startswith(f"/api/models/{REPO}")]
    assert info[0]["path"] == f"/api/models/{REPO}/revision/main"  # always at a revision
    heads = sorted(r["file"] for r in logged if r["method"] == "HEAD" and r.get("file"))
    assert set(files) <= set(heads)


def test_a_file_without_any_hash_is_downloaded_but_reported_unverified(
    served: HubServer, tmp_path: Path, source: Path
) -> None:
    served.set_faults(**NO_TREE, no_etag=["*.json"])
    result = run_cli("download", REPO, "--json", env=served.env(tmp_path / "home"))
    assert result.returncode == 0, result.stderr
    files = {f["path"]: f for f in json.loads(result.stdout)["files"]}
    unverified = sorted(p for p, f in files.items() if not f["verified"])
    assert unverified and all(p.endswith(".json") for p in unverified)
    assert all(f["verified"] for p, f in files.items() if not p.endswith(".json"))
    folder = Path(json.loads(result.stdout)["path"])
    for path in unverified:  # size checked, sha256 computed from the bytes
        assert files[path]["sha256"] == sha256(folder / path) == sha256(source / path)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"{len(unverified)} file(s) not verified" in warnings[0]
    again = run_cli("download", REPO, env=served.env(tmp_path / "home"))
    assert again.returncode == 0 and again.stdout.strip() == str(folder), again.stderr


@pytest.fixture
def cdn(tmp_path: Path) -> Iterator[HubServer]:
    with running_hub(tmp_path / "cdn") as server:
        yield server


def test_redirects_to_another_origin_with_a_stripped_listing(
    served: HubServer,
    cdn: HubServer,
    expected: dict[str, Any],
    tmp_path: Path,
) -> None:
    served.set_faults(**NO_TREE)
    served.redirect_to(cdn)
    got = outputs(served.env(tmp_path / "home"), tmp_path)
    for key in ("size", "filter", "index", "download", "verified"):
        assert got[key] == expected[key], key
    assert cdn.requests(), "the files came from the other origin"
    assert not any(r["auth"] for r in cdn.requests())
