"""Typed keys for what the application holds."""

from __future__ import annotations

import asyncio

from aiohttp import web

from orion_events.store.store import LoadReport, Store
from service.config import Config
from service.payloads import EncodedSessions

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
LOAD_REPORT = web.AppKey("load_report", LoadReport)
SESSION_BODIES = web.AppKey("session_bodies", EncodedSessions)
# Set when the server begins to stop, so live streams end and shutdown need not wait for them.
SHUTTING_DOWN = web.AppKey("shutting_down", asyncio.Event)
