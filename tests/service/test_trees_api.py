"""Conversation trees over HTTP (SPEC §8): posting under any parent, switching branches, pages of
a branch, one message, deleting one message or a branch; and the tree through time travel, forks,
exports, search, history, the live stream and a restart. Every refused write appends nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.service.expect import (
    JSON_HEADERS,
    MESSAGE_KEYS,
    SESSION_KEYS,
    etag_version,
    event_types,
    expect_error,
    log_file,
)
from tests.service.test_live_api import open_stream

# -- helpers --------------------------------------------------------------------------------------


async def new_session(client: Any) -> str:
    response = await client.post("/api/sessions", json={})
    assert response.status == 201
    return (await response.json())["id"]  # type: ignore[no-any-return]


async def post(client: Any, sid: str, content: str, **more: Any) -> dict[str, Any]:
    role = more.pop("role", "user")
    response = await client.post(
        f"/api/sessions/{sid}/messages", json={"role": role, "content": content, **more}
    )
    assert response.status == 201, await response.text()
    message = await response.json()
    assert set(message) == MESSAGE_KEYS
    return message  # type: ignore[no-any-return]


async def session(client: Any, sid: str, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/api/sessions/{sid}{query}")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert set(body) <= SESSION_KEYS | {"forked_from"}
    assert body["message_count"] == len(body["messages"])
    return body  # type: ignore[no-any-return]


def contents(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"]]


async def switch(client: Any, sid: str, message_id: str, **headers: str) -> Any:
    return await client.put(
        f"/api/sessions/{sid}/current", json={"message_id": message_id}, headers=headers
    )


def log_bytes(data_dir: Any, sid: str) -> bytes:
    return log_file(data_dir, sid).read_bytes()


async def branched(client: Any) -> tuple[str, dict[str, dict[str, Any]]]:
    """q1 → a1 → q2 → a2, then a2 regenerated (b2), then q2 edited and resent (q2e → a2e):
    current is a2e. Returns the session and its messages by name."""
    sid = await new_session(client)
    m: dict[str, dict[str, Any]] = {}
    m["q1"] = await post(client, sid, "q1")
    m["a1"] = await post(client, sid, "a1", role="assistant")
    m["q2"] = await post(client, sid, "q2")
    m["a2"] = await post(client, sid, "a2", role="assistant")
    m["b2"] = await post(client, sid, "b2", role="assistant", parent_id=m["q2"]["id"])
    m["q2e"] = await post(client, sid, "q2e", parent_id=m["a1"]["id"])
    m["a2e"] = await post(client, sid, "a2e", role="assistant")
    return sid, m


# -- posting under any parent ---------------------------------------------------------------------


async def test_a_chat_that_never_branches_reads_as_before_with_parents(client) -> None:
    sid = await new_session(client)
    first = await post(client, sid, "hello")
    second = await post(client, sid, "hi", role="assistant")
    assert (first["parent_id"], first["sibling_ids"]) == (None, [first["id"]])
    assert (second["parent_id"], second["sibling_ids"]) == (first["id"], [second["id"]])
    body = await session(client, sid)
    assert body["messages"] == [first, second]
    assert body["current_id"] == second["id"]


async def test_regenerate_and_edit_and_resend_keep_the_old_branches(client, data_dir) -> None:
    sid, m = await branched(client)
    body = await session(client, sid)
    assert contents(body) == ["q1", "a1", "q2e", "a2e"]
    assert body["current_id"] == m["a2e"]["id"]
    assert body["messages"][2]["sibling_ids"] == [m["q2"]["id"], m["q2e"]["id"]]
    assert m["b2"]["sibling_ids"] == [m["a2"]["id"], m["b2"]["id"]]
    assert m["b2"]["parent_id"] == m["q2"]["id"]
    assert m["a2e"]["parent_id"] == m["q2e"]["id"]  # absent parent_id: the current leaf
    lines = log_bytes(data_dir, sid).splitlines()
    assert b'"parent_id":"' + m["q2"]["id"].encode() + b'"' in lines[5]  # the log names it


async def test_a_null_parent_starts_a_new_first_message(client) -> None:
    sid = await new_session(client)
    first = await post(client, sid, "one")
    await post(client, sid, "two")
    other = await post(client, sid, "again", parent_id=None)
    assert other["parent_id"] is None
    assert other["sibling_ids"] == [first["id"], other["id"]]
    assert contents(await session(client, sid)) == ["again"]


@pytest.mark.parametrize(
    "parent",
    [str(uuid.uuid4()), "not-an-id", 7, True, {"id": "x"}, ["x"], ""],
    ids=["unknown", "malformed", "number", "bool", "object", "list", "empty"],
)
async def test_a_parent_that_is_no_live_message_is_422_and_writes_nothing(
    client, data_dir, parent
) -> None:
    sid = await new_session(client)
    await post(client, sid, "hello")
    before = log_bytes(data_dir, sid)
    response = await client.post(
        f"/api/sessions/{sid}/messages",
        json={"role": "user", "content": "x", "parent_id": parent},
    )
    await expect_error(client, response, 422, field="parent_id")
    assert log_bytes(data_dir, sid) == before


async def test_a_deleted_parent_is_422(client, data_dir) -> None:
    sid = await new_session(client)
    gone = await post(client, sid, "soon gone")
    assert (await client.delete(f"/api/sessions/{sid}/messages/{gone['id']}")).status == 204
    before = log_bytes(data_dir, sid)
    response = await client.post(
        f"/api/sessions/{sid}/messages",
        json={"role": "user", "content": "x", "parent_id": gone["id"]},
    )
    await expect_error(client, response, 422, field="parent_id")
    assert log_bytes(data_dir, sid) == before


async def test_a_parent_of_another_session_is_422(client) -> None:
    other = await new_session(client)
    theirs = await post(client, other, "theirs")
    sid = await new_session(client)
    response = await client.post(
        f"/api/sessions/{sid}/messages",
        json={"role": "user", "content": "x", "parent_id": theirs["id"]},
    )
    await expect_error(client, response, 422, field="parent_id")


async def test_an_idempotent_retry_with_a_parent_gives_the_same_message(client, data_dir) -> None:
    sid = await new_session(client)
    question = await post(client, sid, "q")
    await post(client, sid, "a")
    body = {"role": "assistant", "content": "again", "parent_id": question["id"]}
    key = {"Idempotency-Key": "regen-1"}
    first = await client.post(f"/api/sessions/{sid}/messages", json=body, headers=key)
    retry = await client.post(f"/api/sessions/{sid}/messages", json=body, headers=key)
    assert first.status == retry.status == 201
    assert await first.json() == await retry.json()
    other = {**body, "parent_id": None}  # the same key with another parent: another request
    response = await client.post(f"/api/sessions/{sid}/messages", json=other, headers=key)
    await expect_error(client, response, 422)
    assert event_types(log_bytes(data_dir, sid)).count("message_added") == 3


# -- switching branches ---------------------------------------------------------------------------


async def test_switching_makes_a_branch_current_down_to_its_newest_leaf(client, data_dir) -> None:
    sid, m = await branched(client)
    response = await switch(client, sid, m["q2"]["id"])
    assert response.status == 200
    body = await response.json()
    assert contents(body) == ["q1", "a1", "q2", "b2"]  # b2: q2's most recent reply
    assert body["current_id"] == m["b2"]["id"]
    assert etag_version(response) == body["version"] == 9
    assert event_types(log_bytes(data_dir, sid))[-1] == "current_changed"
    assert contents(await session(client, sid)) == ["q1", "a1", "q2", "b2"]
    response = await switch(client, sid, m["a2"]["id"])
    assert contents(await response.json()) == ["q1", "a1", "q2", "a2"]
    # a message posted now answers the branch now current
    after = await post(client, sid, "follow-up")
    assert after["parent_id"] == m["a2"]["id"]


async def test_switching_to_the_current_branch_writes_nothing(client, data_dir) -> None:
    sid, m = await branched(client)
    before = log_bytes(data_dir, sid)
    response = await switch(client, sid, m["q2e"]["id"])  # its newest leaf is current already
    assert response.status == 200
    assert etag_version(response) == 8
    assert log_bytes(data_dir, sid) == before


@pytest.mark.parametrize(
    "body",
    [
        {"message_id": str(uuid.uuid4())},
        {"message_id": "nope"},
        {"message_id": None},
        {"message_id": 3},
        {},
        {"message_id": "x", "extra": 1},
    ],
    ids=["unknown", "malformed", "null", "number", "missing", "extra-field"],
)
async def test_a_switch_to_no_live_message_is_422_and_writes_nothing(
    client, data_dir, body
) -> None:
    sid, _ = await branched(client)
    before = log_bytes(data_dir, sid)
    response = await client.put(f"/api/sessions/{sid}/current", json=body)
    field = "extra" if "extra" in body else "message_id"
    await expect_error(client, response, 422, field=field)
    assert log_bytes(data_dir, sid) == before


async def test_a_switch_to_a_deleted_message_is_422(client) -> None:
    sid, m = await branched(client)
    assert (await client.delete(f"/api/sessions/{sid}/messages/{m['b2']['id']}")).status == 204
    response = await switch(client, sid, m["b2"]["id"])
    await expect_error(client, response, 422, field="message_id")


async def test_a_switch_on_a_session_that_is_not_there_is_404(client) -> None:
    response = await switch(client, str(uuid.uuid4()), str(uuid.uuid4()))
    await expect_error(client, response, 404)
    sid, m = await branched(client)
    assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    await expect_error(client, await switch(client, sid, m["q2"]["id"]), 404)


async def test_a_switch_that_is_no_json_object_is_400_or_415(client) -> None:
    sid, _ = await branched(client)
    url = f"/api/sessions/{sid}/current"
    await expect_error(client, await client.put(url, data=b"{", headers=JSON_HEADERS), 400)
    await expect_error(client, await client.put(url, data=b"[]", headers=JSON_HEADERS), 400)
    await expect_error(client, await client.put(url, data=b'{"message_id": "x"}'), 415)


async def test_a_switch_honours_if_match_and_idempotency_keys(client, data_dir) -> None:
    sid, m = await branched(client)
    stale = await switch(client, sid, m["q2"]["id"], **{"If-Match": '"7"'})
    await expect_error(client, stale, 412)
    key = {"Idempotency-Key": "switch-1"}
    first = await switch(client, sid, m["q2"]["id"], **key)
    await switch(client, sid, m["a2"]["id"])
    retry = await switch(client, sid, m["q2"]["id"], **key)  # the first answer, again
    assert first.status == retry.status == 200
    assert await first.read() == await retry.read()
    assert event_types(log_bytes(data_dir, sid)).count("current_changed") == 2


# -- one message, and pages of a branch -----------------------------------------------------------


async def test_one_message_of_any_branch(client) -> None:
    sid, m = await branched(client)
    response = await client.get(f"/api/sessions/{sid}/messages/{m['a2']['id']}")
    assert response.status == 200
    assert etag_version(response) == 8
    assert await response.json() == {**m["a2"], "sibling_ids": [m["a2"]["id"], m["b2"]["id"]]}
    for missing in (str(uuid.uuid4()), "nope"):
        response = await client.get(f"/api/sessions/{sid}/messages/{missing}")
        await expect_error(client, response, 404)
    assert (await client.delete(f"/api/sessions/{sid}/messages/{m['a2']['id']}")).status == 204
    response = await client.get(f"/api/sessions/{sid}/messages/{m['a2']['id']}")
    await expect_error(client, response, 404)


async def pages(client: Any, url: str) -> list[list[dict[str, Any]]]:
    """Every page from `url` on, following Link rel="next"."""
    found = []
    while True:
        response = await client.get(url)
        assert response.status == 200, await response.text()
        found.append(await response.json())
        link = response.headers.get("Link")
        if link is None:
            return found
        assert link.endswith('>; rel="next"')
        url = link[1 : link.index(">")]


async def long_branched(client: Any) -> tuple[str, list[str], list[str]]:
    """23 messages on the current branch, 6 more on others: the session, the current branch's
    ids and every message's ids in the order they were added."""
    sid = await new_session(client)
    added = []
    for n in range(20):
        added.append((await post(client, sid, f"c{n}"))["id"])
        if n in (4, 9, 14):  # a regenerated reply, then the newer one continues
            added.append((await post(client, sid, f"r{n}", parent_id=added[-2]))["id"])
            added.append((await post(client, sid, f"rr{n}"))["id"])
            await switch(client, sid, added[-3])
    for n in range(3):
        added.append((await post(client, sid, f"t{n}"))["id"])
    body = await session(client, sid)
    return sid, [m["id"] for m in body["messages"]], added


