"""ctypes wrappers for the Linux calls Python's `os` lacks: readahead, mmap + mincore, cachestat,
and for writers fallocate (blocks reserved, no zeros written) and sync_file_range.

Every call goes through a `ctypes.CDLL`, which releases the GIL, so worker threads issue them in
parallel. Nothing here touches file data: `mincore` runs over a mapping that is never read.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import mmap
import os
import sys
import threading
from typing import Any

PAGE_SIZE = mmap.PAGESIZE

_PROT_READ = 0x1
_MAP_SHARED = 0x01
_CACHESTAT_SYSCALL = {"x86_64": 451, "aarch64": 451}
"""cachestat(2) arrived in Linux 6.5 with the same number on these architectures."""

_libc: ctypes.CDLL | None = None
_libc_lock = threading.Lock()


class _CachestatRange(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Cachestat(ctypes.Structure):
    _fields_ = [
        ("nr_cache", ctypes.c_uint64),
        ("nr_dirty", ctypes.c_uint64),
        ("nr_writeback", ctypes.c_uint64),
        ("nr_evicted", ctypes.c_uint64),
        ("nr_recently_evicted", ctypes.c_uint64),
    ]


def _lib() -> ctypes.CDLL:
    """libc with argument types set once (64-bit offsets, pointer-sized results)."""
    global _libc
    if _libc is not None:
        return _libc
    with _libc_lock:
        if _libc is None:
            if not sys.platform.startswith("linux"):
                raise OSError(errno.ENOSYS, "page-cache control needs Linux")
            lib = ctypes.CDLL(None, use_errno=True)
            lib.readahead.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_size_t]
            lib.readahead.restype = ctypes.c_ssize_t
            lib.mmap.argtypes = [
                ctypes.c_void_p,
                ctypes.c_size_t,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int64,
            ]
            lib.mmap.restype = ctypes.c_void_p
            lib.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            lib.munmap.restype = ctypes.c_int
            lib.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
            lib.mincore.restype = ctypes.c_int
            lib.syscall.restype = ctypes.c_long
            _libc = lib
    return _libc


def _raise_errno(what: str) -> None:
    code = ctypes.get_errno()
    raise OSError(code, f"{what}: {os.strerror(code)}")


def readahead(fd: int, offset: int, count: int) -> None:
    """Queue a read of `count` bytes at `offset` into the page cache (returns without waiting)."""
    if _lib().readahead(fd, offset, count) < 0:
        _raise_errno("readahead")


SYNC_FILE_RANGE_WRITE = 2
"""sync_file_range(2) flag: start writing out the range's dirty pages, without waiting."""


_OFF64 = ctypes.c_int64
_WRITER_CALLS = {
    # glibc's fallocate takes a 32-bit off_t on 32-bit builds; its 64-bit twin is fallocate64
    "fallocate": (
        "fallocate" if ctypes.sizeof(ctypes.c_long) >= 8 else "fallocate64",
        [ctypes.c_int, ctypes.c_int, _OFF64, _OFF64],
    ),
    "sync_file_range": ("sync_file_range", [ctypes.c_int, _OFF64, _OFF64, ctypes.c_uint]),
}
"""The calls writers use: the libc symbol and its argument types (64-bit offsets)."""


@functools.cache
def _writer_call(name: str) -> Any:
    """libc's function for `name` with its types set; OSError (ENOSYS) where libc has none, so a
    missing one never breaks the page-cache calls above."""
    symbol, argtypes = _WRITER_CALLS[name]
    function = getattr(_lib(), symbol, None)
    if function is None:
        raise OSError(errno.ENOSYS, f"{symbol} is not available")
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


def fallocate(fd: int, offset: int, length: int) -> None:
    """Reserve the blocks of [offset, offset+length) (mode 0). Unlike `os.posix_fallocate`,
    never falls back to writing zeros: where the filesystem cannot, OSError (EOPNOTSUPP)."""
    if _writer_call("fallocate")(fd, 0, offset, length) != 0:
        _raise_errno("fallocate")


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing out the dirty pages of [offset, offset+length), without waiting."""
    if _writer_call("sync_file_range")(fd, offset, length, SYNC_FILE_RANGE_WRITE) != 0:
        _raise_errno("sync_file_range")


def mincore_vector(fd: int, size: int, offset: int = 0) -> bytes:
    """One byte per page of `size` bytes of `fd` from `offset` (page-aligned): 1 when cached
    and up to date.

    Maps that part of the file read-only and never touches the mapping: no page is faulted in.
    """
    if size <= 0:
        return b""
    lib = _lib()
    addr = lib.mmap(None, size, _PROT_READ, _MAP_SHARED, fd, offset)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        _raise_errno("mmap")
    try:
        pages = (size + PAGE_SIZE - 1) // PAGE_SIZE
        vec = ctypes.create_string_buffer(pages)
        if lib.mincore(addr, size, vec) != 0:
            _raise_errno("mincore")
        raw = vec.raw[:pages]
    finally:
        lib.munmap(addr, size)
    # Only bit 0 is defined; the others are reserved.
    return raw.translate(_BIT0)


_BIT0 = bytes(i & 1 for i in range(256))

_cachestat_works: bool | None = None


def cachestat_available() -> bool:
    """True when this kernel answers cachestat(2) (probed once, on /proc/self/exe)."""
    global _cachestat_works
    if _cachestat_works is None:
        if os.uname().machine not in _CACHESTAT_SYSCALL or not sys.platform.startswith("linux"):
            _cachestat_works = False
        else:
            try:
                fd = os.open("/proc/self/exe", os.O_RDONLY)
            except OSError:
                _cachestat_works = False
            else:
                try:
                    cachestat(fd, 0, PAGE_SIZE, probe=True)
                    _cachestat_works = True
                except OSError:
                    _cachestat_works = False
                finally:
                    os.close(fd)
    return _cachestat_works


def cachestat(fd: int, offset: int, length: int, *, probe: bool = False) -> int:
    """Pages of `fd` in [offset, offset+length) in the page cache (cachestat(2), Linux ≥ 6.5).

    Counts pages whose read is still in flight too; `length` 0 means to the end of the file.
    """
    if not probe and not cachestat_available():
        raise OSError(errno.ENOSYS, "cachestat is not available")
    rng = _CachestatRange(offset, length)
    stat = _Cachestat()
    number = _CACHESTAT_SYSCALL.get(os.uname().machine, -1)
    result = _lib().syscall(
        ctypes.c_long(number),
        ctypes.c_int(fd),
        ctypes.byref(rng),
        ctypes.byref(stat),
        ctypes.c_uint(0),
    )
    if result != 0:
        _raise_errno("cachestat")
    return int(stat.nr_cache)
