"""Search over HTTP: GET /api/search?q= finds live sessions by the words of their title and
messages, kept current by every committed event (add, edit, delete, clear, rename, delete
session, restore, fork) and rebuilt from the logs on start.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.expect import JSON, SUMMARY_KEYS, check_id, expect_error

HIT_KEYS = {"session", "score", "title_match", "message_ids"}


def short_id(value: Any) -> str | None:
    """Readable test ids: a query's params as `name=value`, a long value by its length."""
    if isinstance(value, dict):
        return ",".join(f"{k}={short_id(v)}" for k, v in value.items())
    if isinstance(value, str):
        return value if len(value) <= 40 else f"<{len(value)} chars>"
    return None


# -- helpers ----------------------------------------------------------------------------------


async def create(client: Any, **body: Any) -> str:
    response = await client.post("/api/sessions", json=body)
    assert response.status == 201, await response.text()
    return (await response.json())["id"]  # type: ignore[no-any-return]


async def add(client: Any, session_id: str, content: str, role: str = "user") -> str:
    response = await client.post(
        f"/api/sessions/{session_id}/messages", json={"role": role, "content": content}
    )
    assert response.status == 201, await response.text()
    return (await response.json())["id"]  # type: ignore[no-any-return]


async def search(client: Any, q: str, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/search", params={"q": q, **params})
    assert response.status == 200, await response.text()
    assert response.content_type == JSON
    body = await response.json()
    assert set(body) in ({"hits", "total"}, {"hits", "total", "next_offset"}), body
    assert type(body["total"]) is int
    assert body["total"] >= len(body["hits"])
    for hit in body["hits"]:
        assert set(hit) == HIT_KEYS
        assert set(hit["session"]) - {"forked_from"} == SUMMARY_KEYS
        check_id(hit["session"]["id"])
        assert isinstance(hit["score"], float)
        assert hit["score"] > 0
        assert type(hit["title_match"]) is bool
        assert all(isinstance(m, str) for m in hit["message_ids"])
    return body  # type: ignore[no-any-return]


async def found(client: Any, q: str) -> list[str]:
    """The ids of the sessions `q` finds, best first."""
    return [hit["session"]["id"] for hit in (await search(client, q))["hits"]]


# -- finding what was just written ----------------------------------------------------------------


async def test_a_word_added_a_moment_ago_is_found(client) -> None:
    sid = await create(client, title="Zoo trip")
    other = await create(client, title="Groceries")
    await add(client, other, "milk and bread")
    assert await found(client, "axolotl") == []
    message = await add(client, sid, "We saw an Axolotl today!")
    body = await search(client, "axolotl")
    assert body["total"] == 1
    assert "next_offset" not in body
    (hit,) = body["hits"]
    assert hit["session"]["id"] == sid
    assert hit["session"]["message_count"] == 1
    assert hit["title_match"] is False
    assert hit["message_ids"] == [message]
    # The summary is the session's own, as the list shows it.
    listed = await (await client.get("/api/sessions")).json()
    assert hit["session"] == next(s for s in listed if s["id"] == sid)


async def test_every_word_must_match_and_the_last_is_a_prefix(client) -> None:
    both = await create(client, title="t1")
    await add(client, both, "purple elephants dancing")
    one = await create(client, title="t2")
    await add(client, one, "purple giraffes")
    assert sorted(await found(client, "purple")) == sorted([both, one])
    assert await found(client, "purple elephants") == [both]
    assert await found(client, "purple eleph") == [both]  # still typing
    assert await found(client, "eleph purple") == []  # only the last word is a prefix
    assert await found(client, "PURPLE Elephants") == [both]  # case does not matter


async def test_an_edited_away_word_is_forgotten_and_the_new_one_found(client) -> None:
    sid = await create(client, title="Notes")
    message = await add(client, sid, "remember the wombat")
    assert await found(client, "wombat") == [sid]
    response = await client.patch(
        f"/api/sessions/{sid}/messages/{message}", json={"content": "remember the platypus"}
    )
    assert response.status == 200
    assert await found(client, "wombat") == []
    assert await found(client, "platypus") == [sid]
    assert await found(client, "remember") == [sid]


async def test_deleted_and_cleared_messages_are_forgotten(client) -> None:
    sid = await create(client, title="Notes")
    gone = await add(client, sid, "quetzal sighting")
    await add(client, sid, "kakapo sighting")
    assert (await client.delete(f"/api/sessions/{sid}/messages/{gone}")).status == 204
    assert await found(client, "quetzal") == []
    assert await found(client, "kakapo") == [sid]
    assert (await client.delete(f"/api/sessions/{sid}/messages")).status == 200
    assert await found(client, "kakapo") == []
    assert await found(client, "sighting") == []


async def test_a_rename_changes_what_the_title_matches(client) -> None:
    sid = await create(client, title="Old narwhal title")
    assert await found(client, "narwhal") == [sid]
    assert (await client.put(f"/api/sessions/{sid}", json={"title": "Manatee"})).status == 200
    assert await found(client, "narwhal") == []
    body = await search(client, "manatee")
    assert [h["session"]["id"] for h in body["hits"]] == [sid]
    assert body["hits"][0]["title_match"] is True
    assert body["hits"][0]["message_ids"] == []


async def test_a_deleted_session_is_not_found_and_a_restored_one_is(client) -> None:
    sid = await create(client, title="Pangolin facts")
    await add(client, sid, "pangolins have scales")
    keep = await create(client, title="Other")
    await add(client, keep, "a pangolin elsewhere")
    assert sorted(await found(client, "pangolin")) == sorted([sid, keep])

    assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    body = await search(client, "pangolin")
    assert [h["session"]["id"] for h in body["hits"]] == [keep]
    assert body["total"] == 1
    assert await found(client, "scales") == []

    assert (await client.post(f"/api/sessions/{sid}/restore")).status == 200
    assert sorted(await found(client, "pangolin")) == sorted([sid, keep])
    assert await found(client, "scales") == [sid]


async def test_a_fork_is_found_by_the_messages_it_carries(client) -> None:
    sid = await create(client, title="Source")
    kept = await add(client, sid, "ibex on the ridge")
    await add(client, sid, "chamois below")
    response = await client.post(f"/api/sessions/{sid}/fork", json={"message_id": kept})
    assert response.status == 201
    fid = (await response.json())["id"]
    assert sorted(await found(client, "ibex")) == sorted([sid, fid])
    assert await found(client, "chamois") == [sid]


async def test_the_index_is_rebuilt_after_a_restart(make_client, data_dir) -> None:
    client = await make_client()
    sid = await create(client, title="Persistent")
    message = await add(client, sid, "okapi stripes")
    edited = await add(client, sid, "tapir nose")
    response = await client.patch(
        f"/api/sessions/{sid}/messages/{edited}", json={"content": "dugong"}
    )
    assert response.status == 200
    gone = await create(client, title="Gone okapi")
    assert (await client.delete(f"/api/sessions/{gone}")).status == 204
    before = await search(client, "okapi")
    await client.close()

    client = await make_client(data_dir)
    assert await search(client, "okapi") == before
    assert [h["message_ids"] for h in before["hits"]] == [[message]]
    assert await found(client, "tapir") == []
    assert await found(client, "dugong") == [sid]


# -- ranking and paging ---------------------------------------------------------------------------


async def test_a_title_match_ranks_first(client) -> None:
    in_message = await create(client, title="Misc")
    await add(client, in_message, "a note about the kiwi")
    in_title = await create(client, title="Kiwi")
    await add(client, in_title, "nothing to see")
    body = await search(client, "kiwi")
    assert [h["session"]["id"] for h in body["hits"]] == [in_title, in_message]
    first, second = body["hits"]
    assert first["title_match"] is True
    assert first["message_ids"] == []
    assert second["title_match"] is False
    assert len(second["message_ids"]) == 1
    assert first["score"] > second["score"]


async def test_an_auto_title_is_a_title_match(client) -> None:
    sid = await create(client)  # "New Chat" until its first user message
    assert await found(client, "chat") == []
    await add(client, sid, "Lemur questions")
    body = await search(client, "lemur")
    assert [h["session"]["id"] for h in body["hits"]] == [sid]
    assert body["hits"][0]["title_match"] is True


async def test_more_hits_rank_higher(client) -> None:
    once = await create(client, title="A")
    await add(client, once, "gecko")
    thrice = await create(client, title="B")
    for _ in range(3):
        await add(client, thrice, "gecko gecko")
    body = await search(client, "gecko")
    assert [h["session"]["id"] for h in body["hits"]] == [thrice, once]
    assert len(body["hits"][0]["message_ids"]) == 3


async def test_paging_with_limit_and_offset(client) -> None:
    sessions = []
    for n in range(7):
        sid = await create(client, title=f"Session {n}")
        await add(client, sid, "quokka selfie")
        sessions.append(sid)
    everything = await search(client, "quokka", limit=100)
    assert everything["total"] == 7
    assert "next_offset" not in everything
    ranked = [h["session"]["id"] for h in everything["hits"]]
    assert sorted(ranked) == sorted(sessions)
    scores = [h["score"] for h in everything["hits"]]
    assert scores == sorted(scores, reverse=True)
    # Equal scores tie-break by id, so pages are stable.
    assert ranked == sorted(ranked)

    pages, offset = [], 0
    while True:
        body = await search(client, "quokka", limit=3, offset=offset)
        assert body["total"] == 7
        pages.append([h["session"]["id"] for h in body["hits"]])
        if "next_offset" not in body:
            break
        assert body["next_offset"] == offset + 3
        offset = body["next_offset"]
    assert pages == [ranked[0:3], ranked[3:6], ranked[6:7]]

    beyond = await search(client, "quokka", offset=50)
    assert beyond["hits"] == []
    assert beyond["total"] == 7
    assert "next_offset" not in beyond


async def test_default_limit_is_20(client) -> None:
    for n in range(22):
        sid = await create(client, title=f"S{n}")
        await add(client, sid, "serval")
    body = await search(client, "serval")
    assert len(body["hits"]) == 20
    assert body["total"] == 22
    assert body["next_offset"] == 20


# -- bad queries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params", [{}, {"q": ""}, {"q": "   "}, {"q": "\t\n"}, {"q": "!!! ?"}, {"q": "-- …"}]
)
async def test_missing_or_blank_q_is_422(client, params) -> None:
    """No word to look for (punctuation is no word) is an invalid query, not an empty answer."""
    response = await client.get("/api/search", params=params)
    await expect_error(client, response, 422, field="q")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "one"}, "offset"),
        ({"limit": "9" * 5000}, "limit"),  # past Python's int() digit limit: never a 500
        ({"offset": "9" * 5000}, "offset"),
    ],
    ids=short_id,
)
async def test_bad_limit_or_offset_is_422(client, params, field) -> None:
    response = await client.get("/api/search", params={"q": "word", **params})
    await expect_error(client, response, 422, field=field)


