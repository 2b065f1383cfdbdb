"""The test hubs' hostile modes: odd listing names, fake commits and blob ids, ignored Range,
bodies without Content-Length, redirects to a second origin (checked on the wire)."""

from __future__ import annotations

import hashlib
import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from tests.helpers import write_file
from tests.hubs.fixtures import VALID_TOKEN, HubServer, running_hub
from tests.hubs.hf_server import git_blob_sha1
from tests.hubs.ms_fixtures import MsHubServer
from tests.layouts import write_shard

pytest_plugins = ["tests.hubs.hf_plugin", "tests.hubs.ms_plugin"]

HOSTILE = {
    "../../x.json": "up two",
    "/abs/x.json": "absolute",
    "sub/../../x.json": "through sub",
    "a\\b.json": "backslash",
    "a//b.json": "double slash",
    "a\x00b.json": "nul",
}
Answer = tuple[int, dict[str, str], bytes]


def request(
    base: str, path: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> Answer:
    """One request with `path` sent as given (no normalisation, no redirect following)."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


def get_json(base: str, path: str) -> Any:
    status, _, body = request(base, path)
    assert status == 200, body
    return json.loads(body)


@pytest.fixture(scope="module")
def folder(hf_hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("misbehaving")
    write_file(folder / "config.json", json.dumps({"model_type": "tiny", "hidden_size": 8}))
    write_file(folder / "sub" / "notes.txt", "0123456789" * 10)
    write_shard(folder / "model.safetensors", {"w": (64,)})
    hf_hub.add_repo("org/odd", folder)
    hf_hub.add_repo("org/closed", folder, private=True)
    return folder


@pytest.fixture
def hub(hf_hub: HubServer, folder: Path) -> Iterator[HubServer]:
    hf_hub.set_faults()
    yield hf_hub
    hf_hub.set_faults()


@pytest.fixture(scope="module")
def cdn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    with running_hub(tmp_path_factory.mktemp("cdn")) as server:
        yield server


# -- Hugging Face: listings ---------------------------------------------------------------------


def test_extra_files_are_listed_verbatim_and_served(hub: HubServer) -> None:
    hub.set_faults(extra_files=HOSTILE)
    info = get_json(hub.url, "/api/models/org/odd/revision/main?blobs=true")
    siblings = {s["rfilename"]: s for s in info["siblings"]}
    for name, text in HOSTILE.items():
        assert siblings[name]["size"] == len(text.encode())
        assert siblings[name]["blobId"] == git_blob_sha1(text.encode())
    assert {"config.json", "sub/notes.txt", "model.safetensors"} <= set(siblings)
    for recursive in ("true", "false"):
        tree = get_json(hub.url, f"/api/models/org/odd/tree/main?recursive={recursive}")
        paths = {e["path"] for e in tree if e["type"] == "file"}
        assert set(HOSTILE) <= paths
        assert not {"..", "", "sub/.."} & {e["path"] for e in tree if e["type"] == "directory"}
    assert {e["path"] for e in get_json(hub.url, "/api/models/org/odd/tree/main/sub")} == {
        "sub/notes.txt",
        "sub/../../x.json",
    }
    body = urlencode({"paths": ["../../x.json", "a\x00b.json", "config.json"]}, doseq=True)
    status, _, answer = _post(hub.url, "/api/models/org/odd/paths-info/main", body)
    assert status == 200
    assert [e["path"] for e in json.loads(answer)] == ["../../x.json", "a\x00b.json", "config.json"]
    for name, text in HOSTILE.items():
        path = "/org/odd/resolve/main/" + quote(name)
        status, headers, data = request(hub.url, path)
        assert (status, data) == (200, text.encode()), name
        assert headers["etag"] == f'"{git_blob_sha1(text.encode())}"'
        status, headers, _ = request(hub.url, path, method="HEAD")
        assert status == 200 and headers["content-length"] == str(len(text.encode()))
    assert request(hub.url, "/org/odd/resolve/main/../../x.json")[2] == b"up two"  # raw dots
    assert hub.requests()[-1]["file"] == "../../x.json"
    hub.set_faults()
    assert request(hub.url, "/org/odd/resolve/main/" + quote("../../x.json"))[0] == 404


def _post(base: str, path: str, body: str) -> Answer:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        connection.request("POST", path, body=body.encode(), headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_commit_override_is_reported_and_resolves_to_main(hub: HubServer, folder: Path) -> None:
    hub.set_faults(commit="../../evil")
    info = get_json(hub.url, "/api/models/org/odd")
    assert info["sha"] == "../../evil"
    refs = get_json(hub.url, "/api/models/org/odd/refs")
    assert refs["branches"][0]["targetCommit"] == "../../evil"
    config = (folder / "config.json").read_bytes()
    for revision in (quote("../../evil", safe=""), "../../evil", "main"):
        status, headers, body = request(hub.url, f"/org/odd/resolve/{revision}/config.json")
        assert (status, body) == (200, config), revision
        assert headers["x-repo-commit"] == "../../evil"
        tree = get_json(hub.url, f"/api/models/org/odd/tree/{revision}/sub")
        assert [e["path"] for e in tree] == ["sub/notes.txt"]
    info = get_json(hub.url, "/api/models/org/odd/revision/" + quote("../../evil", safe=""))
    assert info["sha"] == "../../evil"
    status, headers, _ = request(hub.url, "/org/odd/resolve/main/missing.json")
    assert status == 404 and headers["x-repo-commit"] == "../../evil"


def test_blob_id_override(hub: HubServer) -> None:
    hub.set_faults(blob_ids={"*.json": "../../../x", "*.safetensors": "/abs/blob"})
    info = get_json(hub.url, "/api/models/org/odd?blobs=true")
    siblings = {s["rfilename"]: s for s in info["siblings"]}
    assert siblings["config.json"]["blobId"] == "../../../x"
    assert siblings["model.safetensors"]["lfs"]["sha256"] == "/abs/blob"
    assert siblings["sub/notes.txt"]["blobId"] != "../../../x"
    tree = {e["path"]: e for e in get_json(hub.url, "/api/models/org/odd/tree/main")}
    assert tree["config.json"]["oid"] == "../../../x"
    assert tree["model.safetensors"]["lfs"]["oid"] == "/abs/blob"
    _, headers, _ = request(hub.url, "/org/odd/resolve/main/config.json", method="HEAD")
    assert headers["etag"] == '"../../../x"'
    _, headers, _ = request(hub.url, "/org/odd/resolve/main/model.safetensors", method="HEAD")
    assert headers["x-linked-etag"] == '"/abs/blob"' and headers["etag"] == '"/abs/blob"'


# -- Hugging Face: bodies -----------------------------------------------------------------------


def test_ignore_range_answers_200_with_the_whole_body(hub: HubServer, folder: Path) -> None:
    hub.set_faults(ignore_range=True, paths=["*.safetensors"])
    data = (folder / "model.safetensors").read_bytes()
    status, headers, body = request(
        hub.url, "/org/odd/resolve/main/model.safetensors", headers={"Range": "bytes=10-19"}
    )
    assert (status, body) == (200, data)
    assert "content-range" not in headers and "accept-ranges" not in headers
    status, headers, _ = request(
        hub.url, "/org/odd/resolve/main/model.safetensors", headers={"Range": "bytes=999999-"}
    )
    assert status == 200
    status, headers, body = request(  # outside `paths`: Range honoured
        hub.url, "/org/odd/resolve/main/config.json", headers={"Range": "bytes=0-1"}
    )
    assert status == 206 and len(body) == 2 and headers["accept-ranges"] == "bytes"


def test_no_content_length_ends_the_body_by_closing(hub: HubServer, folder: Path) -> None:
    hub.set_faults(no_content_length=True)
    data = (folder / "sub" / "notes.txt").read_bytes()
    status, headers, body = request(hub.url, "/org/odd/resolve/main/sub/notes.txt")
    assert (status, body) == (200, data)
    assert "content-length" not in headers and headers["connection"] == "close"
    status, headers, body = request(
        hub.url, "/org/odd/resolve/main/sub/notes.txt", headers={"Range": "bytes=5-14"}
    )
    assert (status, body) == (206, data[5:15]) and "content-length" not in headers
    status, headers, _ = request(hub.url, "/org/odd/resolve/main/sub/notes.txt", method="HEAD")
    assert status == 200 and "content-length" not in headers
    hub.set_faults(no_content_length=True, paths=["*.safetensors"])
    _, headers, _ = request(hub.url, "/org/odd/resolve/main/sub/notes.txt")
    assert headers["content-length"] == str(len(data))


# -- Hugging Face: redirects --------------------------------------------------------------------


def test_redirect_to_a_second_origin(hub: HubServer, cdn: HubServer, folder: Path) -> None:
    hub.redirect_to(cdn, paths=["*.safetensors"])
    data = (folder / "model.safetensors").read_bytes()
    auth = {"Authorization": f"Bearer {VALID_TOKEN}"}
    path = "/org/closed/resolve/main/model.safetensors"
    for method in ("HEAD", "GET"):
        status, headers, body = request(hub.url, path, method=method, headers=auth)
        assert (status, body) == (302, b"")
        assert headers["location"] == cdn.url + path
        assert headers["x-linked-size"] == str(len(data))
        assert headers["x-linked-etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
        assert headers["etag"] == headers["x-linked-etag"]
        assert len(headers["x-repo-commit"]) == 40
    assert request(hub.url, path)[0] == 401  # the access check comes first
    assert request(hub.url, "/org/closed/resolve/main/config.json", headers=auth)[0] == 200
    mark = cdn.mark()
    status, _, body = request(cdn.url, path)  # the CDN copy is public
    assert (status, body) == (200, data)
    request(cdn.url, path, headers=auth)
    deadline = time.monotonic() + 10  # the server logs a request after answering it
    while len(cdn.requests(mark)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    logged = cdn.requests(mark)
    assert [(r["status"], r["auth"]) for r in logged] == [(200, False), (200, True)]
    hub.set_faults(redirect={"to": cdn.url, "status": 307})  # every file, other status
    status, headers, _ = request(hub.url, "/org/odd/resolve/main/config.json?x=1")
    assert (
        status == 307 and headers["location"] == cdn.url + "/org/odd/resolve/main/config.json?x=1"
    )


def test_real_client_drops_the_token_on_the_cdn(
    hub: HubServer, cdn: HubServer, folder: Path, tmp_path: Path
) -> None:
    hub.redirect_to(cdn, paths=["*.safetensors"])
    hub_mark, cdn_mark = hub.mark(), cdn.mark()
    code = """
import sys
from huggingface_hub import hf_hub_download
print(hf_hub_download("org/closed", "model.safetensors", token=sys.argv[1]))
"""
    out = subprocess.run(
        [sys.executable, "-c", code, VALID_TOKEN],
        env=hub.env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).read_bytes() == (folder / "model.safetensors").read_bytes()
    assert [(r["status"], r["auth"]) for r in hub.requests(hub_mark)] == [(302, True)]
    assert [(r["method"], r["status"], r["auth"]) for r in cdn.requests(cdn_mark)] == [
        ("GET", 200, False)
    ]


# -- ModelScope ---------------------------------------------------------------------------------


def test_modelscope_extra_files(ms_hub: MsHubServer) -> None:
    write_file(ms_hub.repo_dir("org/odd") / "config.json", "{}")
    ms_hub.reset_faults()
    ms_hub.configure(extra_files=HOSTILE)
    try:
        doc = get_json(
            ms_hub.url, "/api/v1/models/org/odd/repo/files?Revision=master&Recursive=True"
        )
        files = {f["Path"]: f for f in doc["Data"]["Files"]}
        assert set(HOSTILE) | {"config.json"} == set(files)
        for name, text in HOSTILE.items():
            data = text.encode()
            assert files[name]["Type"] == "blob" and files[name]["Size"] == len(data)
            assert files[name]["Sha256"] == hashlib.sha256(data).hexdigest()
            assert files[name]["Name"] == name.rsplit("/", 1)[-1]
            query = urlencode({"Revision": "master", "FilePath": name})
            status, headers, body = request(ms_hub.url, f"/api/v1/models/org/odd/repo?{query}")
            assert (status, body) == (200, data), name
            assert headers["content-length"] == str(len(data))
        flat = get_json(ms_hub.url, "/api/v1/models/org/odd/repo/files?Recursive=False")
        assert set(HOSTILE) <= {f["Path"] for f in flat["Data"]["Files"]}
    finally:
        ms_hub.reset_faults()
    query = urlencode({"FilePath": "../../x.json"})
    assert request(ms_hub.url, f"/api/v1/models/org/odd/repo?{query}")[0] == 404
