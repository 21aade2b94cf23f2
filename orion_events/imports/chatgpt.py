"""ChatGPT's data export (`conversations.json`: an array of conversations) read as conversations
(SPEC §10; the shape and the rules in docs/import-formats.md).

A conversation is a `mapping` of nodes (`{id, message | null, parent, children}`) and the
`current_node` of its active branch. What a person saw is kept: user and assistant messages of
text (`text`, `multimodal_text`) that are not hidden; the rest (the null root, the hidden system
message, custom instructions, tool calls and their output) is scaffolding that
`conversation.to_event` leaves out while keeping the chain.
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

SOURCE = "chatgpt"
_TEXT_TYPES = frozenset({"text", "multimodal_text"})
_ROLES = frozenset({"user", "assistant"})


def is_conversation(item: Any) -> bool:
    """Whether `item` (an item of the file's top-level array) is one of ChatGPT's."""
    return isinstance(item, Mapping) and isinstance(item.get("mapping"), Mapping)


def read(item: Mapping[str, Any]) -> Conversation:
    """The conversation `item` holds; BrokenConversation when it is none."""
    mapping = item.get("mapping")
    if not isinstance(mapping, Mapping):
        raise BrokenConversation("no mapping of messages")
    source_id = item.get("conversation_id") or item.get("id")
    if not isinstance(source_id, str) or not source_id:
        raise BrokenConversation("no conversation id")
    created = _time(item.get("create_time"), None)
    if created is None:
        raise BrokenConversation("no create_time")
    default_model = item.get("default_model_slug")
    messages: dict[str, SourceMessage] = {}
    for node_id, node in mapping.items():
        if not isinstance(node, Mapping) or not isinstance(node_id, str):
            raise BrokenConversation(f"node {node_id!r} is no node")
        parent = node.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise BrokenConversation(f"node {node_id!r} has a parent that is no id")
        role, text, at, model = _message(node.get("message"), created, default_model)
        messages[node_id] = SourceMessage(node_id, parent, role, text, at, model)
    title = item.get("title")
    current = item.get("current_node")
    return Conversation(
        source=SOURCE,
        source_id=source_id,
        title=title if isinstance(title, str) and title.strip() else None,
        created_at=created,
        messages=messages,
        current=current if isinstance(current, str) else None,
    )


def _message(message: Any, created: str, default_model: Any) -> tuple[str, str, str, str | None]:
    """A node's role, the text a person saw ("" for scaffolding), its time and its model."""
    if not isinstance(message, Mapping):
        return "system", "", created, None  # the null root
    author = message.get("author") or {}
    role = author.get("role") if isinstance(author, Mapping) else None
    metadata = message.get("metadata") or {}
    content = message.get("content") or {}
    at = _time(message.get("create_time"), created) or created
    hidden = isinstance(metadata, Mapping) and metadata.get("is_visually_hidden_from_conversation")
    kind = content.get("content_type") if isinstance(content, Mapping) else None
    to_someone_else = message.get("recipient") not in (None, "all")
    if role not in _ROLES or hidden or kind not in _TEXT_TYPES or to_someone_else:
        return str(role or "system"), "", at, None
    text = _parts_text(content.get("parts"))
    model = metadata.get("model_slug") if isinstance(metadata, Mapping) else None
    if role == "assistant" and not isinstance(model, str):
        model = default_model if isinstance(default_model, str) else None
    return str(role), text, at, model if role == "assistant" else None


def _parts_text(parts: Any) -> str:
    """Text parts joined; an object part with text gives it; an image becomes a mark."""
    if not isinstance(parts, list):
        return ""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
            out.append(part["text"])
        elif isinstance(part, Mapping) and part.get("content_type") == "image_asset_pointer":
            out.append(f"[image: {part.get('asset_pointer', '')}]")
    return "\n".join(p for p in out if p)


def _time(value: Any, fallback: str | None) -> str | None:
    """Seconds since 1970 (a float, as ChatGPT writes them) as the log's RFC 3339 text."""
    return epoch_time(value) or fallback


__all__ = ["SOURCE", "is_conversation", "read"]
