"""The folder real consumers load: what `weightlib download` fetches is enough for transformers and
sentence-transformers offline, and nothing large beside it is taken.

The real all-MiniLM-L6-v2 folder is served by the test hub, downloaded by the real command, then
loaded in a subprocess with HF_HUB_OFFLINE=1 (every proxy pointed at a closed port, and the hub's
log checked for silence). A repository full of extras (other formats, exports, `original/`,
training files, images, docs) gets exactly the serving files from `filter --json` on a folder,
from `download --dry-run --json` against the hub, and from `dummy-init`'s plan.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRunner
from tests.helpers import assert_error, write_file
from tests.hubs.fixtures import HubServer
from tests.layouts import write_shard
from weightlib.dummy import plan_dummy_checkpoint

pytest_plugins = ["tests.hubs.hf_plugin"]

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SENTENCE = "Weights stay warm in the page cache."
DEAD_PROXY = "http://127.0.0.1:9"
"""Port 9 (discard) is closed: any request not sent to the test hub fails at once."""

CONSUMERS = r"""
import json, sys
import torch

downloaded, original, pruned, repo_id = sys.argv[1:5]
sentence = sys.argv[5]
report = {}

def attempt(name, load):
    try:
        report[name] = load()
    except Exception as exc:
        report[name] = {"error": f"{type(exc).__name__}: {exc}"}

