"""The routes of a session's messages (SPEC §4, §8): add under any parent, read one or a page of
a branch, edit, delete one or a branch, and choose the current branch."""

from __future__ import annotations

from typing import get_args

from aiohttp import web

from orion_events.domain.branches import PAGE_DEFAULT, PAGE_MAX, Branch, Order, message_page
from orion_events.domain.errors import InvalidInput, SessionNotFound
from orion_events.domain.events import AT_CURRENT_LEAF
from orion_events.domain.views import SessionView
from service.answers import idempotency_key, next_link, send_session, store_of
from service.payloads import (
    etag,
    expected_version,
    int_param,
    message_id_of,
    message_json,
    messages_json,
    respond,
    session_id_of,
)
from service.request_bodies import EditMessage, NewMessage, SetCurrent, read_body


async def add_message(request: web.Request) -> web.Response:
    """A message under `parent_id` (absent: the current leaf; null: a new first message)."""
    session_id = session_id_of(request)
    body = await read_body(request, NewMessage)
    view = await store_of(request).add_message(
        session_id,
        role=body["role"],
        content=body["content"],
        agent=body.get("agent"),
        model=body.get("model"),
        parent_id=body.get("parent_id", AT_CURRENT_LEAF),
        expected_version=expected_version(request),
        idempotency_key=idempotency_key(request),
    )
    return respond(message_json(view, view.tree.current), status=201, headers=etag(view.version))


async def get_message(request: web.Request) -> web.Response:
    """One message of any branch."""
    session_id, message_id = session_id_of(request), message_id_of(request)
    view = await store_of(request).loaded(session_id)
    return respond(message_json(view, _number(view, message_id)), headers=etag(view.version))


async def list_messages(request: web.Request) -> web.Response:
    """One page of the current branch, or of every branch (`branch=all`), in either order."""
    session_id = session_id_of(request)
    limit = int_param(request, "limit", default=PAGE_DEFAULT, low=1, high=PAGE_MAX)
    order = _choice(request, "order", get_args(Order))
    branch = _choice(request, "branch", get_args(Branch))
    before, after = request.query.get("before"), request.query.get("after")
    view = await store_of(request).loaded(session_id)
    page = message_page(
        view,
        branch=branch,  # type: ignore[arg-type]
        order=order,  # type: ignore[arg-type]
        before=before,
        after=after,
        limit=limit or PAGE_DEFAULT,
    )
    headers = etag(view.version)
    if page.next is not None:
        cursor, message_id = page.next
        query = {"limit": limit, "order": order, "branch": branch, cursor: message_id}
        if cursor == "after" and before is not None:
            query["before"] = before  # the page that ends there goes on ending there
        headers |= next_link(request, **query)
    return respond(messages_json(view, page.numbers), headers=headers)


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str:
    value = request.query.get(name, allowed[0])
    if value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}", field=name)
    return value


async def edit_message(request: web.Request) -> web.Response:
    session_id, message_id = session_id_of(request), message_id_of(request)
    body = await read_body(request, EditMessage)
    view = await store_of(request).edit_message(
        session_id, message_id, content=body["content"], expected_version=expected_version(request)
    )
    return respond(message_json(view, _number(view, message_id)), headers=etag(view.version))


async def delete_message(request: web.Request) -> web.Response:
    """One message (its replies move up to its parent), or with `?subtree=true` its branch."""
    session_id, message_id = session_id_of(request), message_id_of(request)
    subtree = request.query.get("subtree", "false")
    if subtree not in {"true", "false"}:
        raise InvalidInput("subtree must be true or false", field="subtree")
    view = await store_of(request).delete_message(
        session_id,
        message_id,
        subtree=subtree == "true",
        expected_version=expected_version(request),
    )
    return web.Response(status=204, headers=etag(view.version))


async def set_current(request: web.Request) -> web.StreamResponse:
    """Make the branch through `message_id` current."""
    session_id = session_id_of(request)
    body = await read_body(request, SetCurrent)
    view = await store_of(request).set_current(
        session_id,
        body["message_id"],
        expected_version=expected_version(request),
        idempotency_key=idempotency_key(request),
    )
    return await send_session(request, view)


def _number(view: SessionView, message_id: str) -> int:
    number = view.number_of(message_id)
    if number is None:
        raise SessionNotFound(f"no message {message_id} in session {view.id}")
    return number
