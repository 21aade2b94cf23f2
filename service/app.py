"""The composition root: create_app(config) wires the log, the store and the routes."""

from __future__ import annotations

import asyncio
import functools
import logging
import resource
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from orion_events.storage.files.durable import PosixIO
from orion_events.storage.files.log import FileLog
from orion_events.storage.port import EventLog
from orion_events.storage.postgres.log import PostgresLog
from orion_events.storage.postgres.pool import redact
from orion_events.store.store import Store
from orion_events.store.user_inbox import UserRequest, serve_inbox
from service.app_keys import CONFIG, LOAD_REPORT, RESPONSE_CACHE, SHUTTING_DOWN, STORE
from service.config import Config
from service.limits import open_logs_within
from service.middlewares import cors
from service.response_cache import ResponseCache
from service.routes import setup_routes

log = logging.getLogger(__name__)


async def _store_ctx(app: web.Application, *, log_io: PosixIO | None) -> AsyncIterator[None]:
    config = app[CONFIG]
    cache = None if config.cache_mb is None else config.cache_mb * 1024 * 1024
    event_log: EventLog
    if config.log_url is not None:
        event_log, where = PostgresLog(config.log_url), redact(config.log_url)
    else:
        soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        max_open = open_logs_within(config.max_open_logs, soft_limit)
        event_log = FileLog(config.data_dir, io=log_io, sync=config.sync, max_open=max_open)
        where = str(config.data_dir)
    store = Store(event_log, cache_bytes=cache)
    report = await store.open()
    log.info(
        "loaded %d sessions, %d events from %s in %.3f s%s",
        report.sessions,
        report.events,
        where,
        report.seconds,
        " (from a snapshot and the logs' tails)" if report.from_snapshot else "",
    )
    for stream, what in report.cut_tails.items():
        log.warning("recovered %s: cut a torn last line (%s)", stream, what)
    for stream, what in report.damaged.items():
        log.error("session %s is read-only: its log is damaged at %s", stream, what)
    app[STORE] = store
    app[LOAD_REPORT] = report
    stop_inbox = asyncio.Event()
    inbox = None
    if config.log_url is None:  # on PostgreSQL the command writes the database itself
        inbox = asyncio.create_task(serve_inbox(config.data_dir, _take(store), stop_inbox))
    yield
    stop_inbox.set()
    if inbox is not None:
        await inbox
    await store.close()
    log.info("store closed: every acknowledged write is on disk")


async def _end_streams(app: web.Application) -> None:
    app[SHUTTING_DOWN].set()


def _take(store: Store) -> Callable[[UserRequest], Awaitable[None]]:
    async def take(request: UserRequest) -> None:
        await store.accounts.take(request)

    return take


def create_app(config: Config, *, log_io: PosixIO | None = None) -> web.Application:
    """The service on `config`.

    `log_io` replaces the file log's write/fsync system calls (the default is the real ones): the
    seam through which tests make the disk fail with real OSErrors under the real app. It is no
    setting, so it is not in Config, and it has no meaning for a PostgreSQL log.
    """
    if log_io is not None and config.log_url is not None:
        raise ValueError("log_io applies to the file log only, not to log_url")
    # No middleware unless a setting asks for one: handlers answer their own errors as JSON
    # (middlewares.guarded, the one way errors are answered), and any middleware costs every
    # request two more coroutines (about 1 µs).
    middlewares: list[Middleware] = []
    if config.cors_origins:
        middlewares.append(cors(config.cors_origins))
    app = web.Application(client_max_size=config.max_body, middlewares=middlewares)
    app[CONFIG] = config
    app[SHUTTING_DOWN] = asyncio.Event()
    app[RESPONSE_CACHE] = ResponseCache()
    app.on_shutdown.append(_end_streams)
    app.cleanup_ctx.append(functools.partial(_store_ctx, log_io=log_io))
    setup_routes(app)
    return app
