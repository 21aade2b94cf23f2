"""LibreChat's conversation export read as a conversation (SPEC §10), on fixtures written from
its shape (docs/import-formats.md): the same conversation as a tree and flat, two first messages
under the all-zero id, a regenerated answer, a reply without createdAt, a time with an offset,
text only in `content`, the model from `options`, and the branch LibreChat shows computed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from orion_events.domain.tree import NONE
from orion_events.domain.views import SessionView
from orion_events.imports import chatgpt, librechat, openwebui, orion
from orion_events.imports.conversation import BrokenConversation, to_event
from tests.orion_events.imports.support import branches, texts_by_number
from tests.orion_events.imports.support import imported as imported_as_session

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "import"
ZERO = "00000000-0000-0000-0000-000000000000"


def imported(obj: Any) -> SessionView:
    return imported_as_session(librechat.read(obj))


def load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def shape(view: SessionView) -> dict[str, Any]:
    """Everything but ids: each message by its text, its parent's text, role, time, model."""
    text = texts_by_number(view)
    return {
        "title": view.title,
        "created_at": view.created_at,
        "metadata": dict(view.metadata),
        "current": [text[n] for n in view.tree.branch()],
        "messages": [
            (
                m.content,
                None if view.tree.parent(n) == NONE else text[view.tree.parent(n)],
                m.role,
                m.timestamp,
                m.model,
            )
            for n, m in zip(view.tree.live_numbers(), view.live_messages, strict=True)
        ],
    }


STARVING = "Acetone means it is starving."
EXPECTED = {
    "title": "Sourdough starter",
    "created_at": "2024-05-01T09:59:00.000000Z",  # the earliest message: exportAt has no date
    "metadata": {"imported_from": "librechat", "source_id": "1b2c0000-0000-4000-8000-00000000000a"},
    # the newest first message, then its newest reply: the regenerated answer, a leaf (the
    # newest leaf of all is another: "Twice a day")
    "current": ["My starter smells like acetone.", STARVING],
    "messages": [
        ("What feeds a sourdough starter?", None, "user", "2024-05-01T09:59:00.000000Z", None),
        (
            "Flour and water.",
            "What feeds a sourdough starter?",
            "assistant",
            "2024-05-01T09:59:04.500000Z",
            "gpt-4o",
        ),
        ("My starter smells like acetone.", None, "user", "2024-05-01T10:00:00.000000Z", None),
        (
            "It is hungry: feed it more often.",
            "My starter smells like acetone.",
            "assistant",
            "2024-05-01T10:00:05.250000Z",
            "gpt-4o",
        ),
        # no createdAt: its parent's time and 1 ms
        (
            "How often?",
            "It is hungry: feed it more often.",
            "user",
            "2024-05-01T10:00:05.251000Z",
            None,
        ),
        # +02:00 in the source; model null: the conversation's options.model
        (
            "Twice a day, at room temperature.",
            "How often?",
            "assistant",
            "2024-05-01T10:05:00.000000Z",
            "gpt-4o",
        ),
        # text "" and the text part of content ({value}); the think part is not shown text
        (
            STARVING,
            "My starter smells like acetone.",
            "assistant",
            "2024-05-01T10:02:00.000000Z",
            "claude-3-5-sonnet",
        ),
    ],
}


def test_each_export_is_told_librechat_and_others_are_not() -> None:
    tree, flat = load("librechat-tree.json"), load("librechat-flat.json")
    assert librechat.is_export(tree)
    assert librechat.is_export(flat)
    for other in (*load("openwebui.json"), load("chatgpt.json")[0], [tree], {"messages": []}):
        assert not librechat.is_export(other)
    assert not librechat.is_export({"session": {"messages": []}, "events": []})  # orion's
    for obj in (tree, flat):
        assert not chatgpt.is_conversation(obj)
        assert not openwebui.is_chat(obj)
        assert not orion.is_export(obj)


@pytest.mark.parametrize("name", ["librechat-tree.json", "librechat-flat.json"])
def test_the_tree_and_the_flat_export_are_the_same_session(name: str) -> None:
    assert shape(imported(load(name))) == EXPECTED


def test_every_branch_and_its_siblings() -> None:
    view = imported(load("librechat-tree.json"))
    assert branches(view) == [
        ["What feeds a sourdough starter?", "Flour and water."],
        [
            "My starter smells like acetone.",
            "It is hungry: feed it more often.",
            "How often?",
            "Twice a day, at room temperature.",
        ],
        ["My starter smells like acetone.", STARVING],
    ]
    text = texts_by_number(view)
    assert [text[n] for n in view.tree.children(NONE)] == [  # both under the all-zero id
        "What feeds a sourdough starter?",
        "My starter smells like acetone.",
    ]
    answer = view.tree.number_of(view.live_messages[3].id)
    assert [text[n] for n in view.tree.siblings(answer)] == [
        "It is hungry: feed it more often.",
        STARVING,
    ]
    assert view.current_id is not None
    assert text[view.tree.number_of(view.current_id)] == STARVING


def test_older_files_keep_the_tree_in_messages() -> None:
    obj = load("librechat-tree.json")
    obj["messages"] = obj.pop("messagesTree")
    assert librechat.is_export(obj)
    assert shape(imported(obj)) == EXPECTED


def say(mid: str, parent: str | None, at: str | None, user: bool = True) -> dict[str, Any]:
    return {
        "messageId": mid,
        "parentMessageId": parent,
        "isCreatedByUser": user,
        "text": f"text {mid}",
        **({} if at is None else {"createdAt": at}),
    }


def test_on_a_tie_the_last_listed_reply_is_shown() -> None:
    at = "2024-05-01T10:00:00Z"
    obj = {
        "conversationId": "c",
        "messages": [say("q", None, at), say("a", "q", at, False), say("b", "q", at, False)],
    }
    conversation = librechat.read(obj)
    assert conversation.current == "b"
    assert conversation.messages["b"].model is None  # no model and no options
    assert conversation.title is None


def test_a_flat_message_answering_one_that_is_not_there_breaks_the_conversation() -> None:
    obj = {
        "conversationId": "c",
        "messages": [say("q", ZERO, "2024-05-01T10:00:00Z"), say("a", "gone", None, False)],
    }
    with pytest.raises(BrokenConversation, match="'a' answers 'gone', which is not there"):
        to_event(librechat.read(obj))


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"messages": []}, "no conversationId"),
        ({"conversationId": "c", "messages": []}, "holds no messages"),
        ({"conversationId": "c", "title": "t"}, "no messagesTree and no messages"),
        ({"conversationId": "c", "messages": [say("q", None, None)]}, "no message has a createdAt"),
        ({"conversationId": "c", "messages": [{"text": "hi"}]}, "no messageId"),
        ({"conversationId": "c", "messages": ["hi"]}, "is no message"),
        (
            {"conversationId": "c", "messages": [{**say("q", None, None), "parentMessageId": 1}]},
            "no id",
        ),
    ],
)
def test_malformed_exports_are_broken(obj: Any, reason: str) -> None:
    with pytest.raises(BrokenConversation, match=reason):
        librechat.read(obj)
