"""The data directory: where each stream's log lives, its lock, and names that never overwrite."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from orion_events.domain.errors import DataDirLocked
from orion_events.domain.streams import TOP_LEVEL_STREAMS, is_session_id


def log_path(data_dir: Path, stream: str) -> Path:
    """The log file of `stream`: top-level streams beside `sessions/`, sessions in it."""
    if stream in TOP_LEVEL_STREAMS:
        return data_dir / f"{stream}.jsonl"
    if not is_session_id(stream):
        raise ValueError(f"not a stream id: {stream!r}")
    return data_dir / "sessions" / f"{stream}.jsonl"


def lock_data_dir(data_dir: Path) -> int:
    """Hold `data_dir` for this process (released when the returned fd closes or it exits)."""
    fd = os.open(data_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirLocked(
            f"{data_dir} is in use by another orion-events process; "
            "stop it first or choose another --data-dir"
        ) from None
    return fd


def unique_path(path: Path) -> Path:
    """`path`, or the first `path.N` that does not exist yet: never overwrite kept bytes."""
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{n}")
        n += 1
    return candidate
