"""The database's schema and its migrations, and the advisory lock keys every process shares."""

from __future__ import annotations

from typing import Any, Final

from orion_events.domain.errors import StorageUnavailable

# pg_advisory_xact_lock key held by every append from drawing positions to commit ("orion").
APPEND_LOCK: Final = 0x6F72696F6E
MIGRATION_LOCK: Final = APPEND_LOCK + 1
CHANNEL: Final = "orion_events"  # NOTIFY'd with the last position of every committed append

# Ordered; each step runs once, in one transaction with the version bump. Never edit a step
# that has shipped: add one.
MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: the events. `data` and `meta` are json, not jsonb: json keeps the text as written, so
    # a row re-encodes to its line's exact bytes (jsonb reorders keys and rejects \u0000).
    """
    CREATE TABLE orion_events (
        position bigserial PRIMARY KEY,
        stream text NOT NULL,
        seq integer NOT NULL CHECK (seq > 0),
        id uuid UNIQUE NOT NULL,
        type text NOT NULL,
        at text NOT NULL,
        schema integer NOT NULL,
        data json NOT NULL,
        meta json,
        prev text NOT NULL,
        hash text NOT NULL,
        idempotency_scope text,
        idempotency_key text,
        UNIQUE (stream, seq),
        CHECK ((idempotency_scope IS NULL) = (idempotency_key IS NULL))
    );
    -- NULLs are distinct: only keyed events take part.
    CREATE UNIQUE INDEX orion_events_idempotency
        ON orion_events (idempotency_scope, idempotency_key);
    """,
)


async def schema_version(conn: Any) -> int | None:
    """The schema version of the database, None when it holds no orion schema yet."""
    if await conn.fetchval("SELECT to_regclass('orion_schema')") is None:
        return None
    version: int | None = await conn.fetchval("SELECT version FROM orion_schema")
    return version


async def migrate_schema(pool: Any) -> int:
    """Bring the schema to the newest version, one transaction for all the steps; the version."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS orion_schema (
                one boolean PRIMARY KEY DEFAULT true CHECK (one),
                version integer NOT NULL
            )
            """
        )
        await conn.execute("INSERT INTO orion_schema (version) VALUES (0) ON CONFLICT DO NOTHING")
        version: int = await conn.fetchval("SELECT version FROM orion_schema")
        if version > len(MIGRATIONS):
            raise StorageUnavailable(
                f"the database's schema is at version {version}, newer than this code "
                f"({len(MIGRATIONS)}): upgrade orion-events"
            )
        for step in MIGRATIONS[version:]:
            await conn.execute(step)
        await conn.execute("UPDATE orion_schema SET version = $1", len(MIGRATIONS))
        return len(MIGRATIONS)
