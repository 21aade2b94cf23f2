"""Open WebUI's chat export read as conversations (SPEC §10), on a fixture written from its shape
(docs/import-formats.md): a regenerated answer and an edited first message (a second root), a
system message, a content list, a message without a timestamp, times in seconds and in
milliseconds, a current pointer that stops short of its leaf, the legacy layout without `chat`,
and a message answering one that is not there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from orion_events.domain.tree import NONE
from orion_events.domain.views import SessionView
from orion_events.imports import chatgpt, librechat, openwebui, orion
from orion_events.imports.conversation import BrokenConversation, epoch_time, to_event
from tests.orion_events.imports.support import branches, texts_by_number
from tests.orion_events.imports.support import imported as imported_as_session

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "import"


def imported(item: Any) -> SessionView:
    return imported_as_session(openwebui.read(item))


def items() -> list[Any]:
    return orjson.loads((FIXTURES / "openwebui.json").read_bytes())  # type: ignore[no-any-return]


def test_every_row_is_told_an_open_webui_chat_and_others_are_not() -> None:
    assert [openwebui.is_chat(item) for item in items()] == [True, True, True]
    chatgpt_item = orjson.loads((FIXTURES / "chatgpt.json").read_bytes())[0]
    librechat_obj = orjson.loads((FIXTURES / "librechat-tree.json").read_bytes())
    orion_export: Any = {"session": {"messages": []}, "events": []}
    others: list[Any] = [chatgpt_item, librechat_obj, orion_export, [], "chat"]
    for other in others:
        assert not openwebui.is_chat(other)
    for item in items():
        assert not chatgpt.is_conversation(item)
        assert not librechat.is_export(item)
        assert not orion.is_export(item)


def test_a_branched_chat_keeps_every_branch_and_extends_the_current_pointer() -> None:
    view = imported(items()[0])
    assert branches(view) == [
        ["How long should green tea steep?", "Three minutes."],
        [
            "How long should green tea steep?",
            "Two to three minutes,\nat 80 °C.",  # the text parts of a list; the image is not text
            "And oolong?",
            "Up to five minutes, and a second steep.",
        ],
        ["How long should black tea steep?", "Four to five minutes."],  # the edit: a second root
    ]
    text = texts_by_number(view)
    # the system message is left out: the question it led to is a first message, beside the edit
    assert [text[n] for n in view.tree.children(NONE)] == [
        "How long should green tea steep?",
        "How long should black tea steep?",
    ]
    question = view.tree.number_of(view.live_messages[0].id)
    answers = [text[n] for n in view.tree.children(question)]
    assert answers == ["Three minutes.", "Two to three minutes,\nat 80 °C."]
    # currentId names the regenerated answer; the chat goes on below it to its last descendant
    assert openwebui.read(items()[0]).current == "a4"  # the reader says so itself
    # (the newest leaf of all would be the answer to the edit)
    assert [text[n] for n in view.tree.branch()] == branches(view)[1]
    assert view.current_id is not None
    assert texts_by_number(view)[view.tree.number_of(view.current_id)] == branches(view)[1][-1]


def test_roles_times_and_models_of_a_branched_chat() -> None:
    view = imported(items()[0])
    assert [(m.role, m.timestamp, m.model) for m in view.live_messages] == [
        ("user", "2024-05-29T16:26:41.000000Z", None),
        ("assistant", "2024-05-29T16:26:45.000000Z", "llama3:8b"),
        ("assistant", "2024-05-29T16:27:10.000000Z", "qwen2.5:7b"),
        ("user", "2024-05-29T16:27:20.000000Z", None),
        ("assistant", "2024-05-29T16:27:25.500000Z", "qwen2.5:7b"),  # a float of seconds
        ("user", "2024-05-29T16:27:40.000000Z", None),
        ("assistant", "2024-05-29T16:27:40.000000Z", "llama3:8b"),  # none: its parent's
    ]
    assert view.created_at == "2024-05-29T16:26:40.000000Z"  # the row's seconds, not chat's ms
    assert view.title == "Steeping tea"
    assert dict(view.metadata) == {
        "imported_from": "openwebui",
        "source_id": "0b1e0000-0000-4000-8000-000000000001",
    }


def test_the_legacy_layout_reads_milliseconds_and_takes_the_newest_leaf() -> None:
    view = imported(items()[1])
    assert branches(view) == [["Name a prime above 90.", "97."]]
    assert [(m.role, m.timestamp, m.model) for m in view.live_messages] == [
        ("user", "2024-05-30T20:13:20.123000Z", None),
        ("assistant", "2024-05-30T20:13:22.000000Z", "mistral:7b"),
    ]
    assert view.created_at == "2024-05-30T20:13:20.000000Z"  # the chat's timestamp, in ms
    assert view.title == "New Chat"  # what the source holds, kept
    assert view.current_id == view.live_messages[1].id
    assert dict(view.metadata)["source_id"] == "0b1e0000-0000-4000-8000-000000000002"


def test_a_message_answering_one_that_is_not_there_breaks_the_chat() -> None:
    conversation = openwebui.read(items()[2])
    with pytest.raises(BrokenConversation, match="'b2' answers 'gone', which is not there"):
        to_event(conversation)


def test_a_chat_without_history_chains_its_list_in_order() -> None:
    item = {
        "id": "row",
        "title": "  ",
        "created_at": 1717000000,
        "chat": {
            "id": "chat",
            "messages": [
                {"id": "x", "parentId": None, "role": "user", "content": "one", "timestamp": 2e9},
                {"id": "y", "parentId": None, "role": "assistant", "content": "two"},
                {"role": "user", "content": [{"type": "text", "text": "three"}]},
            ],
        },
    }
    view = imported(item)
    assert branches(view) == [["one", "two", "three"]]  # the parentIds are not what counts
    # a blank title is none: the first user message names it
    assert (view.title, view.title_source) == ("one", "auto")
    assert [m.timestamp for m in view.live_messages] == ["2033-05-18T03:33:20.000000Z"] * 3
    assert view.created_at == "2024-05-29T16:26:40.000000Z"
    assert view.current_id == view.live_messages[2].id


def test_without_the_row_the_chat_names_and_dates_itself() -> None:
    item = {
        "chat": {
            "id": "inner",
            "title": "From the chat",
            "history": {
                "currentId": "unknown",
                "messages": {
                    "a": {"parentId": None, "role": "user", "content": "old", "timestamp": 5},
                    "b": {"parentId": None, "role": "user", "content": "new", "timestamp": 9},
                },
            },
        }
    }
    conversation = openwebui.read(item)
    assert (conversation.source_id, conversation.title) == ("inner", "From the chat")
    assert conversation.current is None  # an unknown pointer: to_event takes the newest leaf
    assert conversation.created_at == "1970-01-01T00:00:05.000000Z"  # the earliest message
    view = imported(item)
    assert view.current_id == view.live_messages[1].id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1717000000, "2024-05-29T16:26:40.000000Z"),  # seconds
        (1717000000.25, "2024-05-29T16:26:40.250000Z"),
        (1717000000250, "2024-05-29T16:26:40.250000Z"),  # milliseconds
        (1717000000250001, "2024-05-29T16:26:40.250001Z"),  # microseconds
        (1717000000250001000, "2024-05-29T16:26:40.250001Z"),  # nanoseconds
        (True, None),
        ("1717000000", None),
        (None, None),
    ],
)
def test_a_number_of_any_unit_is_a_time_by_its_size(value: Any, expected: str | None) -> None:
    assert epoch_time(value) == expected


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"title": "t", "chat": {"history": {"messages": {}}}}, "no chat id"),
        ({"id": "x", "chat": {"title": "t"}}, "no history and no messages"),
        ({"id": "x", "chat": {"history": {"messages": []}}}, "no messages object"),
        ({"id": "x", "chat": {"history": {"messages": {"a": 1}}}}, "'a' is no object"),
        ({"id": "x", "chat": {"history": {"messages": {"a": {"parentId": 3}}}}}, "no id"),
        ({"id": "x", "chat": {"messages": [{"role": "user", "content": "hi"}]}}, "no time"),
        ({"id": "x", "chat": "oops"}, "chat is no object"),
    ],
)
def test_malformed_chats_are_broken(item: Any, reason: str) -> None:
    with pytest.raises(BrokenConversation, match=reason):
        openwebui.read(item)
