"""The power-cut disk behaves as a real file system for what a normal Python program does."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.powercut.disk import PowerCutDisk, fuse_missing, is_mounted
from tests.powercut.support import names, sync_dir, write


def test_open_flags_and_positional_io(power_cut_disk: PowerCutDisk) -> None:
    path = power_cut_disk.mountpoint / "log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.write(fd, b"one;")
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, b"two;")  # O_APPEND writes at the end wherever the offset is
    os.close(fd)
    assert path.read_bytes() == b"one;two;"
    with pytest.raises(FileExistsError):
        os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    fd = os.open(path, os.O_RDWR)
    assert os.pread(fd, 3, 4) == b"two"
    os.pwrite(fd, b"!", 10)
    os.close(fd)
    assert path.read_bytes() == b"one;two;\0\0!"
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    assert path.stat().st_size == 0


def test_replace_and_the_copies_of_shutil_and_os(power_cut_disk: PowerCutDisk) -> None:
    root = power_cut_disk.mountpoint
    payload = os.urandom(300_000)  # more than one FUSE request's worth
    (root / "src").write_bytes(payload)
    os.chmod(root / "src", 0o640)
    os.utime(root / "src", ns=(1_600_000_000_123_456_789, 1_600_000_000_987_654_321))
    (root / "target").write_bytes(b"to be replaced")
    (root / "other").write_bytes(b"replacement")
    os.replace(root / "other", root / "target")
    shutil.copyfile(root / "src", root / "copyfile")
    shutil.copy2(root / "src", root / "copy2")
    with open(root / "src", "rb") as source, open(root / "sendfile", "wb") as target:
        copied = 0
        while copied < len(payload):
            copied += os.sendfile(target.fileno(), source.fileno(), copied, len(payload))
    with open(root / "src", "rb") as source, open(root / "copy_file_range", "wb") as target:
        copied = 0
        while copied < len(payload):
            copied += os.copy_file_range(source.fileno(), target.fileno(), len(payload))
    for name in ("copyfile", "copy2", "sendfile", "copy_file_range"):
        assert (root / name).read_bytes() == payload, name
    assert (root / "target").read_bytes() == b"replacement"
    assert not (root / "other").exists()
    copied_stat = (root / "copy2").stat()
    assert copied_stat.st_mode & 0o777 == 0o640
    assert copied_stat.st_mtime_ns == 1_600_000_000_987_654_321


def test_listing_stat_statvfs_chmod_utime(power_cut_disk: PowerCutDisk) -> None:
    root = power_cut_disk.mountpoint
    (root / "dir").mkdir(mode=0o750)
    (root / "file").write_bytes(b"12345")
    before = time.time_ns()
    os.utime(root / "dir")
    assert sorted(p.name for p in root.iterdir()) == ["dir", "file"]
    with os.scandir(root) as entries:
        kinds = {e.name: (e.is_dir(), e.is_file()) for e in entries}
    assert kinds == {"dir": (True, False), "file": (False, True)}
    info = (root / "file").stat()
    assert (info.st_size, info.st_mode & 0o777, info.st_nlink) == (5, 0o644, 1)
    assert (root / "dir").stat().st_mode & 0o777 == 0o750
    assert (root / "dir").stat().st_mtime_ns >= before
    os.chmod(root / "file", 0o600)
    os.utime(root / "file", ns=(1_000_000_000, 2_000_000_000))
    info = (root / "file").stat()
    assert (info.st_mode & 0o777, info.st_atime_ns, info.st_mtime_ns) == (0o600, 10**9, 2 * 10**9)
    space = os.statvfs(root)
    assert space.f_bavail * space.f_frsize > 100 * 2**30
    assert space.f_favail > 1_000_000


def test_errors_are_those_of_a_real_file_system(power_cut_disk: PowerCutDisk) -> None:
    root = power_cut_disk.mountpoint
    (root / "dir").mkdir()
    (root / "dir" / "inside").write_bytes(b"")
    (root / "empty").mkdir()
    (root / "file").write_bytes(b"")
    cases: list[tuple[int, Callable[[], object]]] = [
        (errno.EEXIST, lambda: (root / "dir").mkdir()),
        (errno.ENOENT, lambda: (root / "missing").read_bytes()),
        (errno.ENOENT, lambda: (root / "missing" / "deeper").mkdir()),
        (errno.ENOTDIR, lambda: (root / "file" / "x").stat()),
        (errno.EISDIR, lambda: os.open(root / "dir", os.O_WRONLY)),
        (errno.EISDIR, lambda: (root / "dir").unlink()),
        (errno.ENOTEMPTY, lambda: (root / "dir").rmdir()),
        (errno.ENOTDIR, lambda: (root / "file").rmdir()),
        (errno.ENOTDIR, lambda: os.rename(root / "empty", root / "file")),
        (errno.EISDIR, lambda: os.rename(root / "file", root / "empty")),
        (errno.ENOTEMPTY, lambda: os.rename(root / "empty", root / "dir")),
        (errno.EINVAL, lambda: os.rename(root / "dir", root / "dir" / "sub")),
    ]
    for code, call in cases:
        with pytest.raises(OSError, match=os.strerror(code)) as caught:
            call()
        assert caught.value.errno == code, (errno.errorcode[code], caught.value)
    os.rename(root / "dir", root / "empty")  # a directory onto an empty one
    assert names(root) == ["empty", "file"]
    assert names(root / "empty") == ["inside"]


def test_links_truncation_and_unlinked_open_files(power_cut_disk: PowerCutDisk) -> None:
    root = power_cut_disk.mountpoint
    (root / "file").write_bytes(b"0123456789")
    os.link(root / "file", root / "hard")
    (root / "soft").symlink_to("file")
    assert os.readlink(root / "soft") == "file"
    assert (root / "soft").read_bytes() == b"0123456789"
    assert (root / "hard").stat().st_ino == (root / "file").stat().st_ino
    assert (root / "file").stat().st_nlink == 2
    os.truncate(root / "hard", 4)
    assert (root / "file").read_bytes() == b"0123"
    fd = os.open(root / "file", os.O_RDWR)
    os.ftruncate(fd, 6)
    os.posix_fallocate(fd, 0, 8192)
    assert os.fstat(fd).st_size == 8192
    os.unlink(root / "file")
    os.unlink(root / "hard")
    os.pwrite(fd, b"still", 0)
    assert os.pread(fd, 7, 0) == b"still\0\0"
    os.ftruncate(fd, 2)
    assert os.pread(fd, 10, 0) == b"st"
    os.close(fd)
    assert names(root) == ["soft"]


def test_fsyncs_from_many_threads_at_once(power_cut_disk: PowerCutDisk) -> None:
    root = power_cut_disk.mountpoint
    record = b"x" * 60 + b"\n"

    def appender(number: int) -> None:
        fd = os.open(root / f"log-{number}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for _ in range(200):
                os.write(fd, record)
                os.fsync(fd)
        finally:
            os.close(fd)

    threads = [threading.Thread(target=appender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sync_dir(root)
    assert power_cut_disk.stats()["fsyncs"] == 8 * 200

    lost = power_cut_disk.cut()

    assert lost["dropped_bytes"] == 0
    for n in range(8):
        assert (root / f"log-{n}").read_bytes() == record * 200


def test_thousands_of_appends_keep_what_was_synced(power_cut_disk: PowerCutDisk) -> None:
    path = power_cut_disk.mountpoint / "events.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sync_dir(power_cut_disk.mountpoint)
    for n in range(5000):
        os.write(fd, b'{"n": %d}\n' % n)
        if n % 100 == 99:
            os.fdatasync(fd)
    os.close(fd)
    stats = power_cut_disk.stats()
    assert stats["unsynced_bytes"] == 0
    assert stats["fdatasyncs"] == 50

    power_cut_disk.cut()

    lines = path.read_bytes().splitlines()
    assert len(lines) == 5000
    assert lines[-1] == b'{"n": 4999}'


def test_a_move_across_directories_is_kept_in_each_directory_synced(
    power_cut_disk: PowerCutDisk,
) -> None:
    root = power_cut_disk.mountpoint
    for name in ("a", "b", "c"):
        (root / name).mkdir()
    write(root / "a" / "file", b"moved", sync=True)
    for name in ("", "a", "b", "c"):
        sync_dir(root / name)
    os.rename(root / "a" / "file", root / "b" / "file")
    sync_dir(root / "b")  # not a: the file is then in both after a cut, as each dir was synced
    os.rename(root / "c", root / "b" / "c")
    sync_dir(root / "b")  # not the root: c is in both, which no kernel accepts

    power_cut_disk.cut()

    assert (root / "a" / "file").read_bytes() == b"moved"
    assert (root / "b" / "file").read_bytes() == b"moved"
    assert (root / "a" / "file").stat().st_nlink == 2
    assert names(root) == ["a", "b", "c"]
    assert names(root / "b") == ["file"]  # a directory keeps the parent nearer the root


def test_posix_record_locks_work_between_two_processes(power_cut_disk: PowerCutDisk) -> None:
    lock = power_cut_disk.mountpoint / "lock"
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n"
        "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except OSError:\n"
        "    print('held')\n"
        "else:\n"
        "    print('taken')\n"
    )
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = subprocess.run(
            [sys.executable, "-c", probe, str(lock)], capture_output=True, text=True, timeout=30
        )
        assert done.stdout.strip() == "held", done.stderr
    finally:
        os.close(fd)


def test_the_daemon_unmounts_when_its_stdin_ends(tmp_path: Path) -> None:
    missing = fuse_missing()
    if missing:
        pytest.fail(missing, pytrace=False)
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    with subprocess.Popen(
        [sys.executable, "-m", "tests.powercut.forgetful", str(mountpoint)],
        cwd=Path(__file__).resolve().parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as daemon:
        assert daemon.stdin is not None
        assert daemon.stdout is not None
        try:
            assert '"ready": true' in daemon.stdout.readline()
            assert is_mounted(mountpoint)
            daemon.stdin.close()
            assert daemon.wait(timeout=20) == 0
            assert not is_mounted(mountpoint)
        finally:
            if daemon.poll() is None:
                daemon.kill()
            if is_mounted(mountpoint):
                subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], check=False)
