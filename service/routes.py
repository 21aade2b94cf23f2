"""The HTTP API of SPEC §4: one handler per route, named verb_noun."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from orion_events.errors import InvalidInput, SessionNotFound
from orion_events.log import is_session_id
from orion_events.store import MAX_PAGE, Store
from orion_events.views import SETTINGS_KEYS
from service.keys import STORE
from service.payloads import (
    etag,
    expected_version,
    json_object,
    message_json,
    respond,
    session_json,
    settings_json,
)


def _store(request: web.Request) -> Store:
    return request.app[STORE]


def _session_id(request: web.Request) -> str:
    """The path's session id; anything that is not a well-formed id never reaches the disk."""
    raw = request.match_info["session_id"]
    session_id = raw.lower()
    if not is_session_id(session_id):
        raise SessionNotFound(f"no session {raw[:64]!r}")
    return session_id


def _limit(request: web.Request) -> int | None:
    raw = request.query.get("limit")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_PAGE}", field="limit")
    return int(raw)


async def create_session(request: web.Request) -> web.Response:
    body = await json_object(request, {"title", "metadata"}, allow_empty=True)
    view = await _store(request).create_session(body.get("title"), body.get("metadata"))
    headers = {"Location": f"/api/sessions/{view.id}", **etag(view.version)}
    return respond(session_json(view), status=201, headers=headers)


async def list_sessions(request: web.Request) -> web.Response:
    limit = _limit(request)
    page = _store(request).sessions(limit, request.query.get("cursor"))
    headers = {}
    if page.next_cursor is not None:
        query = urlencode({"limit": limit, "cursor": page.next_cursor})
        headers["Link"] = f'<{request.path}?{query}>; rel="next"'
    return respond([session_json(v, messages=False) for v in page.sessions], headers=headers)


async def get_session(request: web.Request) -> web.Response:
    view = _store(request).session(_session_id(request))
    return respond(session_json(view), headers=etag(view.version))


async def update_session(request: web.Request) -> web.Response:
    session_id = _session_id(request)
    body = await json_object(request, {"title", "metadata"})
    view = await _store(request).update_session(
        session_id,
        title=body.get("title"),
        metadata=body.get("metadata"),
        expected_version=expected_version(request),
    )
    return respond(session_json(view), headers=etag(view.version))


async def delete_session(request: web.Request) -> web.Response:
    session_id = _session_id(request)
    await _store(request).delete_session(session_id, expected_version=expected_version(request))
    return web.Response(status=204)


async def add_message(request: web.Request) -> web.Response:
    session_id = _session_id(request)
    body = await json_object(request, {"role", "content", "agent", "model"})
    for required in ("role", "content"):
        if required not in body:
            raise InvalidInput(f"{required} is required", field=required)
    view = await _store(request).add_message(
        session_id,
        role=body["role"],
        content=body["content"],
        agent=body.get("agent"),
        model=body.get("model"),
        expected_version=expected_version(request),
    )
    return respond(message_json(view.messages[-1]), status=201, headers=etag(view.version))


async def clear_messages(request: web.Request) -> web.Response:
    session_id = _session_id(request)
    view = await _store(request).clear_messages(
        session_id, expected_version=expected_version(request)
    )
    return respond(session_json(view), headers=etag(view.version))


async def get_settings(request: web.Request) -> web.Response:
    return respond(settings_json(_store(request).settings))


async def patch_settings(request: web.Request) -> web.Response:
    body = await json_object(request, SETTINGS_KEYS)
    return respond(settings_json(await _store(request).change_settings(body)))


async def reset_settings(request: web.Request) -> web.Response:
    return respond(settings_json(await _store(request).reset_settings()))


async def health(request: web.Request) -> web.Response:
    return respond(_store(request).health())


def setup_routes(app: web.Application) -> None:
    app.router.add_routes(
        [
            web.post("/api/sessions", create_session),
            web.get("/api/sessions", list_sessions, allow_head=False),
            web.get("/api/sessions/{session_id}", get_session, allow_head=False),
            web.put("/api/sessions/{session_id}", update_session),
            web.delete("/api/sessions/{session_id}", delete_session),
            web.post("/api/sessions/{session_id}/messages", add_message),
            web.delete("/api/sessions/{session_id}/messages", clear_messages),
            web.get("/api/settings", get_settings, allow_head=False),
            web.patch("/api/settings", patch_settings),
            web.post("/api/settings/reset", reset_settings),
            web.get("/api/health", health, allow_head=False),
        ]
    )
