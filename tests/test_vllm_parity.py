"""weightlib's vLLM names next to vLLM's own code, on the same generated inputs.

The vLLM side is the real code of the release in the Makefile's `VLLM_VERSION`, cut out of its
wheel by tests/vllm_reference.py (`make vllm-reference` fetches the wheel; without it these tests
skip). The weightlib side is the `weightlib.vllm` facade. Where weightlib differs on purpose
(README, "Library"), the test shows both answers and names the reason.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import filelock
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip("torch")

from safetensors.torch import save_file

import weightlib.vllm as wl
from tests.helpers import REPO_ROOT
from tests.hubs.fixtures import HubServer, make_sharded_repo
from tests.vllm_reference import (
    PACKAGE,
    WEIGHT_UTILS,
    VllmReference,
    generated_name,
    load_reference,
    makefile_version,
)
from weightlib import iterators
from weightlib.hub.source import MODELSCOPE, env_source
from weightlib.memory import available_memory_bytes
from weightlib.natural_order import natural_sort_key
from weightlib.shards import discover_weight_files

pytest_plugins = ["tests.hubs.hf_plugin"]
pytestmark = pytest.mark.torch

Items = list[tuple[str, Any]]
FAST = settings(max_examples=200, deadline=None)
FILES = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="session")
def vllm(request: pytest.FixtureRequest) -> VllmReference:
    """vLLM's extracted code; the version is written once to the terminal."""
    reference = load_reference()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"\nvLLM parity reference: vllm {reference.version} ({reference.wheel})"
        )
    return reference


@pytest.fixture(scope="session")
def wu(vllm: VllmReference) -> Any:
    """vLLM's `weight_utils` (extracted)."""
    return vllm.weight_utils


def bits(tensor: torch.Tensor) -> tuple[str, tuple[int, ...], bytes]:
    """dtype, shape and raw bytes: equal means bit-identical (fp8 and NaN included)."""
    flat = tensor.detach().contiguous().reshape(-1).cpu()
    return str(tensor.dtype), tuple(tensor.shape), flat.view(torch.uint8).numpy().tobytes()


def as_bits(items: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(n, bits(t) if isinstance(t, torch.Tensor) else t) for n, t in items]


@contextlib.contextmanager
def environ(name: str, value: str | None) -> Iterator[None]:
    """`os.environ[name]` set to `value` (None: unset) for the block."""
    saved = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


@contextlib.contextmanager
def vllm_tp_rank(vllm: VllmReference, rank: int) -> Iterator[None]:
    """The tensor-parallel rank vLLM's loaders see (its distributed lookup is a stub)."""
    saved = vllm.stubs.TP_RANK
    vllm.stubs.TP_RANK = rank
    try:
        yield
    finally:
        vllm.stubs.TP_RANK = saved


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", value) or ("raises", None): what both sides must agree on."""
    try:
        return "ok", call()
    except Exception:
        return "raises", None


# ---- the reference and the facade -------------------------------------------------------------


@pytest.mark.parametrize("expected", [makefile_version()], ids=lambda v: f"vllm-{v}")
def test_reference_version(vllm: VllmReference, expected: str) -> None:
    print(f"parity checked against vLLM {vllm.version} ({vllm.wheel.name})")
    assert vllm.version == expected, f"{vllm.wheel.name} is not VLLM_VERSION ({expected})"
    readme = (REPO_ROOT / "README.md").read_text()
    library = readme.split("## Library", 1)[1].split("\n## ", 1)[0]
    assert f"vLLM {vllm.version}" in library, "the README's Library section names the version"


LEGACY = {
    "convert_bin_to_safetensor_file",
    "convert_pyslice_to_tensor",
    "initialize_dummy_weights",
    "enable_hf_transfer",
}
"""Names earlier vLLM releases had in weight_utils; the facade keeps them."""

NOT_PROVIDED = {
    "DisabledTqdm",
    "enable_tqdm",
    "get_quant_config",
    "get_sparse_attention_config",
    "filter_mm_encoder_only_safetensors_files",
    "filter_safetensors_files_by_weight_name",
    "resolve_mm_encoder_only_lm_prefixes",
    "drop_checkpoint_cache",
    "finalize_model_weights",
    "load_attention_sink",
    "make_attention_sink",
    "maybe_remap_moe_expert_param_name",
    "remap_moe_expert_weights",
}
"""vLLM names that need a vLLM model, config or runtime: not in the facade."""


def vllm_public_names(vllm: VllmReference) -> set[str]:
    import ast

    tree = ast.parse(vllm.weight_utils_source)
    names = {
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.ClassDef) and not n.name.startswith("_")
    }
    return names | {"LoaderFunction"}


def test_facade_covers_vllm_weight_utils(vllm: VllmReference) -> None:
    facade = set(wl.__all__)
    vllm_names = vllm_public_names(vllm)
    assert facade - LEGACY <= vllm_names, "every facade name is a vLLM name"
    assert vllm_names - NOT_PROVIDED == facade - LEGACY, "decide for each new vLLM name"
    assert LEGACY.isdisjoint(vllm_names)
    for name in facade:
        assert getattr(wl, name) is not None


def _vllm_signature(vllm: VllmReference, name: str) -> inspect.Signature:
    """vLLM's signature, from the wheel's source (also for functions that were not extracted)."""
    import ast

    tree = ast.parse(vllm.weight_utils_source)
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    namespace = vars(vllm.weight_utils)
    source = f"def {name}({ast.unparse(node.args)}): pass"
    scope: dict[str, Any] = {}
    exec(compile(ast.parse(source), "<signature>", "exec"), dict(namespace), scope)
    return inspect.signature(scope[name])


