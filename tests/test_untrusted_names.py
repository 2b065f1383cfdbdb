"""A hub that answers with hostile names can never make `weightlib` write outside the destination.

Real `huggingface_hub` client, real HTTP on 127.0.0.1, against the test hub misbehaving on
purpose (`extra_files`, `commit`, `blob_ids` faults): every unsafe name is refused with exit 6
and one line naming it, before any file body is fetched and without a byte changed elsewhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.helpers import assert_error, write_file
from tests.hubs.fixtures import HubServer, make_sharded_repo

pytest_plugins = ["tests.hubs.hf_plugin"]

PAYLOAD = "HOSTILE-PAYLOAD"
HOSTILE_NAMES = [
    "/ABSOLUTE/x.json",
    "../../x.json",
    "../../../../x.json",
    "sub/../../x.json",
    "a\\..\\..\\x.json",
    "a//x.json",
    "a\x00b.json",
    "./x.json",
]


@pytest.fixture(scope="module")
def repo(hf_hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_sharded_repo(tmp_path_factory.mktemp("repo"), shards=2, extras=False)
    write_file(folder / "sub" / "extra.json", "{}")
    hf_hub.add_repo("org/repo", folder)
    return folder


@pytest.fixture(autouse=True)
def _clear_faults(hf_hub: HubServer) -> None:
    hf_hub.set_faults()


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its content, to compare before and after a run."""
    out = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(root))] = path.read_bytes()
    return out


