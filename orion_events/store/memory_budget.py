"""The memory budget: which sessions keep their messages in memory, least recently used first."""

from __future__ import annotations

from collections import OrderedDict

from orion_events.domain.views import SessionView

MESSAGE_OVERHEAD = 100  # bytes of a packed message's header, its bytes object, its list slot


def message_bytes(content_size: int) -> int:
    """What a message costs in memory, roughly: its UTF-8 text plus everything around it."""
    return content_size + MESSAGE_OVERHEAD


class MessageBudget:
    """Tracks the hot sessions' estimated bytes and says which to make cold to stay within.

    An append costs O(1) here (the estimate grows by the new message); anything else that
    changes a session's messages is recounted.
    """

    __slots__ = ("_hot", "budget", "hot_bytes")

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.hot_bytes = 0
        self._hot: OrderedDict[str, tuple[int, int]] = OrderedDict()  # id -> (bytes, messages)

    def touch(self, view: SessionView) -> list[str]:
        """Note `view` (hot) as the most recently used; the sessions to make cold now."""
        assert view.messages is not None
        old_bytes, old_count = self._hot.pop(view.id, (0, -1))
        count = len(view.messages)  # every message added since the last clear, removed ones too
        if old_count >= 0 and count == old_count + 1:
            size = old_bytes + message_bytes(view.messages.content_size(-1))
        else:
            size = sum(map(message_bytes, view.messages.content_sizes()))
        self._hot[view.id] = (size, count)
        self.hot_bytes += size - old_bytes
        coldest = []
        while self.hot_bytes > self.budget and len(self._hot) > 1:
            session_id, (freed, _) = self._hot.popitem(last=False)
            self.hot_bytes -= freed
            coldest.append(session_id)
        return coldest

    @property
    def hot_sessions(self) -> int:
        return len(self._hot)
