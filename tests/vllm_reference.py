"""vLLM's own code for tests/test_vllm_parity.py, cut out of a downloaded vLLM wheel with `ast`.

`make vllm-reference` (a step of `make test`) downloads the wheel of `VLLM_VERSION` (Makefile) into
`.cache/vllm/` once; tests never use the network. At test-setup time `load_reference()` opens the
wheel, parses `weight_utils.py` and the few modules it needs, keeps only the functions under test
and what they reference (transitively) in `.cache/vllm/extracted-<version>-<recipe>/vllm_ref/`,
and imports that package. vLLM's code runs unchanged; what it imports from the rest of vLLM is
either extracted too (`EXTRACTED`) or replaced by a stand-in (`STUBS`: logging, tqdm, platform,
distributed ranks, tracing). A vLLM import that is neither is an `ExtractionError`, so a new vLLM
release that needs more is noticed instead of silently stubbed. No wheel: `pytest.skip`.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "vllm"
MAKE_TARGET = "make vllm-reference"
PACKAGE = "vllm_ref"
WEIGHT_UTILS = "vllm.model_executor.model_loader.weight_utils"
DEFAULT_LOADER = "vllm.model_executor.model_loader.default_loader"
ENVS = "vllm.envs"
CPU_RESOURCES = "vllm.utils.cpu_resource_utils"

ROOTS: dict[str, tuple[str, ...]] = {
    WEIGHT_UTILS: (
        "enable_xet_high_performance",
        "get_lock",
        "atomic_writer",
        "_natural_sort_key",
        "maybe_download_from_modelscope",
        "download_weights_from_hf",
        "download_safetensors_index_file_from_hf",
        "filter_duplicate_safetensors_files",
        "filter_files_not_needed_for_inference",
        "np_cache_weights_iterator",
        "safetensors_weights_iterator",
        "multi_thread_safetensors_weights_iterator",
        "pt_weights_iterator",
        "multi_thread_pt_weights_iterator",
        "default_weight_loader",
        "row_parallel_weight_loader",
        "sharded_weight_loader",
        "composed_weight_loader",
        "initialize_single_dummy_weight",
        "maybe_remap_kv_scale_name",
        "LoaderFunction",
    ),
    # How the default loader picks weight files (`load_format="auto"`), as a plain function.
    DEFAULT_LOADER: ("DefaultModelLoader._prepare_weights",),
    CPU_RESOURCES: ("get_available_memory",),
    ENVS: ("VLLM_USE_MODELSCOPE",),
}
"""Per vLLM module, the names to keep (`Class.method` keeps one method as a module function)."""

EXTRACTED = frozenset(
    {
        WEIGHT_UTILS,
        DEFAULT_LOADER,
        ENVS,
        CPU_RESOURCES,
        "vllm.model_executor.model_loader.ep_weight_filter",
        "vllm.model_executor.utils",
        "vllm.config.load",
        "vllm.transformers_utils.repo_utils",
    }
)
"""vLLM modules whose real code is kept when a kept function needs one of their names."""

STUBS: dict[str, frozenset[str]] = {
    "vllm.logger": frozenset({"init_logger"}),
    "vllm.platforms": frozenset({"current_platform"}),
    "vllm.distributed": frozenset(
        {
            "get_tensor_model_parallel_rank",
            "get_tensor_model_parallel_world_size",
            "get_world_group",
        }
    ),
    "vllm.tracing": frozenset({"instrument"}),
    "vllm.version": frozenset({"__version__"}),
    "vllm.model_executor.layers.quantization.torchao": frozenset({"torchao_version_at_least"}),
    "tqdm": frozenset({"tqdm"}),
    "tqdm.auto": frozenset({"tqdm"}),
}
"""Imports replaced by the stand-ins of `_stubs.py` (module → names)."""

STUBS_SOURCE = '''"""Stand-ins for vLLM's logging, tqdm, platform, ranks and tracing (generated)."""

import logging

__version__ = {version!r}

TP_RANK = 0
TP_SIZE = 1
"""The tensor-parallel rank and size vLLM's loaders see; tests set them."""


def init_logger(name):
    logger = logging.getLogger("vllm_ref." + name)
    for level in ("debug", "info", "warning"):
        method = getattr(logger, level)
        setattr(logger, level + "_once", lambda msg, *args, _m=method, **kwargs: _m(msg, *args))
    return logger


from tqdm.auto import tqdm as _tqdm


class tqdm(_tqdm):
    """tqdm's API, never drawn."""

    def __init__(self, *args, **kwargs):
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