@pytest.mark.parametrize("limit", [1, 4, 7, 100])
async def test_pages_join_to_the_whole_branch_in_both_orders(client, limit) -> None:
    sid, branch, added = await long_branched(client)
    assert len(branch) == 23
    url = f"/api/sessions/{sid}/messages?limit={limit}"
    joined = [m["id"] for page in await pages(client, url) for m in page]
    assert joined == branch
    joined = [m["id"] for page in await pages(client, url + "&order=desc") for m in page]
    assert joined == branch[::-1]
    joined = [m["id"] for page in await pages(client, url + "&branch=all") for m in page]
    assert joined == added
    joined = [m["id"] for p in await pages(client, url + "&branch=all&order=desc") for m in p]
    assert joined == added[::-1]
    # scrolling back from the newest: before= alone gives the page just before it
    back = f"/api/sessions/{sid}/messages?limit={limit}&order=asc&before={branch[-1]}"
    joined = [m["id"] for page in reversed(await pages(client, back)) for m in page]
    assert joined == branch[:-1]


async def test_a_page_is_the_messages_between_after_and_before(client) -> None:
    sid, branch, _ = await long_branched(client)
    url = f"/api/sessions/{sid}/messages?after={branch[3]}&before={branch[9]}&limit=2"
    found = await pages(client, url)
    assert [[m["id"] for m in page] for page in found] == [branch[4:6], branch[6:8], branch[8:9]]
    response = await client.get(f"/api/sessions/{sid}/messages")
    assert len(await response.json()) == 23  # the default limit, 100, holds it all
    assert "Link" not in response.headers


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=x", "limit"),
        ("order=up", "order"),
        ("branch=mine", "branch"),
        ("before={other}", "before"),
        ("after={other}", "after"),
        ("after={unknown}", "after"),
        ("before=nope", "before"),
        ("branch=all&after={deleted}", "after"),
    ],
)
async def test_a_bad_page_query_is_422(client, query, field) -> None:
    sid, m = await branched(client)
    await client.delete(f"/api/sessions/{sid}/messages/{m['q1']['id']}")
    deleted, other, unknown = m["q1"]["id"], m["a2"]["id"], str(uuid.uuid4())
    target = query.format(other=other, unknown=unknown, deleted=deleted)
    response = await client.get(f"/api/sessions/{sid}/messages?{target}")
    await expect_error(client, response, 422, field=field)
    # another branch's message is a fine cursor for branch=all
    if field == "before" and "other" in query:
        assert (await client.get(f"/api/sessions/{sid}/messages?branch=all&{target}")).ok


