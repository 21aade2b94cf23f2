"""The commands that only read the logs: `verify`, `export` and `replay`.

`export` and `replay` read the files without the data-dir lock, so they run beside a service.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from attrs import frozen

from orion_events.domain.errors import InvalidInput, OrionError, SessionNotFound
from orion_events.domain.events import Recorded
from orion_events.domain.projector import apply_session, replay_session
from orion_events.domain.streams import OPERATIONS_STREAM, SETTINGS_STREAM, is_session_id
from orion_events.domain.views import SessionView
from orion_events.ops.verify import log_files, verify_dir
from orion_events.storage.codec import scan
from orion_events.storage.files.log import FileLog
from orion_events.storage.postgres.pool import redact
from orion_events.storage.postgres.verify import verify_database
from service.cli.output import Progress, emit, warn
from service.cli.timeline import timeline_line
from service.config import Config
from service.export import export_json, export_markdown, export_session
from service.payloads import event_json

# -- verify -------------------------------------------------------------------------------------


def verify(config: Config, data_dir_flag: str | None, as_json: bool) -> int:
    """The database of --log or ORION_LOG_URL, unless --data-dir names a directory to check."""
    if config.log_url is not None and data_dir_flag is None:
        return verify_log(config.log_url, as_json)
    return verify_files(config.data_dir, as_json)


def verify_log(url: str, as_json: bool) -> int:
    """`verify --log`: every stream's hash chain in the database."""
    progress = Progress.on_terminal("verified", "streams")
    reports = asyncio.run(verify_database(url, progress.so_far if progress else None))
    if progress is not None:
        progress.finish()
    bad = [r for r in reports if not r.ok]
    total = sum(r.events for r in reports)
    if as_json:
        summary = {
            "ok": not bad,
            "streams": len(reports),
            "events": total,
            "damaged": [r.as_json() for r in bad],
        }
        sys.stdout.buffer.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        for report in bad:
            assert report.damage is not None
            print(f"{redact(url)} stream {report.stream}: {report.damage.describe()}")
        verdict = "intact" if not bad else f"{len(bad)} damaged"
        print(f"{len(reports)} logs, {total} events: {verdict}")
    return 1 if bad else 0


def verify_files(data_dir: Path, as_json: bool) -> int:
    if not data_dir.is_dir():
        warn(f"no data directory at {data_dir}")
        return 2
    reports = verify_dir(data_dir, Progress.on_terminal("verified", "logs"))
    bad = [r for r in reports if not r.ok]
    if as_json:
        summary = {
            "ok": not bad,
            "files": len(reports),
            "events": sum(r.events for r in reports),
            "damaged": [r.as_json() for r in bad],
        }
        sys.stdout.buffer.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        for report in bad:
            what = report.damage.describe() if report.damage is not None else report.note
            print(f"{report.path}: {what}")
        total = sum(r.events for r in reports)
        verdict = "intact" if not bad else f"{len(bad)} damaged"
        print(f"{len(reports)} logs, {total} events: {verdict}")
    return 1 if bad else 0


# -- sessions read from their files ---------------------------------------------------------------


@frozen
class SessionLog:
    """A session read straight from its file: its events (up to any damage) and its view."""

    view: SessionView | None  # None when not even a first event could be read
    records: list[Recorded]
    problem: str | None  # damage, or an event the projector refused, that ended the read early


def read_session(data_dir: Path, session_id: str) -> SessionLog:
    """A session's log read without the data-dir lock: safe while a service appends, because
    each line is checked whole and a line still being written is a torn tail, left out."""
    if not is_session_id(session_id):
        raise SessionNotFound(f"{session_id!r} is not a session id")
    path = FileLog(data_dir).path_of(session_id)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SessionNotFound(f"no session {session_id} in {data_dir}") from None
    result = scan(data, session_id)
    problem = None
    if result.damage is not None and not result.damage.is_torn_tail:
        problem = f"{path}: damaged at {result.damage.describe()}"
    view: SessionView | None = None
    records: list[Recorded] = []
    for recorded in result.records:
        try:
            view = apply_session(view, recorded)
        except OrionError as exc:
            problem = f"{path}: {exc.message}"
            break
        records.append(recorded)
    return SessionLog(view, records, problem)


