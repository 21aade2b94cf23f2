"""The forgetful disk's daemon: `python -m tests.powercut.forgetful MOUNTPOINT`.

It mounts the model (tests/powercut/model.py) in the foreground and takes one command a line on
stdin, answering each with one line of JSON on stdout: `cut`, `stats`, `quit`. It prints
`{"ready": true, ...}` once the mount is live, and unmounts on `quit` or at the end of stdin, so
it never outlives the test that started it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from mfusepy import FUSE  # type: ignore[import-untyped]

from tests.powercut.model import ForgetfulFS

# The kernel must ask the daemon every time: a cached size, entry or page would show what a
# cut has thrown away. direct_io keeps file data out of the page cache (so there is no
# writeback either), the zero timeouts keep attributes and names from being remembered.
# auto_unmount has fusermount3 unmount should the daemon die without doing it itself.
# mfusepy puts direct_io, hard_remove and use_ino into libfuse 3's fuse_config at init; the
# rest, but for foreground and nothreads (-f, -s), go to libfuse as -o options.
MOUNT_OPTIONS: dict[str, Any] = {
    "foreground": True,
    "nothreads": True,
    "fsname": "forgetful",
    "subtype": "forgetful",
    "direct_io": True,
    "attr_timeout": 0,
    "entry_timeout": 0,
    "negative_timeout": 0,
    "hard_remove": True,  # an unlinked open file is not renamed to .fuse_hidden*
    "use_ino": True,  # st_ino is the model's, so hard links show as one inode
    "default_permissions": True,
    "auto_unmount": True,
}
READY_TIMEOUT = 15.0


class _Fuse(FUSE):  # type: ignore[misc]
    """mfusepy's FUSE, with the model's mutex held around each operation and the two arguments
    that its libfuse 3 glue drops (rename's flags, ftruncate's handle) passed on."""

    def _wrapper(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        # The control thread cuts while the FUSE loop may be in an operation.
        with self.operations.mutex:
            return super()._wrapper(func, *args, **kwargs)

    def _text(self, path: bytes | None) -> str | None:
        return None if path is None else path.decode(self.encoding, self.errors)

    def rename_fuse_3(self, old: bytes, new: bytes, flags: int) -> int:
        return int(self.operations.rename(self._text(old), self._text(new), flags))

    def truncate_fuse_3(self, path: bytes | None, length: int, fip: Any) -> int:
        fh = fip.contents.fh if fip else None
        return int(self.operations.truncate(self._text(path), length, fh))


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _unmount(mountpoint: str) -> bool:
    """Unmount, lazily if something still holds the mount open; whether it was lazy."""
    for lazy in (False, True):
        flags = ["-u", "-z"] if lazy else ["-u"]
        done = subprocess.run(["fusermount3", *flags, mountpoint], capture_output=True, check=False)
        if done.returncode == 0:
            return lazy
        sys.stderr.write(f"forgetful: fusermount3 {' '.join(flags)}: {done.stderr.decode()}")
    return True


def _serve(fs: ForgetfulFS, mountpoint: str, loop: threading.Thread) -> None:
    """Wait for the mount, then answer commands until quit or the end of stdin."""
    deadline = time.monotonic() + READY_TIMEOUT
    while not os.path.ismount(mountpoint):
        if not loop.is_alive() or time.monotonic() > deadline:
            _say({"ready": False, "error": f"{mountpoint} did not get mounted"})
            return
        time.sleep(0.01)
    _say({"ready": True, "pid": os.getpid(), "mountpoint": mountpoint})
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        if command == "cut":
            with fs.mutex:
                _say(fs.cut())
        elif command == "stats":
            with fs.mutex:
                _say(fs.stats())
        elif command:
            _say({"ok": False, "error": f"unknown command {command!r}"})
    # A clean unmount ends the FUSE loop at once; after a lazy one the loop would serve on
    # until the last open file closes, so the daemon leaves without it (which ends the mount).
    lazy = _unmount(mountpoint)
    loop.join(timeout=0.5 if lazy else 10)
    _say({"ok": True, "unmounted": not loop.is_alive()})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m tests.powercut.forgetful MOUNTPOINT\n")
        return 2
    mountpoint = os.path.abspath(args[0])
    fs = ForgetfulFS()
    failure: list[BaseException] = []

    def run_loop() -> None:
        try:
            _Fuse(fs, mountpoint, **MOUNT_OPTIONS)
        except BaseException as exc:
            failure.append(exc)

    # The FUSE loop runs in a thread of its own so that the main thread can read stdin; libfuse
    # installs its signal handlers process-wide whichever thread mounts.
    loop = threading.Thread(target=run_loop, name="fuse-loop", daemon=True)
    loop.start()
    _serve(fs, mountpoint, loop)
    if failure:
        sys.stderr.write(f"forgetful: the FUSE loop failed: {failure[0]!r}\n")
        return 1
    if loop.is_alive():
        # Interpreter shutdown must not meet a loop that can still call into Python.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
