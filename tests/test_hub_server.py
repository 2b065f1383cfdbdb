"""The test hub itself: Range (206/416), refs, tree and datasets, checked with the real client."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import write_file
from tests.hubs.fixtures import HubServer, make_sharded_repo

pytest_plugins = ["tests.hubs.hf_plugin"]


@pytest.fixture(scope="module")
def served(hf_hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_sharded_repo(tmp_path_factory.mktemp("served"), shards=2)
    hf_hub.add_repo("org/served", {"main": folder, "dev": folder}, tags={"v1": "dev"})
    data = tmp_path_factory.mktemp("served-data")
    write_file(data / "a.txt", "hello")
    hf_hub.add_repo("org/served-data", data, repo_type="dataset")
    return folder


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_range_requests(hf_hub: HubServer, served: Path) -> None:
    url = f"{hf_hub.url}/org/served/resolve/main/config.json"
    data = (served / "config.json").read_bytes()
    status, headers, body = fetch(url, {"Range": "bytes=2-5"})
    assert status == 206 and body == data[2:6]
    assert headers["Content-Range"] == f"bytes 2-5/{len(data)}"
    assert len(headers["X-Repo-Commit"]) == 40 and headers["ETag"]
    status, _, body = fetch(url, {"Range": "bytes=-3"})
    assert status == 206 and body == data[-3:]
    status, headers, _ = fetch(url, {"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
    status, _, body = fetch(url)
    assert status == 200 and body == data
    status, headers, _ = fetch(f"{hf_hub.url}/org/served/resolve/main/nope.json")
    assert status == 404 and headers["X-Error-Code"] == "EntryNotFound"


def test_real_client_sees_refs_tree_and_datasets(
    hf_hub: HubServer, served: Path, tmp_path: Path
) -> None:
    code = """
import json
from huggingface_hub import HfApi, HfFileSystem
api = HfApi()
refs = api.list_repo_refs("org/served")
entries = api.list_repo_tree("org/served", recursive=True)
tree = sorted(f.path for f in entries if hasattr(f, "size"))
fs = HfFileSystem()
with fs.open("org/served/config.json", "rb") as handle:
    handle.seek(3)
    chunk = handle.read(5)
data = api.dataset_info("org/served-data", files_metadata=True)
print(json.dumps({
    "branches": sorted(b.name for b in refs.branches),
    "tags": [t.name for t in refs.tags],
    "tree": tree,
    "chunk": chunk.decode(),
    "data": [s.rfilename for s in data.siblings],
}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=hf_hub.env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["branches"] == ["dev", "main"] and doc["tags"] == ["v1"]
    expected = sorted(p.relative_to(served).as_posix() for p in served.rglob("*") if p.is_file())
    assert doc["tree"] == expected
    assert doc["chunk"] == (served / "config.json").read_text()[3:8]
    assert doc["data"] == ["a.txt"]
