"""Removing a session's log for good (privacy), leaving a durable record in the operations log."""

from __future__ import annotations

import asyncio
from pathlib import Path

from attrs import frozen

from orion_events.domain.errors import SessionNotFound
from orion_events.domain.events import Recorded, SessionCreated, SessionForked, SessionPurged
from orion_events.domain.ids import new_id, utc_now
from orion_events.domain.streams import OPERATIONS_STREAM, USERS_STREAM, is_session_id
from orion_events.domain.users import replay_users
from orion_events.storage.codec import scan
from orion_events.storage.files.datadir import log_path
from orion_events.storage.files.durable import PosixIO
from orion_events.storage.files.log import FileLog
from orion_events.storage.port import LoadedStream


@frozen
class PurgeReport:
    session_id: str
    events: int  # in the purged log
    files_removed: tuple[Path, ...]
    # Sessions forked from the purged one: each carries its own copy of the messages it started
    # with (a log stands alone), so a purge for privacy may have to reach them too.
    forks: tuple[str, ...] = ()  # directly or through other forks


async def purge(
    data_dir: Path,
    session_id: str,
    *,
    by: str,
    reason: str | None = None,
    io: PosixIO | None = None,
) -> PurgeReport:
    """Remove a session's log and its quarantined bytes; the service must not be running.

    The `session_purged` record is appended (and fsync'd) to the operations log before anything
    is deleted, so a crash in between leaves a log that is still there and a record saying it
    should not be: never a deletion nobody can account for. Raises DataDirLocked while another
    process holds `data_dir`, SessionNotFound for an id that names no session log.
    """
    if not is_session_id(session_id):
        raise SessionNotFound(f"{session_id!r} is not a session id")
    path = log_path(data_dir, session_id)
    # Checked before opening the log too, so a mistyped --data-dir is not created or locked.
    if not await asyncio.to_thread(path.is_file):
        raise SessionNotFound(f"no session {session_id} in {data_dir}")
    log = FileLog(data_dir, io=io)
    try:
        loaded = {stream.stream: stream for stream in await log.open()}
        target = loaded.get(session_id)
        if target is None:
            raise SessionNotFound(f"no session {session_id} in {data_dir}")
        # The log is held and its torn tail (if any) already cut, so the file is exactly what
        # open() returned up to any damage; its hash chain ends at the last good line.
        last_hash = await asyncio.to_thread(_last_hash, path, session_id)
        operations = loaded.get(OPERATIONS_STREAM)
        seq = len(operations.records) + 1 if operations is not None else 1
        event = SessionPurged(session_id, len(target.records), last_hash, by, reason)
        await log.append(
            OPERATIONS_STREAM, [Recorded(OPERATIONS_STREAM, seq, new_id(), utc_now(), event)]
        )
        removed = await asyncio.to_thread(_remove_files, log, session_id)
    finally:
        await log.close()
    return PurgeReport(session_id, len(target.records), removed, _forks_of(session_id, loaded))


@frozen
class UserPurgeReport:
    user_id: str
    sessions: tuple[PurgeReport, ...]


async def purge_user(
    data_dir: Path,
    user_id: str,
    *,
    by: str,
    reason: str | None = None,
    io: PosixIO | None = None,
) -> UserPurgeReport:
    """Remove every session of a user for good (for the first admin, those made before users
    too), each recorded in the operations log as `purge` records it, naming the user in the
    reason; the user and their keys stay (disable them with DELETE /api/users/{id}). The
    service must not be running. SessionNotFound for an id that names no user."""
    log = FileLog(data_dir, io=io)
    try:
        loaded = {stream.stream: stream for stream in await log.open()}
        users_log = loaded.get(USERS_STREAM)
        users = replay_users(users_log.records if users_log is not None else [])
        if user_id not in users.users:
            raise SessionNotFound(f"no user {user_id} in {data_dir}")
        mine = [
            stream
            for stream in loaded.values()
            if is_session_id(stream.stream) and _owner(stream, users.first_admin) == user_id
        ]
        operations = loaded.get(OPERATIONS_STREAM)
        seq = len(operations.records) if operations is not None else 0
        why = f"purge of user {user_id}" + (f": {reason}" if reason else "")
        reports = []
        for stream in mine:
            path = log.path_of(stream.stream)
            last_hash = await asyncio.to_thread(_last_hash, path, stream.stream)
            seq += 1
            event = SessionPurged(stream.stream, len(stream.records), last_hash, by, why)
            await log.append(
                OPERATIONS_STREAM, [Recorded(OPERATIONS_STREAM, seq, new_id(), utc_now(), event)]
            )
            removed = await asyncio.to_thread(_remove_files, log, stream.stream)
            forks = _forks_of(stream.stream, loaded)
            reports.append(PurgeReport(stream.stream, len(stream.records), removed, forks))
    finally:
        await log.close()
    return UserPurgeReport(user_id, tuple(reports))


def _owner(stream: LoadedStream, first_admin: str | None) -> str | None:
    first = stream.records[0].event if stream.records else None
    owner = first.owner if isinstance(first, SessionCreated | SessionForked) else None
    return owner if owner is not None else first_admin


def _last_hash(path: Path, session_id: str) -> str:
    return scan(path.read_bytes(), session_id).last_hash


def _remove_files(log: FileLog, session_id: str) -> tuple[Path, ...]:
    # Snapshots first: they hold the session's text too, and one that outlived its log would
    # report the log as lost at the next start. They are derived; the next start makes one.
    snapshots = log.snapshot_dir
    removed = sorted(snapshots.iterdir()) if snapshots.is_dir() else []
    removed.append(log.path_of(session_id))
    if log.quarantine_dir.is_dir():
        # The id is a validated UUID, so it holds no glob metacharacters.
        removed.extend(sorted(log.quarantine_dir.glob(f"{session_id}.*")))
    log.io.remove_files(removed)
    return tuple(removed)


def _forks_of(session_id: str, loaded: dict[str, LoadedStream]) -> tuple[str, ...]:
    """Sessions forked from `session_id`, or from one of its forks, and so on."""
    children: dict[str, list[str]] = {}
    for stream in loaded.values():
        first = stream.records[0].event if stream.records else None
        if isinstance(first, SessionForked):
            children.setdefault(first.source_session, []).append(stream.stream)
    found: set[str] = set()
    todo = [session_id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found and child != session_id:
                found.add(child)
                todo.append(child)
    return tuple(sorted(found))


__all__ = ["PurgeReport", "UserPurgeReport", "purge", "purge_user"]
