"""The round trip (SPEC §10): this service's export read back is the same session, every branch,
the current one, title, metadata and times, under new ids."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from orion_events.domain.events import (
    CurrentChanged,
    Event,
    MessageAdded,
    MessageDeleted,
    Recorded,
    SessionCreated,
)
from orion_events.domain.projector import replay_session
from orion_events.domain.views import SessionView
from orion_events.imports import orion
from orion_events.imports.conversation import BrokenConversation, to_event
from service.export import export_json

SID = "00000000-0000-4000-8000-0000000000aa"


def recorded(events: list[Event], stream: str = SID) -> list[Recorded]:
    return [
        Recorded(stream, n, f"e{n}", f"2025-02-0{n % 9 + 1}T00:00:00.000000Z", e)
        for n, e in enumerate(events, start=1)
    ]


def say(mid: str, parent: str | None, model: str | None = None) -> MessageAdded:
    return MessageAdded(mid, "user", f"text {mid}", model=model, parent_id=parent)


def shape(view: SessionView) -> dict[str, Any]:
    """Everything but ids: each message by its text, its parent's text, role, time, model."""
    text = {m.id: m.content for m in view.live_messages}
    tree = view.tree
    return {
        "title": view.title,
        "created_at": view.created_at,
        "current": None if view.current_id is None else text[view.current_id],
        "messages": [
            (
                m.content,
                None if tree.parent(n) == -1 else text[tree.id_of(tree.parent(n))],
                m.role,
                m.timestamp,
                m.model,
            )
            for n, m in zip(tree.live_numbers(), view.live_messages, strict=True)
        ],
    }


def test_an_export_read_back_is_the_same_session_under_new_ids() -> None:
    events: list[Event] = [
        SessionCreated("Trip", {"team": "a"}),
        say("q", None),
        say("a1", "q", "m1"),
        say("a2", "q", "m2"),
        say("f", "a1"),
        CurrentChanged("a2"),
        MessageDeleted("f"),
    ]
    records = recorded(events)
    source = replay_session(records)
    assert source is not None
    exported = orjson.loads(orjson.dumps(export_json(source, records)))
    assert orion.is_export(exported)

    event = to_event(orion.read(exported))
    copy = replay_session(recorded([event], "00000000-0000-4000-8000-0000000000bb"))
    assert copy is not None
    assert shape(copy) == shape(source)
    assert dict(copy.metadata) == {"team": "a", "imported_from": "orion", "source_id": SID}
    assert {m.id for m in copy.live_messages}.isdisjoint(m.id for m in source.live_messages)


@pytest.mark.parametrize(
    "item",
    [{"session": {"id": 1}, "events": []}, {"session": {"messages": [{"id": "x"}]}, "events": []}],
)
def test_an_export_of_the_wrong_shape_is_a_broken_conversation(item: Any) -> None:
    with pytest.raises(BrokenConversation):
        orion.read(item)


def test_what_is_no_export_is_told_apart() -> None:
    assert not orion.is_export({"mapping": {}})
    assert not orion.is_export([])
    assert not orion.is_export({"session": {"messages": []}})  # no events
