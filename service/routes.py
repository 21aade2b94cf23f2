"""The HTTP API of SPEC §4 and its audit, history and live routes: one handler per route."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from orion_events.domain.errors import InvalidInput
from orion_events.domain.views import SessionView, SettingsView
from orion_events.indexes.search import tokenize
from orion_events.store.store import MAX_PAGE
from service import streams, user_routes
from service.access import (
    access_of,
    admitted,
    is_admin_key,
    owner_of_new,
    settings_owner,
    visible_events,
    visible_sessions,
)
from service.answers import idempotency_key, next_link, send_created, send_session, store_of
from service.app_keys import RESPONSE_CACHE
from service.bodies import json_pieces, send_pieces
from service.export import export_json, export_markdown
from service.import_route import import_conversations
from service.message_routes import (
    add_message,
    delete_message,
    edit_message,
    get_message,
    list_messages,
    set_current,
)
from service.middlewares import Handler, guarded, no_route
from service.openapi import openapi_document
from service.page import PAGE_ROUTES
from service.payloads import (
    JSON,
    MAX_COUNT,
    etag,
    event_json,
    expected_version,
    int_param,
    respond,
    session_id_of,
    session_json,
    session_pieces,
    settings_json,
)
from service.request_bodies import (
    CreateSession,
    Fork,
    SettingsPatch,
    UpdateSession,
    read_body,
)

DEFAULT_PAGE = 100
SESSION = "/api/sessions/{session_id}"


# -- sessions -------------------------------------------------------------------------------------


async def create_session(request: web.Request) -> web.StreamResponse:
    body = await read_body(request, CreateSession, allow_empty=True)
    view = await store_of(request).create_session(
        body.get("title"),
        body.get("metadata"),
        idempotency_key=idempotency_key(request),
        owner=owner_of_new(request),
    )
    return await send_created(request, view)


async def list_sessions(request: web.Request) -> web.Response:
    limit = int_param(request, "limit", default=None, low=1, high=MAX_PAGE)
    cursor = request.query.get("cursor")
    store, cache = store_of(request), request.app[RESPONSE_CACHE]
    access = access_of(request)
    owners = None if access is None else access.owners
    page = cache.page(store.list_changes, limit, cursor, owners)
    if page is None:
        found = store.sessions(limit, cursor, owners)
        link = {}
        if found.next_cursor is not None:
            link = next_link(request, limit=limit, cursor=found.next_cursor)
        summaries = cache.summaries(found.sessions)
        page = cache.keep_page(store.list_changes, limit, cursor, summaries, link, owners)
    body, headers = page
    return web.Response(body=body, content_type=JSON, headers=headers)


async def get_session(request: web.Request) -> web.StreamResponse:
    """The session now, or as it was at `?version=N` or at the instant `?as_of=`."""
    session_id = session_id_of(request)
    store = store_of(request)
    if request.query_string:  # most reads ask for the session now, and parse no query
        version = int_param(request, "version", default=None, low=1, high=MAX_COUNT)
        as_of = request.query.get("as_of")
        if version is not None or as_of is not None:
            then, pieces = await store.past(
                session_id, session_pieces, version=version, as_of=as_of
            )
            return await send_pieces(request, pieces, content_type=JSON, headers=etag(then))
    return await send_session(request, await store.loaded(session_id))


async def update_session(request: web.Request) -> web.StreamResponse:
    session_id = session_id_of(request)
    body = await read_body(request, UpdateSession)
    view = await store_of(request).update_session(
        session_id,
        title=body.get("title"),
        metadata=body.get("metadata"),
        expected_version=expected_version(request),
    )
    return await send_session(request, view)


async def delete_session(request: web.Request) -> web.Response:
    session_id = session_id_of(request)
    await store_of(request).delete_session(session_id, expected_version=expected_version(request))
    return web.Response(status=204)


async def restore_session(request: web.Request) -> web.StreamResponse:
    session_id = session_id_of(request)
    view = await store_of(request).restore_session(
        session_id,
        expected_version=expected_version(request),
        idempotency_key=idempotency_key(request),
    )
    return await send_session(request, view)


async def fork_session(request: web.Request) -> web.StreamResponse:
    session_id = session_id_of(request)
    body = await read_body(request, Fork, allow_empty=True)
    store = store_of(request)
    view = await store.fork_session(
        session_id,
        message_id=body.get("message_id"),
        version=body.get("version"),
        title=body.get("title"),
        expected_version=expected_version(request),
        idempotency_key=idempotency_key(request),
        owner=owner_of_new(request),
    )
    return await send_created(request, view)


async def clear_messages(request: web.Request) -> web.StreamResponse:
    session_id = session_id_of(request)
    view = await store_of(request).clear_messages(
        session_id, expected_version=expected_version(request)
    )
    return await send_session(request, view)


# -- history and the global feed ------------------------------------------------------------------


async def session_events(request: web.Request) -> web.Response:
    """A session's events after seq `?after=`, paged; it answers for a deleted session too."""
    session_id = session_id_of(request)
    after = int_param(request, "after", default=0, low=0, high=MAX_COUNT) or 0
    limit = int_param(request, "limit", default=DEFAULT_PAGE, low=1, high=MAX_PAGE) or 1
    records = await store_of(request).history(session_id, after, limit + 1)
    headers = {}
    if len(records) > limit:
        records = records[:limit]
        headers = next_link(request, after=records[-1].seq, limit=limit)
    return respond([event_json(r) for r in records], headers=headers)


