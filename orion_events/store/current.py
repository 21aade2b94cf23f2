"""The views as they stand in memory: every session's, the settings, what is read-only, the
idempotency keys and the order sessions are listed in. Nothing outside the store changes them."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from orion_events.domain.errors import SessionNotFound
from orion_events.domain.events import Recorded
from orion_events.domain.streams import OPERATIONS_STREAM, SETTINGS_STREAM, USERS_STREAM
from orion_events.domain.users import UsersView
from orion_events.domain.views import OperationsView, SessionView, SettingsBook
from orion_events.store.folds import View
from orion_events.store.idempotency import Keys, keys_in
from orion_events.store.memory_budget import MessageBudget
from orion_events.store.session_order import SessionOrder


class CurrentViews:
    def __init__(self, budget: MessageBudget | None) -> None:
        self.sessions: dict[str, SessionView] = {}
        self.settings = SettingsBook()
        self.users = UsersView()
        self.operations = OperationsView()
        self.read_only: dict[str, str] = {}  # stream -> why its log takes no writes
        self.keys: Keys = {}
        self.order = SessionOrder()
        # The same order for each owner's sessions alone (None: those made without users).
        self.owned: dict[str | None, SessionOrder] = {}
        self.events = 0  # events in every log, for health
        # Grows whenever any page of the session list could change.
        self.list_changes = 0
        # With a budget, only the recently used sessions keep their messages in memory.
        self.budget = budget

    def view(self, stream: str) -> View:
        if stream == SETTINGS_STREAM:
            return self.settings
        if stream == USERS_STREAM:
            return self.users
        if stream == OPERATIONS_STREAM:
            return self.operations
        return self.sessions.get(stream)

    def session(self, session_id: str) -> SessionView:
        """A live session."""
        view = self.sessions.get(session_id)
        if view is None or view.deleted:
            raise SessionNotFound(f"no session {session_id}")
        return view

    def known(self, session_id: str) -> SessionView:
        """A session that exists or existed: history stays readable after a delete."""
        view = self.sessions.get(session_id)
        if view is None:
            raise SessionNotFound(f"no session {session_id}")
        return view

    def owned_order(self, owner: str | None) -> SessionOrder:
        order = self.owned.get(owner)
        if order is None:
            order = self.owned[owner] = SessionOrder()
        return order

    def sort_sessions(self) -> None:
        """Every order built anew from the views (after a load)."""
        views = list(self.sessions.values())
        self.order = SessionOrder(views)
        self.owned = {}
        for owner in {view.owner for view in views}:
            self.owned[owner] = SessionOrder([v for v in views if v.owner == owner])

    def live_sessions(self) -> int:
        return sum(1 for v in self.sessions.values() if not v.deleted)

    def install(self, stream: str, view: View) -> None:
        if isinstance(view, SettingsBook):
            self.settings = view
        elif isinstance(view, UsersView):
            self.users = view
        elif isinstance(view, OperationsView):
            self.operations = view
        elif view is not None:
            self.sessions[stream] = view
            self.order.update(view)
            self.owned_order(view.owner).update(view)
            self.list_changes += 1
            self.touch(view)

    def touch(self, view: SessionView) -> None:
        """Note a hot view as the most recently used, and keep within the budget by making the
        least recently used sessions cold (their summaries stay)."""
        if self.budget is None or view.messages is None:
            return
        for session_id in self.budget.touch(view):
            current = self.sessions.get(session_id)
            if current is not None and current.messages is not None:
                self.sessions[session_id] = attrs.evolve(current, messages=None)

    def advance(self, stream: str, view: View, records: Sequence[Recorded]) -> list[Recorded]:
        """Take `view`, which committed `records` brought about, unless the stream is already
        that far: on a shared log, a replica's own appends reach it through both its writer and
        its follower, and each event must count (and be indexed) once. Returns the records
        that were new here."""
        current = self.view(stream)
        fresh = [r for r in records if r.seq > (current.version if current is not None else 0)]
        if not fresh:
            return fresh
        self.install(stream, view)
        self.events += len(fresh)
        keys_in(fresh, self.keys)
        return fresh