@pytest.mark.parametrize("name", sorted(set(wl.__all__) - LEGACY - {"LoaderFunction"}))
def test_facade_has_vllms_signature(vllm: VllmReference, name: str) -> None:
    theirs = list(_vllm_signature(vllm, name).parameters.values())
    ours = list(inspect.signature(getattr(wl, name)).parameters.values())
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    by_name = {p.name: p for p in ours}
    for i, param in enumerate(theirs):
        assert param.name in by_name, f"{name}: no parameter {param.name}"
        mine = by_name[param.name]
        if param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            assert ours[i].name == param.name, f"{name}: {param.name} is not at position {i}"
        assert mine.kind in keyword, f"{name}: {param.name} cannot be passed by keyword"
        if param.default is not inspect.Parameter.empty:
            assert mine.default == param.default, f"{name}: default of {param.name}"
    extra = [p for p in ours if p.name not in {t.name for t in theirs}]
    assert all(p.default is not inspect.Parameter.empty for p in extra), f"{name}: {extra}"


def test_facade_imports_neither_torch_nor_the_hub_client() -> None:
    code = (
        "import sys, weightlib.vllm\n"
        "print(sorted(m for m in ('torch', 'huggingface_hub', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---- maybe_remap_kv_scale_name ------------------------------------------------------------------

P = "model.layers.0"
REMAP_CASES: list[tuple[str, list[str]]] = [
    (f"{P}.self_attn.attn.k_scale", [f"{P}.self_attn.attn.k_scale"]),  # already a parameter
    (f"{P}.self_attn.attn.k_scale", []),
    (f"{P}.self_attn.k_proj.k_scale", [f"{P}.self_attn.attn.k_scale"]),
    (f"{P}.self_attn.v_proj.v_scale", [f"{P}.self_attn.attn.v_scale"]),
    (f"{P}.self_attn.k_proj.k_scale", []),
    (f"{P}.self_attn.qkv_proj.k_scale", [f"{P}.self_attn.attn.k_scale"]),
    (f"{P}.self_attn.qkqkv_proj.v_scale", [f"{P}.self_attn.attn.v_scale"]),
    (f"{P}.self_attn.q_scale", [f"{P}.self_attn.attn.q_scale"]),
    (f"{P}.self_attn.q_proj.q_scale", [f"{P}.self_attn.q_proj.attn.q_scale"]),
    (f"{P}.self_attn.k_zero_point", [f"{P}.self_attn.attn.k_zero_point"]),
    (f"{P}.self_attn.q_zero_point", []),
    (f"{P}.self_attn.kv_scale", [f"{P}.self_attn.attn.k_scale"]),
    (f"{P}.self_attn.kv_scale", []),
    (f"{P}.mixer.k_proj.k_scale", [f"{P}.mixer.attn.k_scale"]),  # NemotronH
    (f"{P}.mixer.v_proj.k_scale", [f"{P}.mixer.attn.k_scale"]),
    (f"{P}.mixer.k_proj.v_scale", []),
    (
        f"{P}.self_attn.k_proj.k_scale",
        [f"{P}.self_attn.mla_attn.mla_attn.k_scale", f"{P}.self_attn.mla_attn.kv_a_proj.weight"],
    ),  # MLA
    (f"{P}.self_attn.qkv_proj.k_scale", [f"{P}.self_attn.mla_attn.mla_attn.k_scale"]),
    (f"{P}.self_attn.q.scale", [f"{P}.self_attn.attn.q_scale"]),
    (f"{P}.self_attn.k_cache.scale", [f"{P}.self_attn.attn.k_scale"]),
    (f"{P}.mlp.down_proj.weight_scale", []),
    (f"{P}.mlp.down_proj.input_scale", [f"{P}.mlp.down_proj.input_scale"]),
    ("lm_head.weight", []),
]


@pytest.mark.parametrize(("name", "params"), REMAP_CASES, ids=[c[0][len(P) :] for c in REMAP_CASES])
def test_maybe_remap_kv_scale_name_table(wu: Any, name: str, params: list[str]) -> None:
    params_dict = dict.fromkeys(params)
    expected = wu.maybe_remap_kv_scale_name(name, params_dict)
    assert wl.maybe_remap_kv_scale_name(name, params_dict) == expected


SCALE_LEAVES = ["k_scale", "v_scale", "q_scale", "k_zero_point", "v_zero_point", "q_zero_point"]


@st.composite
def scale_names(draw: st.DrawFn) -> tuple[str, dict[str, None]]:
    prefix = draw(st.sampled_from(["model.layers.0", "layers.11", "model.decoder.layers.2", "m"]))
    module = draw(st.sampled_from(["self_attn", "mixer", "attn", "mlp", "self_attn.attn", ""]))
    proj = draw(
        st.sampled_from(["", "k_proj", "v_proj", "q_proj", "qkv_proj", "qkqkv_proj", "q", "o_proj"])
    )
    leaf = draw(st.sampled_from([*SCALE_LEAVES, "kv_scale", "scale", "k_cache", "weight_scale"]))
    if leaf == "k_cache":
        leaf = "k_cache.scale"
    name = ".".join(p for p in (prefix, module, proj, leaf) if p)
    stem = name.rsplit(".", 1)[0]
    pool = [name, f"{prefix}.mla_attn.kv_a_proj.weight", f"{stem}.attn.k_scale"]
    for mod in ("self_attn", "mixer"):
        for attn in ("attn", "mla_attn.mla_attn"):
            pool += [f"{prefix}.{mod}.{attn}.{s}" for s in SCALE_LEAVES]
    pool += [f"{stem}.attn.{s}" for s in SCALE_LEAVES]
    return name, dict.fromkeys(draw(st.sets(st.sampled_from(pool), max_size=6)))


@FAST
@given(case=scale_names())
def test_maybe_remap_kv_scale_name_generated(
    vllm: VllmReference, case: tuple[str, dict[str, None]]
) -> None:
    name, params = case
    expected = vllm.weight_utils.maybe_remap_kv_scale_name(name, params)
    assert wl.maybe_remap_kv_scale_name(name, params) == expected


# ---- file selection -----------------------------------------------------------------------------

weight_file_names = st.builds(
    lambda d, b, e: f"{d}{b}{e}",
    st.sampled_from(["", "/m/", "/m/sub/", "x-"]),
    st.sampled_from(
        ["model", "pytorch_model-00001", "training_args", "optimizer", "scheduler", "scaler"]
    ),
    st.sampled_from([".bin", ".pt", ".safetensors", ".pth", ".bin.index.json"]),
)


@FAST
@given(files=st.lists(weight_file_names, max_size=8))
def test_filter_files_not_needed_for_inference(vllm: VllmReference, files: list[str]) -> None:
    expected = vllm.weight_utils.filter_files_not_needed_for_inference(list(files))
    assert wl.filter_files_not_needed_for_inference(list(files)) == expected


def shard_name(i: int, n: int) -> str:
    return f"model-{i:05d}-of-{n:05d}.safetensors"


@FILES
@given(
    n=st.integers(1, 4),
    extras=st.sets(st.sampled_from(["consolidated.safetensors", "extra.safetensors"])),
    with_index=st.booleans(),
    order=st.randoms(use_true_random=False),
)
def test_filter_duplicate_safetensors_files(
    vllm: VllmReference, n: int, extras: set[str], with_index: bool, order: Any
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        names = [shard_name(i, n) for i in range(1, n + 1)]
        if with_index:
            weight_map = {f"layers.{i}.weight": name for i, name in enumerate(names)}
            index = {"metadata": {}, "weight_map": weight_map}
            Path(folder, "model.safetensors.index.json").write_text(json.dumps(index))
        files = [os.path.join(folder, f) for f in [*names, *sorted(extras)]]
        order.shuffle(files)
        expected = vllm.weight_utils.filter_duplicate_safetensors_files(
            list(files), folder, "model.safetensors.index.json"
        )
        found = wl.filter_duplicate_safetensors_files(
            list(files), folder, "model.safetensors.index.json"
        )
        assert found == expected


def test_filter_duplicate_safetensors_files_missing_shard(wu: Any, tmp_path: Path) -> None:
    index = {"weight_map": {"a": shard_name(1, 2), "b": shard_name(2, 2)}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    files = [str(tmp_path / shard_name(1, 2)), str(tmp_path / "consolidated.safetensors")]
    with pytest.raises(FileNotFoundError):
        wu.filter_duplicate_safetensors_files(files, str(tmp_path), "model.safetensors.index.json")
    with pytest.raises(FileNotFoundError):  # vLLM 0.34.0 raises for a shard the index names
        wl.filter_duplicate_safetensors_files(files, str(tmp_path), "model.safetensors.index.json")


@FAST
@given(
    names=st.lists(
        st.text(alphabet="ab-_.0123456789", min_size=1, max_size=12), min_size=1, max_size=8
    ),
    folders=st.lists(st.sampled_from(["/a", "/b/c", "/z"]), min_size=8, max_size=8),
)
def test_files_are_read_in_vllms_natural_order(
    vllm: VllmReference, names: list[str], folders: list[str]
) -> None:
    files = [f"{d}/{n}.safetensors" for d, n in zip(folders, names, strict=False)]
    keys = [vllm.weight_utils._natural_sort_key(f) for f in files]
    if len({repr(k) for k in keys}) < len(keys):
        return  # a tie: see test_difference_natural_sort_ties_broken_by_path
    expected = sorted(files, key=vllm.weight_utils._natural_sort_key)
    assert sorted(files, key=natural_sort_key) == expected


def prepare_weights(vllm: VllmReference, folder: Path) -> list[str]:
    """The weight files vLLM's default loader (`load_format="auto"`) picks in a local folder."""
    config = SimpleNamespace(load_format="auto", download_dir=None, ignore_patterns=None)
    loader = SimpleNamespace(load_config=config)
    with environ("VLLM_USE_MODELSCOPE", None):
        _, files, _, _ = vllm.default_loader._prepare_weights(
            loader, str(folder), None, None, True, None
        )
    return sorted(os.path.basename(f) for f in files)


def weightlib_weights(folder: Path) -> list[str]:
    return sorted(p.name for p in discover_weight_files(folder))


def st_file(path: Path, names: Sequence[str] = ("w",)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({n: torch.zeros(2) for n in names}, str(path))
    return path


def layout(folder: Path, kind: str) -> Path:
    """Small local checkpoints with one thing each that a weight-file choice depends on."""
    folder.mkdir()
    if kind in ("sharded", "sharded+bin", "mistral+hf"):
        for i in (1, 2):
            st_file(folder / shard_name(i, 2), [f"l{i}"])
        index = {"weight_map": {"l1": shard_name(1, 2), "l2": shard_name(2, 2)}}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    if kind in ("mistral+hf", "mistral"):
        st_file(folder / "consolidated.safetensors")
    if kind in ("bin", "sharded+bin", "bin+artifacts"):
        torch.save({"w": torch.zeros(2)}, folder / "pytorch_model.bin")
    if kind in ("bin+artifacts", "pt-only", "pt+artifacts"):
        torch.save({"w": torch.zeros(2)}, folder / ("model.pt" if "pt" in kind else "x.bin"))
        torch.save({"lr": torch.zeros(1)}, folder / "training_args.bin")
    if kind == "pt-only":
        (folder / "training_args.bin").unlink()
        torch.save({"w": torch.zeros(2)}, folder / "quantized.pt")
    (folder / "config.json").write_text("{}")
    return folder


@pytest.mark.parametrize(
    "kind", ["sharded", "sharded+bin", "mistral", "bin", "bin+artifacts", "pt-only", "pt+artifacts"]
)
def test_weight_files_vllms_default_loader_picks(
    vllm: VllmReference, tmp_path: Path, kind: str
) -> None:
    folder = layout(tmp_path / "m", kind)
    expected = outcome(lambda: prepare_weights(vllm, folder))
    assert outcome(lambda: weightlib_weights(folder)) == expected


def test_difference_mistral_consolidated_beside_hf_shards(
    vllm: VllmReference, tmp_path: Path
) -> None:
    """Deliberate: vLLM's default loader takes `consolidated*.safetensors` (Mistral's format)
    when any exists; weightlib takes the HF shards, which every server loads."""
    folder = layout(tmp_path / "m", "mistral+hf")
    assert prepare_weights(vllm, folder) == ["consolidated.safetensors"]
    assert weightlib_weights(folder) == [shard_name(1, 2), shard_name(2, 2)]


def test_broken_symlink_shard_without_index(vllm: VllmReference, tmp_path: Path) -> None:
    """vLLM takes the broken link as a shard (its load then fails); weightlib names it at once
    instead of leaving it out, which would make a partial model look complete."""
    folder = tmp_path / "m"
    st_file(folder / "model-1.safetensors")
    (folder / "model-2.safetensors").symlink_to(tmp_path / "gone.safetensors")
    assert "model-2.safetensors" in prepare_weights(vllm, folder)
    with pytest.raises(FileNotFoundError, match=r"model-2\.safetensors"):
        discover_weight_files(folder)


# ---- iterators ----------------------------------------------------------------------------------

DTYPES = ["float32", "float16", "bfloat16", "float64", "int64", "int32", "int8", "uint8", "bool"]


@st.composite
def checkpoints(draw: st.DrawFn, dtypes: Sequence[str] = (*DTYPES, "float8_e4m3fn")) -> Any:
    """1-3 files of 1-4 small tensors each: (file name → tensor name → tensor)."""
    seed = draw(st.integers(0, 2**16))
    generator = torch.Generator().manual_seed(seed)
    files: dict[str, dict[str, torch.Tensor]] = {}
    count = draw(st.integers(1, 3))
    numbers = draw(st.lists(st.integers(1, 12), min_size=count, max_size=count, unique=True))
    for n in numbers:
        tensors = {}
        for k in range(draw(st.integers(1, 4))):
            shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
            dtype = getattr(torch, draw(st.sampled_from(dtypes)))
            values = torch.randn(shape, generator=generator) * 50
            tensors[f"layers.{n}.t{k}.weight"] = values.to(dtype)
        files[f"model-{n}.safetensors"] = tensors
    return files


def write_files(
    folder: str, files: dict[str, dict[str, torch.Tensor]], save: Any, suffix: str = ".safetensors"
) -> list[str]:
    paths = []
    for name, tensors in files.items():
        path = os.path.join(folder, name.replace(".safetensors", suffix))
        save(tensors, path)
        paths.append(path)
    return paths[::-1]  # not in natural order: both sides sort


def save_st(tensors: dict[str, torch.Tensor], path: str) -> None:
    save_file(tensors, path)


@FILES
@given(files=checkpoints(), strategy=st.sampled_from([None, "lazy", "eager", "prefetch"]))
def test_safetensors_weights_iterator(
    vllm: VllmReference, files: dict[str, dict[str, torch.Tensor]], strategy: str | None
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        paths = write_files(folder, files, save_st)
        expected = as_bits(vllm.weight_utils.safetensors_weights_iterator(paths, False, strategy))
        found = as_bits(wl.safetensors_weights_iterator(paths, False, strategy))
        if strategy == "eager":  # vLLM's `load(bytes)` yields a file's tensors in hash order
            assert [n.split(".t")[0] for n, _ in found] == [n.split(".t")[0] for n, _ in expected]
            found, expected = sorted(found), sorted(expected)
        assert found == expected


@FILES
@given(files=checkpoints())
def test_multi_thread_safetensors_weights_iterator(
    vllm: VllmReference, files: dict[str, dict[str, torch.Tensor]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        paths = write_files(folder, files, save_st)
        expected = as_bits(
            vllm.weight_utils.multi_thread_safetensors_weights_iterator(paths, False)
        )
        found = as_bits(wl.multi_thread_safetensors_weights_iterator(paths, False))
        assert sorted(found) == sorted(expected)  # vLLM yields files as their loads complete


def test_safetensors_weights_iterator_local_experts(wu: Any, tmp_path: Path) -> None:
    names = [
        "model.embed_tokens.weight",
        "model.layers.0.mlp.experts.w13_weight",  # fused experts: no id, never skipped
        *[f"model.layers.0.mlp.experts.{e}.{leaf}" for e in range(4) for leaf in ("up.weight",)],
        "model.layers.0.mlp.experts.1.up.weight_scale",
        "model.layers.0.mlp.experts.3.up.input_scale",
        "model.layers.0.mlp.experts.3.down.weight_packed",
    ]
    path = str(st_file(tmp_path / "model.safetensors", names))
    for local in ({0, 2}, set(), None):
        expected = [n for n, _ in wu.safetensors_weights_iterator([path], False, None, local)]
        found = [n for n, _ in wl.safetensors_weights_iterator([path], False, None, local)]
        assert found == expected, f"local_expert_ids={local}"


def save_pt(tensors: dict[str, torch.Tensor], path: str) -> None:
    torch.save(tensors, path)


@FILES
@given(files=checkpoints())
def test_pt_weights_iterators(
    vllm: VllmReference, files: dict[str, dict[str, torch.Tensor]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        paths = sorted(write_files(folder, files, save_pt, ".bin"), key=natural_sort_key)
        expected = as_bits(vllm.weight_utils.pt_weights_iterator(paths, False))
        assert as_bits(wl.pt_weights_iterator(paths, False)) == expected
        expected = as_bits(vllm.weight_utils.multi_thread_pt_weights_iterator(paths, False))
        assert sorted(as_bits(wl.multi_thread_pt_weights_iterator(paths, False))) == sorted(
            expected
        )


def test_difference_pt_state_dict_unwrapped_and_non_tensors_refused(
    wu: Any, tmp_path: Path
) -> None:
    """Deliberate: a `{"state_dict": …}` checkpoint yields its tensors, and an entry that is not
    a tensor is refused (a pickle with anything else is not a weight file), where vLLM yields
    the raw entries."""
    weight = torch.arange(4.0)
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"state_dict": {"w": weight}}, wrapped)
    theirs = list(wu.pt_weights_iterator([str(wrapped)], False))
    assert [n for n, _ in theirs] == ["state_dict"]
    assert as_bits(wl.pt_weights_iterator([str(wrapped)], False)) == as_bits([("w", weight)])
    mixed = tmp_path / "mixed.pt"
    torch.save({"w": weight, "step": 3}, mixed)
    assert dict(wu.pt_weights_iterator([str(mixed)], False))["step"] == 3
    with pytest.raises(iterators.UnsafeCheckpointError, match="step"):
        list(wl.pt_weights_iterator([str(mixed)], False))


def test_difference_natural_sort_ties_broken_by_path(wu: Any, tmp_path: Path) -> None:
    """Deliberate: names whose numbers compare equal (`model-1`, `model-01`) keep vLLM's input
    order there (a stable sort on the base name); weightlib orders them by full path, so the
    load order does not depend on how the files were listed."""
    b = tmp_path / "b" / "model-1.safetensors"
    a = tmp_path / "a" / "model-01.safetensors"
    save_file({"from_b": torch.zeros(1)}, str(st_file(b)))
    save_file({"from_a": torch.zeros(1)}, str(st_file(a)))
    files = [str(b), str(a)]
    assert [n for n, _ in wu.safetensors_weights_iterator(files, False, "lazy")] == [
        "from_b",
        "from_a",
    ]
    assert [n for n, _ in wl.safetensors_weights_iterator(files, False, "lazy")] == [
        "from_a",
        "from_b",
    ]


def np_state() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    state = {
        f"layers.{i}.{dtype}": (torch.randn(3, 2, generator=generator) * 9).to(
            getattr(torch, dtype)
        )
        for i, dtype in enumerate(
            ["float32", "float16", "float64", "int64", "int8", "uint8", "bool"]
        )
    }
    state["scalar"] = torch.tensor(2.5)
    state["empty"] = torch.zeros(0, 3)
    return state


def np_folder(tmp_path: Path, name: str) -> tuple[str, list[str]]:
    folder = tmp_path / name
    folder.mkdir()
    state = np_state()
    half = len(state) // 2
    parts = [dict(list(state.items())[:half]), dict(list(state.items())[half:])]
    files = []
    for i, part in enumerate(parts, 1):
        torch.save(part, folder / f"pytorch_model-0000{i}-of-00002.bin")
        files.append(str(folder / f"pytorch_model-0000{i}-of-00002.bin"))
    return str(folder), files


def test_np_cache_reads_a_cache_vllm_wrote(wu: Any, tmp_path: Path) -> None:
    folder, files = np_folder(tmp_path, "m")
    locks = str(tmp_path / "locks")
    written = as_bits(wu.np_cache_weights_iterator("org/m", locks, folder, files, False))
    assert written == as_bits(np_state().items())
    assert as_bits(wl.np_cache_weights_iterator("org/m", locks, folder, files, False)) == written


def test_np_cache_writes_a_cache_vllm_reads(wu: Any, tmp_path: Path) -> None:
    folder, files = np_folder(tmp_path, "m")
    locks = str(tmp_path / "locks")
    written = as_bits(wl.np_cache_weights_iterator("org/m", locks, folder, files, False))
    assert written == as_bits(np_state().items())
    assert as_bits(wu.np_cache_weights_iterator("org/m", locks, folder, files, False)) == written


def test_auto_prefetch_memory_is_vllms(vllm: VllmReference) -> None:
    """The RAM figure the auto-prefetch guard compares the checkpoint with (MemAvailable, cgroup
    limits) is the one vLLM uses."""
    theirs = vllm.cpu_resource_utils.get_available_memory()
    ours = available_memory_bytes()
    assert abs(ours - theirs) <= max(64 << 20, theirs // 20), (ours, theirs)


def test_auto_prefetch_when_memory_is_page_cache(
    wu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a network filesystem, a checkpoint that fits in available memory is prefetched even
    when free pages are few (the machine's memory is page cache), as vLLM decides."""
    path = str(tmp_path / "model.safetensors")
    save_file({"w": torch.zeros(1 << 18)}, path)  # 1 MiB: more than the free pages below
    prefetched: list[object] = []
    monkeypatch.setattr(wu, "_get_fs_type", lambda files: "nfs")
    monkeypatch.setattr(wu, "_prefetch_all_checkpoints", lambda files, **kw: prefetched.append(1))
    list(wu.safetensors_weights_iterator([path], False))
    assert prefetched, "vLLM prefetches this checkpoint"
    real_sysconf = os.sysconf
    monkeypatch.setattr(os, "sysconf", lambda n: 1 if n == "SC_AVPHYS_PAGES" else real_sysconf(n))
    monkeypatch.setattr(iterators, "get_fs_type", lambda path: "nfs")
    warmed: list[object] = []
    monkeypatch.setattr(iterators, "_warm_ranges", lambda *args: warmed.append(args))
    list(wl.safetensors_weights_iterator([path], False))
    assert warmed, "weightlib prefetches it too"


# ---- atomic_writer ------------------------------------------------------------------------------

MODES = ["w", "wt", "wb", "w+", "wb+", "w+b", "wt+", "x", "xb", "a", "ab", "a+", "r+", "rb+", "r"]


def write_with(
    writer: Callable[..., Any], path: Path, mode: str, encoding: str | None
) -> tuple[bool, bytes, Any]:
    """(accepted, final content, what a `+` mode reads back)."""
    path.write_bytes(b"old")
    text = "new ∑ content"
    data: str | bytes = text.encode() if "b" in mode else text
    readback = None
    try:
        with writer(path, mode, encoding) as handle:
            handle.write(data)
            if "+" in mode:
                handle.seek(0)
                readback = handle.read()
    except (ValueError, OSError):
        return False, path.read_bytes(), None
    return True, path.read_bytes(), readback


@pytest.mark.parametrize("mode", MODES)
def test_atomic_writer_modes(wu: Any, tmp_path: Path, mode: str) -> None:
    encoding = None if "b" in mode else "utf-16"
    expected = write_with(wu.atomic_writer, tmp_path / "theirs.txt", mode, encoding)
    assert write_with(wl.atomic_writer, tmp_path / "ours.txt", mode, encoding) == expected


def test_difference_atomic_writer_keeps_the_file_mode(wu: Any, tmp_path: Path) -> None:
    """Deliberate: vLLM's result keeps mkstemp's 0600, so other users lose read access to a
    file it rewrites; weightlib's keeps the replaced file's mode (a new one gets the umask's)."""
    old_umask = os.umask(0o022)
    try:
        for writer, name in ((wu.atomic_writer, "theirs"), (wl.atomic_writer, "ours")):
            with writer(tmp_path / f"{name}-new.txt", "w") as handle:
                handle.write("x")
            (tmp_path / f"{name}-old.txt").write_text("x")
            os.chmod(tmp_path / f"{name}-old.txt", 0o640)
            with writer(tmp_path / f"{name}-old.txt", "w") as handle:
                handle.write("y")
    finally:
        os.umask(old_umask)

    def mode(name: str) -> int:
        return stat.S_IMODE((tmp_path / name).stat().st_mode)

    assert (mode("theirs-new.txt"), mode("theirs-old.txt")) == (0o600, 0o600)
    assert (mode("ours-new.txt"), mode("ours-old.txt")) == (0o644, 0o640)


# ---- get_lock, enable_xet_high_performance, VLLM_USE_MODELSCOPE -------------------------------

model_names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
    min_size=1,
    max_size=40,
)


@FAST
@given(model=model_names)
def test_get_lock_file_name(vllm: VllmReference, model: str) -> None:
    with tempfile.TemporaryDirectory() as cache:
        for cache_dir in (cache, None):
            theirs = vllm.weight_utils.get_lock(model, cache_dir)
            ours = wl.get_lock(model, cache_dir)
            assert ours.lock_file == theirs.lock_file
            assert ours._context.mode == theirs._context.mode == 0o666


def test_get_lock_excludes_vllms_lock(wu: Any, tmp_path: Path) -> None:
    theirs = wu.get_lock(Path("org/model"), str(tmp_path))
    with theirs, pytest.raises(filelock.Timeout):
        wl.get_lock(Path("org/model"), str(tmp_path), timeout=0).acquire()


@pytest.mark.parametrize("user", [None, "0", "1", "", "false"])
def test_enable_xet_high_performance(
    wu: Any, monkeypatch: pytest.MonkeyPatch, user: str | None
) -> None:
    import huggingface_hub.constants

    results = []
    for enable in (wu.enable_xet_high_performance, wl.enable_xet_high_performance):
        initial = user is not None and user.strip().lower() in ("1", "true", "yes", "on")
        monkeypatch.setattr(huggingface_hub.constants, "HF_XET_HIGH_PERFORMANCE", initial)
        if user is None:
            monkeypatch.delenv("HF_XET_HIGH_PERFORMANCE", raising=False)
        else:
            monkeypatch.setenv("HF_XET_HIGH_PERFORMANCE", user)
        enable()
        results.append(
            (
                huggingface_hub.constants.HF_XET_HIGH_PERFORMANCE,
                os.environ.get("HF_XET_HIGH_PERFORMANCE") if user is not None else user,
            )
        )
    assert results[1] == results[0]


def vllm_uses_modelscope(vllm: VllmReference, value: str | None) -> bool:
    with environ("VLLM_USE_MODELSCOPE", value):
        return bool(vllm.envs.VLLM_USE_MODELSCOPE)


def weightlib_uses_modelscope(value: str | None) -> bool:
    env = {} if value is None else {"VLLM_USE_MODELSCOPE": value}
    return env_source(env) == MODELSCOPE


MODELSCOPE_VALUES = [
    None,
    "1",
    "true",
    "True",
    " TRUE\n",
    "yes",
    "on",
    "0",
    "false",
    "",
    "tru",
    "2",
]


@pytest.mark.parametrize("value", MODELSCOPE_VALUES)
def test_vllm_use_modelscope_values(vllm: VllmReference, value: str | None) -> None:
    assert weightlib_uses_modelscope(value) == vllm_uses_modelscope(vllm, value)


@FAST
@given(value=model_names)
def test_vllm_use_modelscope_generated(vllm: VllmReference, value: str) -> None:
    assert weightlib_uses_modelscope(value) == vllm_uses_modelscope(vllm, value)


@pytest.mark.parametrize("value", [None, "1", "yes", "0"])
def test_maybe_download_from_modelscope_local_folder(
    wu: Any, tmp_path: Path, value: str | None
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    with environ("VLLM_USE_MODELSCOPE", value), environ("WEIGHTLIB_SOURCE", None):
        expected = wu.maybe_download_from_modelscope(str(folder), download_dir=str(tmp_path))
        assert (
            wl.maybe_download_from_modelscope(str(folder), download_dir=str(tmp_path)) == expected
        )


# ---- weight loaders -----------------------------------------------------------------------------

shapes = st.lists(st.integers(0, 5), max_size=3).map(tuple)
loader_dtypes = st.sampled_from(["float32", "float16", "bfloat16", "int64", "int8", "float64"])


def tensor(shape: tuple[int, ...], dtype: str, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=generator) * 20).to(getattr(torch, dtype))


def load_outcome(
    loader: Callable[[torch.Tensor, torch.Tensor], Any], param: torch.Tensor, weight: torch.Tensor
) -> tuple[str, Any]:
    target = param.clone()
    state, _ = outcome(lambda: loader(target, weight))
    return state, bits(target) if state == "ok" else None


@FAST
@given(
    shape=shapes,
    other=st.sampled_from([None, (), (1,), (1, 1), (2,)]),
    dtypes=st.tuples(loader_dtypes, loader_dtypes),
    seed=st.integers(0, 99),
)
def test_default_weight_loader(
    wu: Any,
    shape: tuple[int, ...],
    other: tuple[int, ...] | None,
    dtypes: tuple[str, str],
    seed: int,
) -> None:
    param = tensor(shape, dtypes[0], seed)
    weight = tensor(shape if other is None else other, dtypes[1], seed + 1)
    expected = load_outcome(wu.default_weight_loader, param, weight)
    assert load_outcome(wl.default_weight_loader, param, weight) == expected


@FAST
@given(
    rows=st.integers(1, 4),
    cols=st.integers(0, 3),
    tp=st.integers(1, 3),
    rank=st.integers(0, 3),
    one_dim=st.booleans(),
    extra=st.integers(-1, 1),
)
def test_row_parallel_weight_loader(
    vllm: VllmReference, rows: int, cols: int, tp: int, rank: int, one_dim: bool, extra: int
) -> None:
    param_shape = (rows,) if one_dim else (rows, cols)
    weight_shape = (rows * tp + extra,) if one_dim else (rows * tp + extra, cols)
    param, weight = tensor(param_shape, "float32", 0), tensor(weight_shape, "float32", 1)
    with vllm_tp_rank(vllm, rank):
        expected = load_outcome(vllm.weight_utils.row_parallel_weight_loader, param, weight)

    def ours(p: torch.Tensor, w: torch.Tensor) -> None:
        wl.row_parallel_weight_loader(p, w, tp_rank=rank)

    assert load_outcome(ours, param, weight) == expected
    if rank == 0:  # the drop-in call: the rank from torch.distributed (not initialized: 0)
        assert load_outcome(wl.row_parallel_weight_loader, param, weight) == expected


@FAST
@given(
    shape=st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple),
    axis=st.integers(-3, 2),
    tp=st.integers(1, 3),
    rank=st.integers(0, 2),
)
def test_sharded_weight_loader(
    vllm: VllmReference, shape: tuple[int, ...], axis: int, tp: int, rank: int
) -> None:
    if not -len(shape) <= axis < len(shape):
        return  # vLLM indexes the shape with the axis: an IndexError escapes both
    weight_shape = tuple(d * tp if i == axis % len(shape) else d for i, d in enumerate(shape))
    param, weight = tensor(shape, "float32", 0), tensor(weight_shape, "float32", 1)
    with vllm_tp_rank(vllm, rank):
        expected = load_outcome(vllm.weight_utils.sharded_weight_loader(axis), param, weight)
    assert load_outcome(wl.sharded_weight_loader(axis, tp_rank=rank), param, weight) == expected
    if rank == 0:
        assert load_outcome(wl.sharded_weight_loader(axis), param, weight) == expected


def test_composed_weight_loader(wu: Any) -> None:
    param, weight = tensor((3, 2), "float32", 0), tensor((3, 2), "float32", 1)

    def double(t: torch.Tensor) -> torch.Tensor:
        return t * 2 + 1

    expected = load_outcome(
        wu.composed_weight_loader(wu.default_weight_loader, double), param, weight
    )
    composed = wl.composed_weight_loader(wl.default_weight_loader, double)
    assert load_outcome(composed, param, weight) == expected


# ---- dummy weights ------------------------------------------------------------------------------


@FAST
@given(
    shape=shapes,
    dtype=st.sampled_from(["float32", "float16", "bfloat16", "float64", "int64", "int32"]),
    seed=st.integers(0, 2**31),
    bounds=st.sampled_from([None, (-1e-3, 1e-3), (-0.5, 2.0)]),
)
def test_initialize_single_dummy_weight(
    wu: Any, shape: tuple[int, ...], dtype: str, seed: int, bounds: tuple[float, float] | None
) -> None:
    low, high = bounds if bounds is not None else (None, None)
    theirs, ours = tensor(shape, dtype, 5), tensor(shape, dtype, 5)
    wu.initialize_single_dummy_weight(theirs, low, high, seed, name="w")
    wl.initialize_single_dummy_weight(ours, low, high, seed, name="w")
    assert bits(ours) == bits(theirs)


@pytest.mark.parametrize(
    ("dtype", "name"),
    [
        ("float8_e4m3fn", "w"),
        ("float8_e5m2", "w"),
        ("int8", "qweight"),
        ("uint8", "qweight"),
        ("uint8", "weight_scale"),
        ("float8_e8m0fnu", "weight_scale"),
    ],
)
def test_initialize_single_dummy_weight_8_bit(wu: Any, dtype: str, name: str) -> None:
    theirs = torch.zeros(4, 8, dtype=getattr(torch, dtype))
    ours = theirs.clone()
    wu.initialize_single_dummy_weight(theirs, seed=7, name=name)
    wl.initialize_single_dummy_weight(ours, seed=7, name=name)
    assert bits(ours) == bits(theirs)


def test_initialize_dummy_weights_is_vllms_per_tensor_fill(wu: Any) -> None:
    def model() -> torch.nn.Module:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
        net.register_buffer("steps", torch.arange(3))
        return net.to(torch.bfloat16)

    theirs, ours = model(), model()
    for name, value in theirs.state_dict().items():
        wu.initialize_single_dummy_weight(value, -1e-3, 1e-3, 1234, name=name)
    wl.initialize_dummy_weights(ours)
    assert as_bits(ours.state_dict().items()) == as_bits(theirs.state_dict().items())


# ---- download helpers, against the test hub on 127.0.0.1 ---------------------------------------

CHILD = """
import json, os, sys
sys.path.insert(0, {folder!r})
import huggingface_hub.constants
from {package}.{module} import (
    download_safetensors_index_file_from_hf as vllm_index,
    download_weights_from_hf as vllm_weights,
)
from weightlib.vllm import download_safetensors_index_file_from_hf as wl_index
from weightlib.vllm import download_weights_from_hf as wl_weights

def files(path):
    return sorted(
        os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs
    )

def run(call):
    try:
        result = call()
    except Exception as exc:
        return {{"raises": [c.__name__ for c in type(exc).__mro__]}}
    if isinstance(result, str):
        return {{"folder": os.path.relpath(result, os.environ["CACHE"]), "files": files(result)}}
    return {{"ok": result}}

results = {{}}
{body}
print(json.dumps(results))
"""


def run_child(
    vllm: VllmReference, hub: HubServer, home: Path, body: str, **env: str
) -> dict[str, Any]:
    code = CHILD.format(
        folder=str(vllm.folder), package=PACKAGE, module=generated_name(WEIGHT_UTILS), body=body
    )
    environment = hub.env(home, CACHE=str(home / "caches"), **env)
    out = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "Failed to get file list" not in out.stderr, out.stderr  # vLLM's listing worked
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def both(call: str, key: str, cache: str | None = None) -> str:
    """Child code running `call` (with `{fn}`, `{index}`, `{cache}`) on both sides, each in its
    own cache (`cache`, default `key`), results under `key`."""
    lines = []
    for side in ("vllm", "wl"):
        folder = f'os.path.join(os.environ["CACHE"], {cache or key!r}, "{side}")'
        code = call.format(fn=f"{side}_weights", index=f"{side}_index", cache=folder)
        lines.append(f"results[{key!r} + '/{side}'] = run(lambda: {code})")
    return "\n".join(lines)


def pairs(results: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    keys = sorted({k.rsplit("/", 1)[0] for k in results})
    return {k: (results[f"{k}/vllm"], results[f"{k}/wl"]) for k in keys}


def strip_side(result: Any) -> Any:
    if isinstance(result, dict) and "folder" in result:
        return {**result, "folder": result["folder"].split(os.sep, 2)[2]}
    return result


@pytest.fixture(scope="module")
def repos(hf_hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> HubServer:
    base = tmp_path_factory.mktemp("parity-repos")
    hf_hub.add_repo("org/sharded", make_sharded_repo(base / "sharded"))
    layouts = {
        "org/pt-in-subfolder": {"original/consolidated.pt": b"p", "pytorch_model.bin": b"b"},
        "org/pt-and-bin": {"model.pt": b"p", "pytorch_model.bin": b"b", "optimizer.pt": b"o"},
        "org/bin-only": {"pytorch_model.bin": b"b", "config.json": b"{}"},
        "org/no-index": {"model.safetensors": b"s", "config.json": b"{}"},
    }
    for repo, contents in layouts.items():
        folder = base / repo.split("/")[1]
        for name, data in contents.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        hf_hub.add_repo(repo, folder)
    hf_hub.set_faults()
    return hf_hub


PATTERN_CASES = {
    "sharded": ("org/sharded", ["*.safetensors", "*.bin"], None),
    "sharded-bin-first": ("org/sharded", ["*.bin", "*.safetensors"], None),
    "pt-in-subfolder": ("org/pt-in-subfolder", ["*.pt", "*.bin"], None),
    "pt-and-bin": ("org/pt-and-bin", ["*.pt", "*.bin"], None),
    "bin-only": ("org/bin-only", ["*.safetensors", "*.bin", "*.pt"], None),
    "ignored-first-pattern": ("org/pt-and-bin", ["*.pt", "*.bin"], ["*.pt"]),
}


def test_download_weights_from_hf_allow_patterns(
    vllm: VllmReference, repos: HubServer, tmp_path: Path
) -> None:
    body = "\n".join(
        both(f"{{fn}}({repo!r}, {{cache}}, {patterns!r}, ignore_patterns={ignore!r})", case)
        for case, (repo, patterns, ignore) in PATTERN_CASES.items()
    )
    results = pairs(run_child(vllm, repos, tmp_path, body))
    assert all("raises" not in theirs for theirs, _ in results.values()), results
    differ = {
        case: {"vllm": strip_side(theirs), "weightlib": strip_side(ours)}
        for case, (theirs, ours) in results.items()
        if strip_side(ours) != strip_side(theirs)
    }
    assert differ == {}


def test_download_weights_from_hf_offline_constant(
    vllm: VllmReference, repos: HubServer, tmp_path: Path
) -> None:
    """`huggingface_hub.constants.HF_HUB_OFFLINE = True` at run time: the cached snapshot is
    returned without a request, and a missing one raises what vLLM's callers catch."""
    online = both("{fn}('org/no-index', {cache}, ['*.safetensors'])", "online")
    offline = both("{fn}('org/no-index', {cache}, ['*.safetensors'])", "offline", "online")
    missing = both("{fn}('org/bin-only', {cache}, ['*.bin'])", "missing")
    body = f"{online}\nhuggingface_hub.constants.HF_HUB_OFFLINE = True\n{offline}\n{missing}"
    mark = repos.mark()
    results = pairs(run_child(vllm, repos, tmp_path, body))
    theirs, ours = results["offline"]
    assert strip_side(ours) == strip_side(theirs) == strip_side(results["online"][0])
    theirs, ours = results["missing"]
    assert "LocalEntryNotFoundError" in theirs["raises"]
    assert "LocalEntryNotFoundError" in ours.get("raises", []), ours
    requested = [r["path"] for r in repos.requests(mark)]
    assert not [p for p in requested if "bin-only" in p], "offline: no request for it"


@pytest.mark.parametrize(
    ("repo", "index"),
    [
        ("org/sharded", "model.safetensors.index.json"),
        ("org/no-index", "model.safetensors.index.json"),
        ("org/does-not-exist", "model.safetensors.index.json"),
    ],
)
def test_download_safetensors_index_file_from_hf(
    vllm: VllmReference, repos: HubServer, tmp_path: Path, repo: str, index: str
) -> None:
    body = both(f"{{index}}({repo!r}, {index!r}, {{cache}})", "index")
    theirs, ours = pairs(run_child(vllm, repos, tmp_path, body))["index"]
    assert ("raises" in ours) == ("raises" in theirs), (theirs, ours)
    cached = {
        side: sorted(
            p.name
            for p in (tmp_path / "caches" / "index" / side).rglob(index)
            if ".no_exist" not in p.parts  # the client's marker of a file the repo lacks
        )
        for side in ("vllm", "wl")
    }
    assert cached["wl"] == cached["vllm"]
