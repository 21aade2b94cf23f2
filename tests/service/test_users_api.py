"""Users, keys and isolation over HTTP (SPEC §9): keys and what refuses them, the admin API, and
the cross-user matrix: for every route of the router's own table, a second user's request on the
first user's data is answered as if that data did not exist, and changes nothing."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest

from orion_events.domain.errors import InvalidInput
from service.app_keys import STORE
from service.routes import ROUTES
from tests.service.expect import expect_error
from tests.service.test_live_api import open_stream

CHATGPT_EXPORT = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "chatgpt.json"

# -- a service with users -------------------------------------------------------------------------


@attrs.define
class World:
    client: Any
    root: str  # the first admin's key
    alice: str
    bob: str
    alice_id: str = ""
    bob_id: str = ""

    def as_(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    async def call(self, key: str | None, method: str, url: str, body: Any = None) -> Any:
        headers = {} if key is None else self.as_(key)
        return await self.client.request(method, url, json=body, headers=headers)

    async def ok(self, key: str, method: str, url: str, body: Any = None) -> Any:
        response = await self.call(key, method, url, body)
        assert response.status < 300, (method, url, response.status, await response.text())
        return None if response.status == 204 else await response.json()


async def with_users(client: Any) -> World:
    """The first admin made as `orion-events users add root --admin` makes it (through the
    store), then alice and bob by the admin API."""
    made = await client.server.app[STORE].accounts.create_user("root", "admin")
    team = World(client, made.key, "", "")
    for name in ("alice", "bob"):
        user = await team.ok(made.key, "POST", "/api/users", {"name": name})
        setattr(team, name, user["key"])
        setattr(team, f"{name}_id", user["id"])
    return team


@pytest.fixture
async def team(client: Any) -> World:
    return await with_users(client)


async def last_position(team: World) -> int:  # health says it to an admin
    return (await team.ok(team.root, "GET", "/api/health"))["last_position"]  # type: ignore[no-any-return]


# -- keys ---------------------------------------------------------------------------------------


async def test_with_users_every_route_but_health_and_the_document_needs_a_live_key(
    team: World,
) -> None:
    for headers in ({}, {"Authorization": "Bearer orion_nope"}, {"Authorization": team.root}):
        response = await team.client.get("/api/sessions", headers=headers)
        error = await expect_error(team.client, response, 401)
        assert "orion_" not in error["message"]
    anyone = await team.client.get("/api/health")
    assert anyone.status == 200
    assert set(await anyone.json()) == {"status"}  # no counts nor names of damaged logs
    assert set(await team.ok(team.alice, "GET", "/api/health")) == {"status"}
    assert "read_only_sessions" in await team.ok(team.root, "GET", "/api/health")
    assert (await team.client.get("/api/openapi.json")).status == 200
    assert await team.ok(team.alice, "GET", "/api/me") == {
        "id": team.alice_id,
        "name": "alice",
        "role": "user",
    }


async def test_a_revoked_key_is_refused_from_the_next_request_and_rotation_keeps_access(
    team: World,
) -> None:
    assert (await team.ok(team.alice, "GET", "/api/me"))["id"] == team.alice_id  # known now
    second = await team.ok(team.root, "POST", f"/api/users/{team.alice_id}/keys")
    assert re.fullmatch(r"orion_[A-Za-z0-9_-]{43}", second["key"])
    listed = await team.ok(team.root, "GET", "/api/users")
    alice = next(u for u in listed if u["id"] == team.alice_id)
    first_key = next(k for k in alice["keys"] if k["key_id"] != second["key_id"])
    assert first_key["prefix"] == team.alice[:14]
    await team.ok(team.root, "DELETE", f"/api/keys/{first_key['key_id']}")
    await expect_error(team.client, await team.call(team.alice, "GET", "/api/me"), 401)
    assert (await team.ok(second["key"], "GET", "/api/me"))["id"] == team.alice_id
    response = await team.call(team.root, "DELETE", f"/api/keys/{first_key['key_id']}")
    await expect_error(team.client, response, 404)


async def test_a_disabled_user_is_refused_with_every_key_and_keeps_their_sessions(
    team: World,
) -> None:
    other = (await team.ok(team.root, "POST", f"/api/users/{team.bob_id}/keys"))["key"]
    session = await team.ok(team.bob, "POST", "/api/sessions", {"title": "kept"})
    await team.ok(team.root, "DELETE", f"/api/users/{team.bob_id}")
    for key in (team.bob, other):
        await expect_error(team.client, await team.call(key, "GET", "/api/me"), 401)
    read = f"/api/sessions/{session['id']}?owner={team.bob_id}"
    assert (await team.ok(team.root, "GET", read))["title"] == "kept"
    response = await team.call(team.root, "POST", f"/api/users/{team.bob_id}/keys")
    await expect_error(team.client, response, 404)


async def test_the_last_admin_cannot_be_disabled(team: World) -> None:
    root_id = (await team.ok(team.root, "GET", "/api/me"))["id"]
    response = await team.call(team.root, "DELETE", f"/api/users/{root_id}")
    await expect_error(team.client, response, 409)
    await team.ok(team.root, "POST", "/api/users", {"name": "second admin", "role": "admin"})
    await team.ok(team.root, "DELETE", f"/api/users/{root_id}")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": " padded"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "ok", "role": "root"}, "role"),
        ({"name": "ok", "extra": 1}, "extra"),
        ({"name": 5}, "name"),
    ],
)
async def test_a_bad_new_user_is_422(team: World, body: Any, field: str) -> None:
    response = await team.call(team.root, "POST", "/api/users", body)
    await expect_error(team.client, response, 422, field=field)


async def test_a_name_is_taken_whatever_its_case(team: World) -> None:
    response = await team.call(team.root, "POST", "/api/users", {"name": "ALICE"})
    await expect_error(team.client, response, 409)


ADMIN_ROUTES = [
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("DELETE", "/api/users/{id}"),
    ("POST", "/api/users/{id}/keys"),
    ("DELETE", "/api/keys/{id}"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_admin_routes_are_403_for_users(team: World, method: str, path: str) -> None:
    url = path.format(id=team.alice_id)
    response = await team.call(team.bob, method, url, {"name": "x"})
    await expect_error(team.client, response, 403)


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_admin_routes_and_me_are_403_without_users(
    client: Any, method: str, path: str
) -> None:
    url = path.format(id=uuid.uuid4())
    await expect_error(client, await client.request(method, url, json={"name": "x"}), 403)
    await expect_error(client, await client.get("/api/me"), 403)


async def test_malformed_user_and_key_ids_are_404(team: World) -> None:
    for method, url in (
        ("DELETE", "/api/users/nope"),
        ("POST", "/api/users/nope/keys"),
        ("DELETE", "/api/keys/nope"),
        ("DELETE", f"/api/keys/{uuid.uuid4()}"),
    ):
        await expect_error(team.client, await team.call(team.root, method, url), 404)


# -- what each user sees ---------------------------------------------------------------------------


async def test_sessions_from_before_users_belong_to_the_first_admin(make_client: Any) -> None:
    client = await make_client()
    before = await (await client.post("/api/sessions", json={"title": "old"})).json()
    team = await with_users(client)
    listed = await team.ok(team.root, "GET", "/api/sessions")
    assert [s["id"] for s in listed] == [before["id"]]
    assert await team.ok(team.alice, "GET", "/api/sessions") == []
    response = await team.call(team.alice, "GET", f"/api/sessions/{before['id']}")
    await expect_error(team.client, response, 404)


async def test_an_admin_reads_another_users_data_with_owner_and_it_is_recorded(
    team: World,
) -> None:
    mine = await team.ok(team.alice, "POST", "/api/sessions", {"title": "alice's"})
    listed = await team.ok(team.root, "GET", f"/api/sessions?owner={team.alice_id}")
    assert [s["id"] for s in listed] == [mine["id"]]
    one = await team.ok(team.root, "GET", f"/api/sessions/{mine['id']}?owner={team.alice_id}")
    assert one["title"] == "alice's"
    response = await team.call(team.bob, "GET", f"/api/sessions?owner={team.alice_id}")
    await expect_error(team.client, response, 403)
    response = await team.call(
        team.root, "DELETE", f"/api/sessions/{mine['id']}?owner={team.alice_id}"
    )
    await expect_error(team.client, response, 422)
    store = team.client.server.app[STORE]
    reads = [r for r in await store.feed(0, 1000) if r.type == "admin_read"]
    assert [(r.event.by, r.event.owner) for r in reads] == [  # type: ignore[union-attr]
        ((await team.ok(team.root, "GET", "/api/me"))["id"], team.alice_id)
    ] * 2


async def test_each_user_has_their_own_settings(team: World) -> None:
    await team.ok(team.alice, "PATCH", "/api/settings", {"theme": "light"})
    assert (await team.ok(team.bob, "GET", "/api/settings"))["theme"] == "dark"
    assert (await team.ok(team.alice, "GET", "/api/settings"))["theme"] == "light"
    response = await team.call(team.bob, "GET", "/api/settings")
    assert response.headers["ETag"] == '"0"'  # bob never changed his


async def test_keys_are_in_no_file_of_the_data_dir(team: World, data_dir: Path) -> None:
    await team.ok(team.alice, "POST", "/api/sessions", {"title": "x"})
    await team.client.close()  # a snapshot too
    files = [p for p in data_dir.rglob("*") if p.is_file()]  # noqa: ASYNC240 (a test's few files)
    everything = b"".join(p.read_bytes() for p in files)
    for key in (team.root, team.alice, team.bob):
        assert key.encode() not in everything
        assert key[14:].encode() not in everything  # nor what follows the clear part


# -- the cross-user matrix -------------------------------------------------------------------------

ROUTE_TABLE = [(m, p) for m, p, _ in ROUTES if m != "*"]  # all but the catch-all
SESSION_ROUTES = [(m, p) for m, p in ROUTE_TABLE if p.startswith("/api/sessions/{session_id}")]
# A body each session route accepts, so that only whose session it is differs.
BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "/api/sessions/{session_id}"): {"title": "taken over"},
    ("POST", "/api/sessions/{session_id}/fork"): {},
    ("POST", "/api/sessions/{session_id}/messages"): {"role": "user", "content": "intrusion"},
    ("PATCH", "/api/sessions/{session_id}/messages/{message_id}"): {"content": "changed"},
    ("PUT", "/api/sessions/{session_id}/current"): {"message_id": "{message_id}"},
}


async def alices_session(team: World) -> tuple[str, str]:
    session = await team.ok(team.alice, "POST", "/api/sessions", {"title": "alice secret"})
    url = f"/api/sessions/{session['id']}/messages"
    message = await team.ok(team.alice, "POST", url, {"role": "user", "content": "zebra"})
    return session["id"], message["id"]


async def answer(
    team: World, method: str, path: str, session_id: str, message_id: str
) -> tuple[int, str]:
    url = path.format(session_id=session_id, message_id=message_id)
    body = BODIES.get((method, path))
    if isinstance(body, dict):
        body = {
            k: v.format(message_id=message_id) if isinstance(v, str) else v for k, v in body.items()
        }
    response = await team.call(team.bob, method, url, body)
    text = await response.text()
    return response.status, text.replace(session_id, "<session>").replace(message_id, "<message>")


@pytest.mark.parametrize(("method", "path"), SESSION_ROUTES)
async def test_another_users_session_is_answered_as_one_that_does_not_exist(
    team: World, method: str, path: str
) -> None:
    session_id, message_id = await alices_session(team)
    before = await last_position(team)
    alices = await team.ok(team.alice, "GET", f"/api/sessions/{session_id}")
    theirs = await answer(team, method, path, session_id, message_id)
    missing = await answer(team, method, path, str(uuid.uuid4()), str(uuid.uuid4()))
    assert theirs == missing
    assert theirs[0] == 404
    assert await last_position(team) == before  # nothing written
    assert await team.ok(team.alice, "GET", f"/api/sessions/{session_id}") == alices


Check = Callable[[World, str], Awaitable[None]]


async def _sees_none_of_alices(team: World, session_id: str, method: str, url: str) -> None:
    response = await team.call(team.bob, method, url)
    text = await response.text()
    assert session_id not in text
    assert "alice secret" not in text
    assert "zebra" not in text


async def _list(team: World, session_id: str) -> None:
    await _sees_none_of_alices(team, session_id, "GET", "/api/sessions")


async def _create(team: World, session_id: str) -> None:
    made = await team.ok(team.bob, "POST", "/api/sessions", {"title": "bob's"})
    alices = await team.ok(team.alice, "GET", "/api/sessions")
    assert made["id"] not in [s["id"] for s in alices]


async def _import(team: World, session_id: str) -> None:
    """Each user's imports are their own: the same file imported by alice and then by bob gives
    each their own sessions, and neither learns that the other imported it."""
    export = orjson.loads(CHATGPT_EXPORT.read_bytes())
    alices = await team.ok(team.alice, "POST", "/api/import", export)
    bobs = await team.ok(team.bob, "POST", "/api/import", export)
    assert (alices["imported"], bobs["imported"], bobs["skipped"]) == (2, 2, 0)
    assert (await team.ok(team.alice, "POST", "/api/import", export))["skipped"] == 2
    listed = {s["id"] for s in await team.ok(team.alice, "GET", "/api/sessions")}
    assert set(alices["sessions"]) <= listed
    assert not set(bobs["sessions"]) & listed
    for made in bobs["sessions"]:
        assert (await team.call(team.alice, "GET", f"/api/sessions/{made}")).status == 404


async def _feed(team: World, session_id: str) -> None:
    await _sees_none_of_alices(team, session_id, "GET", "/api/events?limit=1000")


async def _feed_stream(team: World, session_id: str) -> None:
    await team.ok(team.bob, "POST", "/api/sessions", {"title": "bob's"})
    stream = await open_stream(team.client, "/api/events/stream?after=0", **team.as_(team.bob))
    seen = await stream.messages(1)  # bob's own session: the only event he may see
    await team.ok(team.alice, "PUT", f"/api/sessions/{session_id}", {"title": "alice's"})
    again = await team.ok(team.bob, "POST", "/api/sessions", {"title": "bob's again"})
    seen += await stream.messages(1)  # bob's, live; alice's rename came before it, unseen
    stream.close()
    assert all(m.data["stream"] != session_id for m in seen)
    assert seen[-1].data["stream"] == again["id"]


async def _search(team: World, session_id: str) -> None:
    found = await team.ok(team.bob, "GET", "/api/search?q=zebra")
    assert found["hits"] == []
    assert (await team.ok(team.alice, "GET", "/api/search?q=zebra"))["total"] == 1


async def _settings(team: World, session_id: str) -> None:
    await team.ok(team.bob, "PATCH", "/api/settings", {"theme": "light"})
    await team.ok(team.bob, "POST", "/api/settings/reset")
    await team.ok(team.bob, "PATCH", "/api/settings", {"language": "fr"})
    alices = await team.ok(team.alice, "GET", "/api/settings")
    assert (alices["theme"], alices["language"]) == ("dark", "en")


async def _admin_only(team: World, session_id: str) -> None:
    for method, url in (
        ("GET", "/api/users"),
        ("POST", "/api/users"),
        ("DELETE", f"/api/users/{team.alice_id}"),
        ("POST", f"/api/users/{team.alice_id}/keys"),
    ):
        response = await team.call(team.bob, method, url, {"name": "mallory"})
        await expect_error(team.client, response, 403)


async def _revoke_alices_key(team: World, session_id: str) -> None:
    listed = await team.ok(team.root, "GET", "/api/users")
    key_id = next(u for u in listed if u["id"] == team.alice_id)["keys"][0]["key_id"]
    response = await team.call(team.bob, "DELETE", f"/api/keys/{key_id}")
    await expect_error(team.client, response, 403)
    assert (await team.ok(team.alice, "GET", "/api/me"))["id"] == team.alice_id


async def _me(team: World, session_id: str) -> None:
    assert (await team.ok(team.bob, "GET", "/api/me"))["id"] == team.bob_id


async def _public(team: World, session_id: str) -> None:
    for url in ("/api/health", "/api/openapi.json"):
        await _sees_none_of_alices(team, session_id, "GET", url)


async def _page(team: World, session_id: str) -> None:
    """The page holds no data: the same bytes for anyone, with a key or without, and for a
    session of another user as for a session that does not exist."""
    unknown = "/sessions/00000000-0000-4000-8000-000000000000"
    pages = {}
    for url in ("/", f"/sessions/{session_id}", unknown, "/docs", "/static/docs.js"):
        for key in (None, team.bob):
            response = await team.call(key, "GET", url)
            assert response.status == 200, url
            pages[url, key] = await response.read()
            assert session_id.encode() not in pages[url, key]
    assert pages["/", None] == pages[f"/sessions/{session_id}", team.bob] == pages[unknown, None]
    assert (await team.call(None, "GET", "/docs/swagger-ui.css")).status == 200


OTHER_ROUTES: dict[tuple[str, str], Check] = {
    ("GET", "/api/sessions"): _list,
    ("POST", "/api/sessions"): _create,
    ("POST", "/api/import"): _import,
    ("GET", "/api/events"): _feed,
    ("GET", "/api/events/stream"): _feed_stream,
    ("GET", "/api/search"): _search,
    ("GET", "/api/settings"): _settings,
    ("PATCH", "/api/settings"): _settings,
    ("POST", "/api/settings/reset"): _settings,
    ("GET", "/api/me"): _me,
    ("GET", "/api/users"): _admin_only,
    ("POST", "/api/users"): _admin_only,
    ("DELETE", "/api/users/{user_id}"): _admin_only,
    ("POST", "/api/users/{user_id}/keys"): _admin_only,
    ("DELETE", "/api/keys/{key_id}"): _revoke_alices_key,
    ("GET", "/api/health"): _public,
    ("GET", "/api/openapi.json"): _public,
    ("GET", "/"): _page,
    ("GET", "/sessions/{session_id}"): _page,
    ("GET", "/docs"): _page,
    ("GET", "/docs/{name}"): _page,
    ("GET", "/static/{name}"): _page,
}


def test_the_matrix_covers_every_route_of_the_router() -> None:
    """A route missing from the matrix fails here, so isolation cannot silently rot."""
    assert sorted(SESSION_ROUTES + list(OTHER_ROUTES)) == sorted(ROUTE_TABLE)
    assert set(BODIES) <= set(SESSION_ROUTES)


@pytest.mark.parametrize(("method", "path"), list(OTHER_ROUTES))
async def test_another_users_data_is_out_of_sight_of_every_other_route(
    team: World, method: str, path: str
) -> None:
    session_id, _ = await alices_session(team)
    await OTHER_ROUTES[method, path](team, session_id)


async def test_two_users_writing_at_once_see_only_their_own_in_every_stream(team: World) -> None:
    """The feed, its live stream and each session's stream, while both write at once."""
    start = await last_position(team)
    feeds = {
        who: await open_stream(team.client, f"/api/events/stream?after={start}", **team.as_(key))
        for who, key in (("alice", team.alice), ("bob", team.bob))
    }
    made = {
        who: (await team.ok(key, "POST", "/api/sessions", {"title": who}))["id"]
        for who, key in (("alice", team.alice), ("bob", team.bob))
    }
    own = {
        who: await open_stream(
            team.client, f"/api/sessions/{made[who]}/events/stream", **team.as_(key)
        )
        for who, key in (("alice", team.alice), ("bob", team.bob))
    }

    async def write(who: str, key: str) -> None:
        for n in range(20):
            body = {"role": "user", "content": f"{who} {n}"}
            await team.ok(key, "POST", f"/api/sessions/{made[who]}/messages", body)

    await asyncio.gather(write("alice", team.alice), write("bob", team.bob))
    for who in ("alice", "bob"):
        seen = await feeds[who].messages(21)  # their session made, and their 20 messages
        assert {m.data["stream"] for m in seen} == {made[who]}
        assert [m.data["data"]["content"] for m in seen[1:]] == [f"{who} {n}" for n in range(20)]
        live = await own[who].messages(20)
        assert {m.data["stream"] for m in live} == {made[who]}
        feeds[who].close()
        own[who].close()
    page = await team.ok(team.bob, "GET", f"/api/events?after={start}&limit=1000")
    assert {e["stream"] for e in page} == {made["bob"]}


async def test_the_first_user_must_be_an_admin(client: Any) -> None:
    accounts = client.server.app[STORE].accounts
    with pytest.raises(InvalidInput, match="first user must be an admin"):
        await accounts.create_user("alice", "user")
    assert not accounts.view.enabled
    assert (await client.get("/api/sessions")).status == 200  # still without users
