"""The store of the data dir or the database, opened by a command for its own work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from orion_events.storage.files.log import FileLog
from orion_events.storage.port import EventLog
from orion_events.storage.postgres.log import PostgresLog
from orion_events.store.store import Store
from service.config import Config

T = TypeVar("T")


def event_log(config: Config) -> EventLog:
    if config.log_url is not None:
        return PostgresLog(config.log_url)
    return FileLog(config.data_dir)


def with_store(
    config: Config,
    work: Callable[[Store], Awaitable[T]],
    *,
    cache_bytes: int | None = None,
    search: bool = True,
) -> T:
    """`work` on the store of `config`'s logs, opened for this alone (DataDirLocked when a
    service holds the data dir), then closed. No snapshot is written: the service writes its
    own when it next starts."""

    async def run() -> T:
        log = event_log(config)
        store = Store(log, snapshot_events=None, cache_bytes=cache_bytes, search=search)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())
