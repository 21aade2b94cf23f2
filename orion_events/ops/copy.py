"""Copying every log between a data directory and a PostgreSQL database, resumably, checked.

A copy keeps each event's bytes, and so its global position and its hash: a database row is
the line taken apart into columns (storage/postgres), and a line written from a row is the line the
row came from. Positions are kept in the database too (inserted explicitly, the position
sequence then moved past the highest), not renumbered: the position is part of every hashed
line, so renumbering would re-chain every log and the copy would no longer prove it is the same
history. A database target must therefore hold no other events at those positions: a new
database, or one an earlier run of this copy filled.

Resuming: for each stream the target's last seq and hash are looked up; if the source has the
same hash at that seq, the chain guarantees that everything before it is the same too, and only
what follows is copied. A target that disagrees is never overwritten: the copy stops and says
where. Every batch is one transaction (database) or one write and fsync (files), so an
interrupted copy leaves whole prefixes. At the end every copied stream is read back whole from
the target, its chain checked, and its count and last hash compared with the source's.

Both sides are meant to be offline: the data directory's lock is held (so no service writes
it), and copying into a database that a service is writing to is not supported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
from attrs import Factory, define, frozen

from orion_events.domain.errors import OrionError, StorageUnavailable
from orion_events.ops.verify import log_files
from orion_events.storage.codec import scan
from orion_events.storage.files.commit import NEW_SUFFIX
from orion_events.storage.files.datadir import lock_data_dir, log_path
from orion_events.storage.files.durable import DEFAULT_IO, PosixIO
from orion_events.storage.postgres.pool import (
    connect_pool,
    is_database_url,
    redact,
    unavailable,
)
from orion_events.storage.postgres.rows import (
    Row,
    check_stream,
    faithful_row,
    insert_rows,
    stream_rows,
)
from orion_events.storage.postgres.schema import APPEND_LOCK, migrate_schema

BATCH_ROWS = 1000  # rows per transaction into the database
BATCH_BYTES = 8 * 1024 * 1024  # and about this many bytes of event data at most
Progress = Callable[[int, int], None]


class MigrationError(OrionError):
    """The copy cannot go on: a damaged source, or a target that holds something else."""

    code = "migration_failed"


@frozen
class Summary:
    """What a copy of one stream must end with."""

    events: int
    last_hash: str


@define
class MigrateReport:
    streams: int = 0
    copied: int = 0  # events written to the target by this run
    skipped: int = 0  # events the target already held, with the same hashes
    left_out: dict[str, str] = Factory(dict)  # torn last lines of the source, never acknowledged
    verified: int = 0  # streams read back whole from the target and found equal


def stream_path(data_dir: Path, stream: str) -> Path:
    try:
        return log_path(data_dir, stream)
    except ValueError:
        raise MigrationError(f"stream {stream!r} has no place in a data directory") from None


async def migrate(
    source: str, target: str, progress: Progress | None = None, io: PosixIO = DEFAULT_IO
) -> MigrateReport:
    """Copy every log from `source` to `target` (a directory and a postgresql:// URL, either
    way round), skipping what the target already holds; check the copy; say what was done."""
    if is_database_url(source) == is_database_url(target):
        raise MigrationError(
            "give one data directory and one postgresql:// URL (to copy a directory: backup)"
        )
    if is_database_url(target):
        return await _files_to_database(Path(source), target, progress)
    return await _database_to_files(source, Path(target), progress, io)


def _lock(data_dir: Path, *, create: bool, io: PosixIO = DEFAULT_IO) -> int | None:
    """Hold `data_dir` so no service writes it meanwhile (made first, with its sessions/, when
    it is the target). An offline command: its file work blocks a loop that serves nothing."""
    if create:
        io.make_dirs(data_dir / "sessions")
    elif not data_dir.is_dir():
        return None
    return lock_data_dir(data_dir)


def _resume_point(stream: str, hashes: list[str], head: tuple[int, str] | None, where: str) -> int:
    """How many of the source's events (whose hashes are `hashes`) the target holds."""
    if head is None or head[0] == 0:
        return 0
    seq, digest = head
    if seq > len(hashes) or hashes[seq - 1] != digest:
        raise MigrationError(
            f"{where} holds a different history of {stream} (at seq {seq}); "
            "nothing of it was overwritten"
        )
    return seq


