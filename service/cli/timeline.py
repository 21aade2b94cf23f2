"""`replay`'s timeline as text: a line per event, saying in a few words what it did."""

from __future__ import annotations

from orion_events.domain.events import (
    CurrentChanged,
    MessageAdded,
    MessageDeleted,
    MessageEdited,
    MetadataUpdated,
    Recorded,
    SessionCreated,
    SessionForked,
    SessionImported,
    SessionRenamed,
)

SNIPPET = 60  # characters of a message a timeline line shows


def _snippet(text: str, limit: int = SNIPPET) -> str:
    """`text` on one line, at most `limit` characters, with nothing a terminal would obey."""
    flat = " ".join(text.split())
    flat = "".join(c if c.isprintable() else "\ufffd" for c in flat[: limit + 1])
    return flat if len(flat) <= limit else flat[:limit].rstrip() + "…"


def _quoted(text: str) -> str:
    return f'"{_snippet(text)}"'


def summary(recorded: Recorded) -> str:
    """What one event did, in a few words."""
    match recorded.event:
        case SessionCreated(title=title, metadata=metadata):
            said = "untitled" if title is None else f"title {_quoted(title)}"
            return said + (
                f", metadata {_snippet(', '.join(sorted(metadata)))}" if metadata else ""
            )
        case SessionImported() as imported:
            return (
                f"from {imported.source} {_quoted(imported.source_id)}, "
                f"{len(imported.messages)} messages, begun {imported.created_at}"
            )
        case SessionForked() as fork:
            return (
                f"from {fork.source_session} at version {fork.source_version}, "
                f"{len(fork.messages)} messages, title {_quoted(fork.title)}"
            )
        case SessionRenamed(title=title):
            return f"title {_quoted(title)}"
        case MetadataUpdated(metadata=metadata):
            return "keys " + _snippet(", ".join(sorted(metadata))) if metadata else "emptied"
        case MessageAdded() as added:
            said = f"{added.role} {added.message_id[:8]}: {_quoted(added.content)}"
            parent = added.parent_id
            if parent is None:
                return said + ", a first message"
            return said + (f", replying to {parent[:8]}" if isinstance(parent, str) else "")
        case MessageEdited() as edited:
            return f"message {edited.message_id[:8]}: {_quoted(edited.content)}"
        case MessageDeleted(message_id=message_id, subtree=subtree, replies=replies):
            below = f" and the {len(replies)} replies below it" if subtree else ""
            return f"message {message_id[:8]}{below}"
        case CurrentChanged(message_id=message_id):
            return f"the branch through {message_id[:8]}"
    return ""


def timeline_line(recorded: Recorded) -> str:
    line = f"{recorded.seq:>5}  pos {recorded.position:<7} {recorded.at}  {recorded.type:<16}"
    return f"{line}  {summary(recorded)}".rstrip()
