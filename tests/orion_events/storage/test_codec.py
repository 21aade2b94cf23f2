"""The line format: round trips, and every kind of damage found at the right line."""

from __future__ import annotations

import orjson
import pytest

from orion_events.domain.events import MessageAdded, Recorded, SessionCreated
from orion_events.storage import codec
from orion_events.storage.codec import GENESIS, decode, encode_batch, scan

STREAM = "11111111-1111-4111-8111-111111111111"


def _log(n: int = 5) -> bytes:
    records = [Recorded(STREAM, 1, "e1", "2025-01-01T00:00:00.000000Z", SessionCreated(None, {}))]
    records += [
        Recorded(
            STREAM,
            seq,
            f"e{seq}",
            "2025-01-01T00:00:00.000000Z",
            MessageAdded(f"m{seq}", "user", f"message {seq} ✓"),
        )
        for seq in range(2, n + 1)
    ]
    data, _ = encode_batch(records, GENESIS)
    return data


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def test_every_line_carries_the_envelope_and_round_trips() -> None:
    data = _log()
    result = scan(data, STREAM)
    assert result.damage is None
    assert [r.seq for r in result.records] == [1, 2, 3, 4, 5]
    assert result.good_length == len(data)
    first = orjson.loads(_lines(data)[0])
    assert set(first) == {
        "seq",
        "pos",
        "id",
        "stream",
        "type",
        "at",
        "schema",
        "data",
        "prev",
        "hash",
    }
    assert first["prev"] == GENESIS
    assert orjson.loads(_lines(data)[1])["prev"] == first["hash"]
    assert list(first)[-1] == "hash"


@pytest.mark.parametrize("cut", range(1, 40))
def test_torn_tail_of_every_length_is_found_at_the_last_line(cut: int) -> None:
    data = _log()
    last = _lines(data)[-1]
    for keep in range(cut, len(last), 40):  # every byte position, spread over the parameters
        result = scan(data[: len(data) - len(last) + keep], STREAM)
        assert result.damage is not None
        assert (result.damage.line, result.damage.at_tail) == (5, True)
        assert result.damage.kind in {codec.TORN}
        assert len(result.records) == 4
        assert result.good_length == len(data) - len(last)


def test_a_flipped_byte_in_a_middle_line_is_a_checksum_mismatch() -> None:
    lines = _lines(_log())
    target = bytearray(lines[2])
    target[target.index(b"message 3")] ^= 0x01
    result = scan(b"".join([*lines[:2], bytes(target), *lines[3:]]), STREAM)
    assert result.damage is not None
    assert (result.damage.line, result.damage.kind, result.damage.at_tail) == (
        3,
        codec.CHECKSUM,
        False,
    )
    assert len(result.records) == 2


def test_a_deleted_middle_line_is_a_sequence_gap() -> None:
    lines = _lines(_log())
    result = scan(b"".join(lines[:2] + lines[3:]), STREAM)
    assert result.damage is not None
    assert (result.damage.line, result.damage.kind) == (3, codec.GAP)


def test_two_swapped_lines_are_found_where_the_order_breaks() -> None:
    lines = _lines(_log())
    lines[1], lines[2] = lines[2], lines[1]
    result = scan(b"".join(lines), STREAM)
    assert result.damage is not None
    assert (result.damage.line, result.damage.kind) == (2, codec.GAP)


def test_a_duplicated_line_is_a_sequence_repeat() -> None:
    lines = _lines(_log())
    result = scan(b"".join([*lines[:3], lines[2], *lines[3:]]), STREAM)
    assert result.damage is not None
    assert (result.damage.line, result.damage.kind) == (4, codec.REPEAT)


def test_a_line_from_another_log_is_caught() -> None:
    other = "22222222-2222-4222-8222-222222222222"
    result = scan(_log(), other)
    assert result.damage is not None
    assert (result.damage.line, result.damage.kind) == (1, codec.WRONG_STREAM)


def test_a_line_spliced_from_another_chain_is_a_chain_break() -> None:
    """Same stream and seq, valid checksum, but written after a different history."""
    lines = _lines(_log())
    forged, _ = codec.encode(
        Recorded(
            STREAM, 3, "forged", "2025-01-01T00:00:00.000000Z", MessageAdded("x", "user", "x")
        ),
        prev="f" * 32,
    )
    result = scan(b"".join([*lines[:2], forged, *lines[3:]]), STREAM)
    assert result.damage is not None
    assert (result.damage.line, result.damage.kind) == (3, codec.CHAIN)


def test_garbage_is_bad_json_and_an_unknown_type_is_a_bad_event() -> None:
    lines = _lines(_log())
    result = scan(b"".join([lines[0], b"not json at all\n", *lines[2:]]), STREAM)
    assert result.damage is not None
    assert (result.damage.line, result.damage.kind) == (2, codec.BAD_JSON)
    body = orjson.loads(lines[1])
    body.pop("hash")
    body["type"] = "message_exploded"
    raw = orjson.dumps(body)
    line = raw[:-1] + b',"hash":"' + codec.line_hash(raw).encode() + b'"}'
    with pytest.raises(codec.LineDamage) as caught:
        decode(line, stream=STREAM, seq=2, prev=body["prev"])
    assert caught.value.kind == codec.BAD_EVENT
