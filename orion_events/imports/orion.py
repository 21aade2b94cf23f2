"""This service's own export (`GET /api/sessions/{id}/export?format=json`, `orion-events export
--format json`) read back as a conversation (SPEC §10): the round trip.

An export is `{"session": {…, "messages": [every message of every branch, with parent_id],
"current_id": …}, "events": […]}`; the session is enough to rebuild it, the events are its
history and stay with the source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orion_events.imports.conversation import BrokenConversation, Conversation, SourceMessage

SOURCE = "orion"
# What an import adds to metadata itself: an export of an import names its own source.
_IMPORT_KEYS = ("imported_from", "source_id")


def is_export(item: Any) -> bool:
    """Whether `item` (a file's top-level object, or an item of its top-level array) is one."""
    return (
        isinstance(item, Mapping)
        and isinstance(item.get("session"), Mapping)
        and isinstance(item["session"].get("messages"), list)
        and isinstance(item.get("events"), list)
    )


def read(item: Mapping[str, Any]) -> Conversation:
    """The conversation an export holds; BrokenConversation when it is no export's shape."""
    session = item.get("session")
    if not isinstance(session, Mapping):
        raise BrokenConversation("no session object")
    try:
        messages = {
            m["id"]: SourceMessage(
                id=_text(m["id"]),
                parent=None if m.get("parent_id") is None else _text(m["parent_id"]),
                role=_text(m["role"]),
                text=_text(m["content"]),
                timestamp=_text(m["timestamp"]),
                model=None if m.get("model") is None else _text(m["model"]),
                agent=None if m.get("agent") is None else _text(m["agent"]),
            )
            for m in session["messages"]
        }
        metadata = {
            _text(k): _text(v)
            for k, v in (session.get("metadata") or {}).items()
            if k not in _IMPORT_KEYS
        }
        return Conversation(
            source=SOURCE,
            source_id=_text(session["id"]),
            title=_text(session["title"]),
            created_at=_text(session["created_at"]),
            messages=messages,
            current=session.get("current_id"),
            metadata=metadata,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise BrokenConversation(f"not a session as an export holds it ({exc})") from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise BrokenConversation(f"{value!r} where text was expected")
    return value


__all__ = ["SOURCE", "is_export", "read"]
