"""The power-cut disk forgets what a power cut forgets, through real system calls.

Each durability test checks what a cut takes as well as what it keeps, so a disk that kept
everything (or a kernel that served its cache) would fail it.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import subprocess
import sys

import pytest

from tests.powercut.disk import PowerCutDisk
from tests.powercut.support import names, sync_dir, write


def test_an_fsynced_file_whose_directory_was_not_synced_is_gone(
    power_cut_disk: PowerCutDisk,
) -> None:
    root = power_cut_disk.mountpoint
    write(root / "orphan", b"synced bytes", sync=True)
    assert (root / "orphan").read_bytes() == b"synced bytes"

    lost = power_cut_disk.cut()

    assert not (root / "orphan").exists()
    assert names(root) == []
    assert lost["dropped_files"] == 1
    assert lost["dropped_bytes"] == len(b"synced bytes")


def test_with_its_directory_synced_a_file_keeps_exactly_its_fsynced_bytes(
    power_cut_disk: PowerCutDisk,
) -> None:
    root = power_cut_disk.mountpoint
    fd = os.open(root / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, b"first;")
    os.fsync(fd)
    os.write(fd, b"second;")
    os.close(fd)
    sync_dir(root)
    assert (root / "log").read_bytes() == b"first;second;"

    lost = power_cut_disk.cut()

    assert (root / "log").read_bytes() == b"first;"
    assert lost["dropped_bytes"] == len(b"second;")


def test_a_durable_name_without_synced_data_has_its_old_bytes_or_none(
    power_cut_disk: PowerCutDisk,
) -> None:
    root = power_cut_disk.mountpoint
    write(root / "old", b"version 1", sync=True)
    write(root / "new", b"never synced", sync=False)
    sync_dir(root)
    write(root / "old", b"version 2, longer", sync=False)

    power_cut_disk.cut()

    assert names(root) == ["new", "old"]
    assert (root / "new").read_bytes() == b""
    assert (root / "old").read_bytes() == b"version 1"


def test_a_subdirectory_keeps_only_what_its_own_sync_and_its_parents_made_durable(
    power_cut_disk: PowerCutDisk,
) -> None:
    root = power_cut_disk.mountpoint
    (root / "named").mkdir()
    write(root / "named" / "file", b"synced", sync=True)
    sync_dir(root)  # "named" is now durable in the root, its own entries are not
    (root / "unnamed").mkdir()
    (root / "unnamed" / "deeper").mkdir()
    write(root / "unnamed" / "file", b"synced", sync=True)
    sync_dir(root / "unnamed")  # its entries are durable, its name in the root is not

    power_cut_disk.cut()

    assert names(root) == ["named"]
    assert names(root / "named") == []


@pytest.mark.parametrize("dir_synced", [True, False], ids=["dir-synced", "dir-not-synced"])
def test_a_rename_over_a_target_is_durable_only_with_its_directory_synced(
    power_cut_disk: PowerCutDisk, dir_synced: bool
) -> None:
    root = power_cut_disk.mountpoint
    write(root / "state", b"old state", sync=True)
    sync_dir(root)
    write(root / "state.tmp", b"new state", sync=True)
    os.replace(root / "state.tmp", root / "state")
    if dir_synced:
        sync_dir(root)

    power_cut_disk.cut()

    assert names(root) == ["state"]
    assert (root / "state").read_bytes() == (b"new state" if dir_synced else b"old state")


def test_an_unlink_not_made_durable_comes_back(power_cut_disk: PowerCutDisk) -> None:
    root = power_cut_disk.mountpoint
    write(root / "file", b"still here", sync=True)
    (root / "empty").mkdir()
    sync_dir(root)
    (root / "file").unlink()
    (root / "empty").rmdir()
    assert names(root) == []

    power_cut_disk.cut()

    assert names(root) == ["empty", "file"]
    assert (root / "file").read_bytes() == b"still here"
    (root / "file").unlink()
    sync_dir(root)

    power_cut_disk.cut()

    assert names(root) == ["empty"]


def test_syncfs_saves_nothing(power_cut_disk: PowerCutDisk) -> None:
    root = power_cut_disk.mountpoint
    write(root / "named", b"data only syncfs saw", sync=False)
    sync_dir(root)
    write(root / "unnamed", b"data only syncfs saw", sync=False)
    before = power_cut_disk.stats()
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(root / "named", os.O_RDONLY)
    try:
        assert libc.syncfs(fd) == 0, os.strerror(ctypes.get_errno())
    finally:
        os.close(fd)
    after = power_cut_disk.stats()
    for count in ("fsyncs", "fdatasyncs", "fsyncdirs"):
        assert after[count] == before[count], count  # FUSE never passed it on

    power_cut_disk.cut()

    assert names(root) == ["named"]
    assert (root / "named").read_bytes() == b""


def test_fdatasync_counts_as_fsync(power_cut_disk: PowerCutDisk) -> None:
    root = power_cut_disk.mountpoint
    fd = os.open(root / "data", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, b"kept")
    os.fdatasync(fd)
    os.write(fd, b"+lost")
    os.close(fd)
    sync_dir(root)
    assert power_cut_disk.stats()["fdatasyncs"] == 1

    power_cut_disk.cut()

    assert (root / "data").read_bytes() == b"kept"


def test_the_kernel_shows_the_state_after_a_cut_at_once(power_cut_disk: PowerCutDisk) -> None:
    root = power_cut_disk.mountpoint
    write(root / "shrinks", b"x" * 10, sync=True)
    write(root / "vanishes", b"y" * 10, sync=True)
    sync_dir(root)
    (root / "vanishes").rename(root / "renamed")
    fd = os.open(root / "shrinks", os.O_RDWR | os.O_APPEND)
    os.write(fd, b"z" * 90)
    # What is read or stat'ed now is what a cache would hold on to; the stats come last, as
    # closing a file can make the kernel drop the attributes it holds.
    assert (root / "shrinks").read_bytes() == b"x" * 10 + b"z" * 90
    assert (root / "renamed").read_bytes() == b"y" * 10
    assert not (root / "vanishes").exists()
    assert os.fstat(fd).st_size == 100
    assert os.stat(root / "shrinks").st_size == 100
    assert os.stat(root / "renamed").st_size == 10

    power_cut_disk.cut()

    # The kernel does not hand fstat the handle, so it shows the file now under that name.
    assert os.fstat(fd).st_size == 10
    assert os.stat(root / "shrinks").st_size == 10
    assert (root / "shrinks").read_bytes() == b"x" * 10
    assert not (root / "renamed").exists()
    assert (root / "vanishes").read_bytes() == b"y" * 10
    assert names(root) == ["shrinks", "vanishes"]
    for stale in (lambda: os.pread(fd, 10, 0), lambda: os.write(fd, b"!"), lambda: os.fsync(fd)):
        with pytest.raises(OSError, match="Input/output error") as caught:
            stale()
        assert caught.value.errno == errno.EIO
    os.close(fd)


def test_flock_works_between_two_processes(power_cut_disk: PowerCutDisk) -> None:
    lock = power_cut_disk.mountpoint / "lock"
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n"
        "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError:\n"
        "    print('held')\n"
        "else:\n"
        "    print('taken')\n"
    )

    def other_process() -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe, str(lock)], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert other_process() == "held"
        fcntl.flock(fd, fcntl.LOCK_UN)
        assert other_process() == "taken"
    finally:
        os.close(fd)