def _hostile_files_written(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and PAYLOAD.encode() in path.read_bytes():
            found.append(path)
    return found


@pytest.mark.parametrize("mode", ["cache", "local-dir"])
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_listing_entry_is_refused_before_any_write(
    run_cli: CliRunner, hf_hub: HubServer, repo: Path, tmp_path: Path, name: str, mode: str
) -> None:
    env = hf_hub.env(tmp_path / "home")
    dest = tmp_path / "a" / "b" / "dest"
    victim = tmp_path / "a" / "x.json"  # where `../../x.json` from a local dir would land
    write_file(victim, "victim")
    hf_hub.set_faults(extra_files={name: PAYLOAD})
    before = _tree(tmp_path)
    mark = hf_hub.mark()
    args = ["download", "org/repo", "--format", "all"]
    args += ["--local-dir", str(dest)] if mode == "local-dir" else []
    result = run_cli(*args, env=env)
    assert_error(result, 6, "unsafe file name", repr(name))
    assert hf_hub.file_gets(mark) == []
    assert _tree(tmp_path) == before
    assert _hostile_files_written(tmp_path) == []
    assert not Path("/ABSOLUTE").exists()
    assert victim.read_text() == "victim"


def test_include_pattern_and_json_output_refuse_too(
    run_cli: CliRunner, hf_hub: HubServer, repo: Path, tmp_path: Path
) -> None:
    env = hf_hub.env(tmp_path / "home")
    hf_hub.set_faults(extra_files={"../../evil.json": PAYLOAD})
    result = run_cli("download", "org/repo", "--include", "*.json", "--json", env=env)
    assert result.returncode == 6
    document = json.loads(result.stdout)
    assert document["error"]["exit_code"] == 6
    assert "../../evil.json" in document["error"]["message"]
    assert _hostile_files_written(tmp_path) == []


@pytest.mark.parametrize("command", ["size", "filter", "index"])
def test_remote_commands_refuse_a_hostile_listing(
    run_cli: CliRunner, hf_hub: HubServer, repo: Path, tmp_path: Path, command: str
) -> None:
    hf_hub.set_faults(extra_files={"../../x.safetensors": PAYLOAD})
    result = run_cli(command, "org/repo", env=hf_hub.env(tmp_path / "home"))
    assert_error(result, 6, "../../x.safetensors")


@pytest.mark.parametrize("mode", ["cache", "local-dir"])
def test_hostile_commit_id_is_refused(
    run_cli: CliRunner, hf_hub: HubServer, repo: Path, tmp_path: Path, mode: str
) -> None:
    env = hf_hub.env(tmp_path / "home")
    hf_hub.set_faults(commit="../../../evil")
    args = ["download", "org/repo"]
    args += ["--local-dir", str(tmp_path / "dest")] if mode == "local-dir" else []
    result = run_cli(*args, env=env)
    assert_error(result, 6, "commit id", "../../../evil")
    assert not any("evil" in p.name for p in tmp_path.rglob("*"))


def test_hostile_blob_id_is_refused(
    run_cli: CliRunner, hf_hub: HubServer, repo: Path, tmp_path: Path
) -> None:
    env = hf_hub.env(tmp_path / "home")
    hf_hub.set_faults(blob_ids={"config.json": "../../../../blob"})
    result = run_cli("download", "org/repo", env=env)
    assert_error(result, 6, "blob id", "../../../../blob")
    assert not any(p.name == "blob" for p in tmp_path.rglob("*"))


def test_symlink_inside_local_dir_is_not_followed_out(
    run_cli: CliRunner, hf_hub: HubServer, repo: Path, tmp_path: Path
) -> None:
    env = hf_hub.env(tmp_path / "home")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(outside, target_is_directory=True)
    result = run_cli("download", "org/repo", "--format", "all", "--local-dir", dest, env=env)
    assert_error(result, 6, "sub/extra.json", "symlink")
    assert list(outside.iterdir()) == []


def test_planted_partial_symlink_is_replaced_not_written_through(
    run_cli: CliRunner, hf_hub: HubServer, repo: Path, tmp_path: Path
) -> None:
    env = hf_hub.env(tmp_path / "home")
    dest = tmp_path / "dest"
    victim = tmp_path / "victim"
    victim.write_text("keep")
    partial = dest / ".cache" / "huggingface" / "download" / "config.json.weightlib.incomplete"
    partial.parent.mkdir(parents=True)
    partial.symlink_to(victim)
    result = run_cli("download", "org/repo", "--local-dir", dest, env=env)
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "keep"
    assert (dest / "config.json").read_bytes() == (repo / "config.json").read_bytes()


def test_cached_tree_metadata_read_back_is_checked(
    run_cli: CliRunner, hf_hub: HubServer, repo: Path, tmp_path: Path
) -> None:
    env = hf_hub.env(tmp_path / "home")
    dest = tmp_path / "dest"
    assert run_cli("download", "org/repo", "--local-dir", dest, env=env).returncode == 0
    trees = list((dest / ".cache" / "huggingface" / "trees").glob("*.json"))
    assert len(trees) == 1
    document = json.loads(trees[0].read_text())
    first = next(iter(document["files"].values()))
    document["files"]["../../x.json"] = first
    trees[0].write_text(json.dumps(document))
    result = run_cli("download", "org/repo", "--local-dir", dest, "--offline", env=env)
    assert_error(result, 6, "../../x.json")


def test_dummy_init_refuses_an_index_naming_a_file_outside(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    source = make_sharded_repo(tmp_path / "source", shards=2, extras=False)
    index = json.loads((source / "model.safetensors.index.json").read_text())
    tensor = next(iter(index["weight_map"]))
    index["weight_map"][tensor] = "../../outside.safetensors"
    (source / "model.safetensors.index.json").write_text(json.dumps(index))
    out = tmp_path / "deep" / "out"
    result = run_cli("dummy-init", source, "--output", out)
    assert_error(result, 6, "../../outside.safetensors")
    assert not (tmp_path / "outside.safetensors").exists()
    assert not out.exists() or not any(out.iterdir())


def test_symlink_out_of_dummy_output_is_refused(
    run_cli: CliRunner, tmp_path: Path, minilm_dir: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (out / "1_Pooling").symlink_to(outside, target_is_directory=True)
    assert (minilm_dir / "1_Pooling" / "config.json").is_file()
    result = run_cli("dummy-init", minilm_dir, "--output", out, "--force")
    assert_error(result, 6, "symlink")
    assert list(outside.iterdir()) == []


def test_revision_with_dot_segments_is_a_usage_error(run_cli: CliRunner, tmp_path: Path) -> None:
    result = run_cli("download", "org/repo", "--revision", "../../x", "--offline")
    assert_error(result, 2, "revision")
    assert os.listdir(tmp_path) == ["home"] or not (tmp_path / "x").exists()