async def list_events(request: web.Request) -> web.Response:
    """Every event of every log after global position `?after=`, in order, paged."""
    after = int_param(request, "after", default=0, low=0, high=MAX_COUNT) or 0
    limit = int_param(request, "limit", default=DEFAULT_PAGE, low=1, high=MAX_PAGE) or 1
    records = await store_of(request).feed(after, limit + 1, visible_events(request))
    headers = {}
    if len(records) > limit:
        records = records[:limit]
        headers = next_link(request, after=records[-1].position, limit=limit)
    return respond([event_json(r) for r in records], headers=headers)


async def export_session(request: web.Request) -> web.StreamResponse:
    """The session for keeping: `?format=json` (with every event) or `markdown` (a transcript)."""
    session_id = session_id_of(request)
    kind = request.query.get("format", "json")
    if kind not in {"json", "markdown"}:
        raise InvalidInput("format must be json or markdown", field="format")
    store = store_of(request)
    view = await store.loaded(session_id)
    disposition = {"Content-Disposition": f'attachment; filename="{session_id}.{_SUFFIX[kind]}"'}
    if kind == "markdown":
        text = await store.reads.run(export_markdown, view, size=view.message_count)
        return web.Response(text=text, content_type="text/markdown", headers=disposition)
    records = await store.history(session_id, 0, view.version)
    size = len(records)
    return await _off_loop(request, export_json, view, records, size=size, headers=disposition)


_SUFFIX = {"json": "json", "markdown": "md"}


