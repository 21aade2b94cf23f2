"""A source's conversation made into one session_imported event (SPEC §10): the rules every
format shares, on small hand-made conversations."""

from __future__ import annotations

import itertools

import pytest

from orion_events.domain.events import Recorded
from orion_events.domain.projector import replay_session
from orion_events.imports.conversation import (
    BrokenConversation,
    Conversation,
    SourceMessage,
    to_event,
)
from service.payloads import session_json

AT = "2024-05-01T10:00:0{}.000000Z"


def message(mid: str, parent: str | None, text: str = "", n: int = 0) -> SourceMessage:
    return SourceMessage(mid, parent, "user", text or f"text {mid}", AT.format(n))


def conversation(*messages: SourceMessage, current: str | None = None) -> Conversation:
    return Conversation(
        "chatgpt", "c-1", "A title", AT.format(0), {m.id: m for m in messages}, current
    )


def imported(conv: Conversation) -> tuple[list[str], str | None, dict[str, str | None]]:
    """The session it writes: its current branch's texts, the current text, each text's parent's."""
    counter = itertools.count()
    event = to_event(conv, ids=lambda: f"00000000-0000-4000-8000-{next(counter):012d}")
    view = replay_session([Recorded("s", 1, "e", AT.format(9), event)])
    assert view is not None
    body = session_json(view)
    by_id = {m.id: m.content for m in view.live_messages}
    parents = {
        by_id[view.tree.id_of(n)]: (
            None if view.tree.parent(n) == -1 else by_id[view.tree.id_of(view.tree.parent(n))]
        )
        for n in view.tree.live_numbers()
    }
    current = None if body["current_id"] is None else by_id[body["current_id"]]
    return [m["content"] for m in body["messages"]], current, parents


def test_messages_in_any_order_are_written_parents_first() -> None:
    conv = conversation(
        message("c", "b", n=3), message("a", None, n=1), message("b", "a", n=2), current="c"
    )
    branch, current, parents = imported(conv)
    assert branch == ["text a", "text b", "text c"]
    assert current == "text c"
    assert parents == {"text a": None, "text b": "text a", "text c": "text b"}


def test_messages_without_text_are_left_out_and_the_chain_holds() -> None:
    conv = conversation(
        SourceMessage("root", None, "system", "", AT.format(0)),  # ChatGPT's null root
        message("q", "root", n=1),
        SourceMessage("hidden", "q", "system", "  ", AT.format(2)),
        message("a", "hidden", n=3),
        current="a",
    )
    branch, _, parents = imported(conv)
    assert branch == ["text q", "text a"]
    assert parents == {"text q": None, "text a": "text q"}


def test_the_sources_current_leaf_or_else_the_newest_leaf() -> None:
    q, a1, a2 = message("q", None, n=1), message("a1", "q", n=5), message("a2", "q", n=3)
    assert imported(conversation(q, a1, a2, current="a2"))[1] == "text a2"
    assert imported(conversation(q, a1, a2))[1] == "text a1"  # the newest
    empty = SourceMessage("e", "a2", "tool", "", AT.format(9))
    assert imported(conversation(q, a1, a2, empty, current="e"))[1] == "text a2"  # moved up
    assert imported(conversation(q, a1, a2, current="not there"))[1] == "text a1"


def test_the_event_says_where_it_came_from() -> None:
    event = to_event(conversation(message("q", None)))
    assert (event.source, event.source_id, event.title) == ("chatgpt", "c-1", "A title")
    assert event.metadata == {"imported_from": "chatgpt", "source_id": "c-1"}
    assert event.created_at == AT.format(0)


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        ([message("a", "gone")], "not there"),
        ([message("a", "b"), message("b", "a")], "cycle"),
        ([message("r", None), message("a", "b"), message("b", "a")], "cycle"),
        ([SourceMessage("a", None, "system", "", AT.format(0))], "no message with text"),
        ([SourceMessage("e", "b", "tool", "", AT.format(0)), message("b", "e")], "cycle"),
    ],
    ids=["dangling-parent", "cycle", "cycle-beside-a-root", "no-text", "cycle-through-empty"],
)
def test_a_broken_conversation_is_refused_whole(messages: list[SourceMessage], reason: str) -> None:
    with pytest.raises(BrokenConversation, match=reason):
        to_event(conversation(*messages))