def session_ids(data_dir: Path) -> list[str]:
    """Every session log in the data dir (settings and operations are logs but no sessions)."""
    top_level = {SETTINGS_STREAM, OPERATIONS_STREAM}
    return [s for s, _ in log_files(data_dir) if s is not None and s not in top_level]


# -- export -------------------------------------------------------------------------------------


def render(view: SessionView, records: list[Recorded], fmt: str) -> bytes:
    """One export document, ending in a newline."""
    if fmt == "markdown":
        return export_markdown(view).encode()
    option = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
    return orjson.dumps(export_json(view, records), option=option)


def export(data_dir: Path, requested: Sequence[str], fmt: str, out: Path | None) -> int:
    """Exit 0, or 1 when a log was damaged (what precedes the damage is still exported).

    Without --out, one SESSION named gives its document; several, or all, give a JSON array or
    Markdown documents between `---` lines, however many there turn out to be.
    """
    if not data_dir.is_dir():
        warn(f"no data directory at {data_dir}")
        return 2
    logs = FileLog(data_dir)
    for session_id in requested:  # all of them checked before anything is written
        if not is_session_id(session_id):
            raise SessionNotFound(f"{session_id!r} is not a session id")
        if not logs.path_of(session_id).is_file():
            raise SessionNotFound(f"no session {session_id} in {data_dir}")
    ids = list(dict.fromkeys(requested)) or session_ids(data_dir)
    progress = Progress.on_terminal("exported", "sessions") if len(ids) > 1 else None
    single = out is None and len(requested) == 1
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    elif not single and fmt == "json":
        emit(b"[")
    exported = damaged = 0
    for done, session_id in enumerate(ids, start=1):
        session = read_session(data_dir, session_id)
        if progress is not None:
            progress(done, len(ids))
        if session.problem is not None:
            damaged += 1
        if session.view is None:
            why = session.problem or "an empty log (a first write that never completed)"
            if requested:
                raise SessionNotFound(f"no session {session_id} to export: {why}")
            warn(f"skipped {session_id}: {why}")
            continue
        if session.problem is not None:
            warn(f"{session.problem}; exported up to version {session.view.version}")
        document = render(session.view, session.records, fmt)
        if out is not None:
            suffix = "json" if fmt == "json" else "md"
            (out / f"{session_id}.{suffix}").write_bytes(document)
        elif single:
            emit(document)
        elif fmt == "json":
            emit((b",\n" if exported else b"\n") + document.rstrip(b"\n"))
        else:
            # A blank line before `---`, or Markdown reads it as underlining the line above.
            emit((b"\n---\n\n" if exported else b"") + document)
        exported += 1
    if out is not None:
        print(f"exported {exported} sessions to {out}")
    elif not single and fmt == "json":
        emit(b"\n]\n" if exported else b"]\n")
    return 1 if damaged else 0


# -- replay -------------------------------------------------------------------------------------


def replay(data_dir: Path, session_id: str, version: int | None, as_json: bool) -> int:
    """Exit 0, or 1 when the log is damaged after the events it could replay."""
    session = read_session(data_dir, session_id)
    if session.view is None:
        raise SessionNotFound(f"no session {session_id}: {session.problem or 'its log is empty'}")
    last = len(session.records)
    if version is not None and not 1 <= version <= last:
        damage = (
            f" (its log is unreadable after that: {session.problem})" if session.problem else ""
        )
        raise InvalidInput(
            f"session {session_id} has versions 1 to {last}, no version {version}{damage}",
            field="version",
        )
    timeline = session.records[: version or last]
    view = replay_session(timeline)
    assert view is not None  # the timeline holds at least the first event
    if as_json:
        state: dict[str, Any] = {
            "timeline": [event_json(r) for r in timeline],
            "state": export_session(view),
        }
        emit(orjson.dumps(state, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        for recorded in timeline:
            print(timeline_line(recorded))
        print(f"\nstate at version {view.version} of {last}:")
        emit(orjson.dumps(export_session(view), option=orjson.OPT_INDENT_2) + b"\n")
    if session.problem is not None:
        warn(f"{session.problem}; replayed up to version {last}")
        return 1
    return 0
