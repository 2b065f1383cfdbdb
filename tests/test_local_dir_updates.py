"""Downloading again into a `--local-dir` after the repository changed leaves exactly the new
inference set: the previous download's files it no longer needs are removed (only those weightlib
recorded, never the user's own), and `--dry-run` shows what would go."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CliRunner
from tests.hubs.fixtures import HubServer, make_sharded_repo

pytest_plugins = ["tests.hubs.hf_plugin"]

REPO = "org/changing"


def files_under(folder: Path) -> set[str]:
    """Every file below `folder` outside `.cache`, as relative paths."""
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and ".cache" not in p.relative_to(folder).parts
    }


def test_a_new_revision_replaces_the_old_files_and_keeps_the_users(
    hf_hub: HubServer, hub_env: dict[str, str], run_cli: CliRunner, tmp_path: Path
) -> None:
    old = make_sharded_repo(tmp_path / "old", shards=3)
    new = make_sharded_repo(tmp_path / "new", shards=2, seed=7)
    target = tmp_path / "model"
    hf_hub.add_repo(REPO, old)
    first = run_cli("download", REPO, "--local-dir", str(target), "--json", env=hub_env)
    assert first.returncode == 0, first.stderr
    first_files = {f["path"] for f in json.loads(first.stdout)["files"]}
    assert json.loads(first.stdout)["removed"] == []
    (target / "NOTES.md").write_text("the user's own file\n")
    (target / "model-00003-of-00003.safetensors.bak").write_bytes(b"also the user's")

    hf_hub.add_repo(REPO, new)
    dry = run_cli("download", REPO, "--local-dir", str(target), "--dry-run", "--json", env=hub_env)
    assert dry.returncode == 0, dry.stderr
    new_files = {f["path"] for f in json.loads(dry.stdout)["files"]}
    gone = sorted(first_files - new_files)
    assert gone and all("-of-00003" in p for p in gone)
    assert json.loads(dry.stdout)["removed"] == gone
    assert all((target / p).is_file() for p in gone)  # a dry run removes nothing
    plain = run_cli("download", REPO, "--local-dir", str(target), "--dry-run", env=hub_env)
    assert {
        line.split()[-1] for line in plain.stdout.splitlines() if line.startswith("remove")
    } == set(gone)

    second = run_cli("download", REPO, "--local-dir", str(target), "--json", env=hub_env)
    assert second.returncode == 0, second.stderr
    document = json.loads(second.stdout)
    assert document["removed"] == gone
    user_files = {"NOTES.md", "model-00003-of-00003.safetensors.bak"}
    assert files_under(target) == new_files | user_files
    assert not any(
        (target / ".cache/huggingface/download" / f"{p}.metadata").exists() for p in gone
    )
    refs = (target / ".cache/huggingface/refs/main").read_text().strip()
    assert refs == document["commit"] != json.loads(first.stdout)["commit"]
    listed = run_cli("filter", str(target), env=hub_env)
    assert listed.stdout.split() == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]


def test_files_weightlib_did_not_write_are_never_removed(
    hf_hub: HubServer, hub_env: dict[str, str], run_cli: CliRunner, tmp_path: Path
) -> None:
    hf_hub.add_repo(REPO + "-2", make_sharded_repo(tmp_path / "repo", shards=2))
    target = tmp_path / "model"
    target.mkdir()
    (target / "model-00001-of-00009.safetensors").write_bytes(b"put here by hand")
    # a record naming a path outside the folder (tampered): never followed
    record = target / ".cache" / "weightlib" / "downloaded.json"
    record.parent.mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    record.write_text(json.dumps({"commit": "x", "files": ["../outside.txt", "/etc/hostname"]}))
    result = run_cli("download", REPO + "-2", "--local-dir", str(target), "--json", env=hub_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["removed"] == []
    assert (target / "model-00001-of-00009.safetensors").read_bytes() == b"put here by hand"
    assert outside.read_text() == "keep me"
