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


@pytest.mark.parametrize("mode", ["r", "rb", "rt", "U", "wx", "wbt", "ww", "w+b+"])
def test_modes_that_do_not_write_are_refused(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "x"
    target.write_text("old")
    with pytest.raises(ValueError, match="mode that writes"), atomic_writer(target, mode):
        pass
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mode", ["w", "wt", "w+", "w+t", "+w"])
def test_text_write_modes_replace_the_content(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "data.txt"
    target.write_text("old content")
    with atomic_writer(target, mode, encoding="utf-8") as handle:
        handle.write("new")
        if "+" in mode:  # vLLM's atomic_writer hands 'w+' to os.fdopen: it reads back too
            handle.seek(0)
            assert handle.read() == "new"
    assert target.read_text() == "new"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mode", ["wb", "wb+", "w+b", "bw"])
def test_binary_write_modes_replace_the_content(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"old content")
    target.chmod(0o640)
    with atomic_writer(target, mode) as handle:
        handle.write(b"new")
        if "+" in mode:
            handle.seek(0)
            assert handle.read() == b"new"
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mode", ["a", "ab", "a+", "ab+"])
def test_append_modes_append_atomically(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "log.bin"
    target.write_bytes(b"old|")
    with atomic_writer(target, mode) as handle:
        data = b"new" if "b" in mode else "new"
        handle.write(data)
        assert target.read_bytes() == b"old|"  # nothing visible before the end
        if "+" in mode:
            handle.seek(0)
            handle.write(data)  # appended, as with open(…, "a+")
    assert target.read_bytes() == (b"old|newnew" if "+" in mode else b"old|new")
    with atomic_writer(tmp_path / "new.bin", mode) as handle:
        handle.write(b"x" if "b" in mode else "x")
    assert (tmp_path / "new.bin").read_bytes() == b"x"
    assert leftovers(tmp_path) == []


def test_update_mode_starts_from_the_content(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"0123456789")
    with atomic_writer(target, "rb+") as handle:
        assert handle.read(3) == b"012"
        handle.write(b"abc")
    assert target.read_bytes() == b"012abc6789"
    with pytest.raises(FileNotFoundError), atomic_writer(tmp_path / "absent", "r+"):
        pass
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mode", ["x", "xb", "x+"])
def test_exclusive_modes_create_only(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "once"
    with atomic_writer(target, mode) as handle:
        handle.write(b"first" if "b" in mode else "first")
    assert target.read_bytes() == b"first"
    with pytest.raises(FileExistsError), atomic_writer(target, mode):
        pass
    with pytest.raises(FileExistsError), atomic_writer(tmp_path / "raced", mode) as handle:
        (tmp_path / "raced").write_text("someone else")
    assert (tmp_path / "raced").read_text() == "someone else"
    assert target.read_bytes() == b"first"
    assert leftovers(tmp_path) == []


def test_long_names_fit_the_temp_name(tmp_path: Path) -> None:
    target = tmp_path / ("w" * 250)
    with atomic_writer(target, "wb") as handle:
        handle.write(b"x")
    assert target.read_bytes() == b"x"


def test_bad_encoding_makes_no_file(tmp_path: Path) -> None:
    with pytest.raises(LookupError), atomic_writer(tmp_path / "t", "w", encoding="no-such"):
        pass
    with pytest.raises(ValueError, match="binary"), atomic_writer(tmp_path / "t", "wb", "utf-8"):
        pass
    assert list(tmp_path.iterdir()) == []
