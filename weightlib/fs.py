"""Which filesystem a path lives on, read from the mount table, and whether it is a network one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Filesystem types whose reads cross a network (or a hypervisor boundary) and so benefit from
# prefetching into the local page cache before a server mmaps the weights.
NETWORK_FS_TYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "lustre",
        "ceph",
        "fuse.ceph",
        "fuse.ceph-fuse",
        "cephfs",
        "virtiofs",
        "wekafs",
        "gpfs",
        "beegfs",
        "9p",
        "glusterfs",
        "fuse.glusterfs",
        "fuse.sshfs",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.goofys",
        "fuse.mountpoint-s3",
        "fuse.juicefs",
        "fuse.rclone",
        "fuse.blobfuse",
        "fuse.blobfuse2",
        "fuse.alluxio-fuse",
        "fuse.weka",
        "orangefs",
        "pvfs2",
        "afs",
        "ocfs2",
        "gfs2",
        "dfs",
        "quobyte",
        "fuse.quobyte",
        "panfs",
    }
)


def _unescape_mount_field(field: str) -> str:
    """Undo the octal escapes /proc/mounts uses for space, tab, newline and backslash."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mounts(text: str) -> list[tuple[str, str]]:
    """(mount point, filesystem type) pairs from the text of /proc/mounts, in file order."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            mounts.append((_unescape_mount_field(fields[1]), fields[2]))
    return mounts


def get_fs_type(path: str | os.PathLike[str], mounts_text: str | None = None) -> str | None:
    """The type of the filesystem holding `path` (symlinks resolved), by longest mount-point prefix.

    `mounts_text` is the content of /proc/mounts; it is read from the system when omitted.
    Returns None when no mount matches (or the mount table cannot be read).
    """
    if mounts_text is None:
        try:
            mounts_text = Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    target = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for mount_point, fstype in parse_mounts(mounts_text):
        prefix = mount_point.rstrip("/") + "/"
        if (target == mount_point or (target + "/").startswith(prefix)) and (
            best is None or len(mount_point) >= best[0]
        ):
            best = (len(mount_point), fstype)
    return best[1] if best else None


def is_network_fs(fstype: str | None) -> bool:
    """True for filesystem types backed by a network or host share (NFS, Lustre, Ceph, FUSE …)."""
    if not fstype:
        return False
    return fstype.lower() in NETWORK_FS_TYPES


def has_size(path: Path, size: int) -> bool:
    """True when `path` is a regular file (links followed) of exactly `size` bytes."""
    try:
        info = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size == size
