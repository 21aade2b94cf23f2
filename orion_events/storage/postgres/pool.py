"""Reaching the database: the connection pool, its failures as StorageUnavailable, safe URLs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from orion_events.domain.errors import StorageUnavailable

# What failing to reach or use the database looks like from asyncpg.
DATABASE_ERRORS: Final = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    # What asyncpg raises when a connection killed mid-statement is used again (a rollback).
    asyncpg.InternalClientError,
)


def redact(url: str) -> str:
    """`url` without its password, for logs and messages."""
    parts = urlsplit(url)
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{hostport}"
    if "password" in query.lower():
        query = "…"
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def is_database_url(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


def reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@contextlib.contextmanager
def unavailable(doing: str) -> Iterator[None]:
    """Turn the driver's failures into StorageUnavailable."""
    try:
        yield
    except DATABASE_ERRORS as exc:
        raise StorageUnavailable(f"could not {doing}: {reason(exc)}") from exc


async def connect_pool(url: str, size: int = 10) -> asyncpg.Pool[asyncpg.Record]:
    try:
        return await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=size,
            server_settings={
                "application_name": "orion-events",
                # A writer that died inside a transaction must not hold the append lock long.
                "idle_in_transaction_session_timeout": "10s",
                "lock_timeout": "30s",
            },
        )
    except DATABASE_ERRORS as exc:
        raise StorageUnavailable(
            f"cannot reach the database at {redact(url)}: {reason(exc)}"
        ) from exc
