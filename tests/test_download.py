"""`weightlib download` against the test hub with the real huggingface_hub client: selection,
the stdout/JSON contract, cache layout, revisions, dry run, local dir, offline and exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRunner
from tests.helpers import assert_error, output_path, sha256_of, write_file
from tests.hubs.fixtures import HubServer, make_sharded_repo
from tests.layouts import write_shard

pytest_plugins = ["tests.hubs.hf_plugin"]

INFERENCE_SET = {
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "chat_template.jinja",
    "modeling_tiny.py",
    "model.safetensors.index.json",
    "model-00001-of-00003.safetensors",
    "model-00002-of-00003.safetensors",
    "model-00003-of-00003.safetensors",
}
DECOYS = {
    "pytorch_model.bin",
    "training_args.bin",
    "consolidated.safetensors",
    "original/model.safetensors",
}


@pytest.fixture(scope="module")
def tiny_repo(hf_hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`org/tiny`: 3 shards + index + support files + decoys; branch `dev` and tag `v1.0`."""
    main = make_sharded_repo(tmp_path_factory.mktemp("tiny-main"))
    dev = make_sharded_repo(tmp_path_factory.mktemp("tiny-dev"), seed=7, shards=2, extras=False)
    hf_hub.add_repo("org/tiny", {"main": main, "dev": dev, "mirror": main}, tags={"v1.0": "dev"})
    data = tmp_path_factory.mktemp("dataset")
    write_file(data / "train.jsonl", '{"text": "a"}\n')
    write_file(data / "sub" / "part-0.parquet", b"PAR1" * 64)
    hf_hub.add_repo("org/data", data, repo_type="dataset")
    bin_only = tmp_path_factory.mktemp("bin-only")
    write_file(bin_only / "config.json", "{}")
    write_file(bin_only / "pytorch_model.bin", os.urandom(4096))
    write_file(bin_only / "optimizer.pt", os.urandom(128))
    hf_hub.add_repo("org/bin-only", bin_only)
    no_weights = tmp_path_factory.mktemp("no-weights")
    write_file(no_weights / "config.json", "{}")
    hf_hub.add_repo("org/no-weights", no_weights)
    return main


