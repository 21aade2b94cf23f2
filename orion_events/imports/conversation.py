"""A conversation as every import format reads it (SPEC §10), and the one way it becomes a
session: each format's reader only says what the source holds (its messages by its own ids,
each with its parent, and which one is current); the rules for turning that into a tree are
here, once.

- Messages are written parents first whatever order the source lists them in.
- A message with no text of its own (the null root of ChatGPT's mapping, an empty system or
  tool node) is left out, and its replies hang from its parent instead: the chain holds.
- A parent that is not in the conversation, a cycle, or a conversation with nothing to keep
  makes it broken: it is reported, and nothing of it is written.
- The current leaf is the source's (moved up to the nearest kept message when the source's
  was left out), or else the newest leaf.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from attrs import field, frozen

from orion_events.domain.events import SessionImported
from orion_events.domain.ids import new_id

SOURCES = ("chatgpt", "openwebui", "librechat", "orion")


class BrokenConversation(ValueError):
    """What makes a conversation impossible to import whole; none of it is written."""


@frozen
class SourceMessage:
    id: str  # the source's id
    parent: str | None  # the source's id of the message it answers (None: a first message)
    role: str
    text: str  # "" when the message has no text of its own (it is then left out)
    timestamp: str  # RFC 3339 UTC, as the log writes times
    model: str | None = None


@frozen
class Conversation:
    source: str  # one of SOURCES
    source_id: str
    title: str | None
    created_at: str
    messages: Mapping[str, SourceMessage]  # by the source's id, in any order
    current: str | None = None  # the source's current leaf, if it names one
    metadata: Mapping[str, str] = field(factory=dict)


def to_event(
    conversation: Conversation, *, owner: str | None = None, ids: Callable[[], str] = new_id
) -> SessionImported:
    """The one event that writes `conversation` as a session; BrokenConversation when it cannot
    be written whole."""
    messages = conversation.messages
    kept = {mid: m for mid, m in messages.items() if m.text.strip()}
    if not kept:
        raise BrokenConversation("it holds no message with text")
    parent_of = {mid: _kept_parent(mid, messages, kept) for mid in kept}
    order = _parents_first(parent_of)
    new = {mid: ids() for mid in order}
    data: list[dict[str, Any]] = []
    for mid in order:
        message, parent = kept[mid], parent_of[mid]
        data.append(
            {
                "id": new[mid],
                "role": message.role,
                "content": message.text,
                "timestamp": message.timestamp,
                "agent": None,
                "model": message.model,
                "parent_id": None if parent is None else new[parent],
            }
        )
    current = _current(conversation, messages, kept, parent_of, order)
    metadata = {
        **conversation.metadata,
        "imported_from": conversation.source,
        "source_id": conversation.source_id,
    }
    return SessionImported(
        title=conversation.title,
        metadata=metadata,
        messages=data,
        current_id=new[current],
        created_at=conversation.created_at,
        source=conversation.source,
        source_id=conversation.source_id,
        owner=owner,
    )


def _kept_parent(
    mid: str, messages: Mapping[str, SourceMessage], kept: Mapping[str, SourceMessage]
) -> str | None:
    """The nearest kept message above `mid` (None: it is a first message)."""
    seen = {mid}
    parent = messages[mid].parent
    while parent is not None and parent not in kept:
        if parent not in messages:
            raise BrokenConversation(f"message {mid!r} answers {parent!r}, which is not there")
        if parent in seen:
            raise BrokenConversation(f"the messages above {mid!r} form a cycle")
        seen.add(parent)
        parent = messages[parent].parent
    return parent


def _parents_first(parent_of: Mapping[str, str | None]) -> list[str]:
    """Every message after its parent, siblings in the order the source listed them."""
    children: dict[str | None, list[str]] = {}
    for mid, parent in parent_of.items():
        children.setdefault(parent, []).append(mid)
    order: list[str] = []
    todo = list(reversed(children.get(None, [])))
    while todo:
        mid = todo.pop()
        order.append(mid)
        todo.extend(reversed(children.get(mid, [])))
    if len(order) != len(parent_of):  # what no first message leads to hangs in a cycle
        raise BrokenConversation("some messages form a cycle, with no first message above")
    return order


def _current(
    conversation: Conversation,
    messages: Mapping[str, SourceMessage],
    kept: Mapping[str, SourceMessage],
    parent_of: Mapping[str, str | None],
    order: list[str],
) -> str:
    """The source's current leaf (or the nearest kept message above it); else the newest leaf,
    by timestamp, the last listed on a tie."""
    current = conversation.current
    if current is not None and current in messages:
        if current in kept:
            return current
        above = _kept_parent(current, messages, kept)
        if above is not None:
            return above
    parents = {p for p in parent_of.values() if p is not None}
    leaves = [mid for mid in order if mid not in parents]
    return max(reversed(leaves), key=lambda mid: kept[mid].timestamp)


__all__ = ["SOURCES", "BrokenConversation", "Conversation", "SourceMessage", "to_event"]
