"""Point-in-time copies of a data directory, taken while the service runs, and restoring them.

Logs are append-only and every line checks itself, so a copy needs no pause: the sizes of all
logs are read first (the cut), each file is then copied up to its size, and anything after the
last whole, valid line (a write caught mid-flight, never acknowledged) is left out. Every session
in the copy is a prefix of its live history as of the cut. A log damaged in the middle is copied
whole, byte for byte, so the backup keeps the evidence, and the report names it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from attrs import frozen

from orion_events.domain.errors import OrionError
from orion_events.domain.streams import TOP_LEVEL_STREAMS
from orion_events.ops.verify import log_files, verify_dir
from orion_events.storage.codec import scan
from orion_events.storage.files.datadir import lock_data_dir, unique_path
from orion_events.storage.files.durable import DEFAULT_IO, PosixIO


class BackupError(OrionError):
    code = "backup_failed"


@frozen
class BackupReport:
    files: int
    events: int
    bytes: int
    trimmed: int  # files whose in-flight last line was left out
    damaged: dict[str, str]  # path -> damage, for logs copied whole because of it


def backup(data_dir: Path, dest: Path, io: PosixIO = DEFAULT_IO) -> BackupReport:
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty; back up into a new directory")
    cut = [(stream, path, path.stat().st_size) for stream, path in log_files(data_dir) if stream]
    io.make_dirs(dest / "sessions")
    events = total = trimmed = 0
    damaged: dict[str, str] = {}
    for stream, path, size in cut:
        assert stream is not None
        with open(path, "rb") as f:
            data = f.read(size)
        result = scan(data, stream)
        keep = len(data)
        if result.damage is None or result.damage.is_torn_tail:
            keep = result.good_length
            trimmed += keep != len(data)
        else:
            damaged[str(path)] = result.damage.describe()
        io.write_file(dest / path.relative_to(data_dir), [data[:keep]], sync_name=False)
        events += len(result.records)
        total += keep
    io.fsync_dir(dest / "sessions")
    io.fsync_dir(dest)
    return BackupReport(len(cut), events, total, trimmed, damaged)


def restore(source: Path, data_dir: Path, io: PosixIO = DEFAULT_IO) -> Path | None:
    """Replace the logs in `data_dir` with those of a verified backup.

    Refuses while a service holds `data_dir`. What was there before is moved aside (never
    deleted) to a sibling `<data_dir>.replaced-<time>`, whose path is returned.
    """
    reports = verify_dir(source) if source.is_dir() else []
    if not reports:
        raise BackupError(f"{source} holds no logs to restore; nothing was changed")
    bad = [r for r in reports if not r.ok]
    if bad:
        raise BackupError(f"{source} does not verify: {bad[0].path}; nothing was changed")
    io.make_dirs(data_dir)
    lock = lock_data_dir(data_dir)
    try:
        aside: Path | None = None
        names = ["sessions", "quarantine", "snapshots", *(f"{s}.jsonl" for s in TOP_LEVEL_STREAMS)]
        current = [data_dir / n for n in names]
        if any(p.exists() for p in current):
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            aside = unique_path(data_dir.with_name(f"{data_dir.name}.replaced-{stamp}"))
            io.make_dirs(aside)
            for entry in current:
                if entry.exists():
                    os.rename(entry, aside / entry.name)
            # The names in the aside dir are durable before the data dir's final sync makes them
            # gone from it: a crash in between leaves a log in both places, never in neither.
            io.fsync_dir(aside)
        io.make_dirs(data_dir / "sessions")
        for stream, path in log_files(source):
            if stream is None:
                continue
            io.copy_file(path, data_dir / path.relative_to(source), sync_name=False)
        io.fsync_dir(data_dir / "sessions")
        io.fsync_dir(data_dir)
        return aside
    finally:
        os.close(lock)
