"""Who a request acts for (SPEC §7, §9), checked before its handler runs: nobody without users
(open, or the one shared token), else the user whose key it sends; and the rule that a user sees
their own sessions alone, another's answering exactly as an id that does not exist."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable

from aiohttp import web

from orion_events.domain.errors import SessionNotFound
from orion_events.domain.events import Recorded
from orion_events.domain.streams import TOP_LEVEL_STREAMS
from orion_events.domain.users import Access, UsersView, UserView
from orion_events.store.store import Store
from service.app_keys import CONFIG, STORE
from service.errors import ApiError
from service.middlewares import Handler

ACCESS = web.RequestKey("access", Access)  # set on every request of a service with users
# What answers without a key once there are users (the token guards the document without them).
PUBLIC = frozenset({"/api/health", "/api/openapi.json"})
_UNAUTHORIZED = "send Authorization: Bearer <key> with a key that is live"


def access_of(request: web.Request) -> Access | None:
    """Whom the request acts for; None without users (every session is everyone's)."""
    return request.get(ACCESS)


async def admit(request: web.Request) -> None:
    """Let the request through, or raise what it gets instead: 401 without a live key (or the
    token), 403 for an admin's `?owner=` asked by a non-admin, 404 for a session of another
    user, exactly as for a session that does not exist."""
    path = request.path
    if not path.startswith("/api/") or request.method == "OPTIONS":
        return
    store = request.app[STORE]
    accounts = store.accounts
    users = accounts.view
    if not users.enabled:
        _check_token(request)
        return
    if path in PUBLIC:
        return
    header = request.headers.get("Authorization", "")
    # what clients send, taken apart without a method call; any other spelling the long way
    key = header[7:].strip() if header.startswith("Bearer ") else _presented(header)
    access = accounts.access_of(key)
    if access is None:
        raise ApiError(401, "unauthorized", _UNAUTHORIZED)
    # most requests have no query string: parsing one (request.query) costs more than the key
    owner = request.query.get("owner") if "?" in request.raw_path else None
    if owner is not None and owner != access.user.id:
        access = await _as_owner(request, store, users, access.user, owner)
    request[ACCESS] = access
    session_id = request.match_info.get("session_id")
    if session_id is not None:  # a malformed id is in no view: the handler says 404
        session_id = session_id.lower()
        view = store.view_of(session_id)
        if view is not None and not access.owns(view):
            raise SessionNotFound(f"no session {session_id}")


def is_admin_key(request: web.Request) -> bool:
    """Whether the request sends an admin's live key (on a route that needs none)."""
    user = _user_of(request.app[STORE].accounts.view, request.headers.get("Authorization", ""))
    return user is not None and user.admin


def _check_token(request: web.Request) -> None:
    token = request.app[CONFIG].api_token
    if token and request.path != "/api/health":
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, f"Bearer {token}".encode("utf-8", "surrogateescape")):
            raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")


def _presented(header: str) -> str:
    """The key an Authorization header sends ("" for none)."""
    scheme, _, key = header.partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def _user_of(users: UsersView, header: str) -> UserView | None:
    key = _presented(header)
    return users.user_of(key) if key else None


async def _as_owner(
    request: web.Request, store: Store, users: UsersView, user: UserView, owner: str
) -> Access:
    """An admin reading another user's data, recorded in the operator log first."""
    if not user.admin:
        raise ApiError(
            403, "forbidden", "only an admin may read another user's data", field="owner"
        )
    if request.method != "GET":
        raise ApiError(422, "invalid_field", "owner is for reads only", field="owner")
    target = users.users.get(owner)
    if target is None:
        raise SessionNotFound(f"no user {owner[:64]!r}")
    await store.accounts.record_admin_read(user.id, owner, f"{request.method} {request.path}")
    return Access(target, users.first_admin, reader=user)


def visible_events(request: web.Request) -> Callable[[Recorded], bool] | None:
    """Which events of the global feed and its stream the caller may see: with users, those of
    their own sessions (no other log: the users and operator logs are no user's)."""
    access = access_of(request)
    if access is None:
        return None
    store = request.app[STORE]

    def visible(recorded: Recorded) -> bool:
        if recorded.stream in TOP_LEVEL_STREAMS:
            return False
        view = store.view_of(recorded.stream)
        return view is not None and access.owns(view)

    return visible


def visible_sessions(request: web.Request) -> Callable[[str], bool] | None:
    """Which sessions (by id) the caller may see in search hits; None: all of them."""
    access = access_of(request)
    if access is None:
        return None
    store = request.app[STORE]

    def visible(session_id: str) -> bool:
        view = store.view_of(session_id)
        return view is not None and access.owns(view)

    return visible


def owner_of_new(request: web.Request) -> str | None:
    """Whose a session made by this request is (None without users)."""
    access = access_of(request)
    return None if access is None else access.user.id


def settings_owner(request: web.Request) -> str | None:
    """Whose settings the request reads or writes: the caller's; None without users, and for
    the first admin, whose are the service's from before users."""
    access = access_of(request)
    if access is None or access.user.id == access.first_admin:
        return None
    return access.user.id


def admitted(handler: Handler) -> Handler:
    """`handler` behind `admit`."""

    @functools.wraps(handler)
    async def admitted_handler(request: web.Request) -> web.StreamResponse:
        await admit(request)
        return await handler(request)

    return admitted_handler
