"""A source's conversation made into one session_imported event (SPEC §10): the rules every
format shares, on small hand-made conversations."""

from __future__ import annotations

import itertools

import attrs
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


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"text": "x" * (1024 * 1024 + 1)}, "larger than 1 MiB"),
        ({"role": "developer"}, "role must be one of"),
        ({"model": "m" * 201}, "model must be"),
        ({"agent": ""}, "agent must be"),
        ({"timestamp": "2024-05-01 10:00:00"}, "not RFC 3339 UTC"),
        ({"timestamp": "2024-05-01T10:00:00Z"}, "not RFC 3339 UTC"),  # not the log's one form
    ],
)
def test_what_the_api_would_refuse_is_refused(change: dict[str, str], reason: str) -> None:
    bad = attrs.evolve(message("b", "a"), **change)
    with pytest.raises(BrokenConversation, match=reason):
        to_event(conversation(message("a", None), bad))


def test_too_much_metadata_or_a_bad_start_is_refused() -> None:
    many = {f"k{n}": "v" for n in range(15)}  # with imported_from and source_id: 17
    with pytest.raises(BrokenConversation, match="more than 16 keys"):
        to_event(attrs.evolve(conversation(message("a", None)), metadata=many))
    with pytest.raises(BrokenConversation, match="the conversation has a time"):
        to_event(attrs.evolve(conversation(message("a", None)), created_at="yesterday"))


def test_a_title_too_long_is_cut_and_a_blank_one_is_none() -> None:
    long = attrs.evolve(conversation(message("a", None)), title="t" * 500)
    assert to_event(long).title == "t" * 200
    assert to_event(attrs.evolve(long, title=" \n")).title is None


def test_a_source_listing_parents_first_keeps_its_order() -> None:
    """This service's export lists messages in the order they were added, parents first: a
    second root added after a reply stays after it (a depth-first order would move it)."""
    conv = conversation(
        message("a", None, n=1), message("b", "a", n=2), message("c", None, n=3),
        message("d", "b", n=4), current="d",
    )  # fmt: skip
    event = to_event(conv, ids=iter(["A", "B", "C", "D"]).__next__)
    assert [m["id"] for m in event.messages] == ["A", "B", "C", "D"]
    assert [m["parent_id"] for m in event.messages] == [None, "A", None, "B"]