async def test_pages_of_a_session_that_is_not_there_are_404(client) -> None:
    response = await client.get(f"/api/sessions/{uuid.uuid4()}/messages")
    await expect_error(client, response, 404)


# -- deleting one message or a branch -------------------------------------------------------------


async def test_deleting_a_branch_point_moves_its_replies_up(client) -> None:
    sid, m = await branched(client)
    assert (await client.delete(f"/api/sessions/{sid}/messages/{m['a1']['id']}")).status == 204
    body = await session(client, sid)
    assert contents(body) == ["q1", "q2e", "a2e"]
    assert body["messages"][1]["parent_id"] == m["q1"]["id"]
    assert body["messages"][1]["sibling_ids"] == [m["q2"]["id"], m["q2e"]["id"]]


async def test_deleting_a_branch_with_the_current_leaf(client, data_dir) -> None:
    sid, m = await branched(client)
    url = f"/api/sessions/{sid}/messages/{m['q2e']['id']}?subtree=true"
    response = await client.delete(url)
    assert response.status == 204
    assert etag_version(response) == 9
    body = await session(client, sid)
    assert contents(body) == ["q1", "a1", "q2", "b2"]  # from a1: the newest leaf left
    assert body["current_id"] == m["b2"]["id"]
    events = await (await client.get(f"/api/sessions/{sid}/events?after=8")).json()
    assert events[0]["data"] == {
        "message_id": m["q2e"]["id"],
        "subtree": True,
        "replies": [m["a2e"]["id"]],
    }
    for gone in ("q2e", "a2e"):
        response = await client.get(f"/api/sessions/{sid}/messages/{m[gone]['id']}")
        await expect_error(client, response, 404)


