"""The support files a server reads at start-up besides the weights, and why each is there.

One rule set for `download`, `filter --json`, `prefetch` and `dummy-init`: named lists of root
files (model and processor configs, tokenizer files, chat templates, Mistral-format files,
sentence-transformers configs, custom code), plus the folders that `modules.json` names
(sentence-transformers modules such as `1_Pooling`, `2_Dense`, with their weights). Everything
else is left out: other weight formats, `original/`, ONNX / OpenVINO / CoreML / GGUF exports,
training artifacts, images and docs. The rules run on relative POSIX paths, so the same answer
comes from a folder on disk and from a remote listing (files read through the caller's callback).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .errors import IntegrityError
from .natural_order import natural_sort_key
from .safepath import check_relative_path

MODULES_FILE = "modules.json"
"""sentence-transformers' list of modules; each names the folder (`path`) it loads from."""

MODEL_CONFIG_FILES = ("config.json", "generation_config.json", "configuration.json")
SENTENCE_TRANSFORMERS_FILES = (
    MODULES_FILE,
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
)
PROCESSOR_FILES = (
    "preprocessor_config.json",
    "processor_config.json",
    "video_preprocessor_config.json",
)
CHAT_TEMPLATE_FILES = (
    "chat_template.jinja",
    "chat_template.json",
    "*.jinja",
    "additional_chat_templates/*",
)
MISTRAL_FILES = ("params.json", "tekken.json", "tokenizer.model.v*")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "merges.txt",
    "vocab.*",
    "*.model",
    "*.tiktoken",
    "*.vocab",
)
CUSTOM_CODE_FILES = ("*.py",)

SUPPORT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model config", MODEL_CONFIG_FILES),
    ("sentence-transformers config", SENTENCE_TRANSFORMERS_FILES),
    ("processor config", PROCESSOR_FILES),
    ("chat template", CHAT_TEMPLATE_FILES),
    ("Mistral-format file", MISTRAL_FILES),
    ("tokenizer file", TOKENIZER_FILES),
    ("custom model code", CUSTOM_CODE_FILES),
)
"""(reason, globs) in order: the first rule a file matches says why it is there. A glob matches
a path at its own folder depth only (`*.json` is a root file, never `onnx/config.json`)."""

WEIGHT_INDEX_FILES = ("*.index.json",)
"""Weight indexes: the weight selection takes the chosen format's, never another format's."""

TRAINING_FILES = (
    "trainer_state.json",
    "training_args.json",
    "*_results.json",
    "data_config.json",
    "train_script.py",
)
"""Small files training leaves at the root; no server reads them."""

DOC_FILES = ("readme*", "license*", "licence*", "notice*", "use_policy*", "changelog*")
"""Documentation (matched case-insensitively)."""

OTHER_ROOT_FILES = ("*.json", "*.txt")
OTHER_ROOT_REASON = "other root config"
"""Any other small root JSON or text file not left out above: quantization configs (vLLM looks
for `quantize_config.json`, `hf_quant_config.json`, …) and the like."""

ModuleWeights = Callable[[list[str]], list[str]]
"""Given the file names in one module folder, the weight files a loader takes from it."""


@dataclass(frozen=True)
class SupportFile:
    """A file a server reads besides the weights, and why it is there."""

    file: str
    reason: str


def _matches(path: str, patterns: Iterable[str]) -> bool:
    """Whether `path` matches one of `patterns` at the same folder depth."""
    depth = path.count("/")
    return any(p.count("/") == depth and fnmatch.fnmatchcase(path, p) for p in patterns)


def support_reason(path: str) -> str | None:
    """Why `path` (relative to a model or module folder) is a support file; None when it is not.

    Hidden entries are never support files; the named `SUPPORT_RULES` come first, then weight
    indexes, training files and docs are left out, then `OTHER_ROOT_FILES` are taken.
    """
    if any(part.startswith(".") for part in path.split("/")):
        return None
    for reason, patterns in SUPPORT_RULES:
        if _matches(path, patterns):
            return reason
    if _matches(path, (*WEIGHT_INDEX_FILES, *TRAINING_FILES)) or _matches(path.lower(), DOC_FILES):
        return None
    return OTHER_ROOT_REASON if _matches(path, OTHER_ROOT_FILES) else None


def module_folders(document: bytes, source: str) -> list[str]:
    """The folders `modules.json` names (the root module, path "", left out), each path checked.

    The content is untrusted: malformed JSON, an entry without a string `path`, or an unsafe path
    (absolute, `..`, a backslash, a control character) is an IntegrityError (exit 6).
    """
    try:
        modules = json.loads(document)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise IntegrityError(f"{source}: not a list of modules")
    folders = []
    for module in modules:
        path = module.get("path")
        if path == "":
            continue
        folders.append(check_relative_path(path, source))
    return folders


def support_files(
    paths: Iterable[str],
    read_file: Callable[[str], bytes],
    *,
    module_weights: ModuleWeights | None = None,
    source: str = "",
) -> list[SupportFile]:
    """The files among `paths` (relative POSIX paths) a server reads besides the root weights.

    Root files follow `SUPPORT_RULES`. When `modules.json` is there it is read with
    `read_file(name)` (the same callback the index is read with: a file on disk, or an HTTP
    range on a hub) and every module folder it names contributes its support files and the
    weights `module_weights(names)` picks among its files. Natural order.
    """
    listed = set(paths)
    chosen: dict[str, str] = {}
    for path in listed:
        reason = support_reason(path)
        if reason is not None:
            chosen[path] = reason
    if MODULES_FILE in listed:
        where = f"{source}/{MODULES_FILE}" if source else MODULES_FILE
        for folder in module_folders(read_file(MODULES_FILE), where):
            names = [p[len(folder) + 1 :] for p in listed if p.startswith(f"{folder}/")]
            names = [n for n in names if "/" not in n]
            picked = {n for n in names if support_reason(n) is not None}
            picked.update(module_weights(names) if module_weights is not None else ())
            for name in picked:
                chosen.setdefault(f"{folder}/{name}", f"sentence-transformers module {folder}")
    return [SupportFile(p, chosen[p]) for p in sorted(chosen, key=natural_sort_key)]
