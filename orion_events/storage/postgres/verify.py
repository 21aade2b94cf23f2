"""`verify --log` on a database: every stream's hash chain checked, nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
from attrs import frozen

from orion_events.domain.errors import StorageUnavailable
from orion_events.storage.postgres.pool import DATABASE_ERRORS, reason, redact, unavailable
from orion_events.storage.postgres.rows import RowDamage, check_stream, stream_rows
from orion_events.storage.postgres.schema import schema_version


@frozen
class StreamReport:
    stream: str
    events: int
    last_hash: str
    damage: RowDamage | None

    @property
    def ok(self) -> bool:
        return self.damage is None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stream": self.stream, "ok": self.ok, "events": self.events}
        if self.damage is not None:
            out.update(
                seq=self.damage.line,
                position=self.damage.position,
                kind=self.damage.kind,
                message=self.damage.message,
            )
        return out


async def verify_database(
    url: str, progress: Callable[[int], None] | None = None
) -> list[StreamReport]:
    """Check every stream's hash chain in the database, changing nothing."""
    with unavailable(f"verify {redact(url)}"):
        try:
            conn = await asyncpg.connect(url)
        except DATABASE_ERRORS as exc:
            raise StorageUnavailable(
                f"cannot reach the database at {redact(url)}: {reason(exc)}"
            ) from exc
        try:
            if await schema_version(conn) is None:
                return []
            reports = []
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                async for stream, rows in stream_rows(conn):
                    checked = check_stream(stream, rows)
                    reports.append(
                        StreamReport(
                            stream, len(checked.records), checked.last_hash, checked.damage
                        )
                    )
                    if progress is not None:
                        progress(len(reports))
            return reports
        finally:
            await conn.close()
