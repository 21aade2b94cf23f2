"""ChatGPT's export read as conversations (SPEC §10), on a fixture written from its shape
(docs/import-formats.md): the null root, the hidden system message and custom instructions,
multimodal parts, model_slug, float create_time, a tool call between a question and its
answer, a regenerated answer, and a corrupted entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from orion_events.domain.views import SessionView
from orion_events.imports import chatgpt
from orion_events.imports.conversation import BrokenConversation
from tests.orion_events.imports.support import imported as imported_as_session

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "import" / "chatgpt.json"


def imported(item: Any) -> SessionView:
    return imported_as_session(chatgpt.read(item))


def items() -> list[Any]:
    return orjson.loads(FIXTURE.read_bytes())  # type: ignore[no-any-return]


def test_every_item_is_told_a_chatgpt_conversation_by_its_mapping() -> None:
    assert [chatgpt.is_conversation(item) for item in items()] == [True, False, True]
    assert not chatgpt.is_conversation({"chat": {}})


def test_what_a_person_saw_is_kept_every_branch_with_the_sources_current_one() -> None:
    view = imported(items()[0])
    texts = {m.id: m.content for m in view.live_messages}
    assert [m.content for m in view.live_messages] == [
        "[image: sediment://file_00000000abc]\nWhy does this deploy time out?",
        "Check the LB idle timeout.",
        "Retry with exponential backoff.",
    ]
    # the tool call and its output are left out: the last answer hangs from the question
    question = view.live_messages[0].id
    assert [texts[view.tree.id_of(view.tree.parent(n))] for n in (1, 2)] == [texts[question]] * 2
    assert view.current_id is not None
    assert texts[view.current_id] == "Retry with exponential backoff."
    assert [m.model for m in view.live_messages] == [None, "gpt-4", "gpt-4"]  # default_model_slug
    assert [m.timestamp for m in view.live_messages] == [
        "2024-01-07T12:18:35.776371Z",
        "2024-01-07T12:18:59.830000Z",
        "2024-01-07T12:20:01.100000Z",
    ]
    assert view.created_at == "2024-01-07T12:18:35.775304Z"
    assert view.title == "Deploy timeout"
    assert dict(view.metadata) == {
        "imported_from": "chatgpt",
        "source_id": "c0ffee00-0000-4000-8000-000000000001",
    }


def test_an_untitled_conversation_is_named_by_its_first_user_message_and_joins_its_parts() -> None:
    view = imported(items()[2])
    assert (view.title, view.title_source) == ("Hello again", "auto")
    assert [m.content for m in view.live_messages] == ["Hello\nagain"]


def test_the_corrupted_entry_is_a_broken_conversation() -> None:
    with pytest.raises(BrokenConversation, match="no mapping"):
        chatgpt.read(items()[1])


@pytest.mark.parametrize(
    "item",
    [
        {"mapping": {}, "create_time": 1.0},  # no id
        {"mapping": {}, "id": "x"},  # no create_time
        {"mapping": {"a": 5}, "id": "x", "create_time": 1.0},
        {"mapping": {"a": {"parent": 7}}, "id": "x", "create_time": 1.0},
    ],
)
def test_malformed_conversations_are_broken(item: Any) -> None:
    with pytest.raises(BrokenConversation):
        chatgpt.read(item)
