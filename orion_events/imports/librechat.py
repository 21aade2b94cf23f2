"""LibreChat's conversation export (one conversation per file, a top-level object) read as a
conversation (SPEC §10; the shape and the rules in docs/import-formats.md).

The messages come as a tree (`messagesTree`, or in older files `messages`, each with nested
`children`) or flat (`messages` in pre-order, each naming its `parentMessageId`); the first
message's parent is the all-zero id. LibreChat keeps no current pointer: it shows the newest
reply at every level, so this reader works that branch out itself (`to_event`'s fallback, the
newest leaf of all, may end on another branch).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from orion_events.imports.conversation import (
    BrokenConversation,
    Conversation,
    SourceMessage,
    iso_time,
    later,
    text_or_parts,
)

SOURCE = "librechat"
_NO_PARENT = "00000000-0000-0000-0000-000000000000"


def is_export(obj: Any) -> bool:
    """Whether `obj` (a file's top-level object) is a LibreChat conversation."""
    return (
        isinstance(obj, Mapping)
        and "conversationId" in obj
        and (isinstance(obj.get("messagesTree"), list) or isinstance(obj.get("messages"), list))
    )


def read(obj: Mapping[str, Any]) -> Conversation:
    """The conversation `obj` holds; BrokenConversation when it is none."""
    source_id = obj.get("conversationId")
    if not isinstance(source_id, str) or not source_id.strip():
        raise BrokenConversation("no conversationId")
    tree = obj.get("messagesTree")
    flat = obj.get("messages")
    if isinstance(tree, list):
        listed = list(_nested(tree, None))
    elif isinstance(flat, list):
        nested = any(isinstance(m, Mapping) and m.get("children") for m in flat)
        listed = list(_nested(flat, None)) if nested else list(_flat(flat))
    else:
        raise BrokenConversation("no messagesTree and no messages")
    if not listed:
        raise BrokenConversation("it holds no messages")
    parents = {mid: parent for mid, parent, _ in listed}
    own = {mid: iso_time(m.get("createdAt")) for mid, _, m in listed}
    created = min((t for t in own.values() if t is not None), default=None)
    if created is None:  # exportAt is a time of day without a date: no help
        raise BrokenConversation("no message has a createdAt")
    times = _times(own, parents, created)
    options = obj.get("options")
    default_model = options.get("model") if isinstance(options, Mapping) else None
    messages: dict[str, SourceMessage] = {}
    for mid, parent, message in listed:
        user = message.get("isCreatedByUser") is True
        model = None if user else (message.get("model") or default_model)
        messages[mid] = SourceMessage(
            id=mid,
            parent=parent,
            role="user" if user else "assistant",
            text=text_or_parts(message),
            timestamp=times[mid],
            model=model if isinstance(model, str) else None,
        )
    title = obj.get("title")
    return Conversation(
        source=SOURCE,
        source_id=source_id,
        title=title if isinstance(title, str) and title.strip() else None,
        created_at=created,
        messages=messages,
        current=_newest_branch_leaf(parents, times),
    )


Listed = tuple[str, str | None, Mapping[str, Any]]  # id, parent, the message


def _nested(items: list[Any], parent: str | None) -> Iterator[Listed]:
    """A tree's messages in pre-order; a child's parent is the message it is nested in, and the
    top level is first messages whatever parent they name (LibreChat shows an orphan there)."""
    todo = [(item, parent) for item in reversed(items)]
    while todo:
        item, above = todo.pop()
        mid = _id(item)
        yield mid, above, item
        children = item.get("children") or []
        if not isinstance(children, list):
            raise BrokenConversation(f"message {mid!r} has children that are no list")
        todo.extend((child, mid) for child in reversed(children))


def _flat(items: list[Any]) -> Iterator[Listed]:
    """A flat list's messages with the parent each names; the all-zero id and null mean a first
    message, and an id that is not there is left for `to_event` to refuse."""
    for item in items:
        mid = _id(item)
        parent = item.get("parentMessageId")
        if parent is not None and not isinstance(parent, str):
            raise BrokenConversation(f"message {mid!r} has a parentMessageId that is no id")
        yield mid, None if parent in (None, "", _NO_PARENT) else parent, item


def _id(item: Any) -> str:
    if not isinstance(item, Mapping):
        raise BrokenConversation(f"{item!r:.40} is no message")
    mid = item.get("messageId")
    if not isinstance(mid, str) or not mid:
        raise BrokenConversation("a message has no messageId")
    return mid


def _times(
    own: Mapping[str, str | None], parents: Mapping[str, str | None], created: str
) -> dict[str, str]:
    """Each message's createdAt; without one (nested children often lack it), its parent's
    time plus 1 ms, so it still sorts after what it answers; at the top, the conversation's."""
    times: dict[str, str] = {}
    for mid in own:
        chain: list[str] = []  # mid and the ancestors above it that have no time yet
        at: str | None = mid
        while at is not None and at in own and at not in times and at not in chain:
            chain.append(at)
            at = parents[at]
        base = times.get(at, created) if at is not None else created
        for m in reversed(chain):  # from the topmost down
            found = own[m]
            base = found if found is not None else later(base)
            times[m] = base
    return times


def _newest_branch_leaf(parents: Mapping[str, str | None], times: Mapping[str, str]) -> str | None:
    """The leaf LibreChat shows: from the newest first message, at each level the newest reply
    (by time; on a tie the last listed), down to a leaf. Times are the log's text: they sort."""
    children: dict[str | None, list[str]] = {}
    for mid, parent in parents.items():
        children.setdefault(parent, []).append(mid)
    level = children.get(None, [])
    leaf: str | None = None
    seen: set[str] = set()
    while level:
        # max keeps the first of equals: look from the end so the last listed wins a tie
        leaf = max(reversed(level), key=lambda mid: times[mid])
        if leaf in seen:
            break
        seen.add(leaf)
        level = children.get(leaf, [])
    return leaf


__all__ = ["SOURCE", "is_export", "read"]
