"""Filesystem type from mount-table text: longest prefix, escaped names, network types."""

from __future__ import annotations

from pathlib import Path

from weightlib.fs import get_fs_type, is_network_fs

MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
server:/export /mnt/models nfs4 rw,vers=4.2 0 0
mds@tcp:/lustre /mnt/models/lustre lustre rw 0 0
sshfs#u@h: /mnt/my\\040models fuse.sshfs rw 0 0
tmpfs /mnt/models/lustre/cache tmpfs rw 0 0
"""


def test_longest_mount_prefix_wins() -> None:
    assert get_fs_type("/mnt/models/llama", MOUNTS) == "nfs4"
    assert get_fs_type("/mnt/models/lustre/x/y.safetensors", MOUNTS) == "lustre"
    assert get_fs_type("/mnt/models/lustre/cache/blob", MOUNTS) == "tmpfs"
    assert get_fs_type("/mnt/models-other/file", MOUNTS) == "ext4"  # not a path prefix
    assert get_fs_type("/mnt/models", MOUNTS) == "nfs4"


def test_escaped_mount_points() -> None:
    assert get_fs_type("/mnt/my models/w.bin", MOUNTS) == "fuse.sshfs"


def test_symlinks_are_resolved(tmp_path: Path) -> None:
    target = tmp_path / "real"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    table = f"/dev/vda / ext4 rw 0 0\nsrv:/x {target} nfs rw 0 0\n"
    assert get_fs_type(link / "file", table) == "nfs"


def test_network_types() -> None:
    for fstype in (
        "nfs",
        "nfs4",
        "lustre",
        "ceph",
        "fuse.ceph",
        "virtiofs",
        "gpfs",
        "9p",
        "fuse.sshfs",
    ):
        assert is_network_fs(fstype), fstype
    for local in ("ext4", "xfs", "tmpfs", "overlay", None, ""):
        assert not is_network_fs(local), local


def test_reads_the_real_mount_table() -> None:
    assert get_fs_type("/") is not None
