"""`weightlib download/filter/size/index` on ModelScope repositories through the real CLI.

The real `modelscope_hub` client runs against the test hub (tests/hubs/ms_server.py) in a
separate process on 127.0.0.1; the same selection, verification, locks and exit codes as the
Hugging Face path are expected.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.helpers import (
    REPO_ROOT,
    WEIGHTLIB,
    assert_error,
    kill_when,
    output_path,
    run_parallel,
    sha256_of,
    size_of,
    write_file,
)
from tests.hubs.ms_fixtures import MS_TOKEN, MsHubServer, add_standard_repos

TINY = "org/tiny"
SHARDED = "org/sharded"
SECRET = "org/secret"
TINY_SERVING = [
    "config.json",
    "configuration.json",
    "generation_config.json",
    "model.safetensors",
    "modeling_tiny.py",
    "tokenizer.json",
    "tokenizer_config.json",
]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MsHubServer]:
    """The module's hub: a small repo with a `v1` branch, a sharded one and a private one."""
    with MsHubServer(tmp_path_factory.mktemp("ms-cli-hub")) as server:
        add_standard_repos(server, v1_seed=5, secret_seed=9)
        yield server


@pytest.fixture
def env(hub: MsHubServer, tmp_path: Path) -> dict[str, str]:
    """CLI environment for `hub` with the test's own caches; faults cleared."""
    hub.reset_faults()
    return hub.env(tmp_path / "home", WEIGHTLIB_RETRIES="2")


def served(hub: MsHubServer, repo: str, path: str = "", revision: str = "master") -> Path:
    return hub.root / repo / revision / path


def snapshot(env: dict[str, str], repo: str, revision: str = "master") -> Path:
    return (
        Path(env["MODELSCOPE_CACHE"]) / "models" / repo.replace("/", "--") / "snapshots" / revision
    )


