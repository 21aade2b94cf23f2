"""The forgetful disk's model: what reads see (volatile) over what a power cut keeps (durable).

A file's bytes become durable on fsync, a directory's entries on fsyncdir of that directory
alone. `ForgetfulFS.cut` throws away everything else. Errors are plain OSErrors, which mfusepy
turns into the errno the kernel answers with.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections import Counter
from typing import Any

from mfusepy import Operations, fuse_get_context  # type: ignore[import-untyped]

from tests.powercut.nodes import (
    BLOCK,
    CAPACITY_BLOCKS,
    FALLOC_FL_KEEP_SIZE,
    MAX_INODES,
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    ROOT_INO,
    UTIME_NOW,
    UTIME_OMIT,
    Dir,
    File,
    Handle,
    Node,
    Symlink,
    error,
    unsaved,
    walk,
)


class ForgetfulFS(Operations):  # type: ignore[misc]
    """The mfusepy operations over the model; hold `mutex` around any call."""

    use_ns = True  # times as integer nanoseconds; mfusepy warns about float seconds

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.root = Dir(ROOT_INO, 0o755)
        self.inos = ROOT_INO
        # None marks a handle opened before a cut: everything through it fails with EIO.
        self.handles: dict[int, Handle | None] = {}
        self.fhs = 0
        self.counts: Counter[str] = Counter()

    # Looking things up.

    def _lookup(self, path: str) -> Node:
        node: Node = self.root
        for name in path.split("/"):
            if not name:
                continue
            if not isinstance(node, Dir):
                raise error(errno.ENOTDIR)
            try:
                node = node.entries[name]
            except KeyError:
                raise error(errno.ENOENT) from None
        return node

    def _parent(self, path: str) -> tuple[Dir, str]:
        head, _, name = path.rstrip("/").rpartition("/")
        parent = self._lookup(head)
        if not isinstance(parent, Dir):
            raise error(errno.ENOTDIR)
        return parent, name

    def _handle(self, fh: int) -> Handle:
        handle = self.handles.get(fh)
        if handle is None:
            raise error(errno.EIO)
        return handle

    def _node(self, path: str | None, fh: int | None) -> Node:
        if fh is not None:
            return self._handle(fh).node
        if path is None:
            raise error(errno.EIO)
        return self._lookup(path)

    def _file(self, fh: int) -> File:
        node = self._handle(fh).node
        if not isinstance(node, File):
            raise error(errno.EISDIR)
        return node

    def _new_ino(self) -> int:
        self.inos += 1
        return self.inos

    def _new_handle(self, node: Node, flags: int = 0) -> int:
        self.fhs += 1
        self.handles[self.fhs] = Handle(node, bool(flags & os.O_APPEND))
        return self.fhs

    def _add(self, path: str, make: type[Node], *args: Any) -> Node:
        parent, name = self._parent(path)
        if name in parent.entries:
            raise error(errno.EEXIST)
        node = make(self._new_ino(), *args)
        node.uid, node.gid, _ = fuse_get_context()  # the caller's, as on a real disk
        node.durable_meta = node.meta()
        parent.entries[name] = node
        parent.touch()
        return node

    # Reading.

    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, Any]:
        node = self._node(path, fh)
        attrs = node.attrs()
        if isinstance(node, Dir):
            attrs["st_nlink"] = 2 + sum(isinstance(c, Dir) for c in node.entries.values())
        return attrs

    def readlink(self, path: str) -> str:
        node = self._lookup(path)
        if not isinstance(node, Symlink):
            raise error(errno.EINVAL)
        return node.target

    def opendir(self, path: str) -> int:
        node = self._lookup(path)
        if not isinstance(node, Dir):
            raise error(errno.ENOTDIR)
        return self._new_handle(node)

    def readdir(self, path: str | None, fh: int) -> list[tuple[str, dict[str, int], int]]:
        node = self._handle(fh).node
        assert isinstance(node, Dir)
        listing = [(".", {"st_mode": node.mode, "st_ino": node.ino}, 0), ("..", {}, 0)]
        listing += [(n, {"st_mode": c.mode, "st_ino": c.ino}, 0) for n, c in node.entries.items()]
        return listing

    def releasedir(self, path: str | None, fh: int) -> int:
        self.handles.pop(fh, None)
        return 0

    def open(self, path: str, flags: int) -> int:
        node = self._lookup(path)
        if isinstance(node, Dir):
            raise error(errno.EISDIR)
        if flags & os.O_TRUNC and flags & os.O_ACCMODE != os.O_RDONLY and isinstance(node, File):
            node.resize(0)
        return self._new_handle(node, flags)

    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        return bytes(self._file(fh).data[offset : offset + size])

    def release(self, path: str | None, fh: int) -> int:
        self.handles.pop(fh, None)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        nodes = walk(self.root).values()
        free = CAPACITY_BLOCKS - sum(n.size() // BLOCK + 1 for n in nodes)
        files = MAX_INODES - len(nodes)
        return {
            "f_bsize": BLOCK,
            "f_frsize": BLOCK,
            "f_blocks": CAPACITY_BLOCKS,
            "f_bfree": free,
            "f_bavail": free,
            "f_files": MAX_INODES,
            "f_ffree": files,
            "f_favail": files,
            "f_namemax": 255,
        }

    # Changing contents: only the volatile side.

    def create(self, path: str, mode: int, flags: int) -> int:
        parent, name = self._parent(path)
        if name not in parent.entries:
            self._add(path, File, mode)
        elif flags & os.O_EXCL:
            raise error(errno.EEXIST)
        return self.open(path, flags)

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        handle = self._handle(fh)
        node = handle.node
        if not isinstance(node, File):
            raise error(errno.EISDIR)
        buf = node.data
        if handle.append:  # the end the daemon knows, not the size the kernel last saw
            offset = len(buf)
        elif offset > len(buf):
            buf.extend(bytes(offset - len(buf)))
        buf[offset : offset + len(data)] = data
        node.touch()
        return len(data)

    def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
        node = self._node(path, fh)
        if not isinstance(node, File):
            raise error(errno.EISDIR)
        node.resize(length)
        return 0

    def fallocate(self, path: str | None, mode: int, offset: int, size: int, fh: int) -> int:
        node = self._file(fh)
        if mode & ~FALLOC_FL_KEEP_SIZE:
            raise error(errno.EOPNOTSUPP)  # glibc's posix_fallocate then writes zeros itself
        if not mode & FALLOC_FL_KEEP_SIZE and offset + size > len(node.data):
            node.resize(offset + size)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        node = self._lookup(path)
        node.mode = stat.S_IFMT(node.mode) | (mode & 0o7777)
        node.ctime = time.time_ns()
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        node = self._lookup(path)
        node.uid = node.uid if uid == -1 else uid
        node.gid = node.gid if gid == -1 else gid
        node.ctime = time.time_ns()
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        node = self._lookup(path)
        now = time.time_ns()
        atime, mtime = times or (UTIME_NOW, UTIME_NOW)
        if atime != UTIME_OMIT:
            node.atime = now if atime == UTIME_NOW else atime
        if mtime != UTIME_OMIT:
            node.mtime = now if mtime == UTIME_NOW else mtime
        node.ctime = now
        return 0

    # Changing names: only the volatile entries.

    def mkdir(self, path: str, mode: int) -> int:
        self._add(path, Dir, mode)
        return 0

    def symlink(self, path: str, target: str) -> int:
        self._add(path, Symlink, target)
        return 0

    def link(self, path: str, existing: str) -> int:
        node = self._lookup(existing)
        if isinstance(node, Dir):
            raise error(errno.EPERM)
        parent, name = self._parent(path)
        if name in parent.entries:
            raise error(errno.EEXIST)
        parent.entries[name] = node
        node.nlink += 1
        parent.touch()
        node.ctime = parent.ctime
        return 0

    def unlink(self, path: str) -> int:
        parent, name = self._parent(path)
        node = parent.entries.get(name)
        if node is None:
            raise error(errno.ENOENT)
        if isinstance(node, Dir):
            raise error(errno.EISDIR)
        del parent.entries[name]
        node.nlink -= 1
        parent.touch()
        node.ctime = parent.ctime
        return 0

    def rmdir(self, path: str) -> int:
        parent, name = self._parent(path)
        node = parent.entries.get(name)
        if node is None:
            raise error(errno.EBUSY if not name else errno.ENOENT)
        if not isinstance(node, Dir):
            raise error(errno.ENOTDIR)
        if node.entries:
            raise error(errno.ENOTEMPTY)
        del parent.entries[name]
        parent.touch()
        return 0

    def rename(self, old: str, new: str, flags: int = 0) -> int:
        source, old_name = self._parent(old)
        node = source.entries.get(old_name)
        if node is None:
            raise error(errno.ENOENT)
        target, new_name = self._parent(new)
        replaced = target.entries.get(new_name)
        if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) or flags == 3:
            raise error(errno.EINVAL)
        if isinstance(node, Dir) and (new.rstrip("/") + "/").startswith(old.rstrip("/") + "/"):
            raise error(errno.EINVAL)  # a directory into itself
        if flags & RENAME_EXCHANGE:
            if replaced is None:
                raise error(errno.ENOENT)
            source.entries[old_name], target.entries[new_name] = replaced, node
        elif replaced is not None and flags & RENAME_NOREPLACE:
            raise error(errno.EEXIST)
        elif replaced is not node:  # renaming one hard link onto another does nothing
            if isinstance(replaced, Dir):
                if not isinstance(node, Dir):
                    raise error(errno.EISDIR)
                if replaced.entries:
                    raise error(errno.ENOTEMPTY)
            elif replaced is not None:
                if isinstance(node, Dir):
                    raise error(errno.ENOTDIR)
                replaced.nlink -= 1
            del source.entries[old_name]
            target.entries[new_name] = node
        source.touch()
        target.touch()
        node.ctime = target.ctime
        return 0

    # Syncing: the only way anything becomes durable.

    def fsync(self, path: str | None, datasync: int, fh: int) -> int:
        node = self._file(fh)
        node.durable = bytes(node.data)
        node.durable_meta = node.meta()
        self.counts["fdatasyncs" if datasync else "fsyncs"] += 1
        return 0

    def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
        node = self._handle(fh).node
        assert isinstance(node, Dir)
        node.durable_entries = dict(node.entries)
        node.durable_meta = node.meta()
        self.counts["fsyncdirs"] += 1
        return 0

    # The power cut, and what the control channel reports.

    def cut(self) -> dict[str, int]:
        """Forget all that was not synced; handles opened before now fail from here on."""
        before = walk(self.root)
        unsaved_entries = sum(n.unsaved_entries() for n in before.values() if isinstance(n, Dir))
        # A file that goes loses all its bytes; one that stays, those past its last fsync.
        losses = {
            ino: (len(n.data), unsaved(n.data, n.durable))
            for ino, n in before.items()
            if isinstance(n, File)
        }
        self.root.forget()
        kept: dict[int, Node] = {ROOT_INO: self.root}
        links: Counter[int] = Counter()
        dirs = [self.root]
        for directory in dirs:
            for name, child in list(directory.entries.items()):
                if isinstance(child, Dir) and child.ino in kept:
                    # Syncing both ends of a directory's move can leave it in two parents (or in
                    # a loop), which no kernel accepts: it keeps the first parent reached.
                    del directory.entries[name], directory.durable_entries[name]
                    continue
                links[child.ino] += 1
                if child.ino not in kept:
                    kept[child.ino] = child
                    child.forget()
                    if isinstance(child, Dir):
                        dirs.append(child)
        for node in kept.values():
            node.nlink = links[node.ino] or 1
        dropped = {ino for ino in losses if ino not in kept}
        self.handles = dict.fromkeys(self.handles)
        self.counts["cuts"] += 1
        return {
            "ok": True,
            "dropped_bytes": sum(
                size if ino in dropped else tail for ino, (size, tail) in losses.items()
            ),
            "dropped_entries": unsaved_entries,
            "dropped_files": len(dropped),
            "files": sum(isinstance(n, File) for n in kept.values()),
            "dirs": sum(isinstance(n, Dir) for n in kept.values()),
        }

    def stats(self) -> dict[str, int]:
        nodes = walk(self.root).values()
        files = [n for n in nodes if isinstance(n, File)]
        return {
            "files": len(files),
            "dirs": sum(isinstance(n, Dir) for n in nodes),
            "bytes": sum(len(n.data) for n in files),
            "unsynced_bytes": sum(unsaved(n.data, n.durable) for n in files),
            "unsynced_entries": sum(n.unsaved_entries() for n in nodes if isinstance(n, Dir)),
            "open_handles": sum(h is not None for h in self.handles.values()),
            **{k: self.counts[k] for k in ("fsyncs", "fdatasyncs", "fsyncdirs", "cuts")},
        }
