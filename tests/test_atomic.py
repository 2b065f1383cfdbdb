"""atomic_writer: all or nothing, durable, and keeps the permissions of what it replaces."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from weightlib.atomic import atomic_writer


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_new_file_gets_umask_default(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    old = os.umask(0o022)
    try:
        with atomic_writer(target) as handle:
            handle.write("{}")
    finally:
        os.umask(old)
    assert target.read_text() == "{}"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert leftovers(tmp_path) == []


def test_replacement_keeps_permissions(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")
    target.chmod(0o640)
    with atomic_writer(target, "wb") as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_error_leaves_original_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    target.write_text("original")
    with pytest.raises(RuntimeError), atomic_writer(target, encoding="utf-8") as handle:
        handle.write("half")
        assert leftovers(tmp_path)  # the partial content lives under a temp name only
        raise RuntimeError("boom")
    assert target.read_text() == "original"
    assert leftovers(tmp_path) == []


def test_read_modes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="write mode"), atomic_writer(tmp_path / "x", "r"):
        pass