def files_under(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


# -- download --------------------------------------------------------------------------------


def test_download_selects_the_inference_set_and_verifies(
    hub: MsHubServer, env: dict[str, str], run_cli: CliRunner
) -> None:
    mark = hub.mark()
    result = run_cli("download", f"ms://{TINY}", "--json", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    root = snapshot(env, TINY)
    assert doc["repo"] == TINY and doc["revision"] == "master" and len(doc["commit"]) == 40
    assert doc["path"] == str(root)
    assert [f["path"] for f in doc["files"]] == TINY_SERVING
    assert files_under(root) == TINY_SERVING
    for entry in doc["files"]:
        assert entry["sha256"] == sha256_of(root / entry["path"])
        assert entry["sha256"] == sha256_of(served(hub, TINY, entry["path"]))
        assert entry["cached"] is False
    assert doc["downloaded_bytes"] == sum(f["bytes"] for f in doc["files"])
    requests = hub.requests(mark)
    assert sum(1 for r in requests if r.get("kind") == "listing") == 1
    assert sorted(r["file"] for r in hub.file_gets(mark)) == TINY_SERVING
    again = run_cli("download", f"modelscope://{TINY}", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == str(root)


def test_sharded_checkpoint_fetches_only_index_named_shards(
    hub: MsHubServer, env: dict[str, str], run_cli: CliRunner
) -> None:
    index = json.loads(served(hub, SHARDED, "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    mark = hub.mark()
    result = run_cli("download", SHARDED, "--source", "modelscope", env=env)
    root = output_path(result)
    assert root == snapshot(env, SHARDED)
    names = files_under(root)
    assert [n for n in names if n.endswith(".safetensors")] == shards
    assert "model.safetensors.index.json" in names
    assert "consolidated.safetensors" not in names and "training_args.bin" not in names
    for name in names:
        assert sha256_of(root / name) == sha256_of(served(hub, SHARDED, name))
    fetched = [r["file"] for r in hub.file_gets(mark) if not r["range"]]
    assert "consolidated.safetensors" not in fetched


@pytest.mark.parametrize(
    "variables", [{"VLLM_USE_MODELSCOPE": "1"}, {"WEIGHTLIB_SOURCE": "modelscope"}]
)
def test_environment_selects_modelscope(
    hub: MsHubServer, env: dict[str, str], run_cli: CliRunner, variables: dict[str, str]
) -> None:
    result = run_cli("download", TINY, "--include", "*.bin", env={**env, **variables})
    assert result.returncode == 0, result.stderr
    root = snapshot(env, TINY)
    assert Path(result.stdout.splitlines()[-1]) == root
    assert files_under(root) == sorted([*TINY_SERVING, "pytorch_model.bin"])


def test_revision_and_dry_run(hub: MsHubServer, env: dict[str, str], run_cli: CliRunner) -> None:
    mark = hub.mark()
    dry = run_cli("download", f"ms://{TINY}", "--revision", "v1", "--dry-run", "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    doc = json.loads(dry.stdout)
    assert doc["revision"] == "v1" and doc["dry_run"] is True
    assert doc["bytes_to_fetch"] == sum(f["bytes"] for f in doc["files"])
    assert not snapshot(env, TINY, "v1").exists()
    assert hub.file_gets(mark) == []
    result = run_cli("download", f"ms://{TINY}@v1", "--format", "all", env=env)
    assert result.returncode == 0, result.stderr
    root = snapshot(env, TINY, "v1")
    assert (root / "only-in-v1.txt").read_text() == "v1\n"
    assert sha256_of(root / "model.safetensors") == sha256_of(
        served(hub, TINY, "model.safetensors", "v1")
    )


def test_local_dir_download_then_offline(
    hub: MsHubServer, env: dict[str, str], run_cli: CliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "served-model"
    result = run_cli("download", f"ms://{TINY}", "--local-dir", str(target), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(target)
    assert files_under(target) == TINY_SERVING
    mark = hub.mark()
    offline = run_cli("download", f"ms://{TINY}", "--local-dir", str(target), "--offline", env=env)
    assert offline.returncode == 0, offline.stderr
    assert hub.requests(mark) == []
    assert not snapshot(env, TINY).exists()


def test_private_repo_with_and_without_token(
    hub: MsHubServer, env: dict[str, str], run_cli: CliRunner
) -> None:
    denied = run_cli("download", f"ms://{SECRET}", env=env)
    assert_error(denied, 4, "ms://org/secret", "MODELSCOPE_API_TOKEN")
    wrong = run_cli("download", f"ms://{SECRET}", "--token", "ms-bad-secret-value", env=env)
    assert_error(wrong, 4, "ms://org/secret", "rejected")
    verbose = run_cli("-v", "download", f"ms://{SECRET}", "--token", "ms-bad-secret-value", env=env)
    assert verbose.returncode == 4
    assert "ms-bad-secret-value" not in verbose.stdout + verbose.stderr
    ok = run_cli("-v", "download", f"ms://{SECRET}", "--token", MS_TOKEN, "--json", env=env)
    assert ok.returncode == 0, ok.stderr
    assert MS_TOKEN not in ok.stdout + ok.stderr
    by_env = run_cli("size", f"ms://{SECRET}", env={**env, "MODELSCOPE_API_TOKEN": MS_TOKEN})
    assert by_env.returncode == 0, by_env.stderr
    assert MS_TOKEN not in by_env.stdout + by_env.stderr


@pytest.mark.parametrize(
    ("model", "needles"),
    [
        ("ms://org/missing", ["ms://org/missing", "repository not found"]),
        ("ms://org/tiny@nope", ["ms://org/tiny@nope", "revision 'nope' not found"]),
    ],
)
def test_missing_repo_or_revision_exits_3(
    env: dict[str, str], run_cli: CliRunner, model: str, needles: list[str]
) -> None:
    command = "size" if "@" in model else "download"
    assert_error(run_cli(command, model, env=env), 3, *needles)


def test_missing_file_exits_3(hub: MsHubServer, env: dict[str, str], run_cli: CliRunner) -> None:
    hub.configure(gone=[f"{TINY}/tokenizer.json"])
    assert_error(run_cli("download", f"ms://{TINY}", env=env), 3, "tokenizer.json")


def test_wrong_sha256_exits_6_after_one_more_fetch(
    hub: MsHubServer, env: dict[str, str], run_cli: CliRunner, tmp_path: Path
) -> None:
    hub.configure(wrong_sha256=[f"{TINY}/model.safetensors"])
    mark = hub.mark()
    result = run_cli("download", f"ms://{TINY}", env=env)
    assert_error(result, 6, "model.safetensors")
    gets = [r for r in hub.file_gets(mark) if r["file"] == "model.safetensors"]
    assert len(gets) == 2
    assert not (snapshot(env, TINY) / "model.safetensors").exists()
    hub.configure(wrong_sha256=[], wrong_content=[f"{TINY}/config.json"])
    other = ["--cache-dir", str(tmp_path / "other-cache")]
    assert_error(run_cli("download", f"ms://{TINY}", *other, env=env), 6, "config.json")
    skipped = run_cli("download", f"ms://{TINY}", *other, "--no-verify", env=env)
    root = output_path(skipped)
    assert root == tmp_path / "other-cache" / "models" / "org--tiny" / "snapshots" / "master"


def test_transient_faults_are_retried_and_persistent_ones_exit_5(
    hub: MsHubServer, env: dict[str, str], run_cli: CliRunner
) -> None:
    hub.configure(fault_rate=0.3, seed=3, reset={f"{TINY}/model.safetensors": 1})
    result = run_cli("download", f"ms://{TINY}", "--json", env={**env, "WEIGHTLIB_RETRIES": "6"})
    assert result.returncode == 0, result.stderr
    for entry in json.loads(result.stdout)["files"]:
        assert entry["sha256"] == sha256_of(served(hub, TINY, entry["path"]))
    hub.configure(fault_rate=0, fail={f"{TINY}/config.json": -1})
    began = time.monotonic()
    failed = run_cli("download", f"ms://{TINY}", "--revision", "v1", env=env)
    assert_error(failed, 5, "config.json")
    assert time.monotonic() - began < 60


def test_offline_with_full_and_partial_cache(
    hub: MsHubServer, env: dict[str, str], run_cli: CliRunner
) -> None:
    first = run_cli("download", f"ms://{TINY}", env=env)
    assert first.returncode == 0, first.stderr
    mark = hub.mark()
    offline = run_cli("download", f"ms://{TINY}", "--offline", "--json", env=env)
    assert offline.returncode == 0, offline.stderr
    doc = json.loads(offline.stdout)
    assert all(f["cached"] for f in doc["files"]) and doc["downloaded_bytes"] == 0
    by_env = run_cli("filter", f"ms://{TINY}", env={**env, "HF_HUB_OFFLINE": "1"})
    assert by_env.returncode == 0, by_env.stderr
    assert by_env.stdout.split() == ["model.safetensors"]
    (snapshot(env, TINY) / "tokenizer.json").unlink()
    partial = run_cli("download", f"ms://{TINY}", "--offline", env=env)
    assert_error(partial, 3, "tokenizer.json")
    never = run_cli("download", f"ms://{SHARDED}", "--offline", env=env)
    assert_error(never, 3, "ms://org/sharded")
    assert hub.requests(mark) == []


def test_concurrent_processes_fetch_each_file_once(hub: MsHubServer, env: dict[str, str]) -> None:
    mark = hub.mark()
    runs = run_parallel([WEIGHTLIB, "download", f"ms://{SHARDED}"], 8, env=env, timeout=180)
    assert all(r.returncode == 0 for r in runs), [(r.stdout, r.stderr) for r in runs]
    assert {r.stdout.splitlines()[-1] for r in runs} == {str(snapshot(env, SHARDED))}
    whole = [r["file"] for r in hub.file_gets(mark, repo=SHARDED) if not r["range"]]
    assert len(whole) == len(set(whole))
    root = snapshot(env, SHARDED)
    for name in files_under(root):
        assert sha256_of(root / name) == sha256_of(served(hub, SHARDED, name))


def test_sigkill_then_rerun_resumes(hub: MsHubServer, env: dict[str, str]) -> None:
    big = "model-big.bin"
    write_file(served(hub, TINY, big, "v1"), os.urandom(900_000))
    hub.configure(bytes_per_second=400_000)
    args = [WEIGHTLIB, "download", f"ms://{TINY}@v1", "--include", big, "--max-workers", "1"]
    partial = snapshot(env, TINY, "v1") / f"{big}.incomplete"
    killed = kill_when(args, lambda: size_of(partial) > 0, env=env)
    kept = partial.stat().st_size
    assert 0 < kept < 900_000
    hub.configure(bytes_per_second=0)
    mark = hub.mark()
    rerun = killed.rerun(timeout=120)
    root = output_path(rerun)
    assert sha256_of(root / big) == sha256_of(served(hub, TINY, big, "v1"))
    gets = [r for r in hub.file_gets(mark) if r["file"] == big]
    assert [r["range"] for r in gets] == [f"bytes={kept}-"]


# -- filter / size / index -------------------------------------------------------------------


def test_remote_filter_size_index_fetch_no_weight_bytes(
    hub: MsHubServer, env: dict[str, str], run_cli: CliRunner
) -> None:
    index = json.loads(served(hub, SHARDED, "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    mark = hub.mark()
    size = run_cli("size", f"ms://{SHARDED}", "--json", env=env)
    assert size.returncode == 0, size.stderr
    size_requests = hub.requests(mark)
    assert [r.get("kind") for r in size_requests].count("listing") == 1
    assert all(r["file"] == "model.safetensors.index.json" for r in hub.file_gets(mark))
    total = sum(served(hub, SHARDED, s).stat().st_size for s in shards)
    assert str(total) in size.stdout
    filtered = run_cli("filter", f"ms://{SHARDED}", env=env)
    assert filtered.returncode == 0, filtered.stderr
    assert filtered.stdout.split() == shards
    mark = hub.mark()
    indexed = run_cli("index", f"ms://{SHARDED}", "--json", env=env)
    assert indexed.returncode == 0, indexed.stderr
    for request in hub.file_gets(mark):
        if request["file"] in shards:
            assert request["range"] and request["bytes"] < 20_000
    assert not (Path(env["MODELSCOPE_CACHE"]) / "models" / "org--sharded").exists()


# -- the modelscope extra --------------------------------------------------------------------

BLOCKED = (
    "import sys; sys.modules['modelscope'] = None; sys.modules['modelscope_hub'] = None; "
    "from weightlib.cli.app import main; main(sys.argv[1:])"
)


def test_missing_extra_exits_2_and_hf_commands_still_work(
    env: dict[str, str], minilm_dir: Path
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", BLOCKED, *args],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert_error(run("download", f"ms://{TINY}"), 2, "pip install 'weightlib[modelscope]'")
    blocked_filter = subprocess.run(
        [sys.executable, "-c", BLOCKED, "filter", TINY],
        env={**env, "VLLM_USE_MODELSCOPE": "1"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_error(blocked_filter, 2, "modelscope")
    local = run("filter", str(minilm_dir))
    assert local.returncode == 0, local.stderr
    assert local.stdout.split() == ["model.safetensors"]


# -- hostile listings ------------------------------------------------------------------------

HOSTILE = ["/ABSOLUTE/x.json", "../../x.json", "sub/../../x.json", "a\\b.json", "a//b.json"]


@pytest.mark.parametrize("mode", ["cache", "local-dir"])
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_listing_entry_is_refused_before_any_write(
    hub: MsHubServer, env: dict[str, str], run_cli: CliRunner, tmp_path: Path, name: str, mode: str
) -> None:
    hub.configure(extra_files={name: "HOSTILE-PAYLOAD"})
    dest = tmp_path / "a" / "b" / "dest"
    mark = hub.mark()
    args = ["download", f"ms://{TINY}", "--format", "all"]
    args += ["--local-dir", str(dest)] if mode == "local-dir" else []
    result = run_cli(*args, env=env)
    assert_error(result, 6, "unsafe file name", repr(name))
    assert hub.file_gets(mark) == []
    written = [p for p in tmp_path.rglob("*") if p.is_file() and b"HOSTILE" in p.read_bytes()]
    assert written == []
    assert not Path("/ABSOLUTE").exists()


def test_hostile_recorded_listing_is_refused_offline(
    hub: MsHubServer, env: dict[str, str], run_cli: CliRunner, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    assert run_cli("download", f"ms://{TINY}", "--local-dir", dest, env=env).returncode == 0
    records = [p for p in (dest / ".weightlib").glob("*.json") if "files" in p.read_text()[:200]]
    record = next(p for p in records if '"commit"' in p.read_text())
    document = json.loads(record.read_text())
    document["files"].append({"path": "../../x.json", "size": 2, "sha256": None})
    record.write_text(json.dumps(document))
    result = run_cli(
        "download", f"ms://{TINY}", "--local-dir", dest, "--format", "all", "--offline", env=env
    )
    assert_error(result, 6, "../../x.json")
