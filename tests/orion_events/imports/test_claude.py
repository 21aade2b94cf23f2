"""Claude's export read as conversations (SPEC §10's fifth format), on a fixture written from its
shape (docs/import-formats.md): a regenerated answer (a branch), the root's marker parent, text
only in `content` parts beside thinking, tool calls and tool results, a time with an offset, an
older export whose messages name no parents, an untitled conversation, and a message answering
one that is not there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from orion_events.domain.views import SessionView
from orion_events.imports import chatgpt, claude, librechat, openwebui
from orion_events.imports.conversation import BrokenConversation, to_event
from service.payloads import session_json
from tests.orion_events.imports.support import branches
from tests.orion_events.imports.support import imported as imported_as_session

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "import"


def imported(item: Any) -> SessionView:
    return imported_as_session(claude.read(item))


def items() -> list[Any]:
    return orjson.loads((FIXTURES / "claude.json").read_bytes())  # type: ignore[no-any-return]


def test_every_item_is_told_a_claude_conversation_and_others_are_not() -> None:
    assert [claude.is_conversation(item) for item in items()] == [True, True, True]
    chatgpt_item = orjson.loads((FIXTURES / "chatgpt.json").read_bytes())[0]
    openwebui_item = orjson.loads((FIXTURES / "openwebui.json").read_bytes())[0]
    librechat_file = orjson.loads((FIXTURES / "librechat-tree.json").read_bytes())
    for other in (chatgpt_item, openwebui_item, librechat_file):
        assert not claude.is_conversation(other)
    assert not chatgpt.is_conversation(items()[0])
    assert not openwebui.is_chat(items()[0])
    assert not librechat.is_export(items()[0])


def test_a_branched_conversation_keeps_every_branch_and_the_newest_leaf_is_current() -> None:
    view = imported(items()[0])
    question = "My starter smells like nail polish. Is it dead?"
    regenerated = "It is alive, only hungry.\nDiscard half and feed it flour and water."
    assert branches(view) == [
        [question, regenerated],
        [question, "No: it is hungry. Feed it twice a day.", "What ratio of flour to water?",
         "1:1 by weight."],
    ]  # fmt: skip
    # the newest leaf (09:17:20Z) is current, though the regenerated answer was listed later
    assert [m["content"] for m in session_json(view)["messages"]] == [
        question, "No: it is hungry. Feed it twice a day.", "What ratio of flour to water?",
        "1:1 by weight.",
    ]  # fmt: skip
    by_text = {m.content: m for m in view.live_messages}
    assert by_text[regenerated].timestamp == "2025-03-02T08:16:30.000000Z"  # +01:00, in UTC
    assert by_text[question].role == "user"
    assert by_text["1:1 by weight."].role == "assistant"
    assert {m.model for m in view.live_messages} == {None}  # Claude exports no model
    assert (view.title, view.created_at) == ("Sourdough starter", "2025-03-02T09:15:00.123456Z")
    assert dict(view.metadata) == {
        "imported_from": "claude",
        "source_id": "c1a0de00-0000-4000-8000-000000000001",
    }


def test_an_older_export_without_parents_is_one_chain_named_by_its_first_message() -> None:
    view = imported(items()[1])
    assert branches(view) == [
        ["Hello from an older export", "Hello! Its messages name no parents.",
         "So they are one chain."],
    ]  # fmt: skip
    assert (view.title, view.title_source) == ("Hello from an older export", "auto")
    assert view.created_at == "2024-11-20T18:00:00.000000Z"


def test_a_message_answering_one_that_is_not_there_breaks_the_conversation() -> None:
    with pytest.raises(BrokenConversation, match="'b-2' answers 'gone', which is not there"):
        to_event(claude.read(items()[2]))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"uuid": None}, "no conversation uuid"),
        ({"created_at": "not a time"}, "no created_at"),
        ({"chat_messages": [7]}, "message 0 is no message"),
        ({"chat_messages": [{"sender": "human", "text": "x"}]}, "no uuid of its own"),
    ],
)
def test_what_is_no_claude_conversation_is_refused(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(BrokenConversation, match=reason):
        claude.read({**items()[1], **change})