async def test_deleting_every_root_leaves_no_current(client) -> None:
    sid, m = await branched(client)
    await client.delete(f"/api/sessions/{sid}/messages/{m['q1']['id']}?subtree=true")
    body = await session(client, sid)
    assert (body["messages"], body["current_id"], body["message_count"]) == ([], None, 0)


async def test_a_bad_subtree_flag_is_422_and_writes_nothing(client, data_dir) -> None:
    sid, m = await branched(client)
    before = log_bytes(data_dir, sid)
    response = await client.delete(f"/api/sessions/{sid}/messages/{m['a1']['id']}?subtree=yes")
    await expect_error(client, response, 422, field="subtree")
    assert log_bytes(data_dir, sid) == before


# -- the tree everywhere else ---------------------------------------------------------------------


async def test_time_travel_shows_the_tree_and_current_as_they_were(client) -> None:
    sid, m = await branched(client)
    await switch(client, sid, m["a2"]["id"])
    then = await session(client, sid, "?version=6")  # before q2e: b2 was current
    assert contents(then) == ["q1", "a1", "q2", "b2"]
    assert then["messages"][3]["sibling_ids"] == [m["a2"]["id"], m["b2"]["id"]]
    assert (await session(client, sid, "?version=8"))["current_id"] == m["a2e"]["id"]
    assert (await session(client, sid, "?version=9"))["current_id"] == m["a2"]["id"]


