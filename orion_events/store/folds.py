"""Which fold each kind of log takes: one place that says how an event changes the view of
the stream it was written to."""

from __future__ import annotations

from typing import TypeAlias

import attrs

from orion_events.domain.events import Recorded
from orion_events.domain.projector import apply_session, apply_settings
from orion_events.domain.streams import OPERATIONS_STREAM, SETTINGS_STREAM, USERS_STREAM
from orion_events.domain.users import UsersView, apply_users
from orion_events.domain.views import OperationsView, SessionView, SettingsBook

View: TypeAlias = SessionView | SettingsBook | UsersView | OperationsView | None


def apply_event(stream: str, view: View, recorded: Recorded) -> View:
    """`view` of `stream` after one more of its events."""
    if stream == SETTINGS_STREAM:
        assert isinstance(view, SettingsBook)
        return apply_settings(view, recorded)
    if stream == USERS_STREAM:
        assert isinstance(view, UsersView)
        return apply_users(view, recorded)
    if stream == OPERATIONS_STREAM:
        assert isinstance(view, OperationsView)
        return attrs.evolve(view, version=recorded.seq)
    assert view is None or isinstance(view, SessionView)
    return apply_session(view, recorded)