async def _off_loop(
    request: web.Request,
    make: Callable[..., Any],
    view: SessionView,
    *args: Any,
    size: int,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """The JSON of `make(view, *args)` with the view's ETag, built and encoded on the store's
    read thread and sent in pieces (bodies.py): a body of a long history costs as much as
    reading it, and holds the loop no longer than a piece at a time."""

    def encode() -> list[bytes]:
        return json_pieces(make(view, *args, sliced=True))

    pieces = await store_of(request).reads.run(encode, size=size)
    headers = {**(headers or {}), **etag(view.version)}
    return await send_pieces(request, pieces, content_type=JSON, status=status, headers=headers)


# -- settings and health --------------------------------------------------------------------------


def _settings(view: SettingsView) -> web.Response:
    """The caller's settings, with their version (the seq of their last change in the settings
    log; 0 before any) as their ETag."""
    return respond(settings_json(view), headers=etag(view.version))


async def get_settings(request: web.Request) -> web.Response:
    return _settings(store_of(request).settings_of(settings_owner(request)))


async def patch_settings(request: web.Request) -> web.Response:
    body = await read_body(request, SettingsPatch)
    changed = store_of(request).change_settings(
        body, expected_version=expected_version(request), user_id=settings_owner(request)
    )
    return _settings(await changed)


async def reset_settings(request: web.Request) -> web.Response:
    reset = store_of(request).reset_settings(
        expected_version=expected_version(request),
        idempotency_key=idempotency_key(request),
        user_id=settings_owner(request),
    )
    return _settings(await reset)


async def search(request: web.Request) -> web.Response:
    """Sessions whose title or messages hold every word of `?q=`, best first."""
    query = request.query.get("q", "")
    if not tokenize(query):
        raise InvalidInput("q must hold at least one word", field="q")
    limit = int_param(request, "limit", default=20, low=1, high=MAX_PAGE) or 1
    offset = int_param(request, "offset", default=0, low=0, high=MAX_COUNT) or 0
    store = store_of(request)
    page = await store.search(query, limit=limit, offset=offset, visible=visible_sessions(request))
    hits = [
        {
            "session": session_json(store.session(hit.session_id), messages=False),
            "score": hit.score,
            "title_match": hit.title_match,
            "message_ids": list(hit.message_ids),
        }
        for hit in page.hits
    ]
    body: dict[str, Any] = {"hits": hits, "total": page.total}
    if offset + len(hits) < page.total:
        body["next_offset"] = offset + len(hits)
    return respond(body)


async def health(request: web.Request) -> web.Response:
    """Liveness for anyone; with users, the counts and the damaged logs' names for admins."""
    store = store_of(request)
    found = store.health()
    if store.accounts.view.enabled and not is_admin_key(request):
        found = {"status": found["status"]}
    return respond(found)


async def openapi_json(request: web.Request) -> web.Response:
    return respond(openapi_document())


ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/api/sessions", create_session),
    ("GET", "/api/sessions", list_sessions),
    ("GET", SESSION, get_session),
    ("PUT", SESSION, update_session),
    ("DELETE", SESSION, delete_session),
    ("POST", f"{SESSION}/restore", restore_session),
    ("POST", f"{SESSION}/fork", fork_session),
    ("GET", f"{SESSION}/events", session_events),
    ("GET", f"{SESSION}/events/stream", streams.stream_session),
    ("GET", f"{SESSION}/export", export_session),
    ("GET", f"{SESSION}/messages", list_messages),
    ("POST", f"{SESSION}/messages", add_message),
    ("DELETE", f"{SESSION}/messages", clear_messages),
    ("GET", f"{SESSION}/messages/{{message_id}}", get_message),
    ("PATCH", f"{SESSION}/messages/{{message_id}}", edit_message),
    ("DELETE", f"{SESSION}/messages/{{message_id}}", delete_message),
    ("PUT", f"{SESSION}/current", set_current),
    ("GET", "/api/events", list_events),
    ("GET", "/api/events/stream", streams.stream_feed),
    ("GET", "/api/search", search),
    ("GET", "/api/settings", get_settings),
    ("PATCH", "/api/settings", patch_settings),
    ("POST", "/api/settings/reset", reset_settings),
    ("POST", "/api/import", import_conversations),
    ("GET", "/api/me", user_routes.me),
    ("GET", "/api/users", user_routes.list_users),
    ("POST", "/api/users", user_routes.create_user),
    ("DELETE", "/api/users/{user_id}", user_routes.disable_user),
    ("POST", "/api/users/{user_id}/keys", user_routes.issue_key),
    ("DELETE", "/api/keys/{key_id}", user_routes.revoke_key),
    ("GET", "/api/health", health),
    ("GET", "/api/openapi.json", openapi_json),
    *PAGE_ROUTES,  # the web page (SPEC §11): no data of its own, so no key
    ("*", "/{path:.*}", no_route),  # last: only what no route above matched
]


def setup_routes(app: web.Application) -> None:
    # web.route, not web.get: a GET route here answers GET alone, no HEAD.
    app.router.add_routes(
        [web.route(method, path, guarded(admitted(handler))) for method, path, handler in ROUTES]
    )
