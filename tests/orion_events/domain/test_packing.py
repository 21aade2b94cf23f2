"""Packed messages: every message survives packing exactly, and lists of them behave as before."""

from __future__ import annotations

import uuid

import pytest

from orion_events.domain import packing
from orion_events.domain.views import MessageList, MessageView

AT = "2026-12-02T06:00:00.123456Z"


@pytest.mark.parametrize(
    "message",
    [
        MessageView(str(uuid.uuid4()), "user", "hello", AT),
        MessageView(str(uuid.uuid4()), "assistant", "x" * 70_000, AT, "agent-7", "qwen2.5:1.5b"),
        MessageView(str(uuid.uuid4()), "system", "", AT, None, "m"),
        # ids and timestamps a hand-written or migrated log may hold, not this service's own
        MessageView("legacy-1", "user", "hi", "2020-01-01T00:00:00Z"),
        MessageView(str(uuid.uuid4()).upper(), "user", "hi", AT),
        MessageView("", "tool", "hi", ""),
        MessageView(
            "i" * 70_000, "user", "an id and a time longer than any length field's byte", "t" * 300
        ),
        MessageView("ünï-çødé ✓", "user", "naïve café 🚀 ✓ \u0000 \ud800 \udfff", AT, "🤖", "模型"),
    ],
)
def test_a_message_unpacks_to_exactly_what_was_packed(message: MessageView) -> None:
    packed = packing.pack(
        message.id, message.role, message.content, message.timestamp, message.agent, message.model
    )
    assert MessageView(*packing.unpack(packed)) == message
    assert packing.id_and_content(packed) == (message.id, message.content)
    assert packing.content_size(packed) == len(message.content.encode("utf-8", "surrogatepass"))
    assert packed.startswith(packing.id_prefix(message.id))


def test_a_packed_message_is_small() -> None:
    content = "lorem ipsum " * 25  # 300 bytes
    packed = packing.pack(str(uuid.uuid4()), "assistant", content, AT, None, "qwen2.5:1.5b")
    assert len(packed) - len(content) == 30


def test_renumbering_maps_another_tables_numbers_onto_this_one() -> None:
    role, model = f"role-{uuid.uuid4()}", f"model-{uuid.uuid4()}"
    ours = packing.pack(str(uuid.uuid4()), role, "text", AT, None, model)
    # Another process's table, where these names had number 1 (a snapshot carries it as JSON).
    theirs = [["user", None, None], [role, None, model]]
    foreign = bytearray(ours)
    names_at = len(packing.id_prefix(packing.unpack(ours)[0]))
    foreign[names_at : names_at + 4] = (1).to_bytes(4, "little")
    numbers = packing.renumbering(theirs)
    assert numbers is not None
    packing.renumber(foreign, 0, numbers)
    assert foreign == ours
    assert packing.renumbering(packing.NAMES.names[:5]) is None  # its own table maps as it is


def test_timestamps_outside_the_logs_form_are_kept_as_text() -> None:
    for at in ["2026-13-02T06:00:00.000000Z", "0001-01-01T00:00:00.000000Z", "yesterday"]:
        packed = packing.pack("x", "user", "c", at, None, None)
        assert packing.unpack(packed)[3] == at


def test_message_lists_share_prefixes_and_compare_by_content() -> None:
    first = MessageView(str(uuid.uuid4()), "user", "one", AT)
    second = MessageView(str(uuid.uuid4()), "assistant", "two", AT, None, "m")
    base = MessageList([first])
    grown = base.appended(second)
    branch = base.appended(first)  # an older view appended to: copies, leaves `grown` alone
    assert list(grown) == [first, second]
    assert list(branch) == [first, first]
    assert list(base) == [first]
    assert grown[-1] == second
    assert grown[0:1] == [first]
    assert grown == MessageList([first, second])
    assert grown != branch
    assert list(grown.replaced(0, second)) == [second, second]
    assert list(grown.content_sizes()) == [3, 3]
    assert grown.content_size(-1) == 3
    assert list(grown.ids_and_contents()) == [(first.id, "one"), (second.id, "two")]
    assert grown.compacted() == grown
    with pytest.raises(IndexError):
        grown[2]


@pytest.mark.parametrize(
    ("message_id", "content", "at"), [("m", 5, AT), (["m"], "c", AT), ("m", "c", None)]
)
def test_fields_of_the_wrong_type_are_a_type_error(message_id, content, at) -> None:
    # A replay turns TypeError into a read-only session with a reason, not a failed start.
    with pytest.raises(TypeError):
        packing.pack(message_id, "user", content, at, None, None)
