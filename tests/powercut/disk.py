"""The test side of the forgetful disk: starts the daemon (tests/powercut/forgetful.py) in a
subprocess, asks it for power cuts and counts, and makes sure its mount goes away."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0
ANSWER_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class DiskFailed(RuntimeError):
    """The daemon did not start, did not answer, or answered with an error."""


def fuse_missing() -> str | None:
    """Why no FUSE file system can be mounted here, or None when one can."""
    lacking = [
        what
        for what, there in (
            ("/dev/fuse", os.path.exists("/dev/fuse")),
            ("fusermount3", shutil.which("fusermount3") is not None),
        )
        if not there
    ]
    if not lacking:
        return None
    return (
        f"the power-cut disk needs FUSE, and {' and '.join(lacking)} is missing: run `make test`, "
        "which installs Debian's fuse3 package (or: apt-get install -y fuse3)"
    )


def is_mounted(path: Path) -> bool:
    """Whether `path` is a mount point, even one whose daemon died (which stat cannot tell)."""
    target = str(path.resolve()).replace(" ", "\\040")
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1] == target for line in mounts)


class PowerCutDisk:
    """Mounts the forgetful file system on `mountpoint` in a subprocess."""

    def __init__(self, mountpoint: Path) -> None:
        self.mountpoint = mountpoint
        self._process: subprocess.Popen[str] | None = None
        self._answers: queue.Queue[str | None] = queue.Queue()
        self._stderr: IO[bytes] | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> PowerCutDisk:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> PowerCutDisk:
        """Spawn the daemon and wait until the mount is live."""
        missing = fuse_missing()
        if missing:
            raise DiskFailed(missing)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (it lives until stop())
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.powercut.forgetful", str(self.mountpoint)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            # Its own session: a Ctrl-C to pytest must not unmount before the teardown runs.
            start_new_session=True,
        )
        self._reader = threading.Thread(
            target=self._read, args=(self._process.stdout,), name="disk-answers", daemon=True
        )
        self._reader.start()
        try:
            ready = self._answer(START_TIMEOUT, "start")
        except DiskFailed:
            self.stop()
            raise
        if not ready.get("ready"):
            self.stop()
            raise DiskFailed(f"the forgetful disk did not mount: {ready}{self._log()}")
        return self

    def cut(self) -> dict[str, int]:
        """A power cut now: all that was not fsync'd (data) or fsyncdir'd (names) is gone."""
        return self._ask("cut")

    def stats(self) -> dict[str, int]:
        """Counts: files, dirs, bytes, unsynced_bytes, unsynced_entries, fsyncs, fdatasyncs,
        fsyncdirs, cuts, open_handles."""
        return self._ask("stats")

    def stop(self) -> None:
        """Quit the daemon and wait; kill it and unmount lazily if it does not go."""
        process, self._process = self._process, None
        if process is not None:
            try:
                assert process.stdin is not None
                process.stdin.write("quit\n")
                process.stdin.close()
            except OSError:
                pass  # it is gone already
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if self._reader is not None:
                self._reader.join(timeout=STOP_TIMEOUT)
            if process.stdout is not None and not (self._reader and self._reader.is_alive()):
                process.stdout.close()
        if is_mounted(self.mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", str(self.mountpoint)], check=False)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _ask(self, command: str) -> dict[str, int]:
        if self._process is None or self._process.stdin is None:
            raise DiskFailed(f"the forgetful disk is not running ({command})")
        try:
            self._process.stdin.write(command + "\n")
            self._process.stdin.flush()
        except OSError as exc:
            raise DiskFailed(f"the forgetful disk is gone ({command}): {exc}{self._log()}") from exc
        answer = self._answer(ANSWER_TIMEOUT, command)
        if answer.get("ok") is False:
            raise DiskFailed(f"the forgetful disk refused {command!r}: {answer}")
        answer.pop("ok", None)
        return answer

    def _answer(self, timeout: float, what: str) -> dict[str, Any]:
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            raise DiskFailed(
                f"the forgetful disk gave no answer to {what} in {timeout:.0f} s{self._log()}"
            ) from None
        if line is None:
            raise DiskFailed(f"the forgetful disk exited during {what}{self._log()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            self._answers.put(line)
        self._answers.put(None)

    def _log(self) -> str:
        if self._stderr is None:
            return ""
        # pread leaves the offset alone, which the daemon shares for its writes.
        text = os.pread(self._stderr.fileno(), 1 << 16, 0).decode(errors="replace").strip()
        return f"; its stderr:\n{text}" if text else "; its stderr is empty"
