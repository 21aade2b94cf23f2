"""A session as a downloadable document: JSON (state and full history) or a Markdown transcript."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from orion_events.domain.events import Recorded
from orion_events.domain.views import MessageView, SessionView
from service.bodies import Mapped
from service.payloads import event_json, messages_json, session_json

_BACKTICKS = re.compile(r"`+")
# Characters that could turn a title into emphasis, a link, HTML, an entity or a table cell, or
# (trailing `#`) be eaten as a closing heading sequence: escaped so the heading shows them as typed.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]<>#~&|!])")


def export_session(view: SessionView, *, sliced: bool = False) -> dict[str, Any]:
    """The session object of an export: the API's session, but with every message of every
    branch (parents first, in the order they were added; `parent_id` and `current_id` say which
    branch is current), flagged when it was deleted."""
    body = session_json(view, messages=False)
    body["messages"] = messages_json(view, list(view.tree.live_numbers()), sliced=sliced)
    if view.deleted:
        body["deleted"] = True
    return body


def export_json(
    view: SessionView, records: Sequence[Recorded], *, sliced: bool = False
) -> dict[str, Any]:
    """The session as it stands after `records`, and every one of those events (`sliced`: as
    Mapped lists, for bodies.json_pieces)."""
    events = Mapped(records, event_json) if sliced else [event_json(r) for r in records]
    return {"session": export_session(view, sliced=sliced), "events": events}


def export_markdown(view: SessionView) -> str:
    """A readable transcript. Whatever a title, name or message holds, it stays inside its own
    heading, code span or fenced block: content cannot open headings or close the fences."""
    out = [f"# {_heading_text(view.title)}", ""]
    out.append(f"- Session: {_code_span(view.id)}")
    out.append(f"- Created: {view.created_at}")
    out.append(f"- Updated: {view.updated_at} (version {view.version})")
    if view.forked_from is not None:
        source, version = view.forked_from
        out.append(f"- Forked from: {_code_span(source)} at version {version}")
    if view.deleted:
        out.append("- Deleted: yes (the history is kept for audit)")
    if view.metadata:
        out.append("- Metadata:")
        out.extend(
            f"  - {_code_span(key)}: {_code_span(value)}"
            for key, value in sorted(view.metadata.items())
        )
    else:
        out.append("- Metadata: none")
    out.append("")
    branch = view.tree.branch()  # the current branch: what a reader of the chat saw last
    if not branch:
        out.extend(["_No messages._", ""])
    messages = view.loaded_messages
    for number in branch:
        out.extend(_message_lines(messages[number]))
    return "\n".join(out)


def _message_lines(message: MessageView) -> list[str]:
    about = [message.timestamp]
    if message.agent is not None:
        about.append(f"agent {_code_span(message.agent)}")
    if message.model is not None:
        about.append(f"model {_code_span(message.model)}")
    content = message.content
    if content and not content.endswith("\n"):
        content += "\n"
    fence = _fence_for(content)
    heading = f"### {_heading_text(message.role)}"
    return [heading, "", " · ".join(about), "", fence, content + fence, ""]


def _fence_for(text: str) -> str:
    """A backtick fence longer than any backtick run in `text`, so nothing inside can close it."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)


def _code_span(text: str) -> str:
    """`text` on one line as an inline code span whose delimiters no backtick inside can match."""
    flat = " ".join(text.split())
    if not flat:
        return '""'
    longest = max((len(run) for run in _BACKTICKS.findall(flat)), default=0)
    tick = "`" * (longest + 1)
    # A space pads a span that starts or ends with a backtick; Markdown strips one each side.
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{tick}{pad}{flat}{pad}{tick}"


def _heading_text(title: str) -> str:
    """The title on one line with Markdown's active punctuation escaped."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", " ".join(title.split()))


__all__ = ["export_json", "export_markdown", "export_session"]
