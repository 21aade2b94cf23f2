"""Offline integrity check of a data directory: every log, line by line, changing nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from attrs import frozen

from orion_events.codec import Damage, scan
from orion_events.log import TOP_LEVEL_STREAMS, is_session_id


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
            ok = path.suffix == ".jsonl" and is_session_id(path.stem)
            yield (path.stem if ok else None), path


def verify_file(stream: str | None, path: Path) -> FileReport:
    if stream is None or not path.is_file():
        return FileReport(path, 0, None, "not named <session-id>.jsonl: no log of this service")
    result = scan(path.read_bytes(), stream)
    return FileReport(path, len(result.records), result.damage)


def verify_dir(
    data_dir: Path, progress: Callable[[int, int], None] | None = None
) -> list[FileReport]:
    files = list(log_files(data_dir))
    reports = []
    for done, (stream, path) in enumerate(files, start=1):
        reports.append(verify_file(stream, path))
        if progress is not None:
            progress(done, len(files))
    return reports