async def test_a_fork_by_message_holds_its_branch_and_by_version_the_tree(client) -> None:
    sid, m = await branched(client)
    response = await client.post(f"/api/sessions/{sid}/fork", json={"message_id": m["a2"]["id"]})
    assert response.status == 201
    fork = await response.json()
    assert contents(fork) == ["q1", "a1", "q2", "a2"]
    assert fork["messages"][3]["sibling_ids"] == [m["a2"]["id"]]  # the branch alone
    response = await client.post(f"/api/sessions/{sid}/fork", json={"version": 6})
    whole = await response.json()
    assert contents(whole) == ["q1", "a1", "q2", "b2"]
    all_of_it = await client.get(f"/api/sessions/{whole['id']}/messages?branch=all")
    assert [x["content"] for x in await all_of_it.json()] == ["q1", "a1", "q2", "a2", "b2"]


async def test_an_export_holds_every_branch_and_a_transcript_the_current_one(client) -> None:
    sid, m = await branched(client)
    exported = await (await client.get(f"/api/sessions/{sid}/export")).json()
    tree = exported["session"]
    assert [x["content"] for x in tree["messages"]] == ["q1", "a1", "q2", "a2", "b2", "q2e", "a2e"]
    assert tree["current_id"] == m["a2e"]["id"]
    assert {x["id"]: x["parent_id"] for x in tree["messages"]}[m["b2"]["id"]] == m["q2"]["id"]
    text = await (await client.get(f"/api/sessions/{sid}/export?format=markdown")).text()
    assert "\nq2e\n" in text  # a message's text, on its own line in its fence
    assert "\nb2\n" not in text


async def test_search_finds_every_branch_until_it_is_pruned(client) -> None:
    sid = await new_session(client)
    question = await post(client, sid, "tell me about zebras")
    await post(client, sid, "striped horses", role="assistant")
    old = await post(client, sid, "quagga extinct", role="assistant", parent_id=question["id"])
    await switch(client, sid, question["id"])
    hits = (await (await client.get("/api/search?q=quagga")).json())["hits"]
    assert [h["message_ids"] for h in hits] == [[old["id"]]]
    await client.delete(f"/api/sessions/{sid}/messages/{question['id']}?subtree=true")
    assert (await (await client.get("/api/search?q=quagga")).json())["hits"] == []
    hits = (await (await client.get("/api/search?q=zebras")).json())["hits"]
    assert [(h["title_match"], h["message_ids"]) for h in hits] == [(True, [])]  # its title


async def test_the_live_stream_carries_switches_and_pruning(client) -> None:
    sid, m = await branched(client)
    stream = await open_stream(client, f"/api/sessions/{sid}/events/stream")
    await switch(client, sid, m["q2"]["id"])
    await client.delete(f"/api/sessions/{sid}/messages/{m['q2']['id']}?subtree=true")
    got = await stream.messages(2)
    stream.close()
    assert [(x.event, x.data["data"]) for x in got] == [
        ("current_changed", {"message_id": m["q2"]["id"]}),
        (
            "message_deleted",
            {
                "message_id": m["q2"]["id"],
                "subtree": True,
                "replies": [m["a2"]["id"], m["b2"]["id"]],
            },
        ),
    ]


async def test_a_restart_brings_the_tree_back_byte_for_byte(make_client, data_dir) -> None:
    client = await make_client()
    sid, m = await branched(client)
    await switch(client, sid, m["a2"]["id"])
    await client.delete(f"/api/sessions/{sid}/messages/{m['a1']['id']}")
    urls = [
        f"/api/sessions/{sid}",
        f"/api/sessions/{sid}/messages?branch=all",
        f"/api/sessions/{sid}/messages/{m['b2']['id']}",
        f"/api/sessions/{sid}/export",
    ]
    before = [await (await client.get(url)).read() for url in urls]
    await client.close()
    client = await make_client(data_dir)
    assert [await (await client.get(url)).read() for url in urls] == before
