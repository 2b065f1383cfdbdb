"""Which weight files a server loads from a checkpoint, and in which order.

The rules follow vLLM's default loader: the first weight format with a match at the root wins
(`*.safetensors`, then `*.bin`, then `*.pt`), training artifacts are dropped, and when
`model.safetensors.index.json` exists only the shards its `weight_map` names are kept. The same
selection runs on a local folder and on a remote repository listing (relative POSIX paths).
`select_serving_files` adds the support files beside the weights (`weightlib.serving_files`).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InvalidInputError, MissingShardsError, NotFoundError, NoWeightFilesError
from .index import parse_index, read_index_file
from .natural_order import natural_sort_key, natural_sorted
from .serving_files import SupportFile, support_files

SAFETENSORS_INDEX = "model.safetensors.index.json"
BIN_INDEX = "pytorch_model.bin.index.json"

FORMAT_INDEXES = {"safetensors": SAFETENSORS_INDEX, "bin": BIN_INDEX}
"""The index file each sharded format may have at the root."""

FORMAT_PATTERNS: dict[str, str] = {"safetensors": "*.safetensors", "bin": "*.bin", "pt": "*.pt"}
"""The glob each weight format matches at the root of a checkpoint."""

AUTO_FORMATS = ("safetensors", "bin", "pt")
"""Formats tried in order for `fmt="auto"`: vLLM's default loader's allow patterns for "auto"
(`*.safetensors`, `*.bin`, then its `*.pt` fallback)."""

WEIGHT_FORMATS = ("auto", *FORMAT_PATTERNS)

TRAINING_ARTIFACT_SUFFIXES = (
    "training_args.bin",
    "optimizer.bin",
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
)
"""Names (by suffix) that training leaves beside weights and no server loads."""


def filter_files_not_needed_for_inference(hf_weights_files: list[str]) -> list[str]:
    """Drop files that only training needs (vLLM's rule: by name suffix)."""
    return [f for f in hf_weights_files if not f.endswith(TRAINING_ARTIFACT_SUFFIXES)]


def read_weight_map(index_path: str | os.PathLike[str]) -> dict[str, str]:
    """The `weight_map` (tensor name → shard file) of a local index file."""
    return read_index_file(index_path).weight_map


def filter_duplicate_safetensors_files(
    hf_weights_files: list[str], hf_folder: str, index_file: str
) -> list[str]:
    """Keep only the safetensors files that `index_file` names (vLLM 0.34.0's semantics).

    Drops e.g. Mistral's `consolidated.safetensors` beside the HF shards. When the index does
    not exist the list is returned unchanged; when it names files that `hf_weights_files` lacks,
    `NotFoundError` (a `FileNotFoundError`, as vLLM raises) names them.
    """
    index_path = os.path.join(hf_folder, index_file)
    if not os.path.isfile(index_path):
        return hf_weights_files
    named = {os.path.join(hf_folder, f) for f in read_weight_map(index_path).values()}
    missing = natural_sorted(named - set(hf_weights_files))
    if missing:
        shown = ", ".join(os.path.basename(m) for m in missing[:5])
        raise NotFoundError(
            f"{index_path}: {len(missing)} weight file(s) named in the index are missing: "
            f"{shown}{' …' if len(missing) > 5 else ''}"
        )
    return [f for f in hf_weights_files if f in named]


@dataclass(frozen=True)
class Exclusion:
    """A weight-looking file that was not selected, and why."""

    file: str
    reason: str
    """One of `training-artifact`, `not-in-index`, `other-format`, `subfolder`."""


@dataclass
class WeightSelection:
    """The weight files a server would load, in load order, and what was left out."""

    format: str | None
    files: list[str]
    excluded: list[Exclusion] = field(default_factory=list)
    index_file: str | None = None
    missing: list[str] = field(default_factory=list)
    """Files named by the index that the listing lacks."""


def _is_weight_name(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in FORMAT_PATTERNS.values())


def check_format(fmt: str) -> str:
    """Validate a `--format` value."""
    if fmt not in WEIGHT_FORMATS:
        raise InvalidInputError(
            f"unknown weight format {fmt!r}; use one of {', '.join(WEIGHT_FORMATS)}"
        )
    return fmt


def select_weight_files(
    paths: Iterable[str],
    fmt: str = "auto",
    read_index: Callable[[str], Mapping[str, str]] | None = None,
) -> WeightSelection:
    """Choose the weight files among `paths` (relative POSIX paths of a checkpoint).

    `read_index(name)` returns the `weight_map` of an index file in the listing; it is called
    when the chosen format has its index in the listing (`model.safetensors.index.json`,
    `pytorch_model.bin.index.json`). Safetensors files the index does not name are dropped
    (vLLM's rule); for `.bin` only the files it names but the listing lacks are reported.
    Raises nothing on an empty result: callers decide whether that is an error.
    """
    check_format(fmt)
    all_paths = set(paths)
    root = [p for p in all_paths if "/" not in p]
    candidates = AUTO_FORMATS if fmt == "auto" else (fmt,)
    chosen: str | None = None
    chosen_files: list[str] = []
    for candidate in candidates:
        matched = [p for p in root if fnmatch.fnmatchcase(p, FORMAT_PATTERNS[candidate])]
        if matched:  # vLLM stops at the first pattern with a match, training artifacts or not
            chosen, chosen_files = candidate, matched
            break
    excluded: list[Exclusion] = []
    for path in all_paths:
        if not _is_weight_name(os.path.basename(path)) or path in chosen_files:
            continue
        if "/" in path:
            excluded.append(Exclusion(path, "subfolder"))
        elif path.endswith(TRAINING_ARTIFACT_SUFFIXES):
            excluded.append(Exclusion(path, "training-artifact"))
        else:
            excluded.append(Exclusion(path, "other-format"))
    selection = WeightSelection(chosen, [], excluded)
    kept = filter_files_not_needed_for_inference(chosen_files)
    excluded.extend(Exclusion(p, "training-artifact") for p in chosen_files if p not in kept)
    index_name = FORMAT_INDEXES.get(chosen or "")
    if index_name in all_paths and index_name is not None and read_index is not None:
        selection.index_file = index_name
        named = set(read_index(index_name).values())
        if chosen == "safetensors":
            excluded.extend(Exclusion(p, "not-in-index") for p in kept if p not in named)
            kept = [p for p in kept if p in named]
        selection.missing = natural_sorted(n for n in named if n not in all_paths)
    selection.files = natural_sorted(kept)
    selection.excluded = sorted(excluded, key=lambda e: natural_sort_key(e.file))
    return selection


@dataclass
class ServingSelection:
    """Everything a server reads from a checkpoint: the weights and the support files."""

    weights: WeightSelection
    support: list[SupportFile]
    """The chosen format's index first (when there is one), then `support_files`' answer."""

    @property
    def files(self) -> list[str]:
        """Weights in load order, then the support files."""
        return [*self.weights.files, *(s.file for s in self.support)]

    @property
    def excluded(self) -> list[Exclusion]:
        """The weight-looking files left out, but for those a module loads (e.g. `2_Dense/…`)."""
        taken = {s.file for s in self.support}
        return [e for e in self.weights.excluded if e.file not in taken]


def _module_weights(fmt: str, chosen: str | None) -> Callable[[list[str]], list[str]]:
    """The weights a sentence-transformers module folder loads: the chosen format, else any."""

    def pick(names: list[str]) -> list[str]:
        for candidate in (chosen or fmt, "auto"):
            files = select_weight_files(names, candidate).files
            if files:
                return files
        return []

    return pick


def select_serving_files(
    paths: Iterable[str], fmt: str, read_file: Callable[[str], bytes], source: str
) -> ServingSelection:
    """The weights `select_weight_files` picks and the support files beside them, with reasons.

    `read_file(name)` reads a small file of the listing (the index, `modules.json`); `source`
    names the checkpoint in messages. Raises nothing on missing weights (see `require_weights`).
    """
    listed = list(paths)

    def weight_map(name: str) -> dict[str, str]:
        return parse_index(read_file(name), f"{source}/{name}").weight_map

    weights = select_weight_files(listed, fmt, read_index=weight_map)
    module_weights = _module_weights(fmt, weights.format)
    support = support_files(listed, read_file, module_weights=module_weights, source=source)
    if weights.index_file is not None:
        support.insert(0, SupportFile(weights.index_file, f"index of the {weights.format} shards"))
    return ServingSelection(weights, support)


def _broken_link(path: str) -> bool:
    return os.path.islink(path) and not os.path.exists(path)


def list_local_files(folder: str | os.PathLike[str]) -> list[str]:
    """Every regular file under `folder`, as relative POSIX paths.

    Symlinked files are followed (Hugging Face snapshots link to blobs) but symlinked directories
    are not entered, so a link loop cannot trap the walk. Hidden entries (`.git`, `.cache`) are
    skipped. A broken symlink is not a file; one at the root with a weight file's name
    (`*.safetensors`, `*.bin`, `*.pt`, training artifacts aside) raises `NotFoundError` naming
    it: vLLM's loader would take it as a shard, and leaving it out would make a partial model
    look complete. Other broken symlinks (a README, a weight in a subfolder, a safetensors file
    beside `model.safetensors.index.json`, which reports the shards it names as missing) are
    left out.
    """
    base = Path(folder)
    found = []
    broken = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = Path(dirpath).relative_to(base)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if name.startswith("."):
                continue
            if os.path.isfile(path):
                found.append((rel_dir / name).as_posix())
            elif rel_dir == Path(".") and _is_weight_name(name) and _broken_link(path):
                broken.append(name)
    if SAFETENSORS_INDEX in found:  # the index decides: a named shard is reported missing
        broken = [b for b in broken if not b.endswith(".safetensors")]
    broken = filter_files_not_needed_for_inference(broken)
    if broken:
        _raise_broken(folder, broken)
    return found


def _raise_broken(folder: str | os.PathLike[str], links: list[str]) -> None:
    """Raise `NotFoundError` (exit 3) naming the broken weight links of `folder`."""
    names = natural_sorted(links)
    shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
    raise NotFoundError(
        f"{os.fspath(folder)}: {len(names)} weight file(s) are broken symlinks (the file they "
        f"point to is gone): {shown}; restore or re-download them, or remove the links"
    )


def check_model_folder(folder: str | os.PathLike[str]) -> Path:
    """`folder` as a Path, or a typed error when it does not exist or is not a directory."""
    if not os.fspath(folder).strip():
        raise InvalidInputError("MODEL is empty: give a model folder or a repository id")
    path = Path(folder)
    if not path.exists():
        raise NotFoundError(f"{folder}: no such file or directory")
    if not path.is_dir():
        raise InvalidInputError(f"{folder}: is a file; give the model folder that contains it")
    return path


def select_local_weight_files(folder: str | os.PathLike[str], fmt: str = "auto") -> WeightSelection:
    """`select_weight_files` over a local folder, reading its index from disk."""
    base = check_model_folder(folder)
    return select_weight_files(
        list_local_files(base), fmt, read_index=lambda name: read_weight_map(base / name)
    )


def require_weights(selection: WeightSelection, model: str) -> WeightSelection:
    """Raise what a server would hit: no weight files (exit 3) or missing shards (exit 6)."""
    if selection.missing:
        raise MissingShardsError(f"{model}/{selection.index_file}", selection.missing)
    if not selection.files:
        why = _artifacts_only(selection)
        fmt = selection.format
        wanted = "weight files" if fmt is None or why else f"{fmt} files"
        raise NoWeightFilesError(f"{model}: no {wanted} found{why}")
    return selection


def _artifacts_only(selection: WeightSelection) -> str:
    """Why a format that matched has no files: all were training artifacts (vLLM stops there)."""
    pattern = FORMAT_PATTERNS.get(selection.format or "")
    artifacts = [
        e.file
        for e in selection.excluded
        if e.reason == "training-artifact"
        and pattern is not None
        and fnmatch.fnmatchcase(e.file, pattern)
    ]
    if not artifacts:
        return ""
    return (
        f": the {pattern} files are training artifacts only ({', '.join(artifacts[:5])}), and "
        "like vLLM's loader the selection does not try the next format"
    )


def discover_weight_files(folder: str | os.PathLike[str], fmt: str = "auto") -> list[Path]:
    """The weight files a server would load from `folder`, as paths in natural order.

    Raises `NotFoundError` for a missing folder, `NoWeightFilesError` when nothing matches and
    `MissingShardsError` when the index names files that are absent.
    """
    selection = require_weights(select_local_weight_files(folder, fmt), os.fspath(folder))
    return [Path(folder) / f for f in selection.files]


def local_serving_files(
    folder: str | os.PathLike[str], fmt: str = "auto"
) -> tuple[list[Path], list[Path]]:
    """(weight files, support files) a server reads from `folder`: shards, then their index,
    config, tokenizer and the other files `weightlib.serving_files` names."""
    base = check_model_folder(folder)
    serving = select_serving_files(
        list_local_files(base), fmt, lambda name: (base / name).read_bytes(), os.fspath(folder)
    )
    weights = require_weights(serving.weights, os.fspath(folder))
    return [base / f for f in weights.files], [base / s.file for s in serving.support]


def checkpoint_size_bytes(files: Iterable[str | os.PathLike[str]]) -> int:
    """Total size of `files` from `stat` alone (symlinks followed, nothing read)."""
    return sum(os.stat(f).st_size for f in files)


__all__ = [
    "AUTO_FORMATS",
    "BIN_INDEX",
    "FORMAT_INDEXES",
    "FORMAT_PATTERNS",
    "SAFETENSORS_INDEX",
    "TRAINING_ARTIFACT_SUFFIXES",
    "WEIGHT_FORMATS",
    "Exclusion",
    "ServingSelection",
    "SupportFile",
    "WeightSelection",
    "check_format",
    "check_model_folder",
    "checkpoint_size_bytes",
    "discover_weight_files",
    "filter_duplicate_safetensors_files",
    "filter_files_not_needed_for_inference",
    "list_local_files",
    "local_serving_files",
    "natural_sort_key",
    "natural_sorted",
    "read_weight_map",
    "require_weights",
    "select_local_weight_files",
    "select_serving_files",
    "select_weight_files",
]
