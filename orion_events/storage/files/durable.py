"""Making bytes and names durable: the one seam through which everything that writes syncs.

A power cut keeps a file's bytes only once the file was fsync'd or fdatasync'd, and a name that
was created, renamed or removed only once its directory was fsync'd. `syncfs(2)` is no
substitute: file systems that do not implement it (FUSE, many network mounts) make nothing
durable on it and still return 0. So every writer here (the log's commits, recovery at start-up,
snapshots, backup, restore, purge, migrate) makes its changes through a `PosixIO`, whose few
system calls a test can watch or fail, and each operation below is durable when it returns.

Order matters where a crash can fall between two steps: a file's bytes are synced before the
name that makes them reachable, so no name ever survives a power cut without its first bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from orion_events.domain.errors import SyncModeRefused

_COPY_CHUNK = 1 << 20


@functools.cache
def _libc_function(name: str) -> Callable[..., int] | None:
    """A C library function, None where the platform lacks it; the library is loaded at first
    use, not on import."""
    function: Callable[..., int] | None = getattr(ctypes.CDLL(None, use_errno=True), name, None)
    return function


class PosixIO:
    """The system calls that make data durable; tests swap in one that counts or fails them."""

    # -- the primitives ------------------------------------------------------------------------

    def open(self, path: Path, flags: int) -> int:
        """Open a log for appending (EMFILE, ENOSPC and EACCES come from here)."""
        return os.open(path, flags, 0o644)

    def write(self, fd: int, data: bytes | bytearray) -> None:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def fdatasync(self, fd: int) -> None:
        """The file's bytes and what reading them back needs (its size), not its times."""
        os.fdatasync(fd)

    def fsync_dir(self, directory: Path) -> None:
        """The names in `directory`: those created, renamed into or removed from it."""
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def syncfs(self, fd: int) -> None:
        """Flush the whole file system holding `fd` (Linux); elsewhere, raise.

        Only for the opt-in sync mode on a file system known to implement it (see syncmode).
        """
        libc_syncfs = _libc_function("syncfs")
        if libc_syncfs is None:
            raise OSError(errno.ENOSYS, "syncfs is not available")
        if libc_syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))

    # -- durable operations built on them -----------------------------------------------------

    def make_dirs(self, directory: Path) -> None:
        """Create `directory` and any missing parent, each one's name synced into its parent.

        The parent of `directory` is synced even when it existed already: an earlier process
        may have made it and died before its name was durable.
        """
        missing = []
        at = directory
        while not at.exists():
            missing.append(at)
            at = at.parent
        for new in reversed(missing):
            # Made meanwhile by another process: sync it all the same.
            with contextlib.suppress(FileExistsError):
                new.mkdir()
            self.fsync_dir(new.parent)
        if not missing:
            self.fsync_dir(directory.parent)

    def write_file(
        self, path: Path, chunks: Iterable[bytes | bytearray], *, sync_name: bool = True
    ) -> int:
        """Write a new file (never one that exists) and sync it; the bytes written.

        With `sync_name=False` the caller syncs the directory once after many files.
        """
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        size = 0
        try:
            for chunk in chunks:
                self.write(fd, chunk)
                size += len(chunk)
            self.fdatasync(fd)
        finally:
            os.close(fd)
        if sync_name:
            self.fsync_dir(path.parent)
        return size

    def replace_file(self, path: Path, chunks: Iterable[bytes | bytearray]) -> None:
        """Replace `path` atomically: a crash leaves the old file or the new one, never half."""
        temporary = path.with_name(f"{path.name}.tmp")
        temporary.unlink(missing_ok=True)
        self.write_file(temporary, chunks, sync_name=False)
        os.replace(temporary, path)
        self.fsync_dir(path.parent)

    def copy_file(self, source: Path, target: Path, *, sync_name: bool = True) -> int:
        """Copy `source` into a new file `target` and sync it; the bytes copied."""
        with open(source, "rb") as f:
            return self.write_file(
                target, iter(lambda: f.read(_COPY_CHUNK), b""), sync_name=sync_name
            )

    def append_file(self, path: Path, data: bytes) -> None:
        """Append to an existing file and sync it."""
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            self.write(fd, data)
            self.fdatasync(fd)
        finally:
            os.close(fd)

    def truncate_file(self, path: Path, length: int) -> None:
        """Cut `path` to `length` bytes and sync the cut."""
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, length)
            self.fdatasync(fd)
        finally:
            os.close(fd)

    def rename(self, source: Path, target: Path) -> None:
        """Move `source` to `target` (replacing it), the names synced in both directories."""
        os.replace(source, target)
        self.fsync_dir(target.parent)
        if source.parent != target.parent:
            self.fsync_dir(source.parent)

    def remove_files(self, paths: Iterable[Path]) -> None:
        """Remove files, then sync each directory they were in, once."""
        directories: dict[Path, None] = {}
        for path in paths:
            path.unlink()
            directories[path.parent] = None
        for directory in directories:
            self.fsync_dir(directory)


DEFAULT_IO = PosixIO()

# statfs(2) f_type of the file systems whose syncfs(2) flushes every file (Linux magic numbers).
SYNCFS_FILE_SYSTEMS = {0xEF53: "ext4", 0x58465342: "xfs", 0x9123683E: "btrfs"}


def file_system_type(path: Path) -> int:
    """statfs(2)'s f_type for `path` (Linux): the first field of struct statfs, a long."""
    libc_statfs = _libc_function("statfs")
    buffer = ctypes.create_string_buffer(256)  # larger than struct statfs on every ABI
    if libc_statfs is None or libc_statfs(os.fsencode(path), buffer) != 0:
        code = ctypes.get_errno() if libc_statfs is not None else errno.ENOSYS
        raise OSError(code, os.strerror(code), str(path))
    return ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF


def require_syncfs(path: Path) -> None:
    """Refuse the opt-in syncfs mode on a file system where syncfs may make nothing durable."""
    kind = file_system_type(path)
    if kind not in SYNCFS_FILE_SYSTEMS:
        names = ", ".join(sorted(SYNCFS_FILE_SYSTEMS.values()))
        raise SyncModeRefused(
            f"--sync syncfs is only safe on {names}; {path} is on a file system of type "
            f"{kind:#x}, where syncfs may make nothing durable. Use the default (fdatasync)."
        )