# -- several words --------------------------------------------------------------------------------


async def test_a_rare_word_and_a_common_word_together(client) -> None:
    for n in range(30):
        sid = await create(client, title=f"Common {n}")
        await add(client, sid, "common ground")
    target = await create(client, title="Target")
    rare = await add(client, target, "a rare aardwolf")
    common = await add(client, target, "common knowledge")
    await add(client, target, "unrelated")
    for q in ["aardwolf common", "common aardwolf", "aardwolf comm"]:
        body = await search(client, q)
        assert [h["session"]["id"] for h in body["hits"]] == [target], q
        assert body["total"] == 1
        # The matching messages, in session order, whichever word each holds.
        assert body["hits"][0]["message_ids"] == [rare, common], q
    assert (await search(client, "common"))["total"] == 31


# -- under a memory budget ------------------------------------------------------------------------


async def test_search_over_cold_sessions_and_after_a_cold_start(make_client, data_dir) -> None:
    client = await make_client(cache_mb=0)
    cold = await create(client, title="Cold one")
    message = await add(client, cold, "the caracal sleeps")
    for n in range(3):
        await add(client, await create(client, title=f"Warm {n}"), "something else")
    health = await (await client.get("/api/health")).json()
    assert health["cache"]["hot_sessions"] == 1, health["cache"]
    body = await search(client, "caracal")
    assert [h["session"]["id"] for h in body["hits"]] == [cold]
    assert body["hits"][0]["session"]["message_count"] == 1
    assert body["hits"][0]["message_ids"] == [message]
    response = await client.patch(
        f"/api/sessions/{cold}/messages/{message}", json={"content": "the fennec sleeps"}
    )
    assert response.status == 200
    before = await search(client, "sleeps")
    await client.close()

    client = await make_client(data_dir, cache_mb=0)  # the index is rebuilt from cold views
    assert await search(client, "sleeps") == before
    assert await found(client, "caracal") == []
    assert await found(client, "fennec") == [cold]