def run_json(
    run_cli: CliRunner, env: dict[str, str], *args: str | os.PathLike[str]
) -> dict[str, Any]:
    result = run_cli("download", *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_download_fetches_exactly_the_inference_set(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tiny_repo: Path
) -> None:
    mark = hf_hub.mark()
    result = run_cli("download", "org/tiny", env=hub_env)
    path = output_path(result)
    assert path.is_dir()
    assert path.parts[-4:-1] == ("hub", "models--org--tiny", "snapshots")
    present = {p.relative_to(path).as_posix() for p in path.rglob("*") if not p.is_dir()}
    assert present == INFERENCE_SET
    for name in INFERENCE_SET:
        assert sha256_of(path / name) == sha256_of(tiny_repo / name), name
    fetched = [r["file"] for r in hf_hub.file_gets(mark, repo="org/tiny")]
    assert sorted(fetched) == sorted(INFERENCE_SET)  # each once, decoys never
    api = [r for r in hf_hub.requests(mark) if r["path"].startswith("/api/")]
    assert len(api) == 1 and api[0]["query"] == "blobs=true"
    # the client's cache layout: snapshot symlinks into blobs, refs/main → commit
    weights = path / "model-00001-of-00003.safetensors"
    assert weights.is_symlink()
    assert weights.resolve().name == sha256_of(tiny_repo / "model-00001-of-00003.safetensors")
    storage = path.parents[1]
    assert (storage / "refs" / "main").read_text() == path.name


def test_json_contract_and_second_run_is_cached(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tiny_repo: Path
) -> None:
    doc = run_json(run_cli, hub_env, "hf://org/tiny")
    assert set(doc) >= {
        "repo",
        "revision",
        "commit",
        "path",
        "files",
        "downloaded_bytes",
        "seconds",
        "removed",
    }
    assert doc["repo"] == "org/tiny" and doc["revision"] == "main"
    assert doc["removed"] == []
    assert len(doc["commit"]) == 40 and doc["path"].endswith(doc["commit"])
    files = {f["path"]: f for f in doc["files"]}
    assert set(files) == INFERENCE_SET
    for name, entry in files.items():
        assert set(entry) == {"path", "bytes", "sha256", "cached", "verified"}
        assert entry["verified"] is True
        assert entry["bytes"] == (tiny_repo / name).stat().st_size
        assert entry["sha256"] == sha256_of(tiny_repo / name)
        assert entry["cached"] is False
    assert doc["downloaded_bytes"] >= sum(f["bytes"] for f in doc["files"])
    mark = hf_hub.mark()
    again = run_json(run_cli, hub_env, "org/tiny")
    assert all(f["cached"] for f in again["files"])
    assert again["downloaded_bytes"] == 0 and again["path"] == doc["path"]
    assert hf_hub.file_gets(mark) == []


def test_revisions_branch_tag_and_at_suffix(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tiny_repo: Path
) -> None:
    dev = run_json(run_cli, hub_env, "org/tiny", "--revision", "dev")
    tag = run_json(run_cli, hub_env, "org/tiny@v1.0")
    main = run_json(run_cli, hub_env, "org/tiny")
    assert dev["commit"] == tag["commit"] != main["commit"]
    assert tag["revision"] == "v1.0"
    assert {f["path"] for f in dev["files"]} >= {"model-00001-of-00002.safetensors"}
    by_commit = run_json(run_cli, hub_env, f"org/tiny@{main['commit']}")
    assert by_commit["path"] == main["path"] and all(f["cached"] for f in by_commit["files"])
    storage = Path(main["path"]).parents[1]
    assert (storage / "refs" / "v1.0").read_text() == dev["commit"]
    mark = hf_hub.mark()
    mirror = run_json(run_cli, hub_env, "org/tiny@mirror")  # same blobs, another commit
    assert mirror["commit"] != main["commit"] and all(f["cached"] for f in mirror["files"])
    assert hf_hub.file_gets(mark) == [] and mirror["downloaded_bytes"] == 0


def test_format_include_exclude_and_all(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tiny_repo: Path
) -> None:
    doc = run_json(run_cli, hub_env, "org/tiny", "--dry-run", "--format", "bin")
    assert {f["path"] for f in doc["files"]} >= {"pytorch_model.bin", "config.json"}
    assert "training_args.bin" not in {f["path"] for f in doc["files"]}
    assert not any(f["path"].endswith(".safetensors") for f in doc["files"])
    doc = run_json(
        run_cli, hub_env, "org/tiny", "--dry-run", "--include", "original/*", "--exclude", "*.py"
    )
    paths = {f["path"] for f in doc["files"]}
    assert "original/model.safetensors" in paths and "modeling_tiny.py" not in paths
    doc = run_json(run_cli, hub_env, "org/tiny", "--dry-run", "--format", "all")
    assert {f["path"] for f in doc["files"]} == INFERENCE_SET | DECOYS | {"README.md"}


def test_bin_repo_and_dataset(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tiny_repo: Path
) -> None:
    doc = run_json(run_cli, hub_env, "org/bin-only")
    assert {f["path"] for f in doc["files"]} == {"config.json", "pytorch_model.bin"}
    doc = run_json(run_cli, hub_env, "hf://datasets/org/data")
    assert {f["path"] for f in doc["files"]} == {"train.jsonl", "sub/part-0.parquet"}
    assert "datasets--org--data" in doc["path"]


def test_dry_run_writes_nothing(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tiny_repo: Path, tmp_path: Path
) -> None:
    mark = hf_hub.mark()
    cache = tmp_path / "cache"
    result = run_cli("download", "org/tiny", "--dry-run", "--cache-dir", cache, env=hub_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith(str(cache))
    assert any("model-00002-of-00003.safetensors" in line and "fetch" in line for line in lines)
    assert any(line.startswith("total ") and "to fetch" in line for line in lines)
    assert not cache.exists()
    assert not (Path(hub_env["HF_HOME"])).exists()
    weight_gets = [r for r in hf_hub.file_gets(mark) if r["file"].endswith(".safetensors")]
    assert weight_gets == []


def test_local_dir(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tiny_repo: Path, tmp_path: Path
) -> None:
    target = tmp_path / "model"
    result = run_cli("download", "org/tiny", "--local-dir", target, env=hub_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(target)
    for name in INFERENCE_SET:
        assert (target / name).is_file() and not (target / name).is_symlink()
        assert sha256_of(target / name) == sha256_of(tiny_repo / name)
    mark = hf_hub.mark()
    doc = run_json(run_cli, hub_env, "org/tiny", "--local-dir", target)
    assert all(f["cached"] for f in doc["files"]) and hf_hub.file_gets(mark) == []
    offline = run_cli("download", "org/tiny", "--local-dir", target, "--offline", env=hub_env)
    assert offline.returncode == 0, offline.stderr


def test_offline_full_and_partial_cache(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tiny_repo: Path
) -> None:
    online = run_json(run_cli, hub_env, "org/tiny")
    mark = hf_hub.mark()
    result = run_cli("download", "org/tiny", "--offline", env=hub_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == online["path"]
    env = {**hub_env, "HF_HUB_OFFLINE": "1"}
    doc = run_json(run_cli, env, "org/tiny")
    assert doc["commit"] == online["commit"] and all(f["cached"] for f in doc["files"])
    # partial cache: remove one shard's snapshot entry
    (Path(online["path"]) / "model-00002-of-00003.safetensors").unlink()
    (Path(online["path"]) / "tokenizer.json").unlink()
    partial = run_cli("download", "org/tiny", env=env)
    assert_error(partial, 3, "model-00002-of-00003.safetensors", "tokenizer.json", "offline")
    never = run_cli("download", "org/other", "--offline", env=hub_env)
    assert_error(never, 3, "org/other")
    assert hf_hub.requests(mark) == []  # no socket reached the hub


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["org/missing"], 3, "org/missing"),
        (["org/tiny", "--revision", "nope"], 3, "revision"),
        (["org/no-weights"], 3, "no"),
        (["not a repo"], 2, "not a repo"),
        (["org/tiny", "--format", "gguf"], 2, "gguf"),
        (["org/tiny@v1", "--revision", "v2"], 2, "--revision"),
        (["org/tiny", "--max-workers", "0"], 2, "max-workers"),
        (["xx://org/tiny"], 2, "xx"),
        (["org/tiny", "--cache-dir", "a", "--local-dir", "b"], 2, "--local-dir"),
        (["org/tiny", "--lock-timeout", "-1"], 2, "--lock-timeout"),
        (["ms://org/tiny", "--source", "hf"], 2, "--source"),
    ],
)
def test_bad_input_and_missing(
    run_cli: CliRunner,
    hub_env: dict[str, str],
    tiny_repo: Path,
    args: list[str],
    code: int,
    needle: str,
) -> None:
    result = run_cli("download", *args, env=hub_env)
    assert_error(result, code, needle)
    assert result.stdout == ""


def test_index_naming_missing_file_exits_6(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    broken = make_sharded_repo(tmp_path / "broken", shards=2, extras=False)
    (broken / "model-00002-of-00002.safetensors").unlink()
    hf_hub.add_repo("org/broken", broken)
    result = run_cli("download", "org/broken", env=hub_env)
    assert_error(result, 6, "model-00002-of-00002.safetensors")
    assert not list(Path(hub_env["HF_HOME"]).rglob("*.safetensors"))


def test_library_download_returns_result(
    hf_hub: HubServer, tiny_repo: Path, tmp_path: Path
) -> None:
    """The library API, run in a subprocess so HF_ENDPOINT is set before the client is imported."""
    import subprocess
    import sys

    code = (
        "import json, weightlib.download as d\n"
        "r = d.download('org/tiny', cache_dir='CACHE')\n"
        "print(json.dumps(r.to_json()))\n"
    ).replace("CACHE", str(tmp_path / "c"))
    env = hf_hub.env(tmp_path / "home")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["path"].startswith(str(tmp_path / "c"))
    assert {f["path"] for f in doc["files"]} == INFERENCE_SET


def test_model_safetensors_single_file_repo(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    single = tmp_path / "single"
    write_shard(single / "model.safetensors", {"w": (64,)})
    write_file(single / "config.json", "{}")
    write_file(single / "merges.txt", "a b\n")
    hf_hub.add_repo("org/single", single)
    doc = run_json(run_cli, hub_env, "org/single")
    assert {f["path"] for f in doc["files"]} == {"model.safetensors", "config.json", "merges.txt"}


def test_progress_lines_and_quiet(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], tiny_repo: Path, tmp_path: Path
) -> None:
    env = {**hub_env, "WEIGHTLIB_PROGRESS_INTERVAL": "0"}
    result = run_cli("download", "org/tiny", "--cache-dir", tmp_path / "a", env=env)
    assert result.returncode == 0, result.stderr
    assert "fetching 10 file(s)" in result.stderr
    assert "downloaded" in result.stderr and "10/10 files" in result.stderr
    assert result.stdout.strip().splitlines() == [result.stdout.strip()]  # only the path
    quiet = run_cli("-q", "download", "org/tiny", "--cache-dir", tmp_path / "b", env=env)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_rich_progress_on_a_terminal(
    hf_hub: HubServer, hub_env: dict[str, str], tiny_repo: Path, tmp_path: Path
) -> None:
    import shutil
    import subprocess

    from tests.helpers import WEIGHTLIB

    script = shutil.which("script")
    if script is None:
        pytest.skip("util-linux `script` is needed to give the CLI a terminal")
    command = f"{WEIGHTLIB} download org/tiny --cache-dir {tmp_path / 'c'}"
    out = subprocess.run(
        [script, "-qec", command, "/dev/null"],
        env={**hub_env, "TERM": "xterm", "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "total" in out.stdout  # the Rich total bar, drawn on the terminal
    assert str(tmp_path / "c") in out.stdout.strip().splitlines()[-1]


def test_real_minilm_checkpoint(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], minilm_dir: Path
) -> None:
    """The real all-MiniLM-L6-v2 folder served as a repo: weights, support files and the
    sentence-transformers modules its `modules.json` names; no docs."""
    hf_hub.add_repo("sentence-transformers/all-MiniLM-L6-v2", minilm_dir)
    doc = run_json(run_cli, hub_env, "sentence-transformers/all-MiniLM-L6-v2")
    paths = {f["path"] for f in doc["files"]}
    assert "model.safetensors" in paths and "tokenizer.json" in paths and "vocab.txt" in paths
    assert "README.md" not in paths and "1_Pooling/config.json" in paths
    weights = next(f for f in doc["files"] if f["path"] == "model.safetensors")
    assert weights["sha256"] == sha256_of(minilm_dir / "model.safetensors")
    assert sha256_of(Path(doc["path"]) / "model.safetensors") == weights["sha256"]