class _Platform:
    def __getattr__(self, name):
        if name.startswith(("is_", "use_")):
            return lambda *args, **kwargs: False
        raise AttributeError(name)

    def current_device(self):
        return 0


current_platform = _Platform()


def get_tensor_model_parallel_rank():
    return TP_RANK


def get_tensor_model_parallel_world_size():
    return TP_SIZE


class _Group:
    @property
    def rank(self):
        return TP_RANK


def get_world_group():
    return _Group()


def instrument(*args, **kwargs):
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda function: function


def torchao_version_at_least(version):
    return False
'''


class ExtractionError(RuntimeError):
    """The wheel's code needs something the harness neither extracts nor stubs (update it)."""


class VllmReference:
    """The extracted vLLM modules, imported (a plain class: short in hypothesis reports)."""

    def __init__(self, *, version: str, wheel: Path, folder: Path, source: str) -> None:
        self.version = version
        self.wheel = wheel
        self.folder = folder
        """The folder holding the `vllm_ref` package (put it on sys.path to import it)."""
        self.weight_utils_source = source
        """The whole `weight_utils.py` of the wheel (for its names and signatures)."""
        self.weight_utils = _load(WEIGHT_UTILS)
        self.default_loader = _load(DEFAULT_LOADER)
        self.envs = _load(ENVS)
        self.cpu_resource_utils = _load(CPU_RESOURCES)
        self.stubs: Any = importlib.import_module(f"{PACKAGE}._stubs")
        """The stand-ins (`TP_RANK`, `TP_SIZE` are settable)."""

    def __repr__(self) -> str:
        return f"VllmReference(vllm {self.version}, {self.folder})"


def _load(module: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{generated_name(module)}")


def generated_name(module: str) -> str:
    """`vllm.model_executor.utils` → `model_executor__utils` (a module of `vllm_ref`)."""
    return module.removeprefix("vllm.").replace(".", "__")


def makefile_version() -> str:
    """`VLLM_VERSION` of the Makefile: the release parity is checked against."""
    match = re.search(r"^VLLM_VERSION \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, "Makefile has no `VLLM_VERSION ?= …` line"
    return match.group(1)


def _version_key(path: Path) -> tuple[int, ...]:
    parts = path.name.split("-")[1].split(".")
    return tuple(int(p) if p.isdigit() else -1 for p in parts)


def find_wheel() -> Path | None:
    """`WEIGHTLIB_VLLM_WHEEL`, else the newest `.cache/vllm/vllm-*.whl`."""
    override = os.environ.get("WEIGHTLIB_VLLM_WHEEL")
    if override:
        return Path(override)
    wheels = sorted(CACHE.glob("vllm-*.whl"), key=_version_key)
    return wheels[-1] if wheels else None


def wheel_version(wheel: zipfile.ZipFile) -> str:
    for name in wheel.namelist():
        if name.endswith(".dist-info/METADATA"):
            match = re.search(r"^Version: (\S+)$", wheel.read(name).decode(), re.M)
            if match:
                return match.group(1)
    raise ExtractionError(f"{wheel.filename}: no Version in the wheel's METADATA")


# ---- extraction -------------------------------------------------------------------------------


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in _names_in(node.test)


@dataclass
class _Binding:
    """A top-level name of a vLLM module: a statement that defines it, or an imported name."""

    node: ast.stmt
    imported: tuple[str, str | None] | None = None
    """(module, name) for `from module import name`, (module, None) for `import module`."""


@dataclass
class _Module:
    name: str
    tree: ast.Module
    bindings: dict[str, _Binding] = field(default_factory=dict)
    kept: dict[str, ast.stmt] = field(default_factory=dict)
    """Kept name → its (possibly rewritten) statement, emitted in source order."""
    imports: dict[str, ast.stmt] = field(default_factory=dict)
    future: bool = False
    env_keys: set[str] = field(default_factory=set)


def _absolute(module: str, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".")[:-level]
    return ".".join([*base, *([target] if target else [])])


def _index(name: str, tree: ast.Module) -> _Module:
    mod = _Module(name, tree)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            mod.future = True
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(name, node.level, node.module)
            for alias in node.names:
                mod.bindings[alias.asname or alias.name] = _Binding(node, (source, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                mod.bindings[bound] = _Binding(node, (alias.name, None))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            mod.bindings[node.name] = _Binding(node)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    mod.bindings[target.id] = _Binding(node)
    return mod


class _Extractor:
    """Keeps the requested names of each module and, transitively, what they reference."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = sources
        self.modules: dict[str, _Module] = {}

    def module(self, name: str) -> _Module:
        if name not in self.modules:
            if name not in self.sources:
                raise ExtractionError(f"{name}: not in the wheel")
            self.modules[name] = _index(name, ast.parse(self.sources[name]))
        return self.modules[name]

    def request(self, module: str, name: str) -> None:
        mod = self.module(module)
        if name in mod.kept or name in mod.imports:
            return
        if module == ENVS and name == "environment_variables":
            return  # emitted by `_env_table` with the requested entries only
        if module == ENVS and name not in mod.bindings:
            self._request_env(mod, name)
            return
        if "." in name:
            self._keep(mod, name, self._method(mod, name))
            return
        binding = mod.bindings.get(name)
        if binding is None:
            raise ExtractionError(f"{module}: no top-level {name!r} (only in try/if blocks?)")
        if binding.imported is not None:
            mod.imports[name] = self._import(mod, name, binding.imported)
            return
        self._keep(mod, name, binding.node)

    def _method(self, mod: _Module, dotted: str) -> ast.stmt:
        cls_name, method = dotted.split(".")
        cls = mod.bindings[cls_name].node
        assert isinstance(cls, ast.ClassDef)
        for node in cls.body:
            if isinstance(node, ast.FunctionDef) and node.name == method:
                return node
        raise ExtractionError(f"{mod.name}: {cls_name} has no method {method}")

    def _keep(self, mod: _Module, name: str, node: ast.stmt) -> None:
        node = _LocalImports(self, mod.name).visit(node)
        mod.kept[name] = node
        for referenced in sorted(_names_in(node)):
            if referenced in mod.bindings and referenced != name.split(".")[-1]:
                self.request(mod.name, referenced)
        envs = [b for b, v in mod.bindings.items() if v.imported == ("vllm", "envs")]
        for bound in envs:
            for attr in _attributes_of(node, bound):
                self.request(ENVS, attr)

    def _request_env(self, mod: _Module, key: str) -> None:
        table = mod.bindings["environment_variables"].node
        assert isinstance(table, ast.AnnAssign) and isinstance(table.value, ast.Dict)
        for k, v in zip(table.value.keys, table.value.values, strict=True):
            if isinstance(k, ast.Constant) and k.value == key:
                mod.env_keys.add(key)
                for referenced in sorted(_names_in(v)):
                    if referenced in mod.bindings:
                        self.request(mod.name, referenced)
                self.request(mod.name, "__getattr__")
                return
        raise ExtractionError(f"vllm.envs: no environment variable {key}")

    def resolve(self, module: str, name: str | None, bound: str) -> ast.stmt:
        """The import statement binding `bound` in the generated package."""
        if name is None or not (module == "vllm" or module.startswith(("vllm.", "tqdm"))):
            return _plain_import(module, name, bound)
        if module in STUBS and name in STUBS[module]:
            return ast.ImportFrom("_stubs", [ast.alias(name, bound)], level=1)
        if module == "vllm" and name == "envs":
            return ast.ImportFrom(None, [ast.alias(generated_name(ENVS), bound)], level=1)
        if module in EXTRACTED:
            self.request(module, name)
            return ast.ImportFrom(generated_name(module), [ast.alias(name, bound)], level=1)
        raise ExtractionError(
            f"kept code imports {name} from {module}: add it to EXTRACTED or STUBS "
            "(tests/vllm_reference.py)"
        )

    def _import(self, mod: _Module, bound: str, imported: tuple[str, str | None]) -> ast.stmt:
        module, name = imported
        if name is None:
            return ast.Import([ast.alias(module, None if bound == module.split(".")[0] else bound)])
        return self.resolve(module, name, bound)

    def emit(self, name: str) -> str:
        mod = self.module(name)
        order = {id(node): i for i, node in enumerate(mod.tree.body)}
        lines = [f"# Generated from vLLM's {name} by tests/vllm_reference.py: do not edit."]
        if mod.future:
            lines.append("from __future__ import annotations")
        lines += [ast.unparse(node) for node in mod.imports.values()]
        body = self._env_table(mod) if name == ENVS else []
        kept = sorted(mod.kept.values(), key=lambda n: order.get(id(n), len(order)))
        seen: set[int] = set()
        for node in kept:
            if id(node) not in seen:
                seen.add(id(node))
                body.append(ast.unparse(node))
        return "\n".join(lines) + "\n\n\n" + "\n\n\n".join(body) + "\n"

    def _env_table(self, mod: _Module) -> list[str]:
        table = mod.bindings["environment_variables"].node
        assert isinstance(table, ast.AnnAssign) and isinstance(table.value, ast.Dict)
        pairs = [
            (k, v)
            for k, v in zip(table.value.keys, table.value.values, strict=True)
            if isinstance(k, ast.Constant) and k.value in mod.env_keys
        ]
        value = ast.Dict([k for k, _ in pairs], [v for _, v in pairs])
        return [ast.unparse(ast.Assign([ast.Name("environment_variables")], value, lineno=0))]


def _attributes_of(node: ast.AST, bound: str) -> set[str]:
    return {
        n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == bound
    }


def _plain_import(module: str, name: str | None, bound: str) -> ast.stmt:
    if name is None:
        return ast.Import([ast.alias(module, None)])
    return ast.ImportFrom(module, [ast.alias(name, None if bound == name else bound)], level=0)


class _LocalImports(ast.NodeTransformer):
    """Imports inside kept functions: vLLM ones are resolved like top-level ones; one that is
    neither extracted nor stubbed becomes `raise ImportError` (only that branch cannot run)."""

    def __init__(self, extractor: _Extractor, module: str) -> None:
        self.extractor = extractor
        self.module = module
        self.depth = 0

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST | list[ast.stmt]:
        source = _absolute(self.module, node.level, node.module)
        if self.depth == 0 or not (source == "vllm" or source.startswith("vllm.")):
            return node
        try:
            return [self.extractor.resolve(source, a.name, a.asname or a.name) for a in node.names]
        except ExtractionError:
            message = ast.Constant(f"{source} is not part of the extracted vLLM reference")
            return ast.Raise(ast.Call(ast.Name("ImportError"), [message], []), None)


def _read_sources(wheel: zipfile.ZipFile) -> dict[str, str]:
    sources = {}
    for module in EXTRACTED:
        path = module.replace(".", "/") + ".py"
        try:
            sources[module] = wheel.read(path).decode()
        except KeyError:
            continue
    return sources


def extract(wheel_path: Path, version: str, target: Path) -> None:
    """Write the `vllm_ref` package for the wheel into `target` (a new folder)."""
    with zipfile.ZipFile(wheel_path) as wheel:
        extractor = _Extractor(_read_sources(wheel))
    for module, names in ROOTS.items():
        for name in names:
            extractor.request(module, name)
    target.mkdir(parents=True)
    (target / "__init__.py").write_text(
        f'"""vLLM {version} reference code, extracted from {wheel_path.name}."""\n\n'
        f"VERSION = {version!r}\n"
    )
    (target / "_stubs.py").write_text(STUBS_SOURCE.format(version=version))
    for module in sorted(extractor.modules):
        (target / f"{generated_name(module)}.py").write_text(extractor.emit(module))


def _recipe(wheel: Path) -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(f"{wheel.name}:{wheel.stat().st_size}".encode())
    return digest.hexdigest()[:12]


def extracted_folder(wheel: Path, version: str) -> Path:
    """The folder holding `vllm_ref` for this wheel and this harness, extracted once (atomically,
    so parallel test workers never see half a package)."""
    folder = CACHE / f"extracted-{version}-{_recipe(wheel)}"
    if (folder / PACKAGE / "__init__.py").is_file():
        return folder
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=CACHE, prefix=".extract-"))
    try:
        extract(wheel, version, work / PACKAGE)
        try:
            os.rename(work, folder)
        except OSError:
            if not (folder / PACKAGE / "__init__.py").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


def _import_package(folder: Path) -> ModuleType:
    existing = sys.modules.get(PACKAGE)
    if existing is not None:
        assert existing.__file__ == str(folder / PACKAGE / "__init__.py"), existing.__file__
        return existing
    spec = importlib.util.spec_from_file_location(
        PACKAGE,
        folder / PACKAGE / "__init__.py",
        submodule_search_locations=[str(folder / PACKAGE)],
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)
    return package


def load_reference() -> VllmReference:
    """Extract (once) and import vLLM's reference code; `pytest.skip` when there is no wheel."""
    wheel = find_wheel()
    if wheel is None or not wheel.is_file():
        pytest.skip(
            f"no vLLM wheel in {CACHE.relative_to(ROOT)}/: run `{MAKE_TARGET}` (downloads "
            f"vllm=={makefile_version()} from PyPI; `make test` does it) to run the parity tests"
        )
    with zipfile.ZipFile(wheel) as opened:
        version = wheel_version(opened)
        source = opened.read(WEIGHT_UTILS.replace(".", "/") + ".py").decode()
    folder = extracted_folder(wheel, version)
    _import_package(folder)
    return VllmReference(version=version, wheel=wheel, folder=folder, source=source)
