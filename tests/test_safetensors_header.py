"""The safetensors header reader: exact on real files, precise about every kind of corruption."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from tests.layouts import write_raw_safetensors, write_safetensors
from weightlib.errors import CorruptHeaderError
from weightlib.safetensors_header import MAX_HEADER_BYTES, read_safetensors_header


def test_matches_safetensors_on_the_real_minilm(minilm_dir: Path) -> None:
    path = minilm_dir / "model.safetensors"
    header = read_safetensors_header(path)
    with safe_open(str(path), framework="pt") as handle:
        assert {t.name for t in header.tensors} == set(handle.keys())
        for info in header.tensors:
            tensor = handle.get_tensor(info.name)
            assert list(info.shape) == list(tensor.shape)
            assert info.nbytes == tensor.numel() * tensor.element_size()
    assert header.dtypes == ["F32", "I64"]
    assert header.tensors[-1].file_end == path.stat().st_size


def test_offsets_point_at_the_tensor_bytes(tmp_path: Path) -> None:
    values = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    path = write_safetensors(tmp_path / "m.safetensors", {"a": values, "b": torch.ones(2)})
    info = read_safetensors_header(path).tensor("a")
    with path.open("rb") as handle:
        handle.seek(info.file_start)
        raw = handle.read(info.nbytes)
    assert torch.frombuffer(bytearray(raw), dtype=torch.float32).reshape(3, 4).equal(values)


def entry(
    dtype: str = "F32", shape: list[int] | None = None, offsets: list[int] | None = None
) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape or [2], "data_offsets": offsets or [0, 8]}


@pytest.mark.parametrize(
    ("header", "data", "reason"),
    [
        ({"w": entry(dtype="F13")}, b"\0" * 8, "unknown dtype 'F13'"),
        ({"w": entry(shape=[3])}, b"\0" * 8, "needs 12 bytes but data_offsets span 8"),
        ({"w": entry(offsets=[0, 16], shape=[4])}, b"\0" * 8, "file truncated"),
        ({"w": entry(), "v": entry(offsets=[4, 12])}, b"\0" * 12, "overlap"),
        ({"w": entry(offsets=[8, 0])}, b"\0" * 8, "invalid data_offsets"),
        ({"w": entry(shape=[-2])}, b"\0" * 8, "invalid shape"),
        ({"w": "nope"}, b"", "entry is not an object"),
        ({"__metadata__": {"a": 1}}, b"", "__metadata__"),
        ([1, 2], b"", "not a JSON object"),
        (b"{not json", b"", "not valid JSON"),
        (b"\xff\xfe{", b"", "not a JSON object"),
    ],
)
def test_corrupt_headers_name_file_and_reason(
    tmp_path: Path, header: object, data: bytes, reason: str
) -> None:
    path = write_raw_safetensors(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(CorruptHeaderError) as caught:
        read_safetensors_header(path)
    assert reason in str(caught.value)
    assert str(path) in str(caught.value)


def test_length_beyond_file(tmp_path: Path) -> None:
    path = write_raw_safetensors(tmp_path / "t.safetensors", {"w": entry()}, length=10_000)
    with pytest.raises(CorruptHeaderError, match="runs past the end"):
        read_safetensors_header(path)


def test_oversized_header_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = write_raw_safetensors(tmp_path / "big.safetensors", b"{}", length=MAX_HEADER_BYTES + 1)
    with pytest.raises(CorruptHeaderError, match="exceeds the 100000000-byte limit"):
        read_safetensors_header(path)


@pytest.mark.parametrize("content", [b"", b"\x01\x02\x03"])
def test_too_short_for_a_header(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "short.safetensors"
    path.write_bytes(content)
    with pytest.raises(CorruptHeaderError, match="too short"):
        read_safetensors_header(path)


def test_sub_byte_and_empty_tensors_are_valid(tmp_path: Path) -> None:
    header = {
        "fp4": entry(dtype="F4", shape=[4], offsets=[0, 2]),
        "empty": entry(shape=[0, 3], offsets=[2, 2]),
        "__metadata__": {"format": "pt"},
    }
    path = write_raw_safetensors(tmp_path / "ok.safetensors", header, b"\0\0")
    parsed = read_safetensors_header(path)
    assert parsed.metadata == {"format": "pt"}
    assert {t.name: t.nbytes for t in parsed.tensors} == {"fp4": 2, "empty": 0}
