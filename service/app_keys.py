"""Typed aiohttp AppKeys for what the application holds (not the idempotency keys of writes)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from orion_events.store.store import LoadReport, Store
from service.config import Config
from service.response_cache import ResponseCache

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
LOAD_REPORT = web.AppKey("load_report", LoadReport)
RESPONSE_CACHE = web.AppKey("response_cache", ResponseCache)
# Set when the server begins to stop, so live streams end and shutdown need not wait for them.
SHUTTING_DOWN = web.AppKey("shutting_down", asyncio.Event)
