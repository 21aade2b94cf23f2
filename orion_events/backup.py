"""Point-in-time copies of a data directory, taken while the service runs, and restoring them.

Logs are append-only and every line checks itself, so a copy needs no pause: the sizes of all
logs are read first (the cut), each file is then copied up to its size, and anything after the
last whole, valid line (a write caught mid-flight, never acknowledged) is left out. Every session
in the copy is a prefix of its live history as of the cut.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from attrs import frozen

from orion_events.codec import scan
from orion_events.errors import OrionError
from orion_events.log import fsync_dir, lock_data_dir
from orion_events.verify import log_files, verify_dir


class BackupError(OrionError):
    code = "backup_failed"


@frozen
class BackupReport:
    files: int
    events: int
    bytes: int
    trimmed: int  # files whose in-flight last line was left out


def backup(data_dir: Path, dest: Path) -> BackupReport:
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty; back up into a new directory")
    cut = [(stream, path, path.stat().st_size) for stream, path in log_files(data_dir) if stream]
    (dest / "sessions").mkdir(parents=True, exist_ok=True)
    events = total = trimmed = 0
    for stream, path, size in cut:
        assert stream is not None
        with open(path, "rb") as f:
            data = f.read(size)
        result = scan(data, stream)
        if result.damage is not None and not result.damage.at_tail:
            raise BackupError(f"{path} is damaged at {result.damage.describe()}; run verify")
        trimmed += result.good_length != len(data)
        target = dest / path.relative_to(data_dir)
        with open(target, "wb") as out:
            out.write(data[: result.good_length])
            out.flush()
            os.fsync(out.fileno())
        events += len(result.records)
        total += result.good_length
    fsync_dir(dest / "sessions")
    fsync_dir(dest)
    return BackupReport(len(cut), events, total, trimmed)


def restore(source: Path, data_dir: Path) -> Path | None:
    """Replace the logs in `data_dir` with those of a verified backup.

    Refuses while a service holds `data_dir`. What was there before is moved aside (never
    deleted) to a sibling `<data_dir>.replaced-<time>`, whose path is returned.
    """
    bad = [r for r in verify_dir(source) if not r.ok]
    if bad:
        raise BackupError(f"{source} does not verify: {bad[0].path}; nothing was changed")
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_data_dir(data_dir)
    try:
        aside: Path | None = None
        current = [data_dir / n for n in ("sessions", "settings.jsonl", "quarantine")]
        if any(p.exists() for p in current):
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            aside = data_dir.with_name(f"{data_dir.name}.replaced-{stamp}")
            aside.mkdir()
            for entry in current:
                if entry.exists():
                    entry.rename(aside / entry.name)
            fsync_dir(aside)
        (data_dir / "sessions").mkdir()
        for stream, path in log_files(source):
            if stream is None:
                continue
            target = data_dir / path.relative_to(source)
            shutil.copyfile(path, target)
            with open(target, "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(data_dir / "sessions")
        fsync_dir(data_dir)
        return aside
    finally:
        os.close(lock)
