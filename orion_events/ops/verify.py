"""Offline integrity check of a data directory: every log, line by line, changing nothing.

Beside damage in the lines, it reports what was lost (storage/files/loss.py): empty or headless
logs, logs shorter than the snapshot saw them, logs and directories that are gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from attrs import frozen

from orion_events.domain.streams import TOP_LEVEL_STREAMS, is_session_id
from orion_events.storage.codec import Damage, scan
from orion_events.storage.files import loss
from orion_events.storage.files.commit import NEW_SUFFIX
from orion_events.storage.files.datadir import log_path
from orion_events.storage.port import StreamMark
from orion_events.store import snapshot


@frozen
class FileReport:
    path: Path
    events: int
    damage: Damage | None
    note: str | None = None  # a file that is no log at all

    @property
    def ok(self) -> bool:
        return self.damage is None and self.note is None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": str(self.path), "ok": self.ok, "events": self.events}
        if self.damage is not None:
            out.update(
                line=self.damage.line,
                offset=self.damage.offset,
                kind=self.damage.kind,
                message=self.damage.message,
                at_tail=self.damage.at_tail,
            )
        if self.note is not None:
            out.update(kind="not_a_log", message=self.note)
        return out


def log_files(data_dir: Path) -> Iterator[tuple[str | None, Path]]:
    """(stream, path) for every file that should be a log; stream None for a misnamed one."""
    for stream in TOP_LEVEL_STREAMS:
        path = data_dir / f"{stream}.jsonl"
        if path.exists():
            yield stream, path
    sessions = data_dir / "sessions"
    if sessions.is_dir():
        for path in sorted(sessions.iterdir()):
            if path.name.endswith(".jsonl" + NEW_SUFFIX):
                continue  # a log being created, never acknowledged: start-up sets it aside
            ok = path.suffix == ".jsonl" and is_session_id(path.stem)
            yield (path.stem if ok else None), path


def verify_file(stream: str | None, path: Path, seen: StreamMark | None = None) -> FileReport:
    """One log's lines, its start, and (given where a snapshot saw it end) its length."""
    if stream is None or not path.is_file():
        return FileReport(path, 0, None, "not named <session-id>.jsonl: no log of this service")
    result = scan(path.read_bytes(), stream)
    damage = result.damage
    if damage is None:
        first = result.records[0] if result.records else None
        session = stream not in TOP_LEVEL_STREAMS
        damage = loss.of_log(stream, result.good_length, first, session=session)
    if damage is None and seen is not None:
        damage = loss.against_mark(result.good_length, len(result.records), seen)
    return FileReport(path, len(result.records), damage)


def verify_dir(
    data_dir: Path, progress: Callable[[int, int], None] | None = None
) -> list[FileReport]:
    files = list(log_files(data_dir))
    marks = snapshot.read_marks(data_dir / "snapshots") or {}
    reports = []
    top = {s: p.stat().st_size for s, p in files if s is not None and s in TOP_LEVEL_STREAMS}
    gone = loss.missing_sessions_dir(data_dir, top)
    if gone is not None:
        reports.append(FileReport(data_dir / "sessions", 0, gone))
    present = {stream for stream, _ in files if stream is not None}
    for lost, damage in loss.missing_logs(marks, present).items():
        try:
            path = log_path(data_dir, lost)
        except ValueError:  # a snapshot that names a stream no data dir holds: say it as named
            path = data_dir / lost
        reports.append(FileReport(path, 0, damage))
    for done, (stream, path) in enumerate(files, start=1):
        reports.append(verify_file(stream, path, marks.get(stream) if stream else None))
        if progress is not None:
            progress(done, len(files))
    return reports
