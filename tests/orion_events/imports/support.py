"""What the reader tests share: a conversation made into its session, and that session's
branches as texts."""

from __future__ import annotations

import itertools

from orion_events.domain.events import Recorded
from orion_events.domain.projector import replay_session
from orion_events.domain.tree import NONE
from orion_events.domain.views import SessionView
from orion_events.imports.conversation import Conversation, to_event


def imported(conversation: Conversation) -> SessionView:
    """The session `conversation` imports as, with ids numbered in the order they are made."""
    counter = itertools.count()
    event = to_event(conversation, ids=lambda: f"00000000-0000-4000-8000-{next(counter):012d}")
    view = replay_session([Recorded("s", 1, "e", "2026-01-01T00:00:00.000000Z", event)])
    assert view is not None
    return view


def texts_by_number(view: SessionView) -> dict[int, str]:
    return dict(zip(view.tree.live_numbers(), (m.content for m in view.live_messages), strict=True))


def branches(view: SessionView) -> list[list[str]]:
    """Every branch, root to leaf, as texts, leaves in the order they were added."""
    text, tree = texts_by_number(view), view.tree
    out = []
    for leaf in text:
        if next(tree.children(leaf), None) is not None:
            continue
        path, n = [], leaf
        while n != NONE:
            path.append(text[n])
            n = tree.parent(n)
        out.append(path[::-1])
    return out