def with_transformers():
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    config = AutoConfig.from_pretrained(downloaded)
    tokenizer = AutoTokenizer.from_pretrained(downloaded)
    model = AutoModel.from_pretrained(downloaded).eval()
    batch = tokenizer([sentence], return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    return {
        "model_type": config.model_type,
        "tokens": int(batch["input_ids"].shape[1]),
        "shape": list(hidden.shape),
        "finite": bool(torch.isfinite(hidden).all()),
        "std": float(hidden.std()),
    }

def embedding(folder):
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(folder, device="cpu")
    return {"embedding": model.encode([sentence])[0].tolist()}

torch.manual_seed(0)
attempt("transformers", with_transformers)
for name, folder in [
    ("downloaded", downloaded), ("original", original), ("pruned", pruned), ("repo_id", repo_id)
]:
    attempt(name, lambda folder=folder: embedding(folder))
print(json.dumps(report))
"""


def consumer_env(hub_env: dict[str, str]) -> dict[str, str]:
    """The download's hermetic environment, offline, with every proxy a closed port."""
    proxies = {k: DEAD_PROXY for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
    return {**hub_env, **proxies, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def copy_without(source: Path, target: Path, left_out: str) -> Path:
    """A copy of the folder `source` (symlinks resolved) without the file `left_out`."""
    for path in source.rglob("*"):
        relative = path.relative_to(source).as_posix()
        if path.is_file() and relative != left_out:
            write_file(target / relative, path.read_bytes())
    return target


def test_transformers_and_sentence_transformers_load_the_download_offline(
    run_cli: CliRunner,
    hf_hub: HubServer,
    hub_env: dict[str, str],
    minilm_dir: Path,
    tmp_path: Path,
) -> None:
    hf_hub.add_repo(MINILM, minilm_dir)
    result = run_cli("download", MINILM, "--json", env=hub_env)
    assert result.returncode == 0, result.stderr
    folder = Path(json.loads(result.stdout)["path"])
    fetched = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {"1_Pooling/config.json", "modules.json", "model.safetensors"} <= fetched
    assert not fetched & {"README.md", "data_config.json"}
    pruned = copy_without(folder, tmp_path / "pruned", "1_Pooling/config.json")

    mark = hf_hub.mark()
    args = [str(folder), str(minilm_dir), str(pruned), MINILM, SENTENCE]
    run = subprocess.run(
        [sys.executable, "-c", CONSUMERS, *args],
        env=consumer_env(hub_env),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    assert hf_hub.requests(mark) == [], "a consumer went to the hub while offline"

    loaded = report["transformers"]
    assert "error" not in loaded, loaded
    assert loaded["model_type"] == "bert" and loaded["shape"] == [1, loaded["tokens"], 384]
    assert loaded["tokens"] > 3 and loaded["finite"] and loaded["std"] > 0.01

    for name in ("downloaded", "original", "repo_id"):
        assert "error" not in report[name], (name, report[name])
    reference = report["original"]["embedding"]
    assert len(reference) == 384 and math.isclose(math.hypot(*reference), 1.0, rel_tol=1e-4)
    for name in ("downloaded", "repo_id"):
        got = report[name]["embedding"]
        assert max(abs(a - b) for a, b in zip(got, reference, strict=True)) < 1e-6, name
    # the pooling config is what sentence-transformers reads: without it the folder fails
    assert "error" in report["pruned"], report["pruned"]


# ---- a repository with every support file and every kind of extra --------------------------

MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"},
    {
        "idx": 4,
        "name": "4",
        "path": "4_Normalize",
        "type": "sentence_transformers.models.Normalize",
    },
]

ST_CONFIG = "sentence-transformers config"
TOKENIZER = "tokenizer file"
EXPECTED_SUPPORT = {
    "config.json": "model config",
    "generation_config.json": "model config",
    "modules.json": ST_CONFIG,
    "sentence_bert_config.json": ST_CONFIG,
    "config_sentence_transformers.json": ST_CONFIG,
    "1_Pooling/config.json": "sentence-transformers module 1_Pooling",
    "2_Dense/config.json": "sentence-transformers module 2_Dense",
    "2_Dense/model.safetensors": "sentence-transformers module 2_Dense",
    "3_Dense/config.json": "sentence-transformers module 3_Dense",
    "3_Dense/pytorch_model.bin": "sentence-transformers module 3_Dense",
    "preprocessor_config.json": "processor config",
    "processor_config.json": "processor config",
    "video_preprocessor_config.json": "processor config",
    "chat_template.jinja": "chat template",
    "chat_template.json": "chat template",
    "additional_chat_templates/tool_use.jinja": "chat template",
    "params.json": "Mistral-format file",
    "tekken.json": "Mistral-format file",
    "tokenizer.model.v3": "Mistral-format file",
    "tokenizer.json": TOKENIZER,
    "tokenizer_config.json": TOKENIZER,
    "special_tokens_map.json": TOKENIZER,
    "added_tokens.json": TOKENIZER,
    "tokenizer.model": TOKENIZER,
    "merges.txt": TOKENIZER,
    "vocab.json": TOKENIZER,
    "modeling_custom.py": "custom model code",
    "quantize_config.json": "other root config",
}
EXTRAS = [
    "pytorch_model.bin",  # a second weight format, with its index
    "pytorch_model.bin.index.json",
    "2_Dense/pytorch_model.bin",  # the module's second format
    "onnx/model.onnx",
    "onnx/config.json",
    "onnx/tokenizer.json",
    "openvino/openvino_model.xml",
    "openvino/openvino_model.bin",
    "model-q4_k_m.gguf",
    "coreml/model.mlpackage/Manifest.json",
    "model.mlpackage/Data/com.apple.CoreML/weights/weight.bin",
    "original/params.json",
    "original/consolidated.00.pth",
    "original/tokenizer.model",
    "training_args.bin",
    "optimizer.pt",
    "scheduler.pt",
    "trainer_state.json",
    "all_results.json",
    "checkpoint-500/model.safetensors",
    "checkpoint-500/config.json",
    "assets/architecture.png",
    "logo.jpg",
    "README.md",
    "LICENSE",
    "LICENSE.txt",
    "USE_POLICY.md",
]
EXPECTED_EXCLUDED = {
    "pytorch_model.bin": "other-format",
    "2_Dense/pytorch_model.bin": "subfolder",
    "openvino/openvino_model.bin": "subfolder",
    "model.mlpackage/Data/com.apple.CoreML/weights/weight.bin": "subfolder",
    "checkpoint-500/model.safetensors": "subfolder",
    "training_args.bin": "training-artifact",
    "optimizer.pt": "training-artifact",
    "scheduler.pt": "training-artifact",
}


@pytest.fixture(scope="module")
def extras_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Weights, every support file of the rule and every kind of extra, in one folder."""
    folder = tmp_path_factory.mktemp("extras")
    write_shard(folder / "model.safetensors", {"embed.weight": (64, 8)})
    write_shard(folder / "2_Dense" / "model.safetensors", {"linear.weight": (8, 8)}, seed=1)
    write_shard(folder / "checkpoint-500" / "model.safetensors", {"embed.weight": (8,)}, seed=2)
    for name in [*EXPECTED_SUPPORT, *EXTRAS]:
        if not (folder / name).exists():
            write_file(folder / name, "{}" if name.endswith(".json") else os.urandom(64))
    write_file(folder / "modules.json", json.dumps(MODULES))
    write_file(
        folder / "pytorch_model.bin.index.json", '{"weight_map": {"w": "pytorch_model.bin"}}'
    )
    return folder


def filter_json(run_cli: CliRunner, model: str | Path, env: dict[str, str] | None = None) -> Any:
    result = run_cli("filter", model, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_filter_json_lists_exactly_the_serving_files(run_cli: CliRunner, extras_repo: Path) -> None:
    document = filter_json(run_cli, extras_repo)
    assert list(document) == ["model", "format", "files", "excluded", "support", "errors"]
    assert document["format"] == "safetensors" and document["files"] == ["model.safetensors"]
    assert {s["file"]: s["reason"] for s in document["support"]} == EXPECTED_SUPPORT
    assert {e["file"]: e["reason"] for e in document["excluded"]} == EXPECTED_EXCLUDED
    plain = run_cli("filter", extras_repo)
    assert plain.returncode == 0 and plain.stdout == "model.safetensors\n", plain.stderr


def test_download_dry_run_takes_exactly_the_serving_files(
    run_cli: CliRunner, hf_hub: HubServer, hub_env: dict[str, str], extras_repo: Path
) -> None:
    hf_hub.add_repo("org/extras", extras_repo)
    mark = hf_hub.mark()
    result = run_cli("download", "org/extras", "--dry-run", "--json", env=hub_env)
    assert result.returncode == 0, result.stderr
    taken = {f["path"] for f in json.loads(result.stdout)["files"]}
    assert taken == {"model.safetensors", *EXPECTED_SUPPORT}
    assert any(r.get("file") == "modules.json" for r in hf_hub.requests(mark))
    # the same answer from the repository (modules.json read by HTTP range), not just the folder
    remote = filter_json(run_cli, "org/extras", env=hub_env)
    assert {s["file"]: s["reason"] for s in remote["support"]} == EXPECTED_SUPPORT
    assert remote["files"] == ["model.safetensors"]


def test_dummy_init_copies_the_same_support_files(extras_repo: Path) -> None:
    plan = plan_dummy_checkpoint(extras_repo)
    assert [s.path for s in plan.shards] == ["model.safetensors"]
    assert set(plan.support_files) == set(EXPECTED_SUPPORT)


UNSAFE_PATHS = ["../outside", "/etc", "a\\b", "pool/../../x", "1_Pooling\n", 7]


@pytest.mark.parametrize("module_path", UNSAFE_PATHS, ids=repr)
def test_unsafe_module_path_is_refused(
    run_cli: CliRunner,
    hf_hub: HubServer,
    hub_env: dict[str, str],
    tmp_path: Path,
    module_path: object,
) -> None:
    folder = tmp_path / "repo"
    write_shard(folder / "model.safetensors", {"w": (4,)})
    write_file(folder / "config.json", "{}")
    write_file(folder / "modules.json", json.dumps([{"idx": 0, "path": ""}, {"path": module_path}]))
    assert_error(run_cli("filter", folder), 6, "modules.json", "unsafe")
    assert_error(run_cli("filter", folder, "--json"), 6, "modules.json", "unsafe")

    repo = f"org/unsafe-{UNSAFE_PATHS.index(module_path)}"
    hf_hub.add_repo(repo, folder)
    mark = hf_hub.mark()
    result = run_cli("download", repo, env=hub_env)
    assert_error(result, 6, "modules.json", "unsafe")
    assert result.stdout == ""
    assert {r.get("file") for r in hf_hub.file_gets(mark)} <= {"modules.json"}
    assert list((tmp_path / "home").rglob("snapshots/*/*")) == []