def _check_copy(stream: str, want: Summary, got: Summary | None, where: str) -> None:
    if got != want:
        found = "nothing" if got is None else f"{got.events} events ending in {got.last_hash}"
        raise MigrationError(
            f"the copy of {stream} in {where} does not check out: {found}, where the source "
            f"has {want.events} events ending in {want.last_hash}"
        )


# -- files -> database ----------------------------------------------------------------------------


def _check_source_dir(data_dir: Path, report: MigrateReport) -> list[tuple[str, Path]]:
    """The logs to copy. A torn last line is left out (it was never acknowledged); damage
    anywhere else stops the copy before anything is written."""
    if not data_dir.is_dir():
        raise MigrationError(f"no data directory at {data_dir}")
    logs: list[tuple[str, Path]] = []
    problems: list[str] = []
    for stream, path in log_files(data_dir):
        if stream is None:
            continue  # no log of this service (verify names it)
        damage = scan(path.read_bytes(), stream).damage
        if damage is not None and not damage.is_torn_tail:
            problems.append(f"{path}: {damage.describe()}")
        elif damage is not None:
            report.left_out[stream] = damage.describe()
        logs.append((stream, path))
    if problems:
        raise MigrationError("the source is damaged; nothing was copied: " + "; ".join(problems))
    return logs


def _source_rows(stream: str, path: Path) -> list[Row]:
    data = path.read_bytes()
    result = scan(data, stream)
    try:
        return [faithful_row(line) for line in data[: result.good_length].splitlines(True)]
    except ValueError as exc:
        raise MigrationError(f"{path} cannot be copied faithfully: {exc}") from None


async def _files_to_database(data_dir: Path, url: str, progress: Progress | None) -> MigrateReport:
    report = MigrateReport()
    where = redact(url)
    lock = _lock(data_dir, create=False)
    try:
        logs = _check_source_dir(data_dir, report)
        report.streams = len(logs)
        pool = await connect_pool(url, size=1)
        try:
            with unavailable(f"copy into {where}"):
                await migrate_schema(pool)
                async with pool.acquire() as conn:
                    wanted = await _copy_into(conn, logs, where, report, progress)
                    found = await _read_summaries(conn)
        finally:
            await pool.close()
    finally:
        if lock is not None:
            os.close(lock)
    for stream, want in wanted.items():
        _check_copy(stream, want, found.get(stream), where)
        report.verified += 1
    return report


async def _copy_into(
    conn: Any,
    logs: list[tuple[str, Path]],
    where: str,
    report: MigrateReport,
    progress: Progress | None,
) -> dict[str, Summary]:
    heads = {
        r["stream"]: (r["seq"], r["hash"])
        for r in await conn.fetch(
            "SELECT DISTINCT ON (stream) stream, seq, hash FROM orion_events "
            "ORDER BY stream, seq DESC"
        )
    }
    wanted: dict[str, Summary] = {}
    batch: list[Row] = []
    for done, (stream, path) in enumerate(logs, start=1):
        rows = _source_rows(stream, path)
        if not rows:  # an empty log: a first write that never completed
            continue
        hashes = [r.hash for r in rows]
        start = _resume_point(stream, hashes, heads.get(stream), where)
        report.skipped += start
        wanted[stream] = Summary(len(rows), hashes[-1])
        for row in rows[start:]:
            batch.append(row)
            if len(batch) >= BATCH_ROWS or _size(batch) >= BATCH_BYTES:
                report.copied += await _insert_batch(conn, batch)
                batch = []
        if progress is not None:
            progress(done, len(logs))
    if batch:
        report.copied += await _insert_batch(conn, batch)
    return wanted


def _size(rows: list[Row]) -> int:
    return sum(len(r.data) + len(r.meta or "") for r in rows)


