"""Weight-file selection on real layouts: what a server would load, and why the rest is left out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.layouts import write_index, write_safetensors, write_sharded
from weightlib.errors import MissingShardsError, NotFoundError, NoWeightFilesError
from weightlib.shards import (
    discover_weight_files,
    filter_duplicate_safetensors_files,
    filter_files_not_needed_for_inference,
    local_serving_files,
    select_local_weight_files,
)


def reasons(folder: Path, fmt: str = "auto") -> dict[str, str]:
    return {e.file: e.reason for e in select_local_weight_files(folder, fmt).excluded}


def test_minilm_selects_its_single_safetensors(minilm_dir: Path) -> None:
    assert discover_weight_files(minilm_dir) == [minilm_dir / "model.safetensors"]
    _, support = local_serving_files(minilm_dir)
    names = {p.name for p in support}
    assert {"config.json", "tokenizer.json", "vocab.txt", "special_tokens_map.json"} <= names
    assert "README.md" not in names and all(p.parent == minilm_dir for p in support)


def test_sharded_checkpoint_in_index_order(tmp_path: Path) -> None:
    shards = write_sharded(tmp_path)
    assert len(shards) >= 3
    assert [p.name for p in discover_weight_files(tmp_path)] == shards


def test_mistral_consolidated_is_not_in_index(tmp_path: Path) -> None:
    shards = write_sharded(tmp_path)
    write_safetensors(tmp_path / "consolidated.safetensors")
    selection = select_local_weight_files(tmp_path)
    assert selection.files == shards
    assert selection.index_file == "model.safetensors.index.json"
    assert reasons(tmp_path) == {"consolidated.safetensors": "not-in-index"}


def test_safetensors_win_over_bin_unless_asked(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "model.safetensors")
    (tmp_path / "pytorch_model.bin").write_bytes(b"x")
    assert select_local_weight_files(tmp_path).files == ["model.safetensors"]
    assert reasons(tmp_path) == {"pytorch_model.bin": "other-format"}
    assert select_local_weight_files(tmp_path, "bin").files == ["pytorch_model.bin"]
    assert reasons(tmp_path, "bin") == {"model.safetensors": "other-format"}


def test_training_artifacts_dropped(tmp_path: Path) -> None:
    for name in [
        "pytorch_model.bin",
        "training_args.bin",
        "optimizer.pt",
        "scheduler.pt",
        "scaler.pt",
    ]:
        (tmp_path / name).write_bytes(b"x")
    assert select_local_weight_files(tmp_path).files == ["pytorch_model.bin"]
    assert reasons(tmp_path) == {
        "training_args.bin": "training-artifact",
        "optimizer.pt": "training-artifact",
        "scheduler.pt": "training-artifact",
        "scaler.pt": "training-artifact",
    }


def test_only_training_artifacts_is_no_weights(tmp_path: Path) -> None:
    (tmp_path / "training_args.bin").write_bytes(b"x")
    with pytest.raises(NoWeightFilesError, match="no weight files"):
        discover_weight_files(tmp_path)


def test_unpadded_shard_numbers(tmp_path: Path) -> None:
    names = [f"model-{i}-of-12.safetensors" for i in range(1, 13)]
    for name in reversed(names):
        write_safetensors(tmp_path / name)
    assert select_local_weight_files(tmp_path).files == names


def test_subfolder_weights_are_not_candidates(tmp_path: Path) -> None:
    shards = write_sharded(tmp_path)
    write_safetensors(tmp_path / "original" / "model.safetensors")
    assert select_local_weight_files(tmp_path).files == shards
    assert reasons(tmp_path) == {"original/model.safetensors": "subfolder"}


def test_pt_format_is_explicit(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"x")
    with pytest.raises(NoWeightFilesError):
        discover_weight_files(tmp_path)
    assert select_local_weight_files(tmp_path, "pt").files == ["model.pt"]


def test_index_naming_a_missing_shard(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "model-00001-of-00002.safetensors")
    write_index(
        tmp_path,
        {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"},
    )
    selection = select_local_weight_files(tmp_path)
    assert selection.missing == ["model-00002-of-00002.safetensors"]
    with pytest.raises(MissingShardsError, match=r"model-00002-of-00002\.safetensors"):
        discover_weight_files(tmp_path)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        discover_weight_files(tmp_path / "nope")


def test_vllm_named_filters_keep_vllm_semantics(tmp_path: Path) -> None:
    files = [str(tmp_path / n) for n in ("a.bin", "training_args.bin", "optimizer.bin")]
    assert filter_files_not_needed_for_inference(files) == files[:1]
    sts = [str(tmp_path / n) for n in ("consolidated.safetensors", "model-1.safetensors")]
    index = "model.safetensors.index.json"
    assert filter_duplicate_safetensors_files(sts, str(tmp_path), index) == sts  # no index yet
    (tmp_path / index).write_text(json.dumps({"weight_map": {"w": "model-1.safetensors"}}))
    assert filter_duplicate_safetensors_files(sts, str(tmp_path), index) == sts[1:]
