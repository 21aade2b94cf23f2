"""Open WebUI's chat export ("Export Chats", or one chat's "Export → JSON": an array of chat
rows) read as conversations (SPEC §10; the shape and the rules in docs/import-formats.md).

A row is `{id, title, chat{…}, created_at (seconds), …}`; its `chat` holds the tree as
`history{messages{id → message}, currentId}` (edges by `parentId`: the backend itself rebuilds
`childrenIds` from them) and a linear copy in `messages`. An older layout is the chat alone,
`history` at the top. What a person saw is kept: user and assistant text; other roles (system)
get no text, so `conversation.to_event` leaves them out while keeping the chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orion_events.imports.conversation import (
    BrokenConversation,
    Conversation,
    SourceMessage,
    epoch_time,
)

SOURCE = "openwebui"
_ROLES = frozenset({"user", "assistant"})


def is_chat(item: Any) -> bool:
    """Whether `item` (an item of the file's top-level array) is one of Open WebUI's chats: a
    row with a `chat` holding `history` or `messages`, or the legacy chat alone (`history` with
    `messages`, no `chat`)."""
    if not isinstance(item, Mapping):
        return False
    chat = item.get("chat")
    if isinstance(chat, Mapping):
        return isinstance(chat.get("history"), Mapping) or isinstance(chat.get("messages"), list)
    history = item.get("history")
    return "chat" not in item and isinstance(history, Mapping) and "messages" in history


def read(item: Mapping[str, Any]) -> Conversation:
    """The conversation `item` holds; BrokenConversation when it is none."""
    chat = item.get("chat")
    if not isinstance(chat, Mapping):
        if "chat" in item:
            raise BrokenConversation("its chat is no object")
        chat = item  # the legacy layout: the chat alone
    source_id = _text(item.get("id")) or _text(chat.get("id"))
    if source_id is None:
        raise BrokenConversation("no chat id")
    history = chat.get("history")
    if isinstance(history, Mapping):
        rows = history.get("messages")
        if not isinstance(rows, Mapping):
            raise BrokenConversation("its history holds no messages object")
        listed = list(rows.items())
        current = history.get("currentId")
    elif isinstance(chat.get("messages"), list):
        listed = _chained(chat["messages"])
        current = listed[-1][0] if listed else None
    else:
        raise BrokenConversation("no history and no messages")
    parents = _parents(listed)
    own = {mid: epoch_time(m.get("timestamp")) for mid, m in listed}
    created = (
        epoch_time(item.get("created_at"))  # the row's, in seconds: the one to trust
        or epoch_time(chat.get("timestamp"))  # milliseconds, or seconds when from ChatGPT
        or min((t for t in own.values() if t is not None), default=None)
    )
    if created is None:
        raise BrokenConversation("no time: neither the chat nor any message has one")
    messages: dict[str, SourceMessage] = {}
    for mid, message in listed:
        role = message.get("role")
        text = _content(message.get("content")) if role in _ROLES else ""
        model = message.get("model") if role == "assistant" else None
        messages[mid] = SourceMessage(
            id=mid,
            parent=parents[mid],
            role=str(role or "system"),
            text=text,
            timestamp=_inherited(mid, own, parents, created),
            model=model if isinstance(model, str) and model else None,
        )
    title = _text(item.get("title")) or _text(chat.get("title"))
    return Conversation(
        source=SOURCE,
        source_id=source_id,
        title=title,
        created_at=created,
        messages=messages,
        current=_last_descendant(current, parents) if current in messages else None,
    )


def _chained(rows: list[Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """A linear list of messages as a chain, each answering the one before it whatever its
    own `parentId` says (the list is the order Open WebUI shows them in)."""
    listed: list[tuple[str, Mapping[str, Any]]] = []
    for n, message in enumerate(rows):
        if not isinstance(message, Mapping):
            raise BrokenConversation(f"message {n} is no object")
        mid = _text(message.get("id")) or f"#{n}"  # old lists may hold no ids
        parent = listed[-1][0] if listed else None
        listed.append((mid, {**message, "parentId": parent}))
    return listed


def _parents(listed: list[tuple[str, Any]]) -> dict[str, str | None]:
    """Each message's parent as the source says it (one not there is `to_event`'s to refuse)."""
    parents: dict[str, str | None] = {}
    for mid, message in listed:
        if not isinstance(message, Mapping):
            raise BrokenConversation(f"message {mid!r} is no object")
        parent = message.get("parentId")
        if parent is not None and not isinstance(parent, str):
            raise BrokenConversation(f"message {mid!r} has a parentId that is no id")
        parents[mid] = parent or None
    return parents


def _inherited(
    mid: str,
    own: Mapping[str, str | None],
    parents: Mapping[str, str | None],
    created: str,
) -> str:
    """The message's time; else the nearest one above it that has one; else the chat's. A
    cycle or a missing parent only ends the search here: to_event refuses them with a reason."""
    seen: set[str] = set()
    at: str | None = mid
    while at is not None and at in own and at not in seen:
        found = own[at]
        if found is not None:
            return found
        seen.add(at)
        at = parents[at]
    return created


def _last_descendant(current: str, parents: Mapping[str, str | None]) -> str:
    """`current` followed down to a leaf by its last listed child, as Open WebUI's backend
    does when a chat's pointer stops short of the end."""
    last_child: dict[str, str] = {}
    for mid, parent in parents.items():
        if parent is not None:
            last_child[parent] = mid  # later listings overwrite: the last one wins
    seen = {current}
    while current in last_child and last_child[current] not in seen:
        current = last_child[current]
        seen.add(current)
    return current


def _content(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of parts (some versions)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif (
            isinstance(part, Mapping)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        ):
            parts.append(part["text"])
    return "\n".join(p for p in parts if p)


def _text(value: Any) -> str | None:
    """A non-blank string, or None."""
    return value if isinstance(value, str) and value.strip() else None


__all__ = ["SOURCE", "is_chat", "read"]
