"""Weight-file selection on real layouts: what a server would load, and why the rest is left out."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.layouts import write_index, write_safetensors, write_sharded
from weightlib.download.selection import select_inference_files
from weightlib.errors import IntegrityError, MissingShardsError, NotFoundError, NoWeightFilesError
from weightlib.hub.base import RemoteFile, RepoListing
from weightlib.serving_files import support_files, support_reason
from weightlib.shards import (
    discover_weight_files,
    filter_duplicate_safetensors_files,
    filter_files_not_needed_for_inference,
    local_serving_files,
    select_local_weight_files,
    select_serving_files,
)


def reasons(folder: Path, fmt: str = "auto") -> dict[str, str]:
    return {e.file: e.reason for e in select_local_weight_files(folder, fmt).excluded}


def test_minilm_selects_its_single_safetensors(minilm_dir: Path) -> None:
    assert discover_weight_files(minilm_dir) == [minilm_dir / "model.safetensors"]
    _, support = local_serving_files(minilm_dir)
    assert {p.relative_to(minilm_dir).as_posix() for p in support} == {
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
        "special_tokens_map.json",
        "modules.json",
        "sentence_bert_config.json",
        "config_sentence_transformers.json",
        "1_Pooling/config.json",  # named by modules.json: sentence-transformers reads it
    }  # README.md and data_config.json (training data) are left out


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


def test_auto_falls_back_to_pt_as_vllm_does(tmp_path: Path) -> None:
    # vLLM's default loader, format auto: "*.safetensors", "*.bin", then its "*.pt" fallback.
    for name in ("model-2.pt", "model-10.pt", "optimizer.pt"):
        (tmp_path / name).write_bytes(b"x")
    selection = select_local_weight_files(tmp_path)
    assert (selection.format, selection.files) == ("pt", ["model-2.pt", "model-10.pt"])
    assert reasons(tmp_path) == {"optimizer.pt": "training-artifact"}
    assert discover_weight_files(tmp_path) == [tmp_path / "model-2.pt", tmp_path / "model-10.pt"]
    (tmp_path / "pytorch_model.bin").write_bytes(b"x")  # an earlier pattern wins
    assert select_local_weight_files(tmp_path).files == ["pytorch_model.bin"]
    assert select_local_weight_files(tmp_path, "pt").files == ["model-2.pt", "model-10.pt"]
    assert select_local_weight_files(tmp_path, "bin").files == ["pytorch_model.bin"]


def test_download_selection_falls_back_to_pt(tmp_path: Path) -> None:
    listing = RepoListing(
        "org/pt-only", "main", "0" * 40, (RemoteFile("model.pt", 1), RemoteFile("config.json", 2))
    )
    chosen = select_inference_files(listing, read_index=lambda name: b"{}")
    assert [f.path for f in chosen] == ["config.json", "model.pt"]


def test_the_first_matching_pattern_wins_even_with_artifacts_only(tmp_path: Path) -> None:
    # vLLM globs "*.bin", finds training_args.bin, stops, filters it out: no weights at all.
    (tmp_path / "training_args.bin").write_bytes(b"x")
    (tmp_path / "model.pt").write_bytes(b"x")
    assert select_local_weight_files(tmp_path).files == []
    with pytest.raises(NoWeightFilesError, match=r"no weight files.*\*\.bin.*training_args\.bin"):
        discover_weight_files(tmp_path)
    assert select_local_weight_files(tmp_path, "pt").files == ["model.pt"]


def test_a_broken_shard_symlink_without_index_is_named(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "model-00001-of-00002.safetensors")
    (tmp_path / "model-00002-of-00002.safetensors").symlink_to(tmp_path / "gone")
    for call in (select_local_weight_files, discover_weight_files, local_serving_files):
        with pytest.raises(NotFoundError, match=r"broken symlink.*model-00002-of-00002"):
            call(tmp_path)


@pytest.mark.parametrize(
    "link", ["README.md", "original/model.safetensors", "training_args.bin", "model.pt.lock"]
)
def test_other_broken_symlinks_do_not_matter(tmp_path: Path, link: str) -> None:
    write_safetensors(tmp_path / "model.safetensors")
    (tmp_path / link).parent.mkdir(exist_ok=True)
    (tmp_path / link).symlink_to(tmp_path / "gone")
    assert discover_weight_files(tmp_path) == [tmp_path / "model.safetensors"]


def test_a_broken_shard_symlink_named_by_the_index_is_a_missing_shard(tmp_path: Path) -> None:
    shards = write_sharded(tmp_path)
    (tmp_path / shards[-1]).unlink()
    (tmp_path / shards[-1]).symlink_to(tmp_path / "gone")
    (tmp_path / "consolidated.safetensors").symlink_to(tmp_path / "gone")  # not in the index
    with pytest.raises(MissingShardsError, match=shards[-1]):
        discover_weight_files(tmp_path)


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


def test_filter_duplicate_safetensors_files_raises_for_a_missing_indexed_shard(
    tmp_path: Path,
) -> None:
    # vLLM 0.34.0 raises FileNotFoundError when the index names a file the list lacks
    index = "model.safetensors.index.json"
    weight_map = {"a": "model-1.safetensors", "b": "model-2.safetensors"}
    (tmp_path / index).write_text(json.dumps({"weight_map": weight_map}))
    files = [str(tmp_path / n) for n in ("model-1.safetensors", "consolidated.safetensors")]
    with pytest.raises(FileNotFoundError, match=r"1 weight file.*model-2\.safetensors"):
        filter_duplicate_safetensors_files(files, str(tmp_path), index)
    with pytest.raises(NotFoundError):
        filter_duplicate_safetensors_files(files, str(tmp_path), index)


# ---- support files (weightlib.serving_files) --------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("config.json", "model config"),
        ("tokenizer.model.v7", "Mistral-format file"),
        ("vocab.txt", "tokenizer file"),
        ("qwen.tiktoken", "tokenizer file"),
        ("spiece.model", "tokenizer file"),
        ("additional_chat_templates/rag.jinja", "chat template"),
        ("configuration_custom.py", "custom model code"),
        ("hf_quant_config.json", "other root config"),
        ("onnx/config.json", None),
        ("original/params.json", None),
        ("additional_chat_templates/deeper/x.jinja", None),
        ("model.safetensors.index.json", None),
        ("pytorch_model.bin.index.json", None),
        ("trainer_state.json", None),
        ("eval_results.json", None),
        ("License.txt", None),
        ("README.txt", None),
        ("model.gguf", None),
        ("logo.png", None),
        (".hidden.json", None),
    ],
)
def test_support_reason(path: str, reason: str | None) -> None:
    assert support_reason(path) == reason


def modules_json(*paths: object) -> bytes:
    return json.dumps([{"path": p} for p in paths]).encode()


def test_modules_json_is_read_through_the_callback_once() -> None:
    paths = ["model.safetensors", "modules.json", "1_Pooling/config.json", "1_Pooling/notes.md"]
    reads: list[str] = []

    def read(name: str) -> bytes:
        reads.append(name)
        return modules_json("", "1_Pooling", "2_Normalize")

    selection = select_serving_files(paths, "auto", read, "org/st")
    assert reads == ["modules.json"]
    assert [(s.file, s.reason) for s in selection.support] == [
        ("1_Pooling/config.json", "sentence-transformers module 1_Pooling"),
        ("modules.json", "sentence-transformers config"),
    ]
    assert select_serving_files(paths[:1], "auto", read, "org/st").support == []
    assert reads == ["modules.json"]  # no modules.json listed: nothing read


def test_module_weights_follow_the_chosen_format_else_any() -> None:
    paths = [
        "model.safetensors",
        "pytorch_model.bin",
        "modules.json",
        *("2_Dense/config.json", "2_Dense/model.safetensors", "2_Dense/pytorch_model.bin"),
        *("3_Dense/config.json", "3_Dense/pytorch_model.bin", "3_Dense/training_args.bin"),
    ]

    def taken(fmt: str) -> set[str]:
        selection = select_serving_files(
            paths, fmt, lambda _: modules_json("2_Dense", "3_Dense"), "m"
        )
        return {s.file for s in selection.support if s.file.endswith((".bin", ".safetensors"))}

    assert taken("auto") == {"2_Dense/model.safetensors", "3_Dense/pytorch_model.bin"}
    assert taken("bin") == {"2_Dense/pytorch_model.bin", "3_Dense/pytorch_model.bin"}
    excluded = select_serving_files(paths, "auto", lambda _: modules_json("2_Dense"), "m").excluded
    assert "2_Dense/model.safetensors" not in {e.file for e in excluded}  # taken, not left out
    assert {"2_Dense/pytorch_model.bin", "pytorch_model.bin"} <= {e.file for e in excluded}


def test_the_chosen_index_comes_first(tmp_path: Path) -> None:
    shards = write_sharded(tmp_path)
    selection = select_serving_files(
        [*shards, "model.safetensors.index.json", "config.json"],
        "auto",
        lambda name: (tmp_path / name).read_bytes(),
        os.fspath(tmp_path),
    )
    assert selection.files == [*shards, "model.safetensors.index.json", "config.json"]
    assert selection.support[0].reason == "index of the safetensors shards"


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"path": "1_Pooling"}', "not a list of modules"),
        (b'["1_Pooling"]', "not a list of modules"),
        (b'[{"name": "1"}]', "unsafe"),
        (modules_json("../up"), "'..' segment"),
        (modules_json("/abs"), "absolute path"),
        (modules_json("C:x"), "drive letter"),
        (modules_json("1_Pooling/"), "empty path segment"),
    ],
)
def test_malformed_or_unsafe_modules_json_is_an_integrity_error(
    document: bytes, needle: str
) -> None:
    with pytest.raises(IntegrityError, match=r"org/st/modules\.json") as caught:
        support_files(["modules.json"], lambda _: document, source="org/st")
    assert caught.value.exit_code == 6 and needle in str(caught.value)
