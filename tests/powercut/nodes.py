"""The inodes of the forgetful disk, each with a volatile side and the durable side it had at
its last sync."""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from typing import Any

ROOT_INO = 1
UTIME_NOW = (1 << 30) - 1  # libfuse hands these over as the nanoseconds of a zero second
UTIME_OMIT = (1 << 30) - 2
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
FALLOC_FL_KEEP_SIZE = 1
BLOCK = 4096
CAPACITY_BLOCKS = 1 << 28  # 1 TiB, so that no test meets a full disk
MAX_INODES = 1 << 24


def error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def unsaved(data: bytes | bytearray, durable: bytes) -> int:
    """How many bytes of `data` or `durable` lie past their common prefix."""
    if data.startswith(durable):  # appends: the usual case, and the cheap one
        return len(data) - len(durable)
    low, high = 0, min(len(data), len(durable))
    view = memoryview(durable)
    while low < high:  # the longest common prefix, found by halving
        middle = (low + high + 1) // 2
        if data.startswith(view[:middle]):
            low = middle
        else:
            high = middle - 1
    return max(len(data), len(durable)) - low


class Node:
    """An inode; its metadata is volatile too, and saved along with its contents."""

    def __init__(self, ino: int, mode: int) -> None:
        now = time.time_ns()
        self.ino = ino
        self.mode = mode
        self.uid, self.gid = os.getuid(), os.getgid()
        self.atime = self.mtime = self.ctime = now
        self.nlink = 1
        self.durable_meta = self.meta()

    def meta(self) -> tuple[int, int, int, int, int, int]:
        return (self.mode, self.uid, self.gid, self.atime, self.mtime, self.ctime)

    def forget(self) -> None:
        """Go back to the state of the last sync."""
        self.mode, self.uid, self.gid, self.atime, self.mtime, self.ctime = self.durable_meta

    def touch(self) -> None:
        self.mtime = self.ctime = time.time_ns()

    def size(self) -> int:
        return 0

    def attrs(self) -> dict[str, Any]:
        size = self.size()
        return {
            "st_ino": self.ino,
            "st_mode": self.mode,
            "st_nlink": self.nlink,
            "st_uid": self.uid,
            "st_gid": self.gid,
            "st_size": size,
            "st_blocks": (size + 511) // 512,
            "st_blksize": BLOCK,
            "st_atime": self.atime,
            "st_mtime": self.mtime,
            "st_ctime": self.ctime,
        }


class File(Node):
    def __init__(self, ino: int, mode: int) -> None:
        super().__init__(ino, stat.S_IFREG | (mode & 0o7777))
        self.data = bytearray()
        self.durable = b""

    def size(self) -> int:
        return len(self.data)

    def forget(self) -> None:
        super().forget()
        self.data = bytearray(self.durable)

    def resize(self, length: int) -> None:
        if length < len(self.data):
            del self.data[length:]
        else:
            self.data.extend(bytes(length - len(self.data)))
        self.touch()


class Dir(Node):
    def __init__(self, ino: int, mode: int) -> None:
        super().__init__(ino, stat.S_IFDIR | (mode & 0o7777))
        self.entries: dict[str, Node] = {}
        self.durable_entries: dict[str, Node] = {}

    def forget(self) -> None:
        super().forget()
        self.entries = dict(self.durable_entries)

    def unsaved_entries(self) -> int:
        names = self.entries.keys() | self.durable_entries.keys()
        return sum(self.entries.get(n) is not self.durable_entries.get(n) for n in names)


class Symlink(Node):
    def __init__(self, ino: int, target: str) -> None:
        super().__init__(ino, stat.S_IFLNK | 0o777)
        self.target = target

    def size(self) -> int:
        return len(os.fsencode(self.target))


@dataclass(slots=True)
class Handle:
    node: Node
    append: bool


def walk(root: Dir) -> dict[int, Node]:
    """Every inode reachable from `root` through the volatile entries, by inode number."""
    seen: dict[int, Node] = {root.ino: root}
    dirs = [root]
    for directory in dirs:
        for child in directory.entries.values():
            if child.ino not in seen:
                seen[child.ino] = child
                if isinstance(child, Dir):
                    dirs.append(child)
    return seen
