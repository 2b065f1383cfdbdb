"""Lazy access to torch for the `torch` extra, and the safetensors ↔ torch dtype names.

Nothing here imports torch at module level: `weightlib --help` must stay light. Call
`import_torch(feature)` inside the function that needs torch; it raises `MissingExtraError`
(exit 2) when torch is not installed: `FEATURE: the optional 'torch' extra is not installed`,
then the pip and the pipx command that add it. `feature` names what needs it (a noun phrase or a
function name), never a sentence.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .errors import InvalidInputError, MissingExtraError

if TYPE_CHECKING:
    import torch

SAFETENSORS_TO_TORCH: dict[str, str] = {
    "BOOL": "bool",
    "U8": "uint8",
    "I8": "int8",
    "I16": "int16",
    "U16": "uint16",
    "I32": "int32",
    "U32": "uint32",
    "I64": "int64",
    "U64": "uint64",
    "F16": "float16",
    "BF16": "bfloat16",
    "F32": "float32",
    "F64": "float64",
    "C64": "complex64",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "F8_E8M0": "float8_e8m0fnu",
}
"""safetensors dtype name → `torch` attribute name (F4 and F6 have no unpacked torch dtype)."""


def import_torch(feature: str = "this feature") -> ModuleType:
    """The `torch` module, or `MissingExtraError` naming the `torch` extra."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        raise MissingExtraError(feature, "torch") from None


def import_optional(module: str, feature: str, extra: str) -> Any:
    """Import an optional backend module, or raise `MissingExtraError` naming `extra`."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"{feature} ({module})", extra) from None


def torch_dtype(st_dtype: str, source: str = "tensor") -> torch.dtype:
    """The torch dtype for a safetensors dtype name; `InvalidInputError` when torch has none."""
    torch_mod = import_torch("reading safetensors tensors")
    attr = SAFETENSORS_TO_TORCH.get(st_dtype)
    dtype = getattr(torch_mod, attr, None) if attr else None
    if dtype is None:
        raise InvalidInputError(f"{source}: dtype {st_dtype} has no torch equivalent")
    result: torch.dtype = dtype
    return result
