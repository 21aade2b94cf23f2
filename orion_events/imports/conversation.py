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
- What the API would refuse is refused here too (a message over 1 MiB, a model name too long,
  too much metadata), with the message's reason, except a title too long, which is cut: a
  conversation is not lost for its title.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from attrs import field, frozen

from orion_events.domain import rules
from orion_events.domain.errors import InvalidInput
from orion_events.domain.events import SessionImported
from orion_events.domain.ids import new_id

SOURCES = ("chatgpt", "openwebui", "librechat", "claude", "orion")
# The one form the log writes times in; imported times are compared with the others as text.
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


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
    agent: str | None = None  # only this service's own exports name one


@frozen
class Conversation:
    source: str  # one of SOURCES
    source_id: str
    title: str | None
    created_at: str
    messages: Mapping[str, SourceMessage]  # by the source's id, in any order
    current: str | None = None  # the source's current leaf, if it names one
    metadata: Mapping[str, str] = field(factory=dict)


def log_time(moment: datetime) -> str:
    """`moment` in the one form the log writes times: `YYYY-MM-DDTHH:MM:SS.ffffffZ`, UTC (a
    naive moment is taken as UTC), so that times compare as text."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch_time(value: Any) -> str | None:
    """A number since 1970 as the log's time (None: no number, or no time). Its unit is told by
    its size, since exports mix them: above 1e17 nanoseconds, above 1e14 microseconds, above
    1e11 milliseconds, else seconds (1e11 seconds is the year 5138)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    for limit, scale in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
        if abs(seconds) > limit:
            seconds /= scale
            break
    try:
        return log_time(datetime.fromtimestamp(seconds, UTC))
    except (OverflowError, OSError, ValueError):
        return None


def iso_time(value: Any) -> str | None:
    """An ISO 8601 text (`Z` or an offset; none: UTC) as the log's time (None: none such)."""
    if not isinstance(value, str):
        return None
    try:
        return log_time(datetime.fromisoformat(value))
    except ValueError:
        return None


def later(timestamp: str, milliseconds: int = 1) -> str:
    """The log's time `milliseconds` after `timestamp` (one of the log's times)."""
    moment = datetime.fromisoformat(timestamp) + timedelta(milliseconds=milliseconds)
    return log_time(moment)


def text_or_parts(message: Mapping[str, Any]) -> str:
    """What a message of LibreChat or Claude showed: its `text`; else the text parts of its
    `content` (each `text` a string, or LibreChat's `{value}`), thinking and tools left out."""
    text = message.get("text")
    if isinstance(text, str) and text.strip():
        return text
    content = message.get("content")
    if not isinstance(content, list):
        return ""
    parts = []
    for part in content:
        if not isinstance(part, Mapping) or part.get("type") != "text":
            continue
        value = part.get("text")
        if isinstance(value, Mapping):
            value = value.get("value")
        if isinstance(value, str):
            parts.append(value)
    return "\n".join(p for p in parts if p)


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
                "agent": message.agent,
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
    try:
        rules.metadata(metadata)
        for item in data:
            rules.role(item["role"])
            rules.content(item["content"])
            rules.optional_name(item["model"], "model")
            rules.optional_name(item["agent"], "agent")
            _timestamp(item["timestamp"], f"message {item['id']!r}")
    except InvalidInput as exc:
        raise BrokenConversation(exc.message) from None
    return SessionImported(
        title=_title(conversation.title),
        metadata=metadata,
        messages=data,
        current_id=new[current],
        created_at=_timestamp(conversation.created_at, "the conversation"),
        source=conversation.source,
        source_id=conversation.source_id,
        owner=owner,
    )


def _title(title: str | None) -> str | None:
    """The source's title, cut to what a title may hold (None: the projector names it)."""
    if title is not None and title.strip():
        return title[: rules.MAX_TITLE_CHARS]
    return None


def _timestamp(value: str, whose: str) -> str:
    if not _TIMESTAMP.fullmatch(value):
        raise BrokenConversation(f"{whose} has a time that is not RFC 3339 UTC: {value[:40]!r}")
    return value


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
    """Every message after its parent, otherwise in the order the source lists them: a source
    that lists parents first (this service's export, in the order messages were added) keeps
    its order; a message listed before its parent follows it at once."""
    order: list[str] = []
    placed: set[str] = set()
    waiting: dict[str, list[str]] = {}  # by the parent they wait for, in the source's order

    def place(mid: str) -> None:
        todo = [mid]
        while todo:
            next_one = todo.pop()
            order.append(next_one)
            placed.add(next_one)
            todo.extend(reversed(waiting.pop(next_one, [])))

    for mid, parent in parent_of.items():
        if parent is None or parent in placed:
            place(mid)
        else:
            waiting.setdefault(parent, []).append(mid)
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


__all__ = [
    "SOURCES",
    "BrokenConversation",
    "Conversation",
    "SourceMessage",
    "epoch_time",
    "iso_time",
    "later",
    "log_time",
    "text_or_parts",
    "to_event",
]
