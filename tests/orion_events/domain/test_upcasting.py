"""Schema evolution: old lines are never rewritten; they are upcast, step by step, when read."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from orion_events.domain.events import MessageAdded
from orion_events.storage import codec
from orion_events.storage.codec import GENESIS, Schemas, decode, scan

STREAM = "11111111-1111-4111-8111-111111111111"


def line(
    kind: str, schema: int, data: dict[str, Any], *, seq: int = 1, prev: str = GENESIS
) -> bytes:
    """A line as an older (or newer) version of this code would have written it."""
    envelope = {
        "seq": seq,
        "pos": seq,
        "id": f"e{seq}",
        "stream": STREAM,
        "type": kind,
        "at": "2025-01-01T00:00:00.000000Z",
        "schema": schema,
        "data": data,
        "prev": prev,
    }
    body = orjson.dumps(envelope)
    return body[:-1] + b',"hash":"' + codec.line_hash(body).encode() + b'"}'


def _lift(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k != "model_name"}
    out.setdefault("agent", None)
    out["model"] = data.get("model_name")
    return out


V2 = Schemas(current={"message_added": 2}, upcasters={("message_added", 1): _lift})
V3 = Schemas(
    current={"message_added": 3},
    upcasters={
        ("message_added", 1): _lift,
        # Version 3 (again only in this test) trims content whitespace when read.
        ("message_added", 2): lambda d: {**d, "content": d["content"].strip()},
    },
)


def test_a_version_1_line_is_upcast_to_the_current_event() -> None:
    old = line(
        "message_added", 1, {"message_id": "m", "role": "user", "content": "hi", "model_name": "q"}
    )
    recorded, digest = decode(old, stream=STREAM, seq=1, prev=GENESIS, schemas=V2)
    assert recorded.event == MessageAdded("m", "user", "hi", agent=None, model="q")
    assert digest == codec.line_hash(old[: old.index(b',"hash"')] + b"}")


def test_upcasters_chain_from_any_old_version() -> None:
    v1 = line(
        "message_added",
        1,
        {"message_id": "m", "role": "user", "content": " x ", "model_name": None},
    )
    v2 = line(
        "message_added",
        2,
        {"message_id": "n", "role": "user", "content": " y ", "agent": "a", "model": None},
        seq=2,
        prev=codec.line_hash(v1[: v1.index(b',"hash"')] + b"}"),
    )
    first, h1 = decode(v1, stream=STREAM, seq=1, prev=GENESIS, schemas=V3)
    second, _ = decode(v2, stream=STREAM, seq=2, prev=h1, schemas=V3)
    assert first.event == MessageAdded("m", "user", "x", None, None)
    assert second.event == MessageAdded("n", "user", "y", "a", None)


def test_a_line_newer_than_the_code_is_refused_not_guessed() -> None:
    newer = line("message_added", 3, {"message_id": "m", "role": "user", "content": "hi"})
    with pytest.raises(codec.LineDamage) as caught:
        decode(newer, stream=STREAM, seq=1, prev=GENESIS, schemas=V2)
    assert caught.value.kind == codec.BAD_EVENT


def test_a_missing_upcaster_is_a_bad_event() -> None:
    gap = Schemas(current={"message_added": 3}, upcasters={("message_added", 1): _lift})
    old = line("message_added", 2, {"message_id": "m", "role": "user", "content": "hi"})
    with pytest.raises(codec.LineDamage) as caught:
        decode(old, stream=STREAM, seq=1, prev=GENESIS, schemas=gap)
    assert caught.value.kind == codec.BAD_EVENT


def test_todays_lines_need_no_upcaster_and_scan_uses_the_current_schemas() -> None:
    today = line(
        "message_added",
        1,
        {"message_id": "m", "role": "user", "content": "hi", "agent": None, "model": None},
    )
    result = scan(today + b"\n", STREAM)
    assert result.damage is None
    assert result.records[0].event == MessageAdded("m", "user", "hi")
