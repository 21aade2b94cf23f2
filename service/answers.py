"""What every handler shares: the store a request reaches, the request facts a write carries
(Idempotency-Key), the Link to a next page, and a session sent as its cached JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from orion_events.domain.views import SessionView
from orion_events.store.idempotency import IdempotencyKey
from orion_events.store.store import Store
from service.app_keys import RESPONSE_CACHE, STORE
from service.bodies import send_pieces
from service.payloads import JSON, etag, session_pieces


def store_of(request: web.Request) -> Store:
    return request.app[STORE]


def idempotency_key(request: web.Request) -> str | None:
    """The request's Idempotency-Key, a malformed one refused (422) here: before the store
    compares If-Match, which would otherwise answer 412 to a request that is bad anyway."""
    key = request.headers.get("Idempotency-Key")
    IdempotencyKey.of("", key)
    return key


def next_link(request: web.Request, **query: Any) -> dict[str, str]:
    """The Link to the next page: `query`, and the `owner` an admin reads as, if any."""
    if "owner" in request.query:
        query["owner"] = request.query["owner"]
    return {"Link": f'<{request.path}?{urlencode(query)}>; rel="next"'}


async def send_session(
    request: web.Request,
    view: SessionView,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """The session's JSON, encoded once a version (ResponseCache), a long one off the loop
    and sent in pieces (bodies.py): answering a write to a long session costs what a read does."""
    cache = request.app[RESPONSE_CACHE]
    pieces = cache.body(view)
    if pieces is None:
        size = view.message_count
        pieces = cache.keep(
            view, await store_of(request).reads.run(session_pieces, view, size=size)
        )
    headers = {**(headers or {}), **etag(view.version)}
    return await send_pieces(request, pieces, content_type=JSON, status=status, headers=headers)


async def send_created(request: web.Request, view: SessionView) -> web.StreamResponse:
    return await send_session(request, view, status=201, headers=location(view))


def location(view: SessionView) -> dict[str, str]:
    return {"Location": f"/api/sessions/{view.id}"}
