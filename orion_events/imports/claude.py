"""Claude's data export (`conversations.json`: an array of conversations) read as conversations
(SPEC §10's fifth format; the shape in docs/import-formats.md).

A conversation is `{uuid, name, created_at, chat_messages[…]}`; a message is `{uuid, sender:
human | assistant, text, content[…], created_at, parent_message_uuid}`, the first message's
parent being `00000000-0000-4000-8000-000000000000`. Older exports name no parents: their
messages are one chain in the listed order. What a person saw is kept: the text, or the `text`
parts of `content`; thinking, tool calls and tool results are not. Claude exports no model and
no current pointer: the newest leaf is current (`to_event`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orion_events.imports.conversation import (
    BrokenConversation,
    Conversation,
    SourceMessage,
    iso_time,
    text_or_parts,
)

SOURCE = "claude"
_NO_PARENT = "00000000-0000-4000-8000-000000000000"
_ROLES = {"human": "user", "assistant": "assistant"}


def is_conversation(item: Any) -> bool:
    """Whether `item` (an item of the file's top-level array) is one of Claude's."""
    return isinstance(item, Mapping) and isinstance(item.get("chat_messages"), list)


def read(item: Mapping[str, Any]) -> Conversation:
    """The conversation `item` holds; BrokenConversation when it is none."""
    source_id = item.get("uuid")
    if not isinstance(source_id, str) or not source_id.strip():
        raise BrokenConversation("no conversation uuid")
    listed = item.get("chat_messages")
    if not isinstance(listed, list):
        raise BrokenConversation("no chat_messages")
    created = iso_time(item.get("created_at"))
    if created is None:
        raise BrokenConversation("no created_at")
    messages: dict[str, SourceMessage] = {}
    previous: str | None = None
    for number, message in enumerate(listed):
        if not isinstance(message, Mapping):
            raise BrokenConversation(f"message {number} is no message")
        mid = message.get("uuid")
        if not isinstance(mid, str) or not mid or mid in messages:
            raise BrokenConversation(f"message {number} has no uuid of its own")
        messages[mid] = SourceMessage(
            id=mid,
            parent=_parent(message, previous),
            role=_ROLES.get(str(message.get("sender")), str(message.get("sender"))),
            text=text_or_parts(message) if message.get("sender") in _ROLES else "",
            timestamp=iso_time(message.get("created_at")) or created,
        )
        previous = mid
    name = item.get("name")
    return Conversation(
        source=SOURCE,
        source_id=source_id,
        title=name if isinstance(name, str) else None,
        created_at=created,
        messages=messages,
    )


def _parent(message: Mapping[str, Any], previous: str | None) -> str | None:
    """The message it answers: the one it names (None for the root's marker), or, in exports
    that name none, the one listed before it."""
    if "parent_message_uuid" not in message:
        return previous
    parent = message["parent_message_uuid"]
    if parent is None or parent == _NO_PARENT:
        return None
    if not isinstance(parent, str):
        raise BrokenConversation(f"message {message.get('uuid')!r} has a parent that is no id")
    return parent


__all__ = ["SOURCE", "is_conversation", "read"]
