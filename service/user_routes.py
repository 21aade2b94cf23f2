"""The users' routes (SPEC §9): who am I, and for admins the users and their keys. A key is in
an answer once, when it is made; after that only its id and first characters are shown."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from orion_events.domain.errors import SessionNotFound, VersionConflict
from orion_events.domain.streams import is_session_id
from orion_events.domain.users import Access, UsersView, UserView
from service.access import access_of
from service.answers import store_of
from service.errors import ApiError
from service.payloads import respond
from service.request_bodies import NewUser, read_body

NO_USERS = (
    "the service runs without users; make the first admin with: orion-events users add NAME --admin"
)


def user_json(user: UserView) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "role": user.role}


def _listed(users: UsersView, user: UserView) -> dict[str, Any]:
    keys = [
        {
            "key_id": key.key_id,
            "prefix": key.lookup,
            "created_at": key.created_at,
            "revoked": key.revoked,
        }
        for key in users.keys.values()
        if key.user_id == user.id
    ]
    return {
        **user_json(user),
        "created_at": user.created_at,
        "disabled": user.disabled,
        "keys": keys,
    }


def _caller(request: web.Request) -> Access:
    access = access_of(request)
    if access is None:
        raise ApiError(403, "forbidden", NO_USERS)
    return access


def _admin(request: web.Request) -> UserView:
    user = _caller(request).user
    if not user.admin:
        raise ApiError(403, "forbidden", "only an admin may manage users and keys")
    return user


def _path_id(request: web.Request, name: str, what: str) -> str:
    raw = request.match_info[name]
    if not is_session_id(raw.lower()):
        raise SessionNotFound(f"no {what} {raw[:64]!r}")
    return raw.lower()


async def me(request: web.Request) -> web.Response:
    return respond(user_json(_caller(request).user))


async def list_users(request: web.Request) -> web.Response:
    _admin(request)
    users = store_of(request).accounts.view
    return respond([_listed(users, user) for user in users.users.values()])


async def create_user(request: web.Request) -> web.Response:
    _admin(request)
    body = await read_body(request, NewUser)
    made = await store_of(request).accounts.create_user(body["name"], body.get("role", "user"))
    return respond(
        {**user_json(made.user), "key": made.key},
        status=201,
        headers={"Location": f"/api/users/{made.user.id}"},
    )


async def issue_key(request: web.Request) -> web.Response:
    _admin(request)
    user_id = _path_id(request, "user_id", "user")
    made = await store_of(request).accounts.issue_key(user_id)
    return respond({"key_id": made.key_id, "key": made.key}, status=201)


async def revoke_key(request: web.Request) -> web.Response:
    _admin(request)
    await store_of(request).accounts.revoke_key(_path_id(request, "key_id", "key"))
    return web.Response(status=204)


async def disable_user(request: web.Request) -> web.Response:
    _admin(request)
    user_id = _path_id(request, "user_id", "user")
    accounts = store_of(request).accounts
    admins = [u for u in accounts.view.users.values() if u.admin and not u.disabled]
    if [u.id for u in admins] == [user_id]:
        raise VersionConflict("the last admin cannot be disabled", field="user_id")
    await accounts.disable_user(user_id)
    return web.Response(status=204)
