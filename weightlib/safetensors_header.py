"""Read and validate a safetensors header without touching tensor data.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON, then the data
area. Only the first 8 + N bytes are read; every entry is checked against the file size so a
truncated, garbage or hostile file is reported with its name and the reason.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CorruptHeaderError

MAX_HEADER_BYTES = 100 * 1000 * 1000
"""The largest header accepted (the safetensors library's own limit)."""

DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}
"""Bits per element of every dtype the safetensors format defines."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's entry: dtype, shape and where its bytes lie in the file."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    """Start of the tensor's bytes, relative to the data area."""
    end: int
    """End (exclusive) of the tensor's bytes, relative to the data area."""
    data_start: int
    """Offset of the data area in the file (8 + header length)."""

    @property
    def nbytes(self) -> int:
        return self.end - self.begin

    @property
    def file_start(self) -> int:
        """Absolute offset of the first byte in the file."""
        return self.data_start + self.begin

    @property
    def file_end(self) -> int:
        """Absolute offset one past the last byte in the file."""
        return self.data_start + self.end


@dataclass(frozen=True)
class SafetensorsHeader:
    """A validated header: its tensors in data order, the optional metadata, and sizes."""

    source: str
    header_size: int
    file_size: int
    tensors: tuple[TensorInfo, ...]
    metadata: dict[str, str] | None

    @property
    def data_start(self) -> int:
        return 8 + self.header_size

    @property
    def data_bytes(self) -> int:
        return self.file_size - self.data_start

    @property
    def dtypes(self) -> list[str]:
        """The distinct dtypes, sorted."""
        return sorted({t.dtype for t in self.tensors})

    def tensor(self, name: str) -> TensorInfo:
        for info in self.tensors:
            if info.name == name:
                return info
        raise KeyError(name)


def parse_header_length(prefix: bytes, file_size: int, source: str) -> int:
    """Decode and check the 8-byte length prefix; return the JSON header's length."""
    if len(prefix) < 8:
        raise CorruptHeaderError(source, f"file is {file_size} bytes, too short for a header")
    (length,) = struct.unpack("<Q", prefix[:8])
    if length > MAX_HEADER_BYTES:
        raise CorruptHeaderError(
            source, f"header length {length} exceeds the {MAX_HEADER_BYTES}-byte limit"
        )
    if 8 + length > file_size:
        raise CorruptHeaderError(
            source, f"header length {length} runs past the end of the {file_size}-byte file"
        )
    return int(length)


def _check_shape(source: str, name: str, shape: Any) -> tuple[int, ...]:
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise CorruptHeaderError(source, f"tensor {name!r} has an invalid shape {shape!r}")
    return tuple(shape)


def _check_offsets(source: str, name: str, offsets: Any) -> tuple[int, int]:
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise CorruptHeaderError(source, f"tensor {name!r} has invalid data_offsets {offsets!r}")
    return offsets[0], offsets[1]


def parse_header_json(
    header: bytes, file_size: int, source: str, header_size: int | None = None
) -> SafetensorsHeader:
    """Validate the JSON header of a file of `file_size` bytes and return its tensors."""
    header_size = len(header) if header_size is None else header_size
    data_size = file_size - 8 - header_size
    if not header.lstrip(b" ").startswith(b"{"):
        raise CorruptHeaderError(source, "header is not a JSON object")
    try:
        document = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptHeaderError(source, f"header is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise CorruptHeaderError(source, "header is not a JSON object")
    metadata = document.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise CorruptHeaderError(source, "__metadata__ must map strings to strings")
    tensors = []
    for name, entry in document.items():
        if not isinstance(entry, dict):
            raise CorruptHeaderError(source, f"tensor {name!r} entry is not an object")
        dtype = entry.get("dtype")
        if dtype not in DTYPE_BITS:
            raise CorruptHeaderError(source, f"tensor {name!r} has unknown dtype {dtype!r}")
        shape = _check_shape(source, name, entry.get("shape"))
        begin, end = _check_offsets(source, name, entry.get("data_offsets"))
        bits = math.prod(shape) * DTYPE_BITS[dtype]
        if bits % 8 or bits // 8 != end - begin:
            raise CorruptHeaderError(
                source,
                f"tensor {name!r}: shape {list(shape)} of {dtype} needs {bits / 8:g} bytes "
                f"but data_offsets span {end - begin}",
            )
        if end > data_size:
            raise CorruptHeaderError(
                source,
                f"tensor {name!r} ends at byte {end} of a {data_size}-byte data area "
                "(file truncated?)",
            )
        tensors.append(TensorInfo(name, dtype, shape, begin, end, 8 + header_size))
    tensors.sort(key=lambda t: (t.begin, t.end))
    for previous, current in itertools.pairwise(tensors):
        if current.begin < previous.end:
            raise CorruptHeaderError(
                source, f"tensors {previous.name!r} and {current.name!r} overlap"
            )
    return SafetensorsHeader(source, header_size, file_size, tuple(tensors), metadata)


def read_header_with(
    read_range: Callable[[int, int], bytes], file_size: int, source: str
) -> SafetensorsHeader:
    """Read and validate a header through `read_range(start, length)`: two reads, no tensor data.

    The same path serves local files (seek + read) and remote ones (HTTP range requests).
    """
    length = parse_header_length(read_range(0, 8), file_size, source)
    header = read_range(8, length)
    if len(header) != length:
        raise CorruptHeaderError(
            source, f"only {len(header)} of {length} header bytes could be read"
        )
    return parse_header_json(header, file_size, source)


def read_safetensors_header(path: str | os.PathLike[str]) -> SafetensorsHeader:
    """Read and validate the header of a local safetensors file (only its first 8 + N bytes)."""
    with Path(path).open("rb") as handle:

        def read_range(start: int, length: int) -> bytes:
            handle.seek(start)
            return handle.read(length)

        return read_header_with(read_range, os.fstat(handle.fileno()).st_size, os.fspath(path))