async def _insert_batch(conn: Any, rows: list[Row]) -> int:
    """Insert `rows` with their own positions in one transaction, under the append lock, and
    move the position sequence past them so that later appends come after."""
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK)
            await insert_rows(conn, rows)
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('orion_events', 'position'), "
                "(SELECT max(position) FROM orion_events))"
            )
    except asyncpg.UniqueViolationError as exc:
        raise MigrationError(
            f"the database already holds other events at these positions or ids ({exc}); "
            "copy into a new database"
        ) from None
    return len(rows)


async def _read_summaries(conn: Any) -> dict[str, Summary]:
    """Every stream of the database read back whole, chain checked: what it ends with."""
    found: dict[str, Summary] = {}
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for stream, rows in stream_rows(conn):
            checked = check_stream(stream, rows)
            if checked.damage is None:
                found[stream] = Summary(len(checked.records), checked.last_hash)
    return found


# -- database -> files ----------------------------------------------------------------------------


async def _database_to_files(
    url: str, data_dir: Path, progress: Progress | None, io: PosixIO
) -> MigrateReport:
    report = MigrateReport()
    lock = _lock(data_dir, create=True, io=io)
    try:
        wanted = await _copy_out(url, data_dir, report, progress, io)
    finally:
        if lock is not None:
            os.close(lock)
    report.streams = len(wanted)
    for stream, want in wanted.items():
        result = scan(stream_path(data_dir, stream).read_bytes(), stream)
        got = None if result.damage else Summary(len(result.records), result.last_hash)
        _check_copy(stream, want, got, str(data_dir))
        report.verified += 1
    return report


async def _copy_out(
    url: str, data_dir: Path, report: MigrateReport, progress: Progress | None, io: PosixIO
) -> dict[str, Summary]:
    try:
        conn = await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StorageUnavailable(f"cannot reach the database at {redact(url)}: {exc}") from exc
    wanted: dict[str, Summary] = {}
    try:
        with unavailable(f"copy from {redact(url)}"):
            # One snapshot: a consistent copy even if something still appends.
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                total = await conn.fetchval("SELECT count(DISTINCT stream) FROM orion_events")
                async for stream, rows in stream_rows(conn):
                    checked = check_stream(stream, rows)
                    if checked.damage is not None:
                        raise MigrationError(
                            f"stream {stream} is damaged in the database at "
                            f"{checked.damage.describe()} (see verify --log); copied up to "
                            "the stream before it"
                        )
                    _write_stream(data_dir, stream, rows, report, io)
                    wanted[stream] = Summary(len(rows), checked.last_hash)
                    if progress is not None:
                        progress(len(wanted), total)
    finally:
        await conn.close()
    return wanted


def _write_stream(
    data_dir: Path, stream: str, rows: list[Row], report: MigrateReport, io: PosixIO
) -> None:
    """Append to the stream's file what it lacks, after checking what it has."""
    path = stream_path(data_dir, stream)
    have = 0
    exists = path.exists()
    if exists:
        data = path.read_bytes()
        result = scan(data, stream)
        if result.damage is not None and not result.damage.is_torn_tail:
            raise MigrationError(f"{path} is damaged at {result.damage.describe()}")
        head = (len(result.records), result.last_hash)
        have = _resume_point(stream, [r.hash for r in rows], head, str(path))
        if result.good_length < len(data):  # the torn end of an interrupted copy
            io.truncate_file(path, result.good_length)
    report.skipped += have
    missing = rows[have:]
    if not missing:
        return
    lines = b"".join(row.line() for row in missing)
    if exists:
        io.append_file(path, lines)
    else:
        # Named only once its lines are durable, as the service names a new log: no crash
        # leaves an empty log, which would read as loss.
        creating = path.with_name(path.name + NEW_SUFFIX)
        creating.unlink(missing_ok=True)
        io.write_file(creating, [lines], sync_name=False)
        io.rename(creating, path)
    report.copied += len(missing)


__all__ = ["MigrateReport", "MigrationError", "migrate"]
