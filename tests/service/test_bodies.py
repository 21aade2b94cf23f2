"""Long bodies in pieces (service/bodies.py): the very bytes orjson would write, in pieces of
bounded size, sent with a Content-Length; over HTTP a long session's body is the one a short
session's path would give."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from service.app_keys import STORE
from service.bodies import PIECE, SHORT, Mapped, json_pieces
from service.payloads import LONG_BODY, session_json
from tests.service.test_live_api import add, create

TEXTS = ["", "a", "é\u0301", "👨‍👩‍👧", '"quoted" \\ back\nslash', "\x00\x1f", "z" * 5000]


def items(count: int, size: int = 40) -> list[dict[str, Any]]:
    return [
        {"id": n, "text": TEXTS[n % len(TEXTS)] + "x" * (n * 7 % size), "none": None, "f": n / 3}
        for n in range(count)
    ]


VALUES: list[Any] = [
    {},
    [],
    {"a": []},
    {"messages": items(SHORT)},  # short enough to be encoded whole
    {"messages": items(SHORT + 1)},
    items(5000),
    {"title": "t", "messages": items(3000), "after": {"deleted": True}},
    {"session": {"id": "s", "messages": items(400)}, "events": items(2000, 900)},
    {"big": [{"text": "y" * (3 * PIECE)} for _ in range(SHORT + 5)]},  # each item > a piece
    {'ünï"cödé': items(200), "k\n": [1, 2, 3]},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_pieces_are_the_bytes_orjson_writes(value: Any) -> None:
    pieces = json_pieces(value)
    assert b"".join(pieces) == orjson.dumps(value)
    assert all(pieces)  # no empty piece to write


def test_a_mapped_list_is_the_list_it_maps_to() -> None:
    records = items(3000)
    body = {"head": 1, "events": Mapped(records, lambda r: {"wrapped": r})}
    expected = orjson.dumps({"head": 1, "events": [{"wrapped": r} for r in records]})
    assert b"".join(json_pieces(body)) == expected
    assert b"".join(json_pieces({"events": Mapped([], str)})) == b'{"events":[]}'


def test_a_small_value_is_one_piece_and_a_long_list_is_pieces_of_about_a_piece() -> None:
    assert len(json_pieces({"messages": items(SHORT)})) == 1
    pieces = json_pieces({"messages": items(20_000)})
    assert len(pieces) > 20
    # Slices adapt to the items' sizes: none is far past a piece, nor many far below it.
    assert max(len(p) for p in pieces) < 3 * PIECE
    assert sorted(len(p) for p in pieces)[len(pieces) // 2] > PIECE // 2


async def test_a_long_session_is_served_in_pieces_with_the_bytes_of_a_short_one(
    client: Any,
) -> None:
    sid = await create(client, title="long")
    for n in range(LONG_BODY + 40):
        await add(client, sid, f"message {n} " + "w" * (300 + n % 300))
    view = client.app[STORE].session(sid)
    expected = orjson.dumps(session_json(view))
    assert len(expected) > 2 * PIECE

    for _ in range(2):  # built, then served as kept
        response = await client.get(f"/api/sessions/{sid}")
        assert response.status == 200
        assert response.headers["Content-Length"] == str(len(expected))
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["ETag"] == f'"{view.version}"'
        assert "Transfer-Encoding" not in response.headers
        assert await response.read() == expected

    response = await client.get(f"/api/sessions/{sid}", params={"version": view.version})
    assert await response.read() == expected

    # HEAD: the headers alone, and the connection still sound for the next request on it.
    head = await client.head(f"/api/sessions/{sid}")
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(expected))
    assert await head.read() == b""
    assert await (await client.get(f"/api/sessions/{sid}")).read() == expected

    renamed = await client.put(f"/api/sessions/{sid}", json={"title": "renamed"})
    assert renamed.status == 200
    body = await renamed.read()
    assert orjson.loads(body)["title"] == "renamed"
    assert body == orjson.dumps(session_json(client.app[STORE].session(sid)))
