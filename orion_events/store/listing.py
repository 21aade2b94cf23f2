"""Listing sessions a page at a time, most recent activity first, with opaque cursors."""

from __future__ import annotations

import base64
import binascii

import orjson
from attrs import frozen

from orion_events.domain.errors import InvalidInput
from orion_events.domain.views import SessionView
from orion_events.store.current import CurrentViews
from orion_events.store.session_order import SessionOrder, merged_page

MAX_PAGE = 1000


@frozen
class Page:
    sessions: list[SessionView]
    next_cursor: str | None


def page_of(
    current: CurrentViews,
    limit: int | None,
    cursor: str | None,
    owners: tuple[str | None, ...] | None = None,
) -> Page:
    """Live sessions, most recent activity first (ties by id), from after `cursor`: every one,
    or those of `owners` (a user's; the first admin's include those made without users)."""
    after = None if cursor is None else _decode_cursor(cursor)
    if owners is None:
        ids, more = current.order.page(limit, after)
    else:
        orders = [current.owned[o] for o in owners if o in current.owned] or [SessionOrder()]
        ids, more = merged_page(orders, limit, after)
    page = [current.sessions[session_id] for session_id in ids]
    return Page(page, _encode_cursor(page[-1]) if more and page else None)


def _encode_cursor(view: SessionView) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([view.updated_at, view.id])).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated_at, session_id = orjson.loads(raw)
        if isinstance(updated_at, str) and isinstance(session_id, str):
            return updated_at, session_id
    except (binascii.Error, ValueError, TypeError):
        pass
    raise InvalidInput("cursor is not one this service gave out", field="cursor")
